/* SPDX-License-Identifier: MIT */
/*
 * sqlite_push.c - the SQLite backend's push operations (backend.h): push_load() reads what the
 * engine needs about a whole batch, and the per-change operations the merge still makes.
 * docs/internals/backend.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "db.h"
#include "hlc.h"
#include "store_int.h"

static struct store *store_of(struct backend *b)
{
    return (struct store *)((char *)b - offsetof(struct store, be));
}

/* The change stored under @change_id, if any. */
static int load_seen(struct store *s, const char *change_id, struct backend_seen *ret)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT device, tbl, row_id, field, value, sent_hlc,"
                                     " coalesce(sent_base_hlc, base_hlc),"
                                     " coalesce(sent_base_device, base_device), outcome, hlc,"
                                     " conflict, person_id FROM change_log WHERE change_id = ?");
    bool oom = false;
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, change_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->seen = true;
        copy_text(ret->device, sizeof(ret->device), sqlite3_column_text(st, 0));
        copy_text(ret->tbl, sizeof(ret->tbl), sqlite3_column_text(st, 1));
        copy_text(ret->row_id, sizeof(ret->row_id), sqlite3_column_text(st, 2));
        copy_text(ret->field, sizeof(ret->field), sqlite3_column_text(st, 3));
        ret->value = db_column_strdup(st, 4, &oom);
        ret->sent_hlc = (uint64_t)sqlite3_column_int64(st, 5);
        ret->sent_base_hlc = (uint64_t)sqlite3_column_int64(st, 6);
        copy_text(ret->sent_base_device, sizeof(ret->sent_base_device),
                  sqlite3_column_type(st, 7) == SQLITE_NULL ? "\1" :
                  (const char *)sqlite3_column_text(st, 7));
        copy_text(ret->outcome, sizeof(ret->outcome), sqlite3_column_text(st, 8));
        ret->hlc = (uint64_t)sqlite3_column_int64(st, 9);
        ret->conflict = sqlite3_column_int(st, 10) != 0;
        ret->has_person = sqlite3_column_type(st, 11) != SQLITE_NULL;
        copy_text(ret->person_id, sizeof(ret->person_id), sqlite3_column_text(st, 11));
    }
    sqlite3_reset(st);
    if (oom)
        return -ENOMEM;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int load_person(struct store *s, const struct store_principal *p,
                       struct backend_person *bp)
{
    const char *person_id = bp->person_id;
    sqlite3_stmt *st;
    int rc, r;

