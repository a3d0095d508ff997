/* SPDX-License-Identifier: MIT */
/*
 * store_push.c - the store's push operations (backend.h): push_load() reads what the engine
 * needs about a whole batch, and the per-change operations the merge still makes, over the SQL
 * driver (sql.h); the transactions are the SQLite store's (sqlite_store.c).
 * docs/internals/backend.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hlc.h"
#include "store_int.h"

static struct store *store_of(struct backend *b)
{
    return (struct store *)((char *)b - offsetof(struct store, be));
}

int store_seen_fill(struct sql_stmt *st, int c, struct backend_seen *ret)
{
    bool oom = false;

    ret->seen = true;
    copy_text(ret->device, sizeof(ret->device), sql_column_text(st, c));
    copy_text(ret->tbl, sizeof(ret->tbl), sql_column_text(st, c + 1));
    copy_text(ret->row_id, sizeof(ret->row_id), sql_column_text(st, c + 2));
    copy_text(ret->field, sizeof(ret->field), sql_column_text(st, c + 3));
    free(ret->value);
    ret->value = store_column_strdup(st, c + 4, &oom);
    ret->sent_hlc = (uint64_t)sql_column_int64(st, c + 5);
    ret->sent_base_hlc = (uint64_t)sql_column_int64(st, c + 6);
    copy_text(ret->sent_base_device, sizeof(ret->sent_base_device),
              sql_column_type(st, c + 7) == SQL_NULL ? "\1" : sql_column_text(st, c + 7));
    copy_text(ret->outcome, sizeof(ret->outcome), sql_column_text(st, c + 8));
    ret->hlc = (uint64_t)sql_column_int64(st, c + 9);
    ret->conflict = sql_column_int64(st, c + 10) != 0;
    ret->has_person = sql_column_type(st, c + 11) != SQL_NULL;
    copy_text(ret->person_id, sizeof(ret->person_id), sql_column_text(st, c + 11));
    return oom ? -ENOMEM : 0;
}

/* The change stored under @change_id, if any. */
static int load_seen(struct store *s, const char *change_id, struct backend_seen *ret)
{
    struct sql_stmt *st = store_sql(s, "SELECT device, tbl, row_id, field, value, sent_hlc,"
                                       " coalesce(sent_base_hlc, base_hlc),"
                                       " coalesce(sent_base_device, base_device), outcome, hlc,"
                                       " conflict, person_id FROM change_log WHERE change_id = ?");
    int rc, r = 0;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, change_id);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        r = store_seen_fill(st, 0, ret);
    sql_reset(st);
    if (r < 0)
        return r;
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

int store_journal_entry_add(struct sql_stmt *st, int c, struct backend_row *row)
{
    struct backend_journal_entry e = {0};

    copy_text(e.change_id, sizeof(e.change_id), sql_column_text(st, c));
    copy_text(e.device, sizeof(e.device), sql_column_text(st, c + 1));
    copy_text(e.base_device, sizeof(e.base_device), sql_column_text(st, c + 2));
    copy_text(e.field, sizeof(e.field), sql_column_text(st, c + 3));
    e.hlc = (uint64_t)sql_column_int64(st, c + 5);
    e.sent_hlc = (uint64_t)sql_column_int64(st, c + 6);
    e.base_hlc = (uint64_t)sql_column_int64(st, c + 7);
    copy_text(e.outcome, sizeof(e.outcome), sql_column_text(st, c + 8));
    return backend_row_journal_add(row, &e, sql_column_text(st, c + 4));
}

static int load_person(struct store *s, const struct store_principal *p,
                       struct backend_person *bp)
{
    const char *person_id = bp->person_id;
    struct sql_stmt *st;
    int rc, r;

