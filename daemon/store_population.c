/* SPDX-License-Identifier: MIT */
/* store_population.c - the figures of the console's population page and the lists behind
 * them, read from the field state (docs/PROTOCOL.md, "GET population"): people by status,
 * people without an agreed plan, reviews overdue and due, visits per week, missed reasons,
 * goals by achievement, open conflicts over time, devices not synced lately. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

#define DAY_MS (INT64_C(86400) * 1000)

/* Live people: person rows not deleted, with their status (unset reads "active") and name.
 * First the parameters every figure may use, each named once with its type so that a query that
 * uses only some of them has no gap in its numbers (PostgreSQL must know the type of each):
 * ?1 today, ?2 the list's argument, ?3 the first day of the visits window, ?4 the last day of the
 * reviews window (bind_window()). */
#define PEOPLE_CTE                                                                              \
    "params AS (SELECT CAST(?1 AS TEXT) AS today, CAST(?2 AS TEXT) AS arg,"                    \
    " CAST(?3 AS TEXT) AS visits_from, CAST(?4 AS TEXT) AS reviews_to),"                       \
    " people AS (SELECT row_id AS person_id,"                                                   \
    " max(CASE WHEN field = 'name' THEN value END) AS name,"                                   \
    " coalesce(max(CASE WHEN field = 'status' THEN value END), 'active') AS status,"           \
    " max(CASE WHEN field = '_deleted' THEN value END) AS deleted"                             \
    " FROM field_state WHERE tbl = 'person' GROUP BY row_id),"                                  \
    " live AS (SELECT * FROM people WHERE deleted IS DISTINCT FROM '1')"

/* Care plans not deleted of live people, with the fields the figures read. */
#define PLANS_CTE                                                                               \
    "plans0 AS (SELECT row_id, person_id,"                                                     \
    " max(CASE WHEN field = 'title' THEN value END) AS title,"                                 \
    " max(CASE WHEN field = 'status' THEN value END) AS status,"                               \
    " max(CASE WHEN field = 'agreed_on' THEN value END) AS agreed_on,"                         \
    " max(CASE WHEN field = 'review_due' THEN value END) AS review_due,"                       \
    " max(CASE WHEN field = '_deleted' THEN value END) AS deleted"                             \
    " FROM field_state WHERE tbl = 'care_plan' GROUP BY row_id, person_id),"                       \
    " plans AS (SELECT p.* FROM plans0 p JOIN live l USING (person_id)"                         \
    " WHERE p.deleted IS DISTINCT FROM '1')"

#define VISITS_CTE                                                                              \
    "visits0 AS (SELECT row_id, person_id,"                                                    \
    " max(CASE WHEN field = 'planned_start' THEN value END) AS planned_start,"                 \
    " max(CASE WHEN field = 'status' THEN value END) AS status,"                               \
    " max(CASE WHEN field = 'missed_reason' THEN value END) AS missed_reason,"                 \
    " max(CASE WHEN field = 'visit_type' THEN value END) AS visit_type,"                       \
    " max(CASE WHEN field = '_deleted' THEN value END) AS deleted"                             \
    " FROM field_state WHERE tbl = 'visit' GROUP BY row_id, person_id),"                           \
    " visits AS (SELECT v.* FROM visits0 v JOIN live l USING (person_id)"                      \
    " WHERE v.deleted IS DISTINCT FROM '1'"                                                    \
    " AND substr(v.planned_start, 1, 10) > ?3 AND substr(v.planned_start, 1, 10) <= ?1)"

/* The Monday on or before a visit's day, "YYYY-MM-DD", in each dialect's words. */
#define WEEK_SQLITE "date(substr(planned_start, 1, 10), '-6 days', 'weekday 1')"
#define WEEK_POSTGRESQL                                                                           \
    "to_char(date_trunc('week', CAST(substr(planned_start, 1, 10) AS date)), 'YYYY-MM-DD')"
#define VISITS_BY_WEEK(week)                                                                      \
    "WITH " PEOPLE_CTE ", " VISITS_CTE " SELECT " week " AS week,"                             \
    " count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'missed'),"  \
    " count(*) FILTER (WHERE status = 'cancelled') FROM visits GROUP BY 1 ORDER BY 1"

