/* SPDX-License-Identifier: MIT */
/*
 * store_pull.c - the store's pull operations (backend.h), over the SQL driver (sql.h):
 * pull_load() reads a page's stream of field states and a worker's caseload events, pull_facts()
 * the facts the projection needs about the page's people and rows. The rules are
 * engine_pull.c's; this only reads.
 * docs/internals/backend.md, "The pull".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "store_int.h"

static struct store *store_of(struct backend *b)
{
    return (struct store *)((char *)b - offsetof(struct store, be));
}

/* Append the current row of @st (tbl, row_id, field, person_id, value, hlc, device, seq, from
 * column @c on). */
static int add_row_at(struct sql_stmt *st, int c, struct pull_field **arr, size_t *n,
                      size_t *cap)
{
    return backend_pull_field_add(arr, n, cap, sql_column_text(st, c),
                                  sql_column_text(st, c + 1),
                                  sql_column_text(st, c + 2),
                                  sql_column_text(st, c + 3),
                                  sql_column_text(st, c + 4),
                                  (uint64_t)sql_column_int64(st, c + 5),
                                  sql_column_text(st, c + 6),
                                  (uint64_t)sql_column_int64(st, c + 7));
}

static int add_row(struct sql_stmt *st, struct pull_field **arr, size_t *n, size_t *cap)
{
    return add_row_at(st, 0, arr, n, cap);
}

/* Step @st to its end, adding each row as a field state. */
static int add_rows(struct sql_stmt *st, struct pull_field **arr, size_t *n, size_t *cap)
{
    int rc, r = 0;

    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW)
        r = add_row(st, arr, n, cap);
    sql_reset(st);
    if (r < 0)
        return r;
    return rc == SQL_DONE ? 0 : rc;
}

/*
 * The highest number a pull may read: on PostgreSQL the head's seq as this transaction knows it
 * (H, read at its BEGIN, or the head it holds, its own numbers included). Every number up to it
 * was committed before the statement that read it began, while a number above it may still be
 * in flight below one already committed, so no query of a page reads past it and the cursor
 * never passes it (docs/internals/scale-out.md, "A pull"). On SQLite the single writer (or the
 * reader's snapshot) sees nothing above its own seq: no bound, the queries as they always were.
 */
static int64_t pull_bound(struct store *s)
{
    if (sql_dialect(s->sql) != SQL_POSTGRESQL || s->txn_seq > INT64_MAX)
        return INT64_MAX;
    return (int64_t)s->txn_seq;
}

static int load_events(struct store *s, const struct store_principal *p, struct pull_load *io)
{
    struct sql_stmt *st = store_sql(
            s, "SELECT person_id, start_seq, 0 FROM assignments"
               " WHERE user_id = ?1 AND end_seq IS NULL AND start_seq > ?2 AND start_seq <= ?3"
               " UNION ALL"
               " SELECT a.person_id, max(a.end_seq), 1 FROM assignments a"
               " WHERE a.user_id = ?1 AND a.end_seq > ?2 AND a.end_seq <= ?3 AND NOT EXISTS (SELECT 1 FROM"
               "  assignments b WHERE b.user_id = ?1 AND b.person_id = a.person_id"
               "  AND b.end_seq IS NULL) GROUP BY a.person_id"
               /* closed records leave field devices, and come back whole when reopened */
               " UNION ALL"
               " SELECT e.person_id, e.expired_seq, 1 FROM person_expiry e JOIN assignments a"
               " ON a.person_id = e.person_id AND a.user_id = ?1 AND a.end_seq IS NULL"
               " WHERE e.reopened_seq IS NULL AND e.expired_seq > ?2 AND e.expired_seq <= ?3"
               " UNION ALL"
               " SELECT e.person_id, e.reopened_seq, 0 FROM person_expiry e JOIN assignments a"
               " ON a.person_id = e.person_id AND a.user_id = ?1 AND a.end_seq IS NULL"
               " WHERE e.reopened_seq > ?2 AND e.reopened_seq <= ?3");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, p->user_id);
    sql_bind_int64(st, 2, (int64_t)io->cursor);
    sql_bind_int64(st, 3, pull_bound(s));
    while ((rc = sql_step(st)) == SQL_ROW) {
        struct pull_event *e;

        if (array_grow((void **)&io->events, &io->cap_events, io->n_events,
                       sizeof(*io->events), 16) < 0) {
            sql_reset(st);
            return -ENOMEM;
        }
        e = &io->events[io->n_events++];
        copy_text(e->person_id, UUID_STR_MAX, sql_column_text(st, 0));
        e->seq = (uint64_t)sql_column_int64(st, 1);
        e->purge = sql_column_int64(st, 2) != 0;
    }
    sql_reset(st);
    return rc == SQL_DONE ? 0 : rc;
}