    *bp = (struct backend_person){.person_id = person_id};
    r = store_person_exists(s, person_id);
    if (r < 0)
        return r;
    bp->exists = r > 0;
    /* The current assignment first (end_seq NULL), else the one that ended last. */
    st = store_sql(s, "SELECT ended_ms, end_seq, end_seq IS NULL FROM assignments"
                      " WHERE person_id = ? AND user_id = ?"
                      " ORDER BY end_seq IS NULL DESC, end_seq DESC LIMIT 1");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, p->user_id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        bp->had_assignment = bp->ever_assigned = true;
        bp->end_ms = (uint64_t)sql_column_int64(st, 0);
        bp->end_seq = (uint64_t)sql_column_int64(st, 1);
        bp->assigned = sql_column_int64(st, 2) != 0;
    }
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    if (bp->assigned) {
        /* A consent provision denying the worker's sector takes the person off their devices. */
        r = store_denied(s, p->role, person_id);
        if (r < 0)
            return r;
        bp->denied = r > 0;
    }
    if (bp->assigned && bp->denied) {
        r = store_deny_since(s, p->role, person_id, &bp->deny_ms, &bp->deny_seq);
        if (r < 0)
            return r;
        bp->deny_found = r > 0;
    }
    return 0;
}

static int op_person_reload(struct backend *b, const struct store_principal *p,
                            struct backend_person *io)
{
    return load_person(store_of(b), p, io);
}

/*
 * What the merge reads about @row: every field's current version, and the journal from
 * row->journal_from on with every tombstone entry (backend.h), with their conflict-log keys.
 * Two disjoint parts, each over the index on (tbl, row_id, field, hlc).
 */
#define JOURNAL_BOUNDED(cols)                                                                  \
    "SELECT " cols " FROM change_log l WHERE l.tbl = ?1 AND l.row_id = ?2 AND l.hlc >= ?3"   \
    " UNION ALL SELECT " cols " FROM change_log l WHERE l.tbl = ?1 AND l.row_id = ?2"        \
    " AND l.field = '" CAT_DELETED_FIELD "' AND l.hlc < ?3"
static int load_row_merge(struct store *s, struct backend_row *row)
{
    struct sql_stmt *st = store_sql(
            s, "SELECT field, value, hlc, device, change_id FROM field_state"
               " WHERE tbl = ? AND row_id = ?");
    int rc = SQL_DONE, r = 0;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, row->table->name);
    sql_bind_text(st, 2, row->row_id);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW)
        r = backend_row_put(row, sql_column_text(st, 0),
                            sql_column_text(st, 1),
                            (uint64_t)sql_column_int64(st, 2),
                            sql_column_text(st, 3),
                            sql_column_text(st, 4));
    sql_reset(st);
    if (r < 0)
        return r;
    if (rc != SQL_DONE)
        return rc;
    st = store_sql(s, JOURNAL_BOUNDED(STORE_JOURNAL_COLS("l.")));
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, row->table->name);
    sql_bind_text(st, 2, row->row_id);
    sql_bind_int64(st, 3, (int64_t)row->journal_from);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW)
        r = store_journal_entry_add(st, 0, row);
    sql_reset(st);
    if (r < 0)
        return r;
    if (rc != SQL_DONE)
        return rc;
    /* The conflict-log entries of its journal (the log's key is loser and kind). */
    st = store_sql(s, "SELECT c.loser_change_id, c.kind FROM conflicts c WHERE"
                      " c.loser_change_id IN (" JOURNAL_BOUNDED("l.change_id") ")");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, row->table->name);
    sql_bind_text(st, 2, row->row_id);
    sql_bind_int64(st, 3, (int64_t)row->journal_from);
    while (r >= 0 && (rc = sql_step(st)) == SQL_ROW)
        r = backend_row_conflict_add(row, sql_column_text(st, 0),
                                     sql_column_text(st, 1));
    sql_reset(st);
    if (r < 0)
        return r;
    if (rc != SQL_DONE)
        return rc;
    row->loaded = true;
    return 0;
}

static int op_push_load(struct backend *b, const struct store_principal *p,
                        const struct change_record *changes, size_t n,
                        struct push_snapshot *ret)
{
    struct store *s = store_of(b);
    struct sql_stmt *st;
    int rc, r;

