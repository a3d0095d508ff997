/* SPDX-License-Identifier: MIT */
/*
 * store_batch.c - a push's reads and writes in a constant number of statements, for a database
 * across a network (PostgreSQL: one round trip per statement). The batch travels as ONE JSON
 * text parameter, read with jsonb_array_elements(), so sql.h needs no array binding; integers
 * travel as JSON strings (an HLC needs 64 bits, a JSON number in cJSON 53). store_push.c calls
 * these on PostgreSQL and keeps its per-row statements on SQLite, where a statement costs
 * microseconds and no round trip. docs/internals/backend.md, "What a push costs".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hlc.h"
#include "store_int.h"

int store_json_add_u64(cJSON *o, const char *key, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return cJSON_AddStringToObject(o, key, buf) ? 0 : -ENOMEM;
}

int store_json_add_str(cJSON *o, const char *key, const char *v)
{
    return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) ? 0
                                                                                  : -ENOMEM;
}

/* @arr as text, bound to ?1 of @st; the caller frees *ret_text with cJSON_free(). */
static int bind_json(struct sql_stmt *st, int i, const cJSON *arr, char **ret_text)
{
    char *t = cJSON_PrintUnformatted(arr);

    if (!t)
        return -ENOMEM;
    sql_bind_text(st, i, t);
    *ret_text = t;
    return 0;
}

/* ---- push_load ---- */

/* The rows of the snapshot as [{"t": table, "r": row id, "f": journal bound}]. */
static cJSON *row_keys(const struct push_snapshot *snap)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr && i < snap->n_rows; i++) {
        const struct backend_row *row = &snap->rows[i];
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(arr, o) ||
            store_json_add_str(o, "t", row->table->name) < 0 ||
            store_json_add_str(o, "r", row->row_id) < 0 ||
            store_json_add_u64(o, "f", row->journal_from) < 0) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

#define KEYS_CTE                                                                                \
    "WITH k AS (SELECT j->>'t' AS tbl, j->>'r' AS row_id, CAST(j->>'f' AS BIGINT) AS f"         \
    " FROM jsonb_array_elements(CAST(?1 AS jsonb)) AS e(j)) "
/* The journal's bound (backend.h): from k.f on, and every tombstone entry. */
#define KEYS_JOURNAL(cols)                                                                      \
    "SELECT " cols " FROM k JOIN change_log l ON l.tbl = k.tbl AND l.row_id = k.row_id"         \
    " AND l.hlc >= k.f UNION ALL SELECT " cols " FROM k JOIN change_log l ON l.tbl = k.tbl"     \
    " AND l.row_id = k.row_id AND l.field = '" CAT_DELETED_FIELD "' AND l.hlc < k.f"

/* The changes already stored under the batch's ids, in one statement. */
static int load_seen_all(struct store *s, const struct change_record *changes, size_t n,
                         struct push_snapshot *snap)
{
    _cleanup_json_ cJSON *ids = cJSON_CreateArray();
    _cleanup_sql_ struct sql_stmt *st = NULL;
    char *text = NULL;
    int rc = SQL_DONE, r = 0;

    for (size_t i = 0; ids && i < n; i++)
        if (!cJSON_AddItemToArray(ids, cJSON_CreateString(changes[i].change_id)))
            return -ENOMEM;
    if (!ids)
        return -ENOMEM;
    st = store_sql(s, "SELECT change_id, device, tbl, row_id, field, value, sent_hlc,"
                      " coalesce(sent_base_hlc, base_hlc), coalesce(sent_base_device, base_device),"
                      " outcome, hlc, conflict, person_id FROM change_log WHERE change_id IN"
                      " (SELECT jsonb_array_elements_text(CAST(?1 AS jsonb)))");
    if (!st)
        return -EIO;
    r = bind_json(st, 1, ids, &text);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW) {
        const char *cid = sql_column_text(st, 0);

        /* A batch may name one id twice: each gets the stored change. */
        for (size_t i = 0; r >= 0 && i < n; i++)
            if (streq(changes[i].change_id, cid))
                r = store_seen_fill(st, 1, &snap->seen[i]);
    }
    sql_reset(st);
    cJSON_free(text);
    if (r < 0)
        return r;
    return rc == SQL_DONE ? 0 : rc;
}

/* Run @sql (the rows' keys as ?1) and hand each result to @fn with the snapshot row its first
 * two columns (table, row id) name. */