static int load_others(struct store *s, const struct store_principal *p, struct pull_load *io)
{
    struct sql_stmt *st = store_sql(
            s, "SELECT DISTINCT row_id FROM field_state WHERE tbl = 'person' AND row_id NOT IN"
               " (SELECT person_id FROM assignments WHERE user_id = ? AND end_seq IS NULL)");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, p->user_id);
    while ((rc = sql_step(st)) == SQL_ROW) {
        if (array_grow((void **)&io->others_ids, &io->cap_others, io->n_others,
                       sizeof(*io->others_ids), 16) < 0) {
            sql_reset(st);
            return -ENOMEM;
        }
        copy_text(io->others_ids[io->n_others++], UUID_STR_MAX, sql_column_text(st, 0));
    }
    sql_reset(st);
    return rc == SQL_DONE ? 0 : rc;
}

/* A caseload up to this many people is read person by person (below). */
#define STREAM_BY_PERSON_MAX 64

/*
 * The statement of a page of a worker's stream: the caseload's states beyond the cursor, in
 * sequence order, at most a page. Two ways to read it, and on PostgreSQL the store chooses:
 *
 *  - walk field_state_seq from the cursor, keeping the caseload's rows, until the page is full:
 *    what SQLite plans, and cheap when the caseload holds most of what follows the cursor (a
 *    large caseload); but a small caseload in a large store walks the store: 27 ms for a first
 *    sync of 6 people among 252 (44,000 states), growing with the store;
 *  - each person's states beyond the cursor by field_state_person (LATERAL, at most a page
 *    each), then the page of them all: 0.2 ms for those 6 people, but up to a page per person,
 *    so a caseload of 200 would read 200 pages for each it sends.
 *
 * PostgreSQL cannot choose per run, since a prepared statement's plan is made generic (without
 * the user or the cursor) after five runs; so the store counts the caseload (one index-only
 * statement) and takes the second way for up to STREAM_BY_PERSON_MAX people.
 * docs/internals/scale-out.md, "Cost, as built".
 */
static int stream_sql(struct store *s, const struct store_principal *p, const char **ret)
{
    static const char walk[] =
            "SELECT f.tbl, f.row_id, f.field, f.person_id, f.value, f.hlc,"
            " f.device, f.seq FROM field_state f JOIN assignments a"
            " ON a.person_id = f.person_id AND a.user_id = ?1"
            " AND a.end_seq IS NULL"
            " WHERE f.seq > ?2 AND f.seq > a.start_seq AND f.seq <= ?4"
            " ORDER BY f.seq LIMIT ?3";
    struct sql_stmt *st;
    int64_t people = 0;
    int rc;

    *ret = walk;
    if (sql_dialect(s->sql) != SQL_POSTGRESQL)
        return 0;
    st = store_sql(s, "SELECT count(*) FROM assignments WHERE user_id = ?1 AND end_seq IS NULL");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, p->user_id);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        people = sql_column_int64(st, 0);
    sql_reset(st);
    if (rc != SQL_ROW)
        return rc < 0 ? rc : -EIO;
    if (people <= STREAM_BY_PERSON_MAX)
        *ret = "SELECT f.tbl, f.row_id, f.field, f.person_id, f.value, f.hlc, f.device, f.seq"
               " FROM assignments a CROSS JOIN LATERAL (SELECT g.tbl, g.row_id, g.field,"
               "  g.person_id, g.value, g.hlc, g.device, g.seq FROM field_state g"
               "  WHERE g.person_id = a.person_id AND g.seq > ?2 AND g.seq > a.start_seq"
               "  AND g.seq <= ?4 ORDER BY g.seq LIMIT ?3) f"
               " WHERE a.user_id = ?1 AND a.end_seq IS NULL ORDER BY f.seq LIMIT ?3";
    return 0;
}

