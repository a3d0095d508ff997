/* SPDX-License-Identifier: MIT */
/* plan.c - the care and support plan with the person, offline: goals in their own words,
 * actions (what, who, when), plan reviews and About Me. One local transaction per call. */
#include "caresync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"

#define PLAN_TITLE "Care and support plan"

/* The person's care and support plan: the active one, else a draft (newest first), or "". */
static int find_pcsp(struct caresync *c, const char *person_id, char ret[static UUID_STR_MAX])
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const char *id;
    int r, rc;

    /* Plans from before plan kinds existed have none: they are care and support plans. */
    r = db_prepare(c->db,
                   "SELECT id FROM care_plan WHERE person_id = ?1 AND _deleted = 0"
                   " AND status IN ('active', 'draft') AND (kind IS NULL OR kind = 'pcsp')"
                   " ORDER BY status = 'active' DESC, id DESC LIMIT 1",
                   &st);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the care plans");
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    ret[0] = '\0';
    if (rc == SQLITE_DONE)
        return CARESYNC_OK;
    if (rc != SQLITE_ROW)
        return cs_fail_errno(c, db_errno(rc), "cannot read the care plans");
    id = (const char *)sqlite3_column_text(st, 0);
    if (id && uuid_valid(id))
        memcpy(ret, id, UUID_STR_MAX);
    return CARESYNC_OK;
}

/* Load @table row @id and check it belongs to @person_id (a row of someone else is "not found"). */
static int need_row_of(struct caresync *c, const char *table, const char *id, const char *person_id,
                       cJSON **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = query_need_row(c, table, id, &o);
    if (r != CARESYNC_OK)
        return r;
    if (!streq(query_str(o, "person_id"), person_id))
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "%s %s is not a %s of person %s; see 'caresync"
                       " show %s'",
                       table, id, table, person_id, person_id);
    if (ret)
        *ret = TAKE_PTR(o);
    return CARESYNC_OK;
}

/* ---- goals ---- */

static int goal_add_tx(struct caresync *c, const char *person_id, const struct caresync_goal *g,
                       char id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *person = NULL, *parent = NULL;
    char plan[UUID_STR_MAX] = "", today[WHEN_DATE_MAX];
    int r;

    when_today(today);
    r = outbox_need(c, "goal", "description", g->description,
                    "the goal, in the person's own words,");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "person", person_id, &person);
    if (r == CARESYNC_OK && g->parent_goal_id)
        r = need_row_of(c, "goal", g->parent_goal_id, person_id, &parent);
    if (r != CARESYNC_OK)
        return r;
    if (g->care_plan_id) {
        r = need_row_of(c, "care_plan", g->care_plan_id, person_id, NULL);
        if (r != CARESYNC_OK)
            return r;
        memcpy(plan, g->care_plan_id, UUID_STR_MAX);
    } else if (parent && query_str(parent, "care_plan_id")) {
        /* A stage goal belongs to its goal's plan. */
        snprintf(plan, sizeof(plan), "%s", query_str(parent, "care_plan_id"));
    } else {
        r = find_pcsp(c, person_id, plan);
        if (r == CARESYNC_OK && !plan[0]) {
            /* No plan yet: start a draft one, for the coordinator to agree with the person. */
            r = outbox_new_id(c, plan);
            if (r == CARESYNC_OK)
                r = outbox_insert(c, "care_plan", person_id, plan,
                                  (const struct outbox_field[]){
                                          {"kind", "pcsp"},
                                          {"title", PLAN_TITLE},
                                          {"start_date", today},
                                          {"status", "draft"},
                                  },
                                  4);
        }
        if (r != CARESYNC_OK)
            return r;
    }
    r = outbox_new_id(c, id);
    if (r != CARESYNC_OK)
        return r;
    return outbox_insert(c, "goal", person_id, id,
                         (const struct outbox_field[]){
                                 {"care_plan_id", plan},
                                 {"parent_goal_id", g->parent_goal_id},
                                 {"description", g->description},
                                 {"expressed_by", "person"},
                                 {"importance", g->importance},
                                 {"target_date", g->target_date},
                                 {"start_date", today},
                                 {"achievement_status", "in-progress"},
                                 {"lifecycle_status", "active"},
                         },
                         9);
}

