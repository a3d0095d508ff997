/* SPDX-License-Identifier: MIT */
/* access.h - who may see and write what: the role x data class x consent rules of
 * shared/reference/domain-model.md §4 as pure functions, used by the daemon to project every
 * pull and re-authorise every write, and by devices to refuse locally what the server would.
 * docs/internals/access.md. */
#pragma once

#include <stdbool.h>

#include "catalogue.h"

enum access_class {
    ACCESS_CLINICIAN,   /* nurse, occupational_therapist, physiotherapist */
    ACCESS_SOCIAL,      /* social_worker */
    ACCESS_LINK,        /* link_worker */
    ACCESS_VCSE,        /* volunteer, personal_assistant */
    ACCESS_COORDINATOR, /* coordinator */
    ACCESS_ADMIN,       /* admin: runs the service, reads no person data */
    ACCESS_NONE = -1,
};

/* access_class_of() - the class of a role name, ACCESS_NONE for an unknown one. */
enum access_class access_class_of(const char *role);

/* access_role_valid() - true for one of the nine roles (nurse ... admin). */
bool access_role_valid(const char *role);

/* access_role_list() - the roles, comma separated, for messages. */
const char *access_role_list(void);

#define ACCESS_USER_MAX 64 /* bytes of a user name */

/* access_user_valid() - true for a user name: 1 to ACCESS_USER_MAX of [A-Za-z0-9._-]. */
bool access_user_valid(const char *name);

/* access_sector() - the consent sector a role belongs to ("health", "social-care", "vcse"), or
 * NULL for coordinators and admins, whom consent provisions do not remove. */
const char *access_sector(const char *role);

/*
 * A row as the rules see it: a function returning the current value of one of its fields (NULL
 * when unset), plus who is asking. For a row being created in the same batch the lookup sees the
 * batch's values.
 */
struct access_row {
    const char *(*get)(void *ctx, const char *field);
    void *ctx;
};

/*
 * access_row_visible() - may a user with @role and name @user see this row of @t? Rules that
 * depend on other rows (a volunteer sees a goal only when one of its actions is theirs; About Me
 * only with the person's VCSE permission) are passed in: @owns_action_for_goal for goals, and
 * @vcse_may_see_about_me for about_me.
 */
bool access_row_visible(const char *role, const char *user, const struct cat_table *t,
                        const struct access_row *row, bool owns_action_for_goal,
                        bool vcse_may_see_about_me);

/* access_row_needs_fields() - false when access_row_visible() for @role and @t does not look at
 * the row's fields (so a caller need not load them). */
bool access_row_needs_fields(const char *role, const struct cat_table *t);

/* access_field_visible() - may @role see field @f of any visible row of @t (e.g. a volunteer
 * never sees a date of birth or an NHS number)? */
bool access_field_visible(const char *role, const struct cat_table *t, const struct cat_field *f);

/*
 * access_field_decides() - true when a change to @f can change whether a row of @t is visible
 * to someone (note.category, plan_action.who, visit.assigned_to, ...): the daemon then sends or
 * withdraws the whole row, not just the field.
 */
bool access_field_decides(const struct cat_table *t, const struct cat_field *f);

/*
 * access_author_field() - the field of @t that names who wrote a row ("author", "recorded_by" or
 * "raised_by"), or NULL when @t has none. It must be the writer's own name, given when the row
 * is created, and never changes.
 */
const char *access_author_field(const struct cat_table *t);

/*
 * access_may_write() - may @role/@user write field @f of this row of @t? @is_new is true when the
 * row is being created by this change's batch. Returns true, or false with *why a static one-line
 * reason.
 */
bool access_may_write(const char *role, const char *user, const struct cat_table *t,
                      const struct cat_field *f, const struct access_row *row, bool is_new,
                      const char **why);
