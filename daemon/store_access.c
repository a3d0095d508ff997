/* SPDX-License-Identifier: MIT */
/* store_access.c - the store's side of access control: consent provisions that take a person off
 * a sector's devices, and rows loaded from the field state for the rules in common/access.c.
 * docs/internals/access.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "store_int.h"

/*
 * The active deny provisions of a person for a sector. SQLite's query names the index it must
 * use (INDEXED BY, SQLite's own syntax); PostgreSQL's names none. The greatest of several
 * values is SQLite's many-argument max() and PostgreSQL's greatest().
 */
#define INDEX_HINT_SQLITE " INDEXED BY field_state_person_field"
#define DENY_FROM(hint)                                                                           \
    " FROM field_state c" hint                                                                    \
    " JOIN field_state d ON d.tbl = 'consent' AND d.row_id = c.row_id"                            \
    "  AND d.field = 'decision' AND d.value = 'deny'"                                             \
    " JOIN field_state t ON t.tbl = 'consent' AND t.row_id = c.row_id"                            \
    "  AND t.field = 'status' AND t.value = 'active'"
#define DENY_WHERE_FOR(person, sector)                                                            \
    " WHERE c.person_id = " person " AND c.tbl = 'consent' AND c.field = 'sector'"                \
    "  AND c.value IN (" sector ", 'all') AND NOT EXISTS (SELECT 1 FROM field_state x"            \
    "  WHERE x.tbl = 'consent' AND x.row_id = c.row_id"                                           \
    "  AND x.field = '_deleted' AND x.value = '1')"
#define DENY_WHERE DENY_WHERE_FOR("?1", "?2")
#define DENIED_SQL(hint) "SELECT 1" DENY_FROM(hint) DENY_WHERE " LIMIT 1"
#define DENY_SINCE_FOR(greatest, hint, where)                                                     \
    "SELECT " greatest "(c.seq, d.seq, t.seq) AS sq, " greatest "(coalesce(lc.received_ms, 0),"   \
    "  coalesce(ld.received_ms, 0), coalesce(lt.received_ms, 0)) AS ms" DENY_FROM(hint)           \
    " LEFT JOIN change_log lc ON lc.change_id = c.change_id"                                      \
    " LEFT JOIN change_log ld ON ld.change_id = d.change_id"                                      \
    " LEFT JOIN change_log lt ON lt.change_id = t.change_id" where " ORDER BY sq LIMIT 1"
#define DENY_SINCE_SQL(greatest, hint) DENY_SINCE_FOR(greatest, hint, DENY_WHERE)

int store_denied(struct store *s, const char *role, const char *person_id)
{
    const char *sector = access_sector(role);
    struct sql_stmt *st;
    int rc, denied;

    if (!sector)
        return 0;
    /* An active, not deleted consent record denying this sector (or all sharing). */
    st = store_sql(s, sql_dialect(s->sql) == SQL_POSTGRESQL ? DENIED_SQL("")
                                                            : DENIED_SQL(INDEX_HINT_SQLITE));
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_text(st, 2, sector);
    rc = sql_step(st);
    denied = rc == SQL_ROW;
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    return denied;
}

int store_deny_since(struct store *s, const char *role, const char *person_id,
                     uint64_t *ret_received_ms, uint64_t *ret_seq)
{
    const char *sector = access_sector(role);
    struct sql_stmt *st;
    int rc, found = 0;

    if (!sector)
        return 0;
    /* Each active deny took effect with the last of the fields that make it one: its sequence
     * number, and when the server received that write (never the writer's clock). */
    st = store_sql(s, sql_dialect(s->sql) == SQL_POSTGRESQL
                              ? DENY_SINCE_SQL("greatest", "")
                              : DENY_SINCE_SQL("max", INDEX_HINT_SQLITE));
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_text(st, 2, sector);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        *ret_seq = (uint64_t)sql_column_int64(st, 0);
        *ret_received_ms = (uint64_t)sql_column_int64(st, 1);
        found = 1;
    }
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    return found;
}

/*
 * What a push needs about each of its people (backend_person) in ONE statement, on PostgreSQL
 * (store_push.c; SQLite asks per person, load_person()): whether the person exists, the
 * principal's current or last assignment, and, when assigned, the first active deny of the
 * principal's sector (denied exactly when there is one, as store_denied() and
 * store_deny_since() read the same provisions).
 */
int store_people_facts(struct store *s, const struct store_principal *p,
                       struct push_snapshot *snap)
{
    _cleanup_json_ cJSON *ids = cJSON_CreateArray();
    _cleanup_sql_ struct sql_stmt *st = NULL;
    char *text = NULL;
    int rc;

