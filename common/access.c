/* SPDX-License-Identifier: MIT */
/* access.c - the role x data class x consent rules (domain-model.md §4.3), as pure functions. */
#include "access.h"

#include <string.h>

#define eq(a, b) ((a) && (b) && strcmp((a), (b)) == 0)

/* The roles and their classes, in the order messages list them. */
#define ACCESS_ROLES(X)                                                                            \
    X(nurse, ACCESS_CLINICIAN)                                                                     \
    X(social_worker, ACCESS_SOCIAL)                                                                \
    X(occupational_therapist, ACCESS_CLINICIAN)                                                    \
    X(physiotherapist, ACCESS_CLINICIAN)                                                           \
    X(link_worker, ACCESS_LINK)                                                                    \
    X(volunteer, ACCESS_VCSE)                                                                      \
    X(personal_assistant, ACCESS_VCSE)                                                             \
    X(coordinator, ACCESS_COORDINATOR)                                                             \
    X(admin, ACCESS_ADMIN)

enum access_class access_class_of(const char *role)
{
#define ROLE_ENTRY(r, c) {#r, c},
    static const struct {
        const char *role;
        enum access_class c;
    } map[] = {ACCESS_ROLES(ROLE_ENTRY)};
#undef ROLE_ENTRY

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (eq(role, map[i].role))
            return map[i].c;
    return ACCESS_NONE;
}

bool access_role_valid(const char *role)
{
    return access_class_of(role) != ACCESS_NONE;
}

const char *access_role_list(void)
{
#define ROLE_NAME(r, c) ", " #r
    return &ACCESS_ROLES(ROLE_NAME)[2]; /* past the first ", " */
#undef ROLE_NAME
}

bool access_user_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > ACCESS_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const char *access_sector(const char *role)
{
    switch (access_class_of(role)) {
    case ACCESS_CLINICIAN:
    case ACCESS_LINK:
        return "health";
    case ACCESS_SOCIAL:
        return "social-care";
    case ACCESS_VCSE:
        return "vcse";
    default:
        return NULL;
    }
}

static const char *get(const struct access_row *row, const char *field)
{
    return row && row->get ? row->get(row->ctx, field) : NULL;
}

/* Wellbeing measures (D8) against clinical observations (D9). */
static bool wellbeing_kind(const char *kind)
{
    return eq(kind, "ons4") || eq(kind, "swemwbs");
}

bool access_row_visible(const char *role, const char *user, const struct cat_table *t,
                        const struct access_row *row, bool owns_action_for_goal,
                        bool vcse_may_see_about_me)
{
    enum access_class c = access_class_of(role);
    const char *n = t->name;

    if (c == ACCESS_NONE || c == ACCESS_ADMIN)
        return false;
    if (eq(n, "note")) {
        const char *cat = get(row, "category");
        bool own = eq(get(row, "author"), user);

        if (eq(cat, "safeguarding-concern")) /* D10: social care and coordinators route it */
            return own || c == ACCESS_SOCIAL || c == ACCESS_COORDINATOR;
        if (eq(cat, "clinical")) /* D9 */
            return own || c == ACCESS_CLINICIAN || c == ACCESS_SOCIAL;
        if (c == ACCESS_VCSE) /* D7: their own notes only */
            return own;
        return true;
    }
    if (eq(n, "observation")) {
        bool own = eq(get(row, "author"), user);

        if (wellbeing_kind(get(row, "kind"))) /* D8 */
            return own || c != ACCESS_VCSE;
        return own || c == ACCESS_CLINICIAN || c == ACCESS_SOCIAL; /* D9 */
    }
    if (c != ACCESS_VCSE)
        return true;

    /* Volunteers and personal assistants: need-to-know only. */
    if (eq(n, "person"))
        return true;
    if (eq(n, "alert")) /* D2, unless meant for professionals */
        return !eq(get(row, "audience"), "professionals");
    if (eq(n, "about_me")) /* D3: only with the person's permission */
        return vcse_may_see_about_me && eq(get(row, "shareable_with_vcse"), "1");
    if (eq(n, "related_person")) /* D4: emergency contacts */
        return eq(get(row, "is_emergency_contact"), "1") && !eq(get(row, "do_not_contact"), "1");
    if (eq(n, "plan_action")) /* D5: the actions they are responsible for */
        return eq(get(row, "who"), user);
    if (eq(n, "goal")) /* ... and the goals those actions serve */
        return owns_action_for_goal;
    if (eq(n, "visit")) /* D6: their own visits */
        return eq(get(row, "assigned_to"), user);
    if (eq(n, "goal_progress")) /* D8: what they recorded */
        return eq(get(row, "author"), user);
    return false; /* care_plan, plan_review, consent */
}