int store_pull_load(struct backend *b, const struct store_principal *p, struct pull_load *io)
{
    const char *sql;
    struct store *s = store_of(b);
    struct sql_stmt *st;
    int r = 0, at = 1;

    if (io->caseload) {
        r = load_events(s, p, io);
        if (r >= 0 && io->others)
            r = load_others(s, p, io);
        if (r < 0)
            return r;
        r = stream_sql(s, p, &sql);
        if (r < 0)
            return r;
        st = store_sql(s, sql);
        if (!st)
            return -EIO;
        sql_bind_int64(st, at++, p->user_id);
    } else {
        /* Numbered from ?1: PostgreSQL cannot type a parameter the text never names. */
        st = store_sql(s, "SELECT tbl, row_id, field, person_id, value, hlc, device, seq"
                          " FROM field_state WHERE seq > ?1 AND seq <= ?3 ORDER BY seq LIMIT ?2");
        if (!st)
            return -EIO;
    }
    sql_bind_int64(st, at++, (int64_t)io->cursor);
    sql_bind_int64(st, at++, io->limit > INT64_MAX ? INT64_MAX : (int64_t)io->limit);
    sql_bind_int64(st, at, pull_bound(s));
    return add_rows(st, &io->fields, &io->n_fields, &io->cap_fields);
}

/* 1 when the person's record was closed longer ago than field devices keep it, 0, -errno. */
static int person_expired(struct store *s, const char *person_id)
{
    struct sql_stmt *st = store_sql(s, "SELECT 1 FROM person_expiry WHERE person_id = ?"
                                       " AND reopened_seq IS NULL");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    rc = sql_step(st);
    sql_reset(st);
    return rc == SQL_ROW ? 1 : rc == SQL_DONE ? 0 : rc;
}

/* ---- the page's facts on PostgreSQL: five statements, whatever the page holds ---- */

/* The people's ids (all, or those marked in @want) as a JSON array text; NULL on OOM. */
static char *people_json(const struct pull_facts *io, const bool *want)
{
    _cleanup_json_ cJSON *ids = cJSON_CreateArray();

    for (size_t i = 0; ids && i < io->n_people; i++)
        if ((!want || want[i]) &&
            !cJSON_AddItemToArray(ids, cJSON_CreateString(io->people[i].person_id)))
            return NULL;
    return ids ? cJSON_PrintUnformatted(ids) : NULL;
}

/*
 * Each person's expiry, and how many field states those who want their whole state have, as
 * the caller spends them: in the page's order, each counted up to the page's state budget, and
 * none counted once those before have filled it (the caller loads no one more then): ONE
 * statement. Counting every person whole cost item 3 (a first sync of 200 people, 890 states
 * each) 39 ms a page for the two people a page has room for, and a person of 50,000 states
 * (item 5's) 10 ms a request. @ids: every person of the page; @want_ids: those who want their
 * state, in order.
 */
static int facts_people(struct store *s, struct pull_facts *io, const char *ids,
                        const char *want_ids, bool *expired, uint64_t *count)
{
    _cleanup_sql_ struct sql_stmt *st = store_sql(
            s, "WITH RECURSIVE w AS (SELECT e.p, e.n FROM"
               "  jsonb_array_elements_text(CAST(?2 AS jsonb)) WITH ORDINALITY AS e(p, n)),"
               " cnt(n, p, c, total) AS (SELECT CAST(0 AS BIGINT), CAST(NULL AS TEXT),"
               "  CAST(0 AS BIGINT), CAST(0 AS BIGINT)"
               "  UNION ALL SELECT w.n, w.p, h.c, cnt.total + h.c FROM cnt"
               "  JOIN w ON w.n = cnt.n + 1 CROSS JOIN LATERAL (SELECT count(*) AS c FROM"
               "   (SELECT 1 FROM field_state f WHERE f.person_id = w.p LIMIT ?3) y) h"
               "  WHERE cnt.total < ?3)"
               " SELECT k.p, CASE WHEN EXISTS (SELECT 1 FROM person_expiry x"
               "  WHERE x.person_id = k.p AND x.reopened_seq IS NULL) THEN 1 ELSE 0 END,"
               " coalesce((SELECT max(cnt.c) FROM cnt WHERE cnt.p = k.p), 0)"
               " FROM (SELECT DISTINCT e.p FROM"
               "  jsonb_array_elements_text(CAST(?1 AS jsonb)) AS e(p)) k");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, ids);
    sql_bind_text(st, 2, want_ids);
    sql_bind_int64(st, 3, io->state_budget && io->state_budget < INT64_MAX
                                  ? (int64_t)io->state_budget : INT64_MAX);
    while ((rc = sql_step(st)) == SQL_ROW)
        for (size_t i = 0; i < io->n_people; i++)
            if (streq(io->people[i].person_id, sql_column_text(st, 0))) {
                expired[i] = sql_column_int64(st, 1) != 0;
                count[i] = (uint64_t)sql_column_int64(st, 2);
            }
    return rc == SQL_DONE ? 0 : rc;
}