    r = backend_snapshot_keys(changes, n, ret);
    /* Across a network, the batch's ids and rows in four statements, whatever their number
     * (store_batch.c); embedded, a statement per row costs microseconds and no round trip. */
    if (r >= 0 && sql_dialect(s->sql) == SQL_POSTGRESQL)
        r = store_batch_load(s, changes, n, ret);
    else
        for (size_t i = 0; r >= 0 && i < n; i++)
            r = load_seen(s, changes[i].change_id, &ret->seen[i]);
    for (size_t i = 0; r >= 0 && i < ret->n_rows; i++) {
        struct backend_row *row = &ret->rows[i];

        if (row->loaded)
            continue;

        r = store_row_owner(s, row->table->name, row->row_id, row->person_id);
        row->exists = r > 0;
        if (r >= 0)
            r = store_row_load(s, row->table->name, row->row_id, &row->fields);
        if (r >= 0)
            r = load_row_merge(s, row);
    }
    if (r >= 0 && sql_dialect(s->sql) == SQL_POSTGRESQL && ret->n_people > 0)
        r = store_people_facts(s, p, ret);
    else
        for (size_t i = 0; r >= 0 && i < ret->n_people; i++)
            r = load_person(s, p, &ret->people[i]);
    if (r < 0)
        return r;
    st = store_sql(s, "SELECT given_cursor FROM devices WHERE id = ?");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, p->device_id);
    rc = sql_step(st);
    ret->given_cursor = rc == SQL_ROW ? (uint64_t)sql_column_int64(st, 0) : 0;
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    /* Loaded under the people's locks: now the append point, for the merge's numbers and
     * stamps (the engine takes them from b->seq and b->hlc), its writes and its audit. An
     * empty push numbers nothing and takes it later, if at all (store_sync.c). */
    return n > 0 ? store_head_need(s) : 0;
}

static int op_push_write(struct backend *b, const struct backend_write *w, size_t n)
{
    struct store *s = store_of(b);

    if (sql_dialect(s->sql) == SQL_POSTGRESQL)
        return store_batch_write(b, s, w, n);
    return backend_write_each(b, w, n);
}

/* ---- per change ---- */

static int op_field_current(struct backend *b, const char *tbl, const char *row_id,
                            const char *field, struct field_cur *ret)
{
    return store_field_current(store_of(b), tbl, row_id, field, ret);
}

/*
 * 1 when the base of @a is a version the server issued for that field (a version it stored, as
 * stamped or as its writer sent it; for a delete, of any field of the row), 0 when not, or
 * -errno. A base the server never issued is not trusted to prove a write sequential
 * (docs/internals/merge.md).
 */
static int op_base_issued(struct backend *b, const struct applying *a)
{
    struct store *s = store_of(b);
    struct sql_stmt *st;
    int rc;

    if (!a->base_hlc && (!a->base_device || !*a->base_device))
        return 1; /* no base: the write saw nothing, which proves nothing */
    /* A delete's base is the newest version of any field of the row its device held. */
    st = store_sql(s, "SELECT 1 FROM change_log WHERE tbl = ?1 AND row_id = ?2"
                      " AND (field = ?3 OR ?3 = '" CAT_DELETED_FIELD "')"
                      " AND device = ?4 AND (hlc = ?5 OR sent_hlc = ?5) LIMIT 1");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, a->tbl);
    sql_bind_text(st, 2, a->row_id);
    sql_bind_text(st, 3, a->field->name);
    sql_bind_text(st, 4, a->base_device ? a->base_device : "");
    sql_bind_int64(st, 5, (int64_t)a->base_hlc);
    rc = sql_step(st);
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

static int op_journal(struct backend *b, const struct applying *a, const char *outcome)
{
    return store_journal(store_of(b), a, outcome);
}

static int op_conflict_add(struct backend *b, const char *kind, struct applying *a,
                           const char *loser_change_id, const char *winner_change_id,
                           const char *field)
{
    return store_conflict_add(store_of(b), kind, a, loser_change_id, winner_change_id, field);
}