static int each_row(struct store *s, const char *sql, const char *keys, struct push_snapshot *snap,
                    int (*fn)(struct sql_stmt *st, struct backend_row *row))
{
    _cleanup_sql_ struct sql_stmt *st = store_sql(s, sql);
    int rc = SQL_DONE, r = 0;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, keys);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW) {
        struct backend_row *row = backend_snapshot_row_named(snap, sql_column_text(st, 0),
                                                             sql_column_text(st, 1));

        if (row)
            r = fn(st, row);
    }
    if (r < 0)
        return r;
    return rc == SQL_DONE ? 0 : rc;
}

/* A field state (tbl, row_id, field, value, hlc, device, change_id, person_id): the row's
 * owner, one of its fields and that field's version. */
static int add_field(struct sql_stmt *st, struct backend_row *row)
{
    const char *v = sql_column_text(st, 3);
    struct store_row *f = &row->fields;

    if (!row->exists)
        copy_text(row->person_id, sizeof(row->person_id), sql_column_text(st, 7));
    row->exists = true;
    if (f->n < STORE_ROW_MAX) {
        f->names[f->n] = strdup(sql_column_text(st, 2));
        f->values[f->n] = v ? strdup(v) : NULL;
        if (!f->names[f->n] || (v && !f->values[f->n])) {
            free(f->names[f->n]);
            free(f->values[f->n]);
            return -ENOMEM;
        }
        f->n++;
    }
    return backend_row_put(row, sql_column_text(st, 2), v, (uint64_t)sql_column_int64(st, 4),
                           sql_column_text(st, 5), sql_column_text(st, 6));
}

static int add_journal(struct sql_stmt *st, struct backend_row *row)
{
    return store_journal_entry_add(st, 2, row);
}

static int add_conflict(struct sql_stmt *st, struct backend_row *row)
{
    return backend_row_conflict_add(row, sql_column_text(st, 2), sql_column_text(st, 3));
}

/*
 * Person locks (docs/internals/scale-out.md, "A write transaction", step 2): one statement,
 * every key taken in ascending order so that two pushes sharing people never wait on each
 * other in a circle. The people are the batch's and the rows' owners as stored (a change may
 * name a row of another person; the engine then refuses it, but only after reading that
 * person). A hash collision only makes two people wait for each other.
 */
int store_people_lock(struct store *s, const char *ids, const char *rows)
{
    struct sql_stmt *st;
    int r;

    if (sql_dialect(s->sql) != SQL_POSTGRESQL)
        return 0;
    st = store_sql(s, "SELECT count(pg_advisory_xact_lock(72657, h)) FROM (SELECT DISTINCT"
                      " hashtext(p) AS h FROM (SELECT jsonb_array_elements_text(CAST(?1 AS jsonb))"
                      " AS p UNION SELECT f.person_id FROM jsonb_array_elements(CAST(?2 AS jsonb))"
                      " AS e(j) JOIN field_state f ON f.tbl = e.j->>'t' AND f.row_id = e.j->>'r')"
                      " AS q WHERE p IS NOT NULL AND p <> '' ORDER BY 1) AS x");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, ids);
    sql_bind_text(st, 2, rows);
    r = sql_step(st);
    sql_reset(st);
    return r < 0 ? r : 0;
}

/* The snapshot's people as a JSON array of ids. */
static char *people_ids(const struct push_snapshot *snap)
{
    _cleanup_json_ cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr && i < snap->n_people; i++)
        if (snap->people[i].person_id &&
            !cJSON_AddItemToArray(arr, cJSON_CreateString(snap->people[i].person_id)))
            return NULL;
    return arr ? cJSON_PrintUnformatted(arr) : NULL;
}

int store_batch_load(struct store *s, const struct change_record *changes, size_t n,
                     struct push_snapshot *snap)
{
    _cleanup_json_ cJSON *keys = NULL;
    char *text = NULL, *people = NULL;
    int r;