/* The whole states of the people marked in @want, by sequence: ONE statement. */
static int facts_states(struct store *s, struct pull_facts *io, const bool *want)
{
    _cleanup_free_ char *ids = people_json(io, want);
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int rc, r = 0;

    if (!ids)
        return -ENOMEM;
    /* Person by person, each by field_state_person (person_id, seq), already in sequence order
     * (the ORDER BY keeps the subquery from being pulled up into a join). IN (SELECT
     * jsonb_array_elements_text(...)) ORDER BY seq was a hash join over a scan of the whole
     * table and a sort, the planner taking the function for 100 rows: 26 ms a first sync at
     * 44,000 states; = ANY(ARRAY(...)) ORDER BY seq walked field_state_seq whole, filtering,
     * 290 ms a page at 230,000 (scale-out.md, "Cost, as built"). Each person's rows stay in
     * sequence order, which is all the loop below keeps. */
    st = store_sql(s, "SELECT f.tbl, f.row_id, f.field, f.person_id, f.value, f.hlc, f.device,"
                      " f.seq FROM (SELECT DISTINCT e.p FROM"
                      " jsonb_array_elements_text(CAST(?1 AS jsonb)) AS e(p)) k"
                      " CROSS JOIN LATERAL (SELECT tbl, row_id, field, person_id, value, hlc,"
                      "  device, seq FROM field_state WHERE person_id = k.p ORDER BY seq) f");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, ids);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW)
        for (size_t i = 0; r >= 0 && i < io->n_people; i++) {
            struct pull_person *fp = &io->people[i];

            if (want[i] && streq(fp->person_id, sql_column_text(st, 3)))
                r = add_row(st, &fp->state, &fp->n_state, &fp->cap_state);
        }
    if (r < 0)
        return r;
    return rc == SQL_DONE ? 0 : rc;
}