int caresync_goal_add(struct caresync *c, const char *person_id, const struct caresync_goal *g,
                      char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_goal none = {0};
    char id[UUID_STR_MAX];
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, goal_add_tx(c, person_id, g ? g : &none, id));
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
    return r;
}

static int goal_status_tx(struct caresync *c, const char *id, const char *lifecycle,
                          const char *achievement)
{
    _cleanup_json_ cJSON *g = NULL;
    int r;

    if (!lifecycle && !achievement)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "nothing to change: give a lifecycle status, an achievement status or both");
    r = query_need_row(c, "goal", id, &g);
    if (r == CARESYNC_OK && lifecycle)
        r = outbox_set(c, "goal", id, "lifecycle_status", lifecycle);
    if (r == CARESYNC_OK && achievement)
        r = outbox_set(c, "goal", id, "achievement_status", achievement);
    return r;
}

int caresync_goal_status(struct caresync *c, const char *goal_id, const char *lifecycle,
                         const char *achievement)
{
    int r = outbox_tx_begin(c);

    return r == CARESYNC_OK ? outbox_tx_end(c, goal_status_tx(c, goal_id, lifecycle, achievement))
                            : r;
}

/* ---- actions ---- */

static int action_add_tx(struct caresync *c, const char *goal_id, const struct caresync_action *a,
                         char id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *g = NULL;
    int r;

    r = outbox_need(c, "plan_action", "what", a->what, "what is to be done");
    if (r == CARESYNC_OK)
        r = outbox_need(c, "plan_action", "who", a->who, "who does it (--who)");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "goal", goal_id, &g);
    if (r == CARESYNC_OK)
        r = outbox_new_id(c, id);
    if (r != CARESYNC_OK)
        return r;
    return outbox_insert(c, "plan_action", query_str(g, "person_id"), id,
                         (const struct outbox_field[]){
                                 {"goal_id", goal_id},
                                 {"what", a->what},
                                 {"who", a->who},
                                 {"who_kind", a->who_kind},
                                 {"due_date", a->due_date},
                                 {"when_text", a->when_text},
                                 {"confidence", a->confidence},
                                 {"status", "not-started"},
                         },
                         8);
}

int caresync_action_add(struct caresync *c, const char *goal_id, const struct caresync_action *a,
                        char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_action none = {0};
    char id[UUID_STR_MAX];
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, action_add_tx(c, goal_id, a ? a : &none, id));
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
    return r;
}

static int action_status_tx(struct caresync *c, const char *id, const char *status,
                            const char *confidence, const char *reason)
{
    _cleanup_json_ cJSON *a = NULL;
    int r;

    r = outbox_need(c, "plan_action", "status", status, "the action's status");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "plan_action", id, &a);
    if (r == CARESYNC_OK && confidence)
        r = outbox_set(c, "plan_action", id, "confidence", confidence);
    if (r == CARESYNC_OK && reason)
        r = outbox_set(c, "plan_action", id, "status_reason", reason);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "plan_action", id, "status", status);
    return r;
}

int caresync_action_status(struct caresync *c, const char *action_id, const char *status,
                           const char *confidence, const char *reason)
{
    int r = outbox_tx_begin(c);

    return r == CARESYNC_OK
                   ? outbox_tx_end(c, action_status_tx(c, action_id, status, confidence, reason))
                   : r;
}

/* ---- reviews ---- */