    if (snap->n_rows == 0)
        return load_seen_all(s, changes, n, snap);
    keys = row_keys(snap);
    text = keys ? cJSON_PrintUnformatted(keys) : NULL;
    people = people_ids(snap);
    if (!text || !people) {
        cJSON_free(text);
        cJSON_free(people);
        return -ENOMEM;
    }
    /* Before every load: what is read below stays what it is until this commits. */
    r = store_people_lock(s, people, text);
    cJSON_free(people);
    if (r >= 0)
        r = load_seen_all(s, changes, n, snap);
    if (r < 0) {
        cJSON_free(text);
        return r;
    }
    /* Every row's owner, fields and versions; its journal within its bound; the conflict-log
     * keys of that journal: one statement each. */
    r = each_row(s, KEYS_CTE "SELECT f.tbl, f.row_id, f.field, f.value, f.hlc, f.device,"
                             " f.change_id, f.person_id FROM k JOIN field_state f"
                             " ON f.tbl = k.tbl AND f.row_id = k.row_id",
                 text, snap, add_field);
    if (r >= 0)
        r = each_row(s, KEYS_CTE KEYS_JOURNAL("l.tbl, l.row_id, " STORE_JOURNAL_COLS("l.")),
                     text, snap, add_journal);
    if (r >= 0)
        r = each_row(s, KEYS_CTE "SELECT j.tbl, j.row_id, c.loser_change_id, c.kind"
                                 " FROM conflicts c JOIN ("
                                 KEYS_JOURNAL("l.tbl, l.row_id, l.change_id") ") j"
                                 " ON c.loser_change_id = j.change_id",
                     text, snap, add_conflict);
    cJSON_free(text);
    for (size_t i = 0; r >= 0 && i < snap->n_rows; i++)
        snap->rows[i].loaded = true;
    return r;
}

/* ---- push_write ---- */

/* The journal entries and field versions pending, written as two statements. */
struct batch_writes {
    cJSON *journal, *fields;
    const struct backend_write **field_keys; /* each field entry's write, to find it again */
    size_t n_fields;
};

/* What a journal entry and a field version both hold: the change, where, its value and clock. */
static int add_version(cJSON *o, const struct applying *a)
{
    int r = 0;

    r |= store_json_add_str(o, "change_id", a->change_id);
    r |= store_json_add_str(o, "device", a->device);
    r |= store_json_add_str(o, "tbl", a->tbl);
    r |= store_json_add_str(o, "row_id", a->row_id);
    r |= store_json_add_str(o, "field", a->field->name);
    r |= store_json_add_str(o, "person_id", a->person_id);
    r |= store_json_add_str(o, "value", a->value);
    r |= store_json_add_u64(o, "hlc", a->hlc);
    return r;
}