/* The rows' current fields, and a goal's actions: ONE statement each. */
static int facts_rows(struct store *s, struct pull_facts *io)
{
    _cleanup_json_ cJSON *keys = cJSON_CreateArray();
    _cleanup_json_ cJSON *goals = cJSON_CreateArray();
    _cleanup_sql_ struct sql_stmt *st = NULL;
    char *text = NULL;
    int rc = SQL_DONE, r = 0;

    for (size_t i = 0; keys && goals && i < io->n_rows; i++) {
        struct pull_row *fr = &io->rows[i];
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(keys, o) ||
            !cJSON_AddStringToObject(o, "t", fr->table->name) ||
            !cJSON_AddStringToObject(o, "r", fr->row_id))
            return -ENOMEM;
        if (!streq(fr->table->name, "goal"))
            continue;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(goals, o) || !cJSON_AddNumberToObject(o, "i", (double)i) ||
            !cJSON_AddStringToObject(o, "p", fr->person_id) ||
            !cJSON_AddStringToObject(o, "g", fr->row_id))
            return -ENOMEM;
    }
    if (!keys || !goals || !(text = cJSON_PrintUnformatted(keys)))
        return -ENOMEM;
    st = store_sql(s, "SELECT e.o, f.tbl, f.row_id, f.field, f.person_id, f.value, f.hlc,"
                      " f.device, f.seq FROM jsonb_array_elements(CAST(?1 AS jsonb))"
                      " WITH ORDINALITY AS e(j, o) JOIN field_state f"
                      " ON f.tbl = e.j->>'t' AND f.row_id = e.j->>'r'");
    if (!st)
        r = -EIO;
    else
        sql_bind_text(st, 1, text);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW) {
        int64_t o = sql_column_int64(st, 0);

        if (o >= 1 && (size_t)o <= io->n_rows) {
            struct pull_row *fr = &io->rows[o - 1];

            r = add_row_at(st, 1, &fr->fields, &fr->n_fields, &fr->cap_fields);
        }
    }
    sql_reset(st);
    cJSON_free(text);
    if (r < 0 || rc != SQL_DONE || cJSON_GetArraySize(goals) == 0)
        return r < 0 ? r : rc;
    if (!(text = cJSON_PrintUnformatted(goals)))
        return -ENOMEM;
    st = store_sql(s, "SELECT CAST(e.j->>'i' AS BIGINT), a.tbl, a.row_id, a.field, a.person_id,"
                      " a.value, a.hlc, a.device, a.seq FROM jsonb_array_elements(CAST(?1 AS jsonb))"
                      " AS e(j) JOIN field_state g ON g.person_id = e.j->>'p'"
                      " AND g.tbl = 'plan_action' AND g.field = 'goal_id' AND g.value = e.j->>'g'"
                      " JOIN field_state a ON a.tbl = 'plan_action' AND a.row_id = g.row_id"
                      " AND a.field IN ('goal_id', 'who')");
    if (!st)
        r = -EIO;
    else
        sql_bind_text(st, 1, text);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW) {
        int64_t i = sql_column_int64(st, 0);

        if (i >= 0 && (size_t)i < io->n_rows) {
            struct pull_row *fr = &io->rows[i];

            r = add_row_at(st, 1, &fr->actions, &fr->n_actions, &fr->cap_actions);
        }
    }
    sql_reset(st);
    cJSON_free(text);
    if (r < 0)
        return r;
    return rc == SQL_DONE ? 0 : rc;
}

/*
 * pull_facts() across a network: the people's deny and expiry, the states the budget allows
 * (the same people the per-person loop below loads: in order, the first always, then while the
 * states loaded hold fewer than the budget's fields, counted beforehand), the rows' fields and
 * goals' actions, each ONE statement.
 */
static int pull_facts_batch(struct store *s, const struct store_principal *p,
                            struct pull_facts *io)
{
    _cleanup_free_ bool *expired = NULL, *denied = NULL, *want = NULL;
    _cleanup_free_ uint64_t *count = NULL;
    _cleanup_free_ char *ids = NULL, *want_ids = NULL;
    size_t loaded = 0, n = io->n_people ? io->n_people : 1;
    bool any = false;
    int r = 0;

    expired = calloc(n, sizeof(bool));
    denied = calloc(n, sizeof(bool));
    want = calloc(n, sizeof(bool));
    count = calloc(n, sizeof(uint64_t));
    if (!expired || !denied || !want || !count)
        return -ENOMEM;
    if (io->n_people > 0) {
        for (size_t i = 0; i < io->n_people; i++)
            want[i] = io->people[i].want_state;
        ids = people_json(io, NULL);
        want_ids = people_json(io, want);
        if (!ids || !want_ids)
            return -ENOMEM;
        memset(want, 0, n * sizeof(bool));
        r = store_denied_each(s, p->role, ids, io, denied);
        if (r >= 0)
            r = facts_people(s, io, ids, want_ids, expired, count);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < io->n_people; i++) {
        struct pull_person *fp = &io->people[i];

        if (fp->want_state && io->state_budget && loaded >= io->state_budget)
            continue;
        fp->denied = denied[i];
        fp->expired = expired[i];
        fp->known = true;
        if (!fp->want_state)
            continue;
        want[i] = any = true;
        fp->loaded = true;
        loaded += count[i];
    }
    if (any)
        r = facts_states(s, io, want);
    if (r >= 0 && io->n_rows > 0)
        r = facts_rows(s, io);
    return r < 0 ? r : 0;
}

/* One query per person and per row inside the embedded database (cheap there); across a
 * network, pull_facts_batch() (docs/internals/backend.md). */
int store_pull_facts(struct backend *b, const struct store_principal *p,
                     struct pull_facts *io)
{
    struct store *s = store_of(b);
    size_t loaded = 0;
    int r = 0;