#define GOALS_CTE                                                                               \
    "goals0 AS (SELECT row_id, person_id,"                                                     \
    " max(CASE WHEN field = 'description' THEN value END) AS description,"                     \
    " coalesce(max(CASE WHEN field = 'achievement_status' THEN value END), 'not recorded')"    \
    " AS achievement,"                                                                          \
    " max(CASE WHEN field = '_deleted' THEN value END) AS deleted"                             \
    " FROM field_state WHERE tbl = 'goal' GROUP BY row_id, person_id),"                            \
    " goals AS (SELECT g.* FROM goals0 g JOIN live l USING (person_id)"                         \
    " WHERE g.deleted IS DISTINCT FROM '1')"

/* "Agreed": a care plan whose status is active and that has an agreed_on date. */
#define NO_AGREED_PLAN                                                                          \
    " live.status = 'active' AND NOT EXISTS (SELECT 1 FROM plans WHERE plans.person_id ="      \
    " live.person_id AND plans.status = 'active' AND plans.agreed_on IS NOT NULL)"

#define ACTIVE_PLAN " plans.status = 'active' AND live.status = 'active' AND plans.review_due IS NOT NULL"

/* The day @days from @now_ms, "YYYY-MM-DD" (SQL's date arithmetic is not portable). */
static char *day_from(int64_t now_ms, int days, char buf[static ISO_TIME_MAX])
{
    iso_time((uint64_t)(now_ms + days * DAY_MS), buf);
    buf[10] = '\0';
    return buf;
}

/* Bind ?3 (the first day after the 90 days before @now_ms) and ?4 (30 days after it), the
 * windows of the figures, where @sql names them. */
static void bind_window(struct sql_stmt *st, const char *sql, int64_t now_ms,
                        char from[static ISO_TIME_MAX], char to[static ISO_TIME_MAX])
{
    if (strstr(sql, "?3"))
        sql_bind_text(st, 3, day_from(now_ms, -90, from));
    if (strstr(sql, "?4"))
        sql_bind_text(st, 4, day_from(now_ms, 30, to));
}

/* Run @sql (with ?1 = @today, ?2 = @arg, ?3 and ?4 the windows around @now_ms) and put its rows,
 * keyed by @keys, under @key. */
static int add_rows(struct store *s, cJSON *o, const char *key, const char *sql,
                    const char *const *keys, const char *today, const char *arg, int64_t now_ms)
{
    char from[ISO_TIME_MAX], to[ISO_TIME_MAX];
    _cleanup_sql_ struct sql_stmt *st = NULL;
    cJSON *arr = NULL;
    int r;

    r = sql_prepare(s->sql, sql, &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, today);
    if (strstr(sql, "?2"))
        sql_bind_text(st, 2, arg);
    bind_window(st, sql, now_ms, from, to);
    r = store_rows_to_array(st, keys, &arr);
    if (r < 0)
        return r;
    return wire_add_item(o, key, arr);
}

static int add_count(struct store *s, cJSON *o, const char *key, const char *sql,
                     const char *today, int64_t now_ms)
{
    char from[ISO_TIME_MAX], to[ISO_TIME_MAX];
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(s->sql, sql, &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, today);
    bind_window(st, sql, now_ms, from, to);
    rc = sql_step(st);
    if (rc != SQL_ROW)
        return rc;
    return cJSON_AddNumberToObject(o, key, (double)sql_column_int64(st, 0)) ? 0 : -ENOMEM;
}

/* Open conflicts at the end of each of the last 13 weeks (today's included). */
static int add_conflict_weeks(struct store *s, cJSON *o, int64_t now_ms)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    cJSON *arr = cJSON_AddArrayToObject(o, "open_conflicts_by_week");
    int r;

    if (!arr)
        return -ENOMEM;
    r = sql_prepare(s->sql,
                   "SELECT count(*) FROM conflicts c WHERE c.created_ms <= ?1 AND NOT EXISTS"
                   " (SELECT 1 FROM conflict_resolutions r WHERE r.conflict_id = c.id"
                   " AND r.resolved_ms <= ?1)",
                   &st);
    if (r < 0)
        return r;
    for (int w = 12; w >= 0; w--) {
        int64_t at = now_ms - w * 7 * DAY_MS;
        char iso[ISO_TIME_MAX];
        cJSON *e = cJSON_CreateObject();
        int rc;

        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            return -ENOMEM;
        }
        sql_reset(st);
        sql_bind_int64(st, 1, at);
        rc = sql_step(st);
        if (rc != SQL_ROW)
            return rc;
        iso_time((uint64_t)at, iso);
        iso[10] = '\0';
        if (wire_add_string(e, "date", iso) < 0 ||
            !cJSON_AddNumberToObject(e, "open", (double)sql_column_int64(st, 0)))
            return -ENOMEM;
    }
    return 0;
}