    for (size_t i = 0; ids && i < snap->n_people; i++) {
        snap->people[i] = (struct backend_person){.person_id = snap->people[i].person_id};
        if (!cJSON_AddItemToArray(ids, cJSON_CreateString(snap->people[i].person_id)))
            return -ENOMEM;
    }
    if (!ids || !(text = cJSON_PrintUnformatted(ids)))
        return -ENOMEM;
    st = store_sql(s, "WITH k AS (SELECT DISTINCT e.p FROM"
                      " jsonb_array_elements_text(CAST(?1 AS jsonb)) AS e(p))"
                      " SELECT k.p, CASE WHEN EXISTS (SELECT 1 FROM field_state f"
                      "  WHERE f.tbl = 'person' AND f.row_id = k.p) THEN 1 ELSE 0 END,"
                      " a.ended_ms, a.end_seq, a.cur, dn.sq, dn.ms FROM k"
                      " LEFT JOIN LATERAL (SELECT ended_ms, end_seq,"
                      "  CASE WHEN end_seq IS NULL THEN 1 ELSE 0 END AS cur FROM assignments"
                      "  WHERE person_id = k.p AND user_id = ?2"
                      "  ORDER BY end_seq IS NULL DESC, end_seq DESC LIMIT 1) a ON true"
                      " LEFT JOIN LATERAL (" DENY_SINCE_FOR("greatest", "",
                                                           DENY_WHERE_FOR("k.p", "?3")
                                                           " AND CAST(?3 AS TEXT) IS NOT NULL")
                      ") dn ON a.cur = 1");
    if (!st) {
        cJSON_free(text);
        return -EIO;
    }
    sql_bind_text(st, 1, text);
    sql_bind_int64(st, 2, p->user_id);
    sql_bind_text(st, 3, access_sector(p->role));
    while ((rc = sql_step(st)) == SQL_ROW) {
        struct backend_person *bp = backend_snapshot_person(snap, sql_column_text(st, 0));

        if (!bp)
            continue;
        bp->exists = sql_column_int64(st, 1) != 0;
        if (sql_column_type(st, 4) != SQL_NULL) {
            bp->had_assignment = bp->ever_assigned = true;
            bp->end_ms = (uint64_t)sql_column_int64(st, 2);
            bp->end_seq = (uint64_t)sql_column_int64(st, 3);
            bp->assigned = sql_column_int64(st, 4) != 0;
        }
        if (bp->assigned && sql_column_type(st, 5) != SQL_NULL) {
            bp->denied = bp->deny_found = true;
            bp->deny_seq = (uint64_t)sql_column_int64(st, 5);
            bp->deny_ms = (uint64_t)sql_column_int64(st, 6);
        }
    }
    sql_reset(st);
    cJSON_free(text);
    return rc == SQL_DONE ? 0 : rc;
}

int store_denied_each(struct store *s, const char *role, const char *ids,
                      const struct pull_facts *io, bool *ret)
{
    const char *sector = access_sector(role);
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int rc;

    if (!sector)
        return 0;
    /* A LATERAL ... LIMIT 1 per person, not WHERE EXISTS: PostgreSQL turned the EXISTS into a
     * semi join that reads every consent of the store (the primary key's 'consent' range)
     * whatever the page's people, 2 to 7 ms at 252 people and growing with the store; this
     * looks each person up by field_state_person_field. */
    st = store_sql(s, "SELECT k.p FROM (SELECT DISTINCT e.p FROM"
                      " jsonb_array_elements_text(CAST(?1 AS jsonb)) AS e(p)) k"
                      " CROSS JOIN LATERAL (SELECT 1" DENY_FROM("") DENY_WHERE_FOR("k.p", "?2")
                      " LIMIT 1) dn");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, ids);
    sql_bind_text(st, 2, sector);
    while ((rc = sql_step(st)) == SQL_ROW)
        for (size_t i = 0; i < io->n_people; i++)
            if (streq(io->people[i].person_id, sql_column_text(st, 0)))
                ret[i] = true;
    return rc == SQL_DONE ? 0 : rc;
}

void store_row_done(struct store_row *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    r->n = 0;
}

const char *store_row_get(void *ctx, const char *field)
{
    const struct store_row *r = ctx;

    if (r->overlay) {
        const char *v;

        if (r->overlay(r->overlay_ctx, field, &v))
            return v;
    }
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->names[i], field) == 0)
            return r->values[i];
    return NULL;
}

int store_row_load(struct store *s, const char *tbl, const char *row_id, struct store_row *ret)
{
    struct sql_stmt *st = store_sql(s, "SELECT field, value FROM field_state"
                                     " WHERE tbl = ? AND row_id = ?");
    int rc;

    store_row_done(ret);
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    while ((rc = sql_step(st)) == SQL_ROW && ret->n < STORE_ROW_MAX) {
        const char *v = sql_column_text(st, 1);

        ret->names[ret->n] = strdup(sql_column_text(st, 0));
        ret->values[ret->n] = v ? strdup(v) : NULL;
        if (!ret->names[ret->n] || (v && !ret->values[ret->n])) {
            free(ret->names[ret->n]);
            free(ret->values[ret->n]);
            sql_reset(st);
            return -ENOMEM;
        }
        ret->n++;
    }
    sql_reset(st);
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

/* 1 when one of @user's actions (plan_action.who) serves goal @goal_id of @person_id. */
static int owns_action_for_goal(struct store *s, const char *user, const char *person_id,
                                const char *goal_id)
{
    struct sql_stmt *st = store_sql(s, "SELECT 1 FROM field_state g JOIN field_state w"
                                     " ON w.tbl = 'plan_action' AND w.row_id = g.row_id"
                                     " AND w.field = 'who' AND w.value = ?3"
                                     " WHERE g.person_id = ?1 AND g.tbl = 'plan_action'"
                                     " AND g.field = 'goal_id' AND g.value = ?2 LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_text(st, 2, goal_id);
    sql_bind_text(st, 3, user);
    rc = sql_step(st);
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

int store_row_visible(struct store *s, const struct store_principal *p, const struct cat_table *t,
                      const char *row_id, const char *person_id)
{
    _cleanup_(store_row_done) struct store_row row = {0};
    struct access_row ar = {store_row_get, &row};
    int owns = 0, r;

    if (!access_row_needs_fields(p->role, t))
        return access_row_visible(p->role, p->user, t, &ar, false, true);
    r = store_row_load(s, t->name, row_id, &row);
    if (r < 0)
        return r;
    if (access_class_of(p->role) == ACCESS_VCSE && strcmp(t->name, "goal") == 0) {
        owns = owns_action_for_goal(s, p->user, person_id, row_id);
        if (owns < 0)
            return owns;
    }
    /* Being in scope already means no consent provision denies this worker's sector. */
    return access_row_visible(p->role, p->user, t, &ar, owns > 0, true);
}