    if (sql_dialect(s->sql) == SQL_POSTGRESQL)
        return pull_facts_batch(s, p, io);

    for (size_t i = 0; r >= 0 && i < io->n_people; i++) {
        struct pull_person *fp = &io->people[i];

        if (fp->want_state && io->state_budget && loaded >= io->state_budget)
            continue;
        r = store_denied(s, p->role, fp->person_id);
        if (r < 0)
            break;
        fp->denied = r > 0;
        r = person_expired(s, fp->person_id);
        if (r < 0)
            break;
        fp->expired = r > 0;
        fp->known = true;
        if (!fp->want_state)
            continue;
        {
            struct sql_stmt *st = store_sql(s, "SELECT tbl, row_id, field, person_id, value, hlc,"
                                               " device, seq FROM field_state"
                                               " WHERE person_id = ? ORDER BY seq");

            if (!st) {
                r = -EIO;
                break;
            }
            sql_bind_text(st, 1, fp->person_id);
            r = add_rows(st, &fp->state, &fp->n_state, &fp->cap_state);
            fp->loaded = r >= 0;
            loaded += fp->n_state;
        }
    }
    for (size_t i = 0; r >= 0 && i < io->n_rows; i++) {
        struct pull_row *fr = &io->rows[i];
        struct sql_stmt *st = store_sql(s, "SELECT tbl, row_id, field, person_id, value, hlc,"
                                           " device, seq FROM field_state"
                                           " WHERE tbl = ? AND row_id = ?");

        if (!st) {
            r = -EIO;
            break;
        }
        sql_bind_text(st, 1, fr->table->name);
        sql_bind_text(st, 2, fr->row_id);
        r = add_rows(st, &fr->fields, &fr->n_fields, &fr->cap_fields);
        if (r < 0 || !streq(fr->table->name, "goal"))
            continue;
        st = store_sql(s, "SELECT a.tbl, a.row_id, a.field, a.person_id, a.value, a.hlc,"
                          " a.device, a.seq FROM field_state g JOIN field_state a"
                          " ON a.tbl = 'plan_action' AND a.row_id = g.row_id"
                          " AND a.field IN ('goal_id', 'who')"
                          " WHERE g.person_id = ? AND g.tbl = 'plan_action'"
                          " AND g.field = 'goal_id' AND g.value = ?");
        if (!st) {
            r = -EIO;
            break;
        }
        sql_bind_text(st, 1, fr->person_id);
        sql_bind_text(st, 2, fr->row_id);
        r = add_rows(st, &fr->actions, &fr->n_actions, &fr->cap_actions);
    }
    return r < 0 ? r : 0;
}


int store_pull_device(struct backend *b, const struct store_principal *p,
                      struct pull_device *ret)
{
    struct sql_stmt *st = store_sql(store_of(b), "SELECT given_cursor, redecide, redecide_cursor,"
                                                 " redecide_done FROM devices WHERE id = ?");
    int rc;

    *ret = (struct pull_device){0};
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, p->device_id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        ret->given_cursor = (uint64_t)sql_column_int64(st, 0);
        ret->redecide = (int)sql_column_int64(st, 1);
        copy_text(ret->redecide_cursor, sizeof(ret->redecide_cursor),
                  sql_column_text(st, 2));
        ret->redecide_done = sql_column_int64(st, 3) != 0;
    }
    sql_reset(st);
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

int store_pull_device_set(struct backend *b, const struct store_principal *p,
                          const struct pull_device *d)
{
    struct sql_stmt *st = store_sql(store_of(b), "UPDATE devices SET given_cursor = ?,"
                                                 " redecide = ?, redecide_cursor = ?,"
                                                 " redecide_done = ? WHERE id = ?");

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, d->given_cursor > INT64_MAX ? INT64_MAX : (int64_t)d->given_cursor);
    sql_bind_int64(st, 2, d->redecide);
    if (d->redecide_cursor[0])
        sql_bind_text(st, 3, d->redecide_cursor);
    else
        sql_bind_text(st, 3, NULL);
    sql_bind_int64(st, 4, d->redecide_done);
    sql_bind_text(st, 5, p->device_id);
    return sql_step_done(st);
}