int store_population(struct store *s, int64_t now_ms, unsigned stale_days, cJSON **ret)
{
    static const char *const status_keys[] = {"status", "count", NULL};
    static const char *const week_keys[] = {"week", "completed", "missed", "cancelled", NULL};
    static const char *const reason_keys[] = {"reason", "count", NULL};
    static const char *const goal_keys[] = {"status", "count", NULL};
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    char today[ISO_TIME_MAX], since[ISO_TIME_MAX];
    int r;

    if (!o)
        return -ENOMEM;
    iso_time((uint64_t)now_ms, today);
    today[10] = '\0';
    iso_time((uint64_t)(now_ms - (int64_t)stale_days * DAY_MS), since);
    r = store_plain_begin(s, false);
    if (r < 0)
        return r;
    r = add_rows(s, o, "people_by_status",
                 "WITH " PEOPLE_CTE " SELECT status, count(*) FROM live"
                 " WHERE CAST(?1 AS TEXT) IS NOT NULL GROUP BY status ORDER BY count(*) DESC, status",
                 status_keys, today, NULL, now_ms);
    if (r >= 0)
        r = add_count(s, o, "without_agreed_plan",
                      "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT count(*) FROM live WHERE"
                      " CAST(?1 AS TEXT) IS NOT NULL AND" NO_AGREED_PLAN,
                      today, now_ms);
    if (r >= 0)
        r = add_count(s, o, "reviews_overdue",
                      "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT count(*) FROM plans JOIN live"
                      " USING (person_id) WHERE" ACTIVE_PLAN " AND plans.review_due < ?1",
                      today, now_ms);
    if (r >= 0)
        r = add_count(s, o, "reviews_due_30_days",
                      "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT count(*) FROM plans JOIN live"
                      " USING (person_id) WHERE" ACTIVE_PLAN " AND plans.review_due >= ?1"
                      " AND plans.review_due <= ?4",
                      today, now_ms);
    if (r >= 0)
        r = add_rows(s, o, "visits_by_week",
                     sql_dialect(s->sql) == SQL_POSTGRESQL ? VISITS_BY_WEEK(WEEK_POSTGRESQL)
                                                           : VISITS_BY_WEEK(WEEK_SQLITE),
                     week_keys, today, NULL, now_ms);
    if (r >= 0)
        r = add_rows(s, o, "missed_reasons",
                     "WITH " PEOPLE_CTE ", " VISITS_CTE " SELECT coalesce(missed_reason,"
                     " 'not given'), count(*) FROM visits WHERE status = 'missed'"
                     " GROUP BY 1 ORDER BY count(*) DESC, 1",
                     reason_keys, today, NULL, now_ms);
    if (r >= 0)
        r = add_rows(s, o, "goals_by_achievement",
                     "WITH " PEOPLE_CTE ", " GOALS_CTE " SELECT achievement, count(*) FROM goals"
                     " WHERE CAST(?1 AS TEXT) IS NOT NULL GROUP BY achievement"
                     " ORDER BY count(*) DESC, achievement",
                     goal_keys, today, NULL, now_ms);
    if (r >= 0)
        r = add_conflict_weeks(s, o, now_ms);
    if (r >= 0)
        r = add_count(s, o, "devices_not_synced",
                      "SELECT count(*) FROM devices WHERE revoked_at IS NULL AND"
                      " (last_sync_at IS NULL OR last_sync_at < ?1)",
                      since, now_ms);
    if (r >= 0)
        r = cJSON_AddStringToObject(o, "today", today) &&
                            cJSON_AddNumberToObject(o, "stale_days", stale_days)
                    ? 0
                    : -ENOMEM;
    store_txn_rollback(s);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(o);
    return 0;
}

bool store_population_list_valid(const char *what)
{
    static const char *const lists[] = {"status", "without_agreed_plan", "reviews_overdue",
                                        "reviews_due", "visits", "missed_reason", "goals",
                                        "devices_not_synced"};

    for (size_t i = 0; what && i < ELEMENTSOF(lists); i++)
        if (streq(what, lists[i]))
            return true;
    return false;
}

