/* SPDX-License-Identifier: MIT */
/* day.c - the field worker's day, offline: today's worklist, the caseload with its filters
 * (reviews due, alerts, referrals) and the doorstep view of one person. */
#include "caresync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"
#include "wire.h"

/* An alert is active when its status says so and today is inside its period (if it has one). */
#define ACTIVE_ALERT                                                     \
    "status = 'active' AND (period_start IS NULL OR period_start <= %Q)" \
    " AND (period_end IS NULL OR period_end >= %Q)"

/* Start a read transaction, so that everything a view shows is one consistent snapshot. */
static int read_begin(struct caresync *c)
{
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, false);
    return r < 0 ? cs_fail_errno(c, r, "cannot read the replica") : CARESYNC_OK;
}

/* Rows of @table matching @where (a sqlite3_mprintf() result, consumed) into a new array. */
static int rows(sqlite3 *db, const char *table, char *where, const char *arg, const char *order,
                cJSON **ret)
{
    _cleanup_(sqlite3_freep) char *w = where;
    _cleanup_json_ cJSON *arr = cJSON_CreateArray();
    int r;

    if (!w || !arr)
        return -ENOMEM;
    r = query_rows(db, catalogue_table(table), w, arg, order, arr);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(arr);
    return 0;
}

/* Add @item (consumed, may be NULL = out of memory) to @o under @key. */
static int add_item(cJSON *o, const char *key, cJSON *item)
{
    if (!item || !cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

/* The active alerts of @person_id as an array of rows. */
static int active_alerts(sqlite3 *db, const char *person_id, const char *today, cJSON **ret)
{
    return rows(db, "alert", sqlite3_mprintf("person_id = ?1 AND " ACTIVE_ALERT, today, today),
                person_id, "id", ret);
}

/* ---- caseload ---- */

/* The earliest review due of the person's active or draft plans (malloc'd, or NULL) in *ret. */
static int review_due(sqlite3 *db, const char *person_id, char **ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    bool oom = false;
    int r, rc;

    r = db_prepare(db,
                   "SELECT min(review_due) FROM care_plan WHERE person_id = ?1 AND _deleted = 0"
                   " AND status IN ('active', 'draft') AND review_due IS NOT NULL",
                   &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    *ret = db_column_strdup(st, 0, &oom);
    return oom ? -ENOMEM : 0;
}

/* Does person @p pass @f? Adds "review_due" and "alerts" (a count) to @p either way. */
static int caseload_entry(sqlite3 *db, cJSON *p, const struct caresync_caseload_filter *f,
                          const char *today, bool *ret_keep)
{
    _cleanup_json_ cJSON *alerts = NULL;
    _cleanup_free_ char *due = NULL;
    const char *id = query_str(p, "id"), *status = query_str(p, "status");
    char limit[WHEN_DATE_MAX];
    int r, n;

    r = review_due(db, id, &due);
    if (r >= 0)
        r = active_alerts(db, id, today, &alerts);
    if (r < 0)
        return r;
    n = cJSON_GetArraySize(alerts);
    if (wire_add_string(p, "review_due", due) < 0 ||
        !cJSON_AddNumberToObject(p, "alerts", (double)n))
        return -ENOMEM;
    *ret_keep = true;
    if (!f)
        return 0;
    if (f->review_due) {
        r = when_date_add(today, (int)(f->review_due_days > 36500 ? 36500 : f->review_due_days),
                          limit);
        if (r < 0)
            return r;
        if (!due || strcmp(due, limit) > 0)
            *ret_keep = false;
    }
    if (f->alerts && n == 0)
        *ret_keep = false;
    if (f->referred && !(status && streq(status, "referred")))
        *ret_keep = false;
    return 0;
}

static int caseload_tree(sqlite3 *db, const struct caresync_caseload_filter *f, cJSON **ret)
{
    _cleanup_json_ cJSON *all = NULL, *out = cJSON_CreateArray();
    char today[WHEN_DATE_MAX];
    cJSON *p;
    int r;

    if (!out)
        return -ENOMEM;
    when_today(today);
    r = rows(db, "person", sqlite3_mprintf("1"), NULL, "name COLLATE NOCASE, id", &all);
    if (r < 0)
        return r;
    while ((p = cJSON_DetachItemFromArray(all, 0))) {
        bool keep;

        r = caseload_entry(db, p, f, today, &keep);
        if (r < 0 || !keep) {
            cJSON_Delete(p);
            if (r < 0)
                return r;
            continue;
        }
        if (!cJSON_AddItemToArray(out, p)) {
            cJSON_Delete(p);
            return -ENOMEM;
        }
    }
    *ret = TAKE_PTR(out);
    return 0;
}

int caresync_caseload_filter_json(struct caresync *c, const struct caresync_caseload_filter *f,
                                  char **ret)
{
    _cleanup_json_ cJSON *arr = NULL;
    int r;

    r = read_begin(c);
    if (r != CARESYNC_OK)
        return r;
    r = caseload_tree(c->db, f, &arr);
    db_rollback(c->db);
    if (r >= 0)
        r = json_take_string(arr, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot list the caseload");
    return CARESYNC_OK;
}

int caresync_caseload_json(struct caresync *c, char **ret)
{
    return caresync_caseload_filter_json(c, NULL, ret);
}

/* ---- today ---- */

struct visit_item {
    cJSON *obj;
    int64_t start;
    bool overdue;
};

static int visit_item_cmp(const void *a, const void *b)
{
    const struct visit_item *x = a, *y = b;

    if (x->overdue != y->overdue)
        return x->overdue ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(query_str(x->obj, "id"), query_str(y->obj, "id"));
}

static void visit_items_free(struct visit_item *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        cJSON_Delete(v[i].obj);
    free(v);
}

/* The texts of the person's active alerts (the category when an alert has no text). */
static int alert_texts(sqlite3 *db, const char *person_id, const char *today, cJSON **ret)
{
    _cleanup_json_ cJSON *alerts = NULL, *texts = cJSON_CreateArray();
    const cJSON *a;
    int r;

    if (!texts)
        return -ENOMEM;
    r = active_alerts(db, person_id, today, &alerts);
    if (r < 0)
        return r;
    cJSON_ArrayForEach (a, alerts) {
        const char *t = query_str(a, "text") ? query_str(a, "text") : query_str(a, "category");
        cJSON *s = cJSON_CreateString(t ? t : "");

        if (!s || !cJSON_AddItemToArray(texts, s)) {
            cJSON_Delete(s);
            return -ENOMEM;
        }
    }
    *ret = TAKE_PTR(texts);
    return 0;
}

/* One worklist entry from the current row of @st (see the SELECT in today_tree()). */
static int visit_entry(sqlite3_stmt *st, cJSON **ret)
{
    static const char *const keys[] = {"id",     "person_id",  "person_name", "planned_start",
                                       "status", "visit_type", "mode",        "assigned_to",
                                       "person_closed"};
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        if (wire_add_string(o, keys[i], (const char *)sqlite3_column_text(st, (int)i)) < 0)
            return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

/*
 * The worklist for local day @date: visits planned or in progress that day, after those still
 * planned on an earlier day. Overdue is relative to now, not to @date: a visit is overdue when
 * it is still planned on a day before today, so a later visit listed for a future @date is not.
 */
static int today_tree(sqlite3 *db, const char *date, const char *me, cJSON **ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_json_ cJSON *out = cJSON_CreateArray();
    struct visit_item *v = NULL;
    char today[WHEN_DATE_MAX];
    size_t n = 0, cap = 0;
    int r, rc;

    if (!out)
        return -ENOMEM;
    when_today(today);
    r = db_prepare(db,
                   "SELECT v.id, v.person_id, p.name, v.planned_start, v.status, v.visit_type,"
                   " v.mode, v.assigned_to, CASE WHEN p.status IN ('closed', 'deceased')"
                   " THEN coalesce(p.closed_reason, p.status) END"
                   " FROM visit v JOIN person p ON p.id = v.person_id"
                   " WHERE v._deleted = 0 AND p._deleted = 0 AND v.planned_start IS NOT NULL"
                   " AND v.status IN ('planned', 'in-progress')"
                   " AND (?1 IS NULL OR v.assigned_to = ?1)",
                   &st);
    if (r < 0)
        return r;
    if (me)
        sqlite3_bind_text(st, 1, me, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *start = (const char *)sqlite3_column_text(st, 3);
        const char *status = (const char *)sqlite3_column_text(st, 4);
        char day[WHEN_DATE_MAX];
        int64_t t;
        int cmp;

        if (when_parse(start, &t) < 0)
            continue; /* not a date-time: nothing to place it by */
        cmp = strcmp(when_local_date(t, day), date);
        if (cmp > 0 || (cmp < 0 && !streq(status, "planned")))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct visit_item *nv = realloc(v, ncap * sizeof(*v));

            if (!nv) {
                r = -ENOMEM;
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        r = visit_entry(st, &v[n].obj);
        if (r < 0)
            goto out;
        v[n].start = t;
        v[n].overdue = streq(status, "planned") && strcmp(day, today) < 0;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = db_errno(rc);
        goto out;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), visit_item_cmp);
    for (size_t i = 0; i < n; i++) {
        cJSON *texts = NULL;

        r = alert_texts(db, query_str(v[i].obj, "person_id"), today, &texts);
        if (r < 0)
            goto out;
        if (!cJSON_AddBoolToObject(v[i].obj, "overdue", v[i].overdue) ||
            add_item(v[i].obj, "alerts", texts) < 0 || !cJSON_AddItemToArray(out, v[i].obj)) {
            r = -ENOMEM;
            goto out;
        }
        v[i].obj = NULL; /* owned by out */
    }
    *ret = TAKE_PTR(out);
    r = 0;
out:
    visit_items_free(v, n);
    return r;
}

int caresync_today_json(struct caresync *c, const char *date, bool all, char **ret)
{
    _cleanup_json_ cJSON *arr = NULL;
    _cleanup_free_ char *me = NULL;
    char day[WHEN_DATE_MAX];
    int r;

    r = cs_begin(c);
    if (r != CARESYNC_OK)
        return r;
    if (when_date_arg(date ? date : "today", day) < 0)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "bad date '%s' (--date): give today, tomorrow, yesterday, +N or -N days,"
                       " or YYYY-MM-DD",
                       date);
    r = read_begin(c);
    if (r != CARESYNC_OK)
        return r;
    r = all ? CARESYNC_OK : query_user(c, &me);
    if (r == CARESYNC_OK) {
        int k = today_tree(c->db, day, me, &arr);

        if (k >= 0)
            k = json_take_string(arr, ret);
        if (k < 0)
            r = cs_fail_errno(c, k, "cannot list today's visits");
    }
    db_rollback(c->db);
    return r;
}

/* ---- the doorstep ---- */

/* The person's next planned visit: the earliest still planned on or after today, or NULL. */
static int next_visit(sqlite3 *db, const char *person_id, const char *today, cJSON **ret)
{
    _cleanup_json_ cJSON *visits = NULL;
    cJSON *v, *best = NULL;
    int64_t best_t = 0;
    int r;

    r = rows(db, "visit", sqlite3_mprintf("person_id = ?1 AND status = 'planned'"), person_id, "id",
             &visits);
    if (r < 0)
        return r;
    cJSON_ArrayForEach (v, visits) {
        char day[WHEN_DATE_MAX];
        int64_t t;

        if (when_parse(query_str(v, "planned_start"), &t) < 0 ||
            strcmp(when_local_date(t, day), today) < 0)
            continue;
        if (!best || t < best_t) {
            best = v;
            best_t = t;
        }
    }
    *ret = best ? cJSON_Duplicate(best, true) : cJSON_CreateNull();
    return *ret ? 0 : -ENOMEM;
}

struct timed {
    cJSON *obj;
    int64_t t;
};

static int timed_cmp_desc(const void *a, const void *b)
{
    const struct timed *x = a, *y = b;

    if (x->t != y->t)
        return x->t > y->t ? -1 : 1;
    return -strcmp(query_str(x->obj, "id"), query_str(y->obj, "id"));
}

/* The @max most recent notes (by when they happened, else when recorded), newest first. */
static int recent_notes(sqlite3 *db, const char *person_id, int max, cJSON **ret)
{
    _cleanup_json_ cJSON *notes = NULL, *out = cJSON_CreateArray();
    _cleanup_free_ struct timed *v = NULL;
    size_t n = 0;
    cJSON *x;
    int r;

    if (!out)
        return -ENOMEM;
    r = rows(db, "note",
             sqlite3_mprintf("person_id = ?1 AND (status IS NULL OR status != 'entered-in-error')"),
             person_id, "id", &notes);
    if (r < 0)
        return r;
    v = calloc((size_t)cJSON_GetArraySize(notes) + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    cJSON_ArrayForEach (x, notes) {
        int64_t t = 0;

        if (when_parse(query_str(x, "occurred_at"), &t) < 0)
            (void)when_parse(query_str(x, "recorded_at"), &t);
        v[n++] = (struct timed){x, t};
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), timed_cmp_desc);
    for (size_t i = 0; i < n && (int)i < max; i++) {
        cJSON *d = cJSON_Duplicate(v[i].obj, true);

        if (!d || !cJSON_AddItemToArray(out, d)) {
            cJSON_Delete(d);
            return -ENOMEM;
        }
    }
    *ret = TAKE_PTR(out);
    return 0;
}

static int doorstep_tree(sqlite3 *db, const char *person_id, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject(), *about = NULL;
    char today[WHEN_DATE_MAX];
    cJSON *x = NULL, *one;
    int r;

    if (!o)
        return -ENOMEM;
    when_today(today);
    r = query_row(db, catalogue_table("person"), person_id, &x);
    if (r <= 0)
        return r < 0 ? r : -ENOENT;
    if (add_item(o, "person", x) < 0)
        return -ENOMEM;
    r = rows(db, "about_me", sqlite3_mprintf("person_id = ?1 AND id = person_id"), person_id, "id",
             &about);
    if (r < 0)
        return r;
    one = cJSON_DetachItemFromArray(about, 0);
    if (add_item(o, "about_me", one ? one : cJSON_CreateNull()) < 0)
        return -ENOMEM;
    r = active_alerts(db, person_id, today, &x);
    if (r < 0 || add_item(o, "alerts", x) < 0)
        return r < 0 ? r : -ENOMEM;
    /* Who to call, and who not to: emergency contacts first, do-not-contact flagged last. */
    r = rows(db, "related_person",
             sqlite3_mprintf("person_id = ?1 AND (is_emergency_contact = 1 OR is_next_of_kin = 1"
                             " OR is_unpaid_carer = 1 OR lpa_health_welfare = 1"
                             " OR do_not_contact = 1 OR relationship_code IN"
                             " ('NOK', 'ECON', 'CAREGIVER', 'GUARD', 'POWATT'))"),
             person_id,
             "coalesce(do_not_contact, 0), coalesce(is_emergency_contact, 0) DESC,"
             " coalesce(is_next_of_kin, 0) DESC, coalesce(is_unpaid_carer, 0) DESC,"
             " name COLLATE NOCASE, id",
             &x);
    if (r < 0 || add_item(o, "contacts", x) < 0)
        return r < 0 ? r : -ENOMEM;
    r = rows(db, "goal",
             sqlite3_mprintf("person_id = ?1 AND (lifecycle_status IS NULL"
                             " OR lifecycle_status = 'active')"),
             person_id, "importance IS NULL, importance DESC, id", &x);
    if (r < 0 || add_item(o, "goals", x) < 0)
        return r < 0 ? r : -ENOMEM;
    r = rows(db, "plan_action",
             sqlite3_mprintf("person_id = ?1 AND (status IS NULL OR status NOT IN"
                             " ('completed', 'cancelled', 'stopped'))"),
             person_id, "due_date IS NULL, due_date, id", &x);
    if (r < 0 || add_item(o, "actions", x) < 0)
        return r < 0 ? r : -ENOMEM;
    r = next_visit(db, person_id, today, &x);
    if (r < 0 || add_item(o, "next_visit", x) < 0)
        return r < 0 ? r : -ENOMEM;
    r = recent_notes(db, person_id, 3, &x);
    if (r < 0 || add_item(o, "recent_notes", x) < 0)
        return r < 0 ? r : -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

int caresync_doorstep_json(struct caresync *c, const char *person_id, char **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = cs_begin_person(c, person_id);
    if (r != CARESYNC_OK)
        return r;
    r = read_begin(c);
    if (r != CARESYNC_OK)
        return r;
    r = doorstep_tree(c->db, person_id, &o);
    db_rollback(c->db);
    if (r == -ENOENT)
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "person %s is not in this replica; see 'caresync caseload', or sync",
                       person_id);
    if (r >= 0)
        r = json_take_string(o, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the person");
    return CARESYNC_OK;
}