bool access_row_needs_fields(const char *role, const struct cat_table *t)
{
    if (strcmp(t->name, "note") == 0 || strcmp(t->name, "observation") == 0)
        return true;
    return access_class_of(role) == ACCESS_VCSE && strcmp(t->name, "person") != 0;
}

bool access_field_visible(const char *role, const struct cat_table *t, const struct cat_field *f)
{
    static const char *const vcse_person[] = {"name",        "preferred_name", "pronouns",
                                              "phone",       "address",        "language",
                                              "interpreter_needed", "communication_needs",
                                              "access_instructions", "status", "closed_reason",
                                              "closed_on", "_deleted",
                                              /* the same name and address, in parts */
                                              "family_name", "given_names", "name_prefix",
                                              "address_line1", "address_line2", "address_city",
                                              "address_postcode", NULL};

    if (access_class_of(role) != ACCESS_VCSE || strcmp(t->name, "person") != 0)
        return true;
    for (const char *const *p = vcse_person; *p; p++)
        if (strcmp(*p, f->name) == 0)
            return true;
    return false;
}

bool access_field_decides(const struct cat_table *t, const struct cat_field *f)
{
    static const char *const deciders[][2] = {
        {"note", "category"},          {"note", "author"},
        {"observation", "kind"},       {"observation", "author"},
        {"goal_progress", "author"},   {"alert", "audience"},
        {"about_me", "shareable_with_vcse"}, {"related_person", "is_emergency_contact"},
        {"related_person", "do_not_contact"}, {"plan_action", "who"},
        {"visit", "assigned_to"},
    };

    for (size_t i = 0; i < sizeof(deciders) / sizeof(deciders[0]); i++)
        if (strcmp(deciders[i][0], t->name) == 0 && strcmp(deciders[i][1], f->name) == 0)
            return true;
    return false;
}