static int journal_add(struct batch_writes *bw, const struct backend_write *w)
{
    struct applying a;
    cJSON *o = cJSON_CreateObject();
    int r = 0;

    backend_write_applying(w, &a);
    if (!o || !cJSON_AddItemToArray(bw->journal, o)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    r |= add_version(o, &a);
    if (a.user_id)
        r |= store_json_add_u64(o, "user_id", (uint64_t)a.user_id);
    r |= store_json_add_u64(o, "sent_hlc", a.sent_hlc);
    r |= store_json_add_u64(o, "base_hlc", a.base_hlc);
    r |= store_json_add_str(o, "base_device", a.base_device ? a.base_device : "");
    r |= store_json_add_str(o, "outcome", w->outcome);
    if (a.base_untrusted) {
        r |= store_json_add_u64(o, "sent_base_hlc", a.sent_base_hlc);
        r |= store_json_add_str(o, "sent_base_device",
                                a.sent_base_device ? a.sent_base_device : "");
    }
    return r ? -ENOMEM : 0;
}

/* A field written twice in one batch: its last version is the one written (an upsert of one
 * key twice in one statement is refused), which is what writing each in turn leaves. */
static int field_add(struct batch_writes *bw, const struct backend_write *w)
{
    struct applying a;
    cJSON *o = cJSON_CreateObject();
    size_t at = bw->n_fields;
    int r = 0;

    backend_write_applying(w, &a);
    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < bw->n_fields; i++) {
        struct applying b;

        backend_write_applying(bw->field_keys[i], &b);
        if (streq(a.tbl, b.tbl) && streq(a.row_id, b.row_id) &&
            streq(a.field->name, b.field->name)) {
            at = i;
            break;
        }
    }
    r |= add_version(o, &a);
    r |= store_json_add_u64(o, "seq", w->seq);
    if (r) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    if (at < bw->n_fields) {
        if (!cJSON_ReplaceItemInArray(bw->fields, (int)at, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
    } else {
        if (!cJSON_AddItemToArray(bw->fields, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        bw->n_fields++;
    }
    bw->field_keys[at] = w;
    return 0;
}

/* Write what is pending: the journal entries (in order, as ids are given) and the fields. */
static int batch_flush(struct store *s, struct batch_writes *bw)
{
    struct sql_stmt *st;
    char *text = NULL;
    int r = 0;

    if (cJSON_GetArraySize(bw->journal) > 0) {
        st = store_sql(s, "INSERT INTO change_log(change_id, device, user_id, tbl, row_id, field,"
                          " person_id, value, hlc, sent_hlc, base_hlc, base_device, outcome,"
                          " received_ms, sent_base_hlc, sent_base_device)"
                          " SELECT j->>'change_id', j->>'device', CAST(j->>'user_id' AS BIGINT),"
                          " j->>'tbl', j->>'row_id', j->>'field', j->>'person_id', j->>'value',"
                          " CAST(j->>'hlc' AS BIGINT), CAST(j->>'sent_hlc' AS BIGINT),"
                          " CAST(j->>'base_hlc' AS BIGINT), j->>'base_device', j->>'outcome', ?2,"
                          " CAST(j->>'sent_base_hlc' AS BIGINT), j->>'sent_base_device'"
                          " FROM jsonb_array_elements(CAST(?1 AS jsonb)) WITH ORDINALITY"
                          " AS e(j, o) ORDER BY o");
        if (!st)
            return -EIO;
        r = bind_json(st, 1, bw->journal, &text);
        sql_bind_int64(st, 2, (int64_t)hlc_wall_ms());
        if (r >= 0)
            r = sql_step_done(st);
        else
            sql_reset(st);
        cJSON_free(text);
        text = NULL;
        if (r < 0)
            return r;
        cJSON_Delete(bw->journal);
        bw->journal = cJSON_CreateArray();
        if (!bw->journal)
            return -ENOMEM;
    }
    if (bw->n_fields > 0) {
        st = store_sql(s, "INSERT INTO field_state(tbl, row_id, field, person_id, value, hlc,"
                          " device, change_id, seq)"
                          " SELECT j->>'tbl', j->>'row_id', j->>'field', j->>'person_id',"
                          " j->>'value', CAST(j->>'hlc' AS BIGINT), j->>'device',"
                          " j->>'change_id', CAST(j->>'seq' AS BIGINT)"
                          " FROM jsonb_array_elements(CAST(?1 AS jsonb)) AS e(j)"
                          FIELD_STATE_UPSERT);
        if (!st)
            return -EIO;
        r = bind_json(st, 1, bw->fields, &text);
        if (r >= 0)
            r = sql_step_done(st);
        else
            sql_reset(st);
        cJSON_free(text);
        if (r < 0)
            return r;
        cJSON_Delete(bw->fields);
        bw->fields = cJSON_CreateArray();
        bw->n_fields = 0;
        if (!bw->fields)
            return -ENOMEM;
    }
    return 0;
}

int store_batch_write(struct backend *b, struct store *s, const struct backend_write *w,
                      size_t n)
{
    struct batch_writes bw = {
        .journal = cJSON_CreateArray(),
        .fields = cJSON_CreateArray(),
        .field_keys = calloc(n ? n : 1, sizeof(*bw.field_keys)),
    };
    int r = 0;

    if (!bw.journal || !bw.fields || !bw.field_keys)
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < n; i++)
        switch (w[i].kind) {
        case BACKEND_WRITE_JOURNAL:
            r = journal_add(&bw, &w[i]);
            break;
        case BACKEND_WRITE_FIELD:
            r = field_add(&bw, &w[i]);
            break;
        case BACKEND_WRITE_CONFLICT:
            /* Rare (one per conflict), and it flags its loser's journal entry, which may be
             * pending: what is pending goes first, then the conflict as the merge made it. */
            r = batch_flush(s, &bw);
            if (r >= 0)
                r = backend_write_each(b, &w[i], 1);
            break;
        case BACKEND_WRITE_AUDIT:
            r = backend_write_each(b, &w[i], 1); /* grouped in memory until audit_flush() */
            break;
        }
    if (r >= 0)
        r = batch_flush(s, &bw);
    cJSON_Delete(bw.journal);
    cJSON_Delete(bw.fields);
    free(bw.field_keys);
    return r;
}