/* The closed records (status closed or deceased, closed on or before the cutoff day, ?@cutoff)
 * not yet expired, found from their closed_on fields: SQLite is told the index (@hint, INDEXED
 * BY: without statistics it would rather walk every person field by the primary key's tbl, 1.6
 * ms a sync at 500 devices); PostgreSQL is told nothing. */
#define CLOSED_HINT_SQLITE " INDEXED BY field_state_field"
#define CLOSED_UNEXPIRED(cutoff, hint)                                                          \
    " FROM field_state c" hint " JOIN field_state st ON st.tbl = 'person'"                     \
    " AND st.row_id = c.row_id AND st.field = 'status'"                                         \
    " AND st.value IN ('closed', 'deceased')"                                                   \
    " WHERE c.tbl = 'person' AND c.field = 'closed_on' AND c.value <= " cutoff                  \
    " AND c.row_id NOT IN (SELECT person_id FROM person_expiry WHERE reopened_seq IS NULL)"

#define EXPIRY_UPSERT " ON CONFLICT (person_id) DO UPDATE SET expired_seq = ?1, reopened_seq = NULL"

int store_closed_due(struct backend *b, const char *cutoff_day)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, sql_dialect(s->sql) == SQL_POSTGRESQL
                                               ? "SELECT count(*)" CLOSED_UNEXPIRED("?1", "")
                                               : "SELECT count(*)" CLOSED_UNEXPIRED(
                                                         "?1", CLOSED_HINT_SQLITE));
    int64_t n = 0;
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, cutoff_day);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        n = sql_column_int64(st, 0);
    sql_reset(st);
    if (rc != SQL_ROW)
        return rc < 0 ? rc : -EPROTO;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

/*
 * On PostgreSQL the sweep runs in a sync's transaction, which holds no one's lock but its own
 * batch's people: it locks the people it expires first, so that a push holding one of them
 * (having loaded the record as not expired) is not overtaken (docs/internals/scale-out.md,
 * "Who locks what"). Before the head, in ascending order, waiting; with the head already held
 * (the sync pushed), waiting would close a circle with a push that holds a person and waits for
 * the head, so only if each is free at once, else the sweep is left to the next sync. 1 when
 * the sweep may go on, 0 when it is left, or -errno. The INSERT below reads the records again
 * under the locks.
 */
static int expire_lock(struct store *s, const char *cutoff_day)
{
    struct sql_stmt *st;
    int r;

    if (sql_dialect(s->sql) != SQL_POSTGRESQL)
        return 1;
    st = s->txn_held
                 ? store_sql(s, "SELECT coalesce(bool_and(pg_try_advisory_xact_lock(72657, h)),"
                                " TRUE) FROM (SELECT DISTINCT hashtext(c.row_id) AS h"
                                CLOSED_UNEXPIRED("?1", "") " ORDER BY 1) AS x")
                 : store_sql(s, "SELECT count(pg_advisory_xact_lock(72657, h)) >= 0 FROM"
                                " (SELECT DISTINCT hashtext(c.row_id) AS h"
                                CLOSED_UNEXPIRED("?1", "") " ORDER BY 1) AS x");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, cutoff_day);
    r = sql_step(st);
    if (r == SQL_ROW)
        r = sql_column_int64(st, 0) != 0;
    else if (r == SQL_DONE)
        r = -EPROTO;
    sql_reset(st);
    return r;
}

int store_expire_closed(struct backend *b, const char *cutoff_day)
{
    struct store *s = store_of(b);
    struct sql_stmt *st;
    int n = store_closed_due(b, cutoff_day), r;

    if (n <= 0)
        return n;
    r = expire_lock(s, cutoff_day);
    if (r <= 0)
        return r;
    st = store_sql(s, sql_dialect(s->sql) == SQL_POSTGRESQL
                              ? "INSERT INTO person_expiry(person_id, expired_seq)"
                                " SELECT c.row_id, ?1" CLOSED_UNEXPIRED("?2", "") EXPIRY_UPSERT
                              : "INSERT INTO person_expiry(person_id, expired_seq)"
                                " SELECT c.row_id, ?1" CLOSED_UNEXPIRED("?2", CLOSED_HINT_SQLITE)
                                        EXPIRY_UPSERT);
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, (int64_t)store_next_seq(s));
    sql_bind_text(st, 2, cutoff_day);
    r = sql_step_done(st);
    return r < 0 ? r : n;
}