    *bp = (struct backend_person){.person_id = person_id};
    r = store_person_exists(s, person_id);
    if (r < 0)
        return r;
    bp->exists = r > 0;
    /* The current assignment first (end_seq NULL), else the one that ended last. */
    st = store_stmt(s, "SELECT ended_ms, end_seq, end_seq IS NULL FROM assignments"
                       " WHERE person_id = ? AND user_id = ?"
                       " ORDER BY end_seq IS NULL DESC, end_seq DESC LIMIT 1");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, p->user_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bp->had_assignment = bp->ever_assigned = true;
        bp->end_ms = (uint64_t)sqlite3_column_int64(st, 0);
        bp->end_seq = (uint64_t)sqlite3_column_int64(st, 1);
        bp->assigned = sqlite3_column_int(st, 2) != 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_errno(rc);
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

static int sqlite_person_reload(struct backend *b, const struct store_principal *p,
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
    sqlite3_stmt *st = store_stmt(s, "SELECT field, value, hlc, device, change_id FROM field_state"
                                     " WHERE tbl = ? AND row_id = ?");
    int rc = SQLITE_DONE, r = 0;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, row->table->name);
    store_bind_text(st, 2, row->row_id);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = backend_row_put(row, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1),
                            (uint64_t)sqlite3_column_int64(st, 2),
                            (const char *)sqlite3_column_text(st, 3),
                            (const char *)sqlite3_column_text(st, 4));
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    st = store_stmt(s, JOURNAL_BOUNDED("l.change_id, l.device, l.base_device, l.field, l.value,"
                                       " l.hlc, l.sent_hlc, l.base_hlc, l.outcome"));
    if (!st)
        return -EIO;
    store_bind_text(st, 1, row->table->name);
    store_bind_text(st, 2, row->row_id);
    sqlite3_bind_int64(st, 3, (int64_t)row->journal_from);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct backend_journal_entry e = {0};

        copy_text(e.change_id, sizeof(e.change_id), sqlite3_column_text(st, 0));
        copy_text(e.device, sizeof(e.device), sqlite3_column_text(st, 1));
        copy_text(e.base_device, sizeof(e.base_device), sqlite3_column_text(st, 2));
        copy_text(e.field, sizeof(e.field), sqlite3_column_text(st, 3));
        e.hlc = (uint64_t)sqlite3_column_int64(st, 5);
        e.sent_hlc = (uint64_t)sqlite3_column_int64(st, 6);
        e.base_hlc = (uint64_t)sqlite3_column_int64(st, 7);
        copy_text(e.outcome, sizeof(e.outcome), sqlite3_column_text(st, 8));
        r = backend_row_journal_add(row, &e, (const char *)sqlite3_column_text(st, 4));
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    /* The conflict-log entries of its journal (the log's key is loser and kind). */
    st = store_stmt(s, "SELECT c.loser_change_id, c.kind FROM conflicts c WHERE"
                       " c.loser_change_id IN (" JOURNAL_BOUNDED("l.change_id") ")");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, row->table->name);
    store_bind_text(st, 2, row->row_id);
    sqlite3_bind_int64(st, 3, (int64_t)row->journal_from);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = backend_row_conflict_add(row, (const char *)sqlite3_column_text(st, 0),
                                     (const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    row->loaded = true;
    return 0;
}

static int sqlite_push_load(struct backend *b, const struct store_principal *p,
                            const struct change_record *changes, size_t n,
                            struct push_snapshot *ret)
{
    struct store *s = store_of(b);
    sqlite3_stmt *st;
    int rc, r;

    r = backend_snapshot_keys(changes, n, ret);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = load_seen(s, changes[i].change_id, &ret->seen[i]);
    for (size_t i = 0; r >= 0 && i < ret->n_rows; i++) {
        struct backend_row *row = &ret->rows[i];

        r = store_row_owner(s, row->table->name, row->row_id, row->person_id);
        row->exists = r > 0;
        if (r >= 0)
            r = store_row_load(s, row->table->name, row->row_id, &row->fields);
        if (r >= 0)
            r = load_row_merge(s, row);
    }
    for (size_t i = 0; r >= 0 && i < ret->n_people; i++)
        r = load_person(s, p, &ret->people[i]);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT given_cursor FROM devices WHERE id = ?");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, p->device_id);
    rc = sqlite3_step(st);
    ret->given_cursor = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* ---- per change ---- */

static int sqlite_field_current(struct backend *b, const char *tbl, const char *row_id,
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
static int sqlite_base_issued(struct backend *b, const struct applying *a)
{
    struct store *s = store_of(b);
    sqlite3_stmt *st;
    int rc;

    if (!a->base_hlc && (!a->base_device || !*a->base_device))
        return 1; /* no base: the write saw nothing, which proves nothing */
    /* A delete's base is the newest version of any field of the row its device held. */
    st = store_stmt(s, "SELECT 1 FROM change_log WHERE tbl = ?1 AND row_id = ?2"
                       " AND (field = ?3 OR ?3 = '" CAT_DELETED_FIELD "')"
                       " AND device = ?4 AND (hlc = ?5 OR sent_hlc = ?5) LIMIT 1");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, a->tbl);
    store_bind_text(st, 2, a->row_id);
    store_bind_text(st, 3, a->field->name);
    store_bind_text(st, 4, a->base_device ? a->base_device : "");
    sqlite3_bind_int64(st, 5, (int64_t)a->base_hlc);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int sqlite_journal(struct backend *b, const struct applying *a, const char *outcome)
{
    return store_journal(store_of(b), a, outcome);
}

static int sqlite_conflict_add(struct backend *b, const char *kind, struct applying *a,
                               const char *loser_change_id, const char *winner_change_id,
                               const char *field)
{
    return store_conflict_add(store_of(b), kind, a, loser_change_id, winner_change_id, field);
}

static int sqlite_register_person(struct backend *b, const struct store_principal *p,
                                  const char *person_id)
{
    struct store *s = store_of(b);
    _cleanup_json_ cJSON *d = NULL;
    char ts[ISO_TIME_MAX];
    sqlite3_stmt *st;
    int r;

    st = store_stmt(s, "INSERT OR IGNORE INTO assignments(person_id, user_id, start_seq,"
                       " started_at) VALUES(?, ?, ?, ?)");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, p->user_id);
    sqlite3_bind_int64(st, 3, (int64_t)store_next_seq(s));
    store_bind_text(st, 4, iso_time(hlc_wall_ms(), ts));
    r = store_step_done(st);
    if (r < 0)
        return r;
    d = cJSON_CreateObject();
    if (!d || wire_add_string(d, "user", p->user) < 0 ||
        wire_add_string(d, "reason", "registered in the field") < 0)
        return -ENOMEM;
    return store_audit(s, "assign", p->user_id, p->device_id, person_id, d);
}

static int sqlite_row_visible(struct backend *b, const struct store_principal *p,
                              const struct cat_table *t, const char *row_id,
                              const char *person_id)
{
    return store_row_visible(store_of(b), p, t, row_id, person_id);
}

static int sqlite_audit_change(struct backend *b, const struct applying *a, const char *outcome,
                               const char *before)
{
    return store_audit_change(store_of(b), a, outcome, before);
}

/* ---- once per batch ---- */

static void sqlite_audit_begin(struct backend *b)
{
    store_audit_batch_begin(store_of(b));
}

static int sqlite_audit_flush(struct backend *b)
{
    return store_audit_batch_flush(store_of(b));
}

static void sqlite_audit_drop(struct backend *b)
{
    store_audit_batch_drop(store_of(b));
}

static int sqlite_device_open_conflicts(struct backend *b, const char *device, uint64_t *ret)
{
    struct store *s = store_of(b);
    sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM conflicts c JOIN change_log l"
                                     " ON l.change_id = c.loser_change_id"
                                     " WHERE c.status = 'open' AND l.device = ?");
    int rc;

    *ret = 0;
    if (!st)
        return -EIO;
    store_bind_text(st, 1, device);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_errno(rc);
}

static int sqlite_device_synced(struct backend *b, const struct store_principal *p,
                                int64_t pending, const char *client_version)
{
    struct store *s = store_of(b);
    sqlite3_stmt *st = store_stmt(s, "UPDATE devices SET last_seen_at = ?1, last_sync_at = ?1,"
                                     " pending = coalesce(?2, pending),"
                                     " client_version = coalesce(?3, client_version)"
                                     " WHERE id = ?4");
    char ts[ISO_TIME_MAX];

    if (!st)
        return -EIO;
    store_bind_text(st, 1, iso_time(hlc_wall_ms(), ts));
    if (pending >= 0)
        sqlite3_bind_int64(st, 2, pending);
    store_bind_text(st, 3, client_version);
    store_bind_text(st, 4, p->device_id);
    return store_step_done(st);
}

/* ---- transactions ---- */

static int sqlite_begin(struct backend *b, bool write)
{
    struct store *s = store_of(b);

    return write ? store_txn_begin(s) : store_plain_begin(s, false);
}

static int sqlite_commit(struct backend *b)
{
    return store_txn_commit(store_of(b));
}

static void sqlite_rollback(struct backend *b)
{
    store_txn_rollback(store_of(b));
}

const struct backend_ops sqlite_backend_ops = {
    .name = "sqlite",
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .push_load = sqlite_push_load,
    .push_write = backend_write_each,
    .person_reload = sqlite_person_reload,
    .field_current = sqlite_field_current,
    .base_issued = sqlite_base_issued,
    .field_put = sqlite_field_put,
    .field_history = sqlite_field_history,
    .row_edits = sqlite_row_edits,
    .restored_after = sqlite_restored_after,
    .journal_clocks = sqlite_journal_clocks,
    .row_newest = sqlite_row_newest,
    .journal = sqlite_journal,
    .conflict_add = sqlite_conflict_add,
    .register_person = sqlite_register_person,
    .row_visible = sqlite_row_visible,
    .audit_change = sqlite_audit_change,
    .audit_begin = sqlite_audit_begin,
    .audit_flush = sqlite_audit_flush,
    .audit_drop = sqlite_audit_drop,
    .device_open_conflicts = sqlite_device_open_conflicts,
    .device_synced = sqlite_device_synced,
    .pull_load = sqlite_pull_load,
    .pull_facts = sqlite_pull_facts,
    .pull_device = sqlite_pull_device,
    .pull_device_set = sqlite_pull_device_set,
    .expire_closed = sqlite_expire_closed,
    .closed_due = sqlite_closed_due,
};