const char *access_author_field(const struct cat_table *t)
{
    static const char *const names[] = {"author", "recorded_by", "raised_by"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (catalogue_field(t, names[i]))
            return names[i];
    return NULL;
}

static bool deny(const char **why, const char *reason)
{
    *why = reason;
    return false;
}

/*
 * Who may delete (tombstone, "_deleted") a row of @t: docs/internals/access.md, "Who may delete
 * what". Records that are corrected rather than removed are never deleted from a device, by any
 * role; what remains is deleted by the roles that write it, and a coordinator undoes any delete
 * with the server's restore (POST /v1/rows/restore), which is not a device's write. The rule
 * does not depend on the value written: a device writes "_deleted" only where it may delete.
 */
static bool may_delete(enum access_class c, const char *n, const char **why)
{
    if (eq(n, "person"))
        return deny(why, "people are never deleted from a device; a coordinator closes the "
                         "record (deceased, moved away, discharged, declined, duplicate)");
    if (eq(n, "note") || eq(n, "observation") || eq(n, "goal_progress") ||
        eq(n, "plan_review"))
        return deny(why, "records are never deleted; mark a mistake with 'caresync "
                         "entered-in-error TABLE ID --reason TEXT'");
    if (eq(n, "consent"))
        return deny(why, "consent records are never deleted; withdraw one with 'caresync "
                         "consent withdraw ID', or set its status to entered-in-error");
    if (eq(n, "visit"))
        return deny(why, "visits are not deleted; set its status to cancelled ('caresync edit "
                         "visit ID status cancelled')");
    if (eq(n, "care_plan"))
        return deny(why, "a care plan is not deleted; set its status (revoked, completed or "
                         "entered-in-error)");
    if (eq(n, "about_me"))
        return deny(why, "About Me is the person's own words and is not deleted; rewrite its "
                         "sections with them");
    if (eq(n, "alert"))
        return c == ACCESS_COORDINATOR ||
               deny(why, "an alert is not deleted; 'caresync alert deactivate ID' when it no "
                         "longer applies, or set its status to entered-in-error (a "
                         "coordinator removes duplicates)");
    if (eq(n, "related_person"))
        return c == ACCESS_CLINICIAN || c == ACCESS_SOCIAL || c == ACCESS_LINK ||
               c == ACCESS_COORDINATOR ||
               deny(why, "volunteers and personal assistants do not remove contacts; add a "
                         "note for the named coordinator");
    if (eq(n, "goal") || eq(n, "plan_action"))
        return c == ACCESS_CLINICIAN || c == ACCESS_SOCIAL || c == ACCESS_LINK ||
               deny(why, "goals and actions are removed by the professionals who write the "
                         "plan with the person; set an action's status instead");
    return deny(why, "this record is not deleted from a device");
}

bool access_may_write(const char *role, const char *user, const struct cat_table *t,
                      const struct cat_field *f, const struct access_row *row, bool is_new,
                      const char **why)
{
    enum access_class c = access_class_of(role);
    const char *n = t->name;

    if (f->kind == CAT_S)
        return deny(why, "the field is set centrally");
    if (c == ACCESS_NONE || c == ACCESS_ADMIN)
        return deny(why, "this role records no care data");
    if (eq(f->name, CAT_DELETED_FIELD))
        return may_delete(c, n, why);
    /* Authorship is the writer's own name, never someone else's. */
    if ((eq(f->name, "author") || eq(f->name, "recorded_by") || eq(f->name, "raised_by")) &&
        get(row, f->name) && !eq(get(row, f->name), user))
        return deny(why, "a record's author must be the user writing it");
    switch (c) {
    case ACCESS_NONE:
    case ACCESS_ADMIN:
        return deny(why, "this role records no care data");
    case ACCESS_CLINICIAN:
        return true;
    case ACCESS_SOCIAL:
    case ACCESS_LINK:
        if (eq(n, "observation") && !wellbeing_kind(get(row, "kind")))
            return deny(why, "clinical observations are recorded by clinicians");
        if (c == ACCESS_LINK && eq(n, "note") && eq(get(row, "category"), "clinical"))
            return deny(why, "clinical notes are recorded by clinicians");
        return true;
    case ACCESS_COORDINATOR:
        if (eq(n, "person") || eq(n, "alert") || eq(n, "related_person") || eq(n, "consent") ||
            eq(n, "visit"))
            return true;
        if (eq(n, "care_plan") &&
            (eq(f->name, "review_due") || eq(f->name, "review_by")))
            return true;
        return deny(why, "coordinators change a plan's review scheduling only; the plan itself "
                         "is written with the person by their workers");
    case ACCESS_VCSE:
        if (eq(n, "note")) {
            const char *cat = get(row, "category");

            if (!is_new)
                return eq(f->name, "status") || eq(f->name, "error_reason")
                               ? (eq(get(row, "author"), user) ||
                                  deny(why, "only the author can mark a note entered in error"))
                               : deny(why, "notes cannot be changed once written");
            if (eq(cat, "clinical") || eq(cat, "social-care"))
                return deny(why, "volunteers and personal assistants write visit, phone, "
                                 "handover or safeguarding-concern notes");
            return true;
        }
        if (eq(n, "alert"))
            return is_new || deny(why, "volunteers and personal assistants can raise an alert "
                                       "but not change one");
        if (eq(n, "visit")) {
            if (!is_new && eq(f->name, "assigned_to"))
                return deny(why, "a visit is handed to someone else by a coordinator");
            return eq(get(row, "assigned_to"), user) ||
                   deny(why, "volunteers and personal assistants record their own visits only");
        }
        if (eq(n, "plan_action")) {
            if (is_new || !eq(get(row, "who"), user))
                return deny(why, "volunteers and personal assistants update their own actions "
                                 "only");
            return eq(f->name, "status") || eq(f->name, "status_reason") ||
                   eq(f->name, "confidence") ||
                   deny(why, "volunteers and personal assistants update an action's status and "
                             "confidence only");
        }
        if (eq(n, "goal_progress")) {
            if (is_new)
                return true;
            if (!eq(f->name, "status") && !eq(f->name, "error_reason"))
                return deny(why, "progress entries cannot be changed once written");
            return eq(get(row, "author"), user) ||
                   deny(why, "only the author can mark a progress entry entered in error");
        }
        return deny(why, "volunteers and personal assistants cannot change this record; add a "
                         "note for the named coordinator instead");
    }
    return deny(why, "unknown role");
}