static int review_add_tx(struct caresync *c, const char *person_id, const struct caresync_review *v,
                         char id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *person = NULL;
    _cleanup_free_ char *me = NULL;
    char plan[UUID_STR_MAX] = "", today[WHEN_DATE_MAX];
    int r;

    when_today(today);
    r = outbox_need(c, "plan_review", "summary", v->summary, "the review's summary");
    if (r == CARESYNC_OK)
        r = outbox_need(c, "plan_review", "outcome", v->outcome, "the review's outcome");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "person", person_id, &person);
    if (r == CARESYNC_OK && v->care_plan_id) {
        r = need_row_of(c, "care_plan", v->care_plan_id, person_id, NULL);
        if (r == CARESYNC_OK)
            memcpy(plan, v->care_plan_id, UUID_STR_MAX);
    } else if (r == CARESYNC_OK) {
        r = find_pcsp(c, person_id, plan);
        if (r == CARESYNC_OK && !plan[0])
            r = cs_fail(c, CARESYNC_ENOTFOUND,
                        "person %s has no active or draft care and support plan to review; pass"
                        " --plan CARE_PLAN_ID (see 'caresync show %s')",
                        person_id, person_id);
    }
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r == CARESYNC_OK)
        r = outbox_new_id(c, id);
    if (r == CARESYNC_OK)
        r = outbox_insert(c, "plan_review", person_id, id,
                          (const struct outbox_field[]){
                                  {"care_plan_id", plan},
                                  {"review_date", today},
                                  {"outcome", v->outcome},
                                  {"summary", v->summary},
                                  {"next_review_date", v->next_review_date},
                                  {"reviewed_by", me},
                                  {"with_person", v->with_person ? "1" : "0"},
                                  {"status", "final"},
                          },
                          8);
    if (r == CARESYNC_OK && v->next_review_date)
        r = outbox_set(c, "care_plan", plan, "review_due", v->next_review_date);
    if (r == CARESYNC_OK && streq(v->outcome, "close"))
        r = outbox_set(c, "care_plan", plan, "status", "completed");
    return r;
}

int caresync_review_add(struct caresync *c, const char *person_id, const struct caresync_review *v,
                        char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_review none = {0};
    char id[UUID_STR_MAX];
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, review_add_tx(c, person_id, v ? v : &none, id));
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
    return r;
}

/* ---- About Me ---- */

static int bad_section(struct caresync *c, const char *section)
{
    const struct cat_table *t = catalogue_table("about_me");
    char list[512] = "";

    for (size_t i = 0; i < t->n_fields; i++) {
        size_t l = strlen(list);

        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", t->fields[i].name);
    }
    return cs_fail(c, CARESYNC_EUSAGE, "unknown About Me section '%s'; the sections are: %s",
                   section ? section : "", list);
}

static int about_me_tx(struct caresync *c, const char *person_id, const char *section,
                       const char *text)
{
    const struct cat_table *t = catalogue_table("about_me");
    const struct cat_field *f = catalogue_field(t, section);
    _cleanup_json_ cJSON *person = NULL, *about = NULL;
    int r;

    if (!f || f == &catalogue_deleted_field)
        return bad_section(c, section);
    if (f->type == CAT_BOOL && text) {
        /* A yes/no choice: the person's own words for it are fine too. */
        if (streq(text, "yes") || streq(text, "true"))
            text = "1";
        else if (streq(text, "no") || streq(text, "false"))
            text = "0";
    }
    r = outbox_need(c, "about_me", section, text, "the section's text");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "person", person_id, &person);
    if (r != CARESYNC_OK)
        return r;
    r = query_row(c->db, t, person_id, &about);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read About Me");
    if (r > 0)
        return outbox_set(c, "about_me", person_id, section, text);
    /* The first section written creates the row, whose id is the person's (one per person). */
    return outbox_insert(c, "about_me", person_id, person_id,
                         (const struct outbox_field[]){{section, text}}, 1);
}

int caresync_about_me_set(struct caresync *c, const char *person_id, const char *section,
                          const char *text)
{
    int r = outbox_tx_begin(c);

    return r == CARESYNC_OK ? outbox_tx_end(c, about_me_tx(c, person_id, section, text)) : r;
}