static int op_register_person(struct backend *b, const struct store_principal *p,
                              const char *person_id)
{
    struct store *s = store_of(b);
    _cleanup_json_ cJSON *d = NULL;
    char ts[ISO_TIME_MAX];
    struct sql_stmt *st;
    int r;

    st = store_sql(s, "INSERT INTO assignments(person_id, user_id, start_seq, started_at)"
                      " VALUES(?, ?, ?, ?) ON CONFLICT (person_id, user_id)"
                      " WHERE end_seq IS NULL DO NOTHING");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, p->user_id);
    sql_bind_int64(st, 3, (int64_t)store_next_seq(s));
    sql_bind_text(st, 4, iso_time(hlc_wall_ms(), ts));
    r = sql_step_done(st);
    if (r < 0)
        return r;
    d = cJSON_CreateObject();
    if (!d || wire_add_string(d, "user", p->user) < 0 ||
        wire_add_string(d, "reason", "registered in the field") < 0)
        return -ENOMEM;
    return store_audit(s, "assign", p->user_id, p->device_id, person_id, d);
}

static int op_row_visible(struct backend *b, const struct store_principal *p,
                          const struct cat_table *t, const char *row_id,
                          const char *person_id)
{
    return store_row_visible(store_of(b), p, t, row_id, person_id);
}

static int op_audit_change(struct backend *b, const struct applying *a, const char *outcome,
                           const char *before)
{
    return store_audit_change(store_of(b), a, outcome, before);
}

/* ---- once per batch ---- */

static void op_audit_begin(struct backend *b)
{
    store_audit_batch_begin(store_of(b));
}

static int op_audit_flush(struct backend *b)
{
    return store_audit_batch_flush(store_of(b));
}

static void op_audit_drop(struct backend *b)
{
    store_audit_batch_drop(store_of(b));
}

static int op_device_open_conflicts(struct backend *b, const char *device, uint64_t *ret)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, "SELECT count(*) FROM conflicts c JOIN change_log l"
                                       " ON l.change_id = c.loser_change_id"
                                       " WHERE c.status = 'open' AND l.device = ?");
    int rc;

    *ret = 0;
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, device);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        *ret = (uint64_t)sql_column_int64(st, 0);
    sql_reset(st);
    return rc == SQL_ROW ? 0 : rc < 0 ? rc : -EPROTO;
}

static int op_device_synced(struct backend *b, const struct store_principal *p,
                            int64_t pending, const char *client_version)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, "UPDATE devices SET last_seen_at = ?1, last_sync_at = ?1,"
                                       " pending = coalesce(?2, pending),"
                                       " client_version = coalesce(?3, client_version)"
                                       " WHERE id = ?4");
    char ts[ISO_TIME_MAX];

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, iso_time(hlc_wall_ms(), ts));
    if (pending >= 0)
        sql_bind_int64(st, 2, pending);
    sql_bind_text(st, 3, client_version);
    sql_bind_text(st, 4, p->device_id);
    return sql_step_done(st);
}

/* ---- transactions ---- */

static int op_begin(struct backend *b, bool write)
{
    struct store *s = store_of(b);

    return write ? store_txn_begin(s) : store_plain_begin(s, false);
}

static int op_commit(struct backend *b)
{
    return store_txn_commit(store_of(b));
}

static void op_rollback(struct backend *b)
{
    store_txn_rollback(store_of(b));
}

const struct backend_ops sqlite_backend_ops = {
    .name = "sqlite",
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .push_load = op_push_load,
    .push_write = op_push_write,
    .person_reload = op_person_reload,
    .field_current = op_field_current,
    .base_issued = op_base_issued,
    .field_put = store_field_put,
    .field_history = store_field_history,
    .row_edits = store_row_edits,
    .restored_after = store_restored_after,
    .journal_clocks = store_journal_clocks,
    .row_newest = store_row_newest,
    .journal = op_journal,
    .conflict_add = op_conflict_add,
    .register_person = op_register_person,
    .row_visible = op_row_visible,
    .audit_change = op_audit_change,
    .audit_begin = op_audit_begin,
    .audit_flush = op_audit_flush,
    .audit_drop = op_audit_drop,
    .device_open_conflicts = op_device_open_conflicts,
    .device_synced = op_device_synced,
    .pull_load = store_pull_load,
    .pull_facts = store_pull_facts,
    .pull_device = store_pull_device,
    .pull_device_set = store_pull_device_set,
    .expire_closed = store_expire_closed,
    .closed_due = store_closed_due,
};