int store_population_list(struct store *s, int64_t now_ms, unsigned stale_days,
                          const char *what, const char *arg, cJSON **ret)
{
    static const char *const people_keys[] = {"person_id", "name", "status", NULL};
    static const char *const plan_keys[] = {"person_id", "name", "plan", "review_due", NULL};
    static const char *const visit_keys[] = {"person_id", "name", "planned_start", "visit_type",
                                             "status", "missed_reason", NULL};
    static const char *const goal_keys[] = {"person_id", "name", "goal", "achievement_status",
                                            NULL};
    static const char *const device_keys[] = {"user", "device_id", "device_name", "last_sync_at",
                                              NULL};
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    char today[ISO_TIME_MAX], since[ISO_TIME_MAX];
    const char *sql;
    const char *const *keys;
    const char *p1 = today;
    cJSON *rows;
    int r;

    if (!o)
        return -ENOMEM;
    iso_time((uint64_t)now_ms, today);
    today[10] = '\0';
    iso_time((uint64_t)(now_ms - (int64_t)stale_days * DAY_MS), since);
    if (streq(what, "status")) {
        keys = people_keys;
        sql = "WITH " PEOPLE_CTE " SELECT person_id, name, status FROM live"
              " WHERE CAST(?1 AS TEXT) IS NOT NULL AND status = ?2 ORDER BY name";
    } else if (streq(what, "without_agreed_plan")) {
        keys = people_keys;
        sql = "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT person_id, name, status FROM live"
              " WHERE CAST(?1 AS TEXT) IS NOT NULL AND" NO_AGREED_PLAN " ORDER BY name";
    } else if (streq(what, "reviews_overdue") || streq(what, "reviews_due")) {
        keys = plan_keys;
        sql = streq(what, "reviews_overdue")
                      ? "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT person_id, live.name,"
                        " plans.title, plans.review_due FROM plans JOIN live USING (person_id)"
                        " WHERE" ACTIVE_PLAN " AND plans.review_due < ?1 ORDER BY review_due"
                      : "WITH " PEOPLE_CTE ", " PLANS_CTE " SELECT person_id, live.name,"
                        " plans.title, plans.review_due FROM plans JOIN live USING (person_id)"
                        " WHERE" ACTIVE_PLAN " AND plans.review_due >= ?1 AND"
                        " plans.review_due <= ?4 ORDER BY review_due";
    } else if (streq(what, "visits") || streq(what, "missed_reason")) {
        keys = visit_keys;
        sql = streq(what, "visits")
                      ? "WITH " PEOPLE_CTE ", " VISITS_CTE " SELECT person_id, live.name,"
                        " planned_start, visit_type, visits.status, missed_reason FROM visits"
                        " JOIN live USING (person_id) WHERE visits.status = ?2"
                        " ORDER BY planned_start DESC"
                      : "WITH " PEOPLE_CTE ", " VISITS_CTE " SELECT person_id, live.name,"
                        " planned_start, visit_type, visits.status, missed_reason FROM visits"
                        " JOIN live USING (person_id) WHERE visits.status = 'missed' AND"
                        " coalesce(missed_reason, 'not given') = ?2 ORDER BY planned_start DESC";
    } else if (streq(what, "goals")) {
        keys = goal_keys;
        sql = "WITH " PEOPLE_CTE ", " GOALS_CTE " SELECT person_id, live.name, description,"
              " achievement FROM goals JOIN live USING (person_id)"
              " WHERE CAST(?1 AS TEXT) IS NOT NULL AND"
              " achievement = ?2 ORDER BY live.name";
    } else if (streq(what, "devices_not_synced")) {
        keys = device_keys;
        p1 = since;
        sql = "SELECT u.name, d.id, d.name, d.last_sync_at FROM devices d JOIN users u ON"
              " u.id = d.user_id WHERE d.revoked_at IS NULL AND (d.last_sync_at IS NULL OR"
              " d.last_sync_at < ?1) AND CAST(?2 AS TEXT) IS NULL"
              " ORDER BY d.last_sync_at IS NOT NULL, d.last_sync_at, u.name";
        arg = NULL;
    } else {
        return -EINVAL;
    }
    r = store_plain_begin(s, false);
    if (r < 0)
        return r;
    r = add_rows(s, o, "rows", sql, keys, p1, arg, now_ms);
    store_txn_rollback(s);
    if (r < 0)
        return r;
    rows = cJSON_DetachItemFromObjectCaseSensitive(o, "rows");
    *ret = rows;
    return 0;
}
