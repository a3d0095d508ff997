/* SPDX-License-Identifier: MIT */
/* store_int.h - private to daemon/store*.c: the store handle, cached statements, transactions
 * and the merge primitives shared by store.c (staff, people, merge) and store_sync.c (sync,
 * pull pages, conflicts). */
#pragma once

#include <openssl/evp.h>
#include <sqlite3.h>

#include "backend.h"
#include "engine.h"
#include "sql.h"
#include "store.h"

/* How far past store_seq_floor() a device's cursor may be and still be believed: a billion writes
 * more than the floor, which no server reaches (it would take 1,000 writes per ms, sustained). */
#define STORE_CURSOR_AHEAD_MAX UINT64_C(1000000000)
#define STORE_CACHE_PRAGMA "PRAGMA cache_size = -65536" /* 64 MiB of SQLite page cache */

struct store;

/*
 * The database's half of a store handle, chosen when it is opened: sqlite_store_ops (the
 * embedded file, sqlite_store.c) or pg_store_ops (PostgreSQL, pg_store.c). store_handle.c's
 * store_txn_begin() and friends hand each call to it.
 */
struct store_db_ops {
    int (*plain_begin)(struct store *s, bool write);
    int (*plain_commit)(struct store *s);
    void (*rollback)(struct store *s);
    int (*txn_begin)(struct store *s);
    /* A read transaction loading its snapshot's sequence and clock; NULL: not offered (a sync's
     * page is then read on the writer, store_sync_page()). */
    int (*read_begin)(struct store *s);
    int (*txn_commit)(struct store *s);
    int (*group_begin)(struct store *s);
    bool (*group_lost)(struct store *s);
    int (*group_commit)(struct store *s);
    void (*group_rollback)(struct store *s);
    int (*open_reader)(const struct store *w, const char *path, struct store **ret);
    const char *(*path)(struct store *s);
    /* A sync's write transaction (store_sync_begin()); NULL: txn_begin. */
    int (*sync_begin)(struct store *s, const struct store_principal *p);
    /* Take the append point now if this transaction has not (store_head_need()); NULL: the
     * transaction holds it from its BEGIN. */
    int (*head_need)(struct store *s);
};
extern const struct store_db_ops sqlite_store_ops;
extern const struct store_db_ops pg_store_ops;

struct store {
    const struct store_db_ops *ops;
    /* The store's SQL connection (sql.h), over which the store files' SQL runs: for SQLite the
     * driver of sqlite_sql.c over @db, which only the SQLite backend's files (sqlite_*.c) use;
     * for PostgreSQL pg_sql.c's connection to @url (@db NULL). */
    struct sql *sql;
    sqlite3 *db;
    char *url;
    char node_id[UUID_STR_MAX];
    /* This incarnation of the store (meta 'epoch'): new at creation and at every restore
     * (docs/internals/audit.md, "Rewinds"); the audit chain's last row when it was opened. */
    char epoch[UUID_STR_MAX];
    int64_t open_audit_id;
    uint64_t max_forward_ms;
    uint64_t grace_ms; /* handover grace after an assignment ends */
    /* Inside a write transaction: the sequence counter and clock, saved at commit. */
    uint64_t txn_seq;
    uint64_t txn_hlc;
    bool txn_held; /* PostgreSQL: this transaction holds store_head (pg_store.c) */
    bool head_lazy; /* PostgreSQL: a sync's transaction, which takes the head when needed */
    int head_err;   /* PostgreSQL: taking the head failed; the commit fails with it */
    /* The audit chain's tail inside the current write transaction (id 0: not read yet), the
     * digest used to extend it, and the last actor name looked up. */
    int64_t audit_tail_id;
    char audit_tail_hash[SHA256_HEX_MAX];
    EVP_MD *audit_md;
    EVP_MD_CTX *audit_ctx;
    int64_t actor_id;
    char actor_name[STORE_NAME_MAX + 1];
    /* PostgreSQL: the audit rows of the current write transaction, hashed and numbered but not
     * yet written; store_audit_flush() writes them in one statement before the commit (NULL:
     * none). SQLite writes each at once. */
    cJSON *audit_queue;
    uint64_t max_device_conflicts;
    /* This store as a storage backend (daemon/sqlite_*.c) for the engine (engine.h). */
    struct backend be;
    /* During one sync: the batch's change events grouped for the audit log (NULL outside a
     * sync: store_audit_change() writes at once). */
    struct audit_group *audit_groups;
    size_t n_audit_groups, cap_audit_groups;
    bool audit_batching;
    /* Inside store_group_begin() ... store_group_commit(): each transaction is a savepoint. */
    bool group;
    uint64_t commits; /* COMMITs made (each one an fsync of the WAL) */
};


struct audit_group {
    char person_id[UUID_STR_MAX];
    int64_t user_id;
    char device[UUID_STR_MAX];
    cJSON *changes;
};


/* store_sql() - the cached statement for the SQL literal @sql on the store's connection (sql.h),
 * reset and unbound; NULL when it cannot be prepared (logged; the caller maps it to -EIO). */
static inline struct sql_stmt *store_sql(struct store *s, const char *sql)
{
    struct sql_stmt *st;

    return sql_prepare(s->sql, sql, &st) < 0 ? NULL : st;
}
static inline void sql_resetp(struct sql_stmt **p)
{
    if (*p)
        sql_reset(*p);
}
/* A statement reset when it goes out of scope (rows not read are dropped). */
#define _cleanup_sql_ _cleanup_(sql_resetp)

/* store_column_strdup() - a malloc'd copy of text column @col (NULL for SQL NULL; *oom set when
 * the copy failed). */
char *store_column_strdup(struct sql_stmt *st, int col, bool *oom);
/* store_query_i64() - the one integer that @sql (one row, one column; ?1 bound to @arg) gives,
 * 0 for NULL. 0 or -errno (-ENOENT when there is no row). */
int store_query_i64(struct store *s, const char *sql, const char *arg, int64_t *ret);

/* store_meta_set() - set key @key of the meta table to @value. 0 or -errno. */
int store_meta_set(struct store *s, const char *key, const char *value);
/* store_reader_settings() - what reader handle @s takes from the writer's handle @w: the
 * store's identity and the configured limits. */
void store_reader_settings(struct store *s, const struct store *w);
/* store_path() - the database file's path (the SQLite backend's; NULL or "" when none). */
const char *store_path(struct store *s);

/* store_txn_begin()/store_txn_commit() - BEGIN IMMEDIATE loading the sequence and clock;
 * commit saving them (rolls back on failure). */
int store_txn_begin(struct store *s);
/* store_read_begin() - a read transaction (any handle, a reader's too) loading the sequence and
 * clock of its snapshot, as store_txn_begin() does; ended by store_txn_rollback(). */
int store_read_begin(struct store *s);
int store_txn_commit(struct store *s);
/* store_txn_rollback() - undo the transaction (in a group: only its savepoint). */
void store_txn_rollback(struct store *s);
/* store_plain_begin()/store_plain_commit() - a transaction that neither numbers nor ticks: a
 * read snapshot (@write false) or a small write; a savepoint inside a group. */
int store_plain_begin(struct store *s, bool write);
int store_plain_commit(struct store *s);
/* store_sync_begin() - a sync's write transaction for device @p: on SQLite store_txn_begin();
 * on PostgreSQL the device's and user's locks and the head's seq (H) read without taking it
 * (pg_store.c). store_head_need() - take the head if this transaction has not yet (PostgreSQL;
 * on SQLite a no-op): before anything that numbers, stamps, reads the audit chain's tail or
 * inserts a conflict. store_next_seq() and store_tick() call it (a failure makes the commit
 * fail). 0 or -errno. */
int store_sync_begin(struct store *s, const struct store_principal *p);
int store_head_need(struct store *s);
/* store_people_lock() - on PostgreSQL, lock every person of the JSON array @ids and every
 * owner of the rows of the JSON array @rows ([{"t": table, "r": row id}]), in ascending key
 * order, for the rest of the transaction (store_batch.c); a no-op on SQLite. 0 or -errno. */
int store_people_lock(struct store *s, const char *ids, const char *rows);
uint64_t store_next_seq(struct store *s);
/* store_tick() - the server clock for a local event inside a transaction. */
uint64_t store_tick(struct store *s);

/* store_field_current() - the field's current version and value (ret->exists false if none). */
int store_field_current(struct store *s, const char *tbl, const char *row_id, const char *field,
                        struct field_cur *ret);
/* store_journal() - append @a to the change log with @outcome. */
int store_journal(struct store *s, const struct applying *a, const char *outcome);
/* store_conflict_add() - log @loser as lost to @winner (kind, once per loser and kind): 1 when
 * logged, 0 when it already was (the SQLite backend's conflict_add(); engine_conflict() counts). */
int store_conflict_add(struct store *s, const char *kind, struct applying *a,
                       const char *loser_change_id, const char *winner_change_id,
                       const char *field);
/*
 * store_server_version() - write @value into the field of @a as a new version made by the server
 * on behalf of @writer_device (a fresh clock, based on @a's version, so every device converges
 * on it by the plain rule), without merging: for rules that decide a field's value themselves.
 * @sent_hlc is the version it replaces as that writer sent it. The new change's id goes to
 * @ret_change_id and its clock to *ret_hlc.
 */
int store_server_version(struct store *s, const struct applying *a, const char *value,
                         const char *writer_device, uint64_t sent_hlc, const char *before,
                         char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc);
/* A field state's upsert: the new version replaces the row's version of that field. */
#define FIELD_STATE_UPSERT                                                                      \
    " ON CONFLICT(tbl, row_id, field) DO UPDATE SET value = excluded.value, hlc = excluded.hlc," \
    " device = excluded.device, change_id = excluded.change_id, seq = excluded.seq"
/* A journal entry's columns as store_journal_entry_add() reads them (@p: the table's alias). */
#define STORE_JOURNAL_COLS(p)                                                                   \
    p "change_id, " p "device, " p "base_device, " p "field, " p "value, " p "hlc, "            \
    p "sent_hlc, " p "base_hlc, " p "outcome"
/* store_journal_entry_add() - append the journal entry in @st's columns from @c on
 * (STORE_JOURNAL_COLS) to @row's journal. 0 or -ENOMEM. */
int store_journal_entry_add(struct sql_stmt *st, int c, struct backend_row *row);
/* store_seen_fill() - @ret from the change_log row of @st, its columns from @c on: device, tbl,
 * row_id, field, value, sent_hlc, sent base hlc and device, outcome, hlc, conflict, person_id. */
int store_seen_fill(struct sql_stmt *st, int c, struct backend_seen *ret);
/* store_batch_load() - push_load()'s change ids and rows (owner, fields, versions, journal,
 * conflict keys; loaded set) in four statements (store_batch.c, PostgreSQL's SQL).
 * store_batch_write() - push_write() with the journal and the field versions as one statement
 * each (a conflict or audit write in between as backend_write_each()). 0 or -errno. */
int store_batch_load(struct store *s, const struct change_record *changes, size_t n,
                     struct push_snapshot *snap);
int store_batch_write(struct backend *b, struct store *s, const struct backend_write *w,
                      size_t n);
/* store_people_facts() - push_load()'s people (struct backend_person) in one statement
 * (store_access.c, PostgreSQL's SQL). 0 or -errno. */
int store_people_facts(struct store *s, const struct store_principal *p,
                       struct push_snapshot *snap);
/* store_denied_each() - for each person of @io (their ids also in @ids, a JSON array), whether
 * an active consent provision denies @role's sector, in @ret[i] (set true only), in one
 * statement (store_access.c, PostgreSQL's SQL; store_denied() one person). 0 or -errno. */
int store_denied_each(struct store *s, const char *role, const char *ids,
                      const struct pull_facts *io, bool *ret);
/* The merge operations (store_merge.c; backend.h says what each does). */
int store_field_put(struct backend *b, const struct applying *a, uint64_t seq);
int store_restored_after(struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                         const char *device);
int store_field_history(struct backend *b, const char *tbl, const char *row_id,
                        const char *field, uint64_t from_hlc,
                        struct backend_journal_entry **ret, size_t *ret_n);
int store_row_edits(struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                    struct backend_journal_entry **ret, size_t *ret_n);
int store_journal_clocks(struct backend *b, const char *change_id, uint64_t *ret_hlc,
                         uint64_t *ret_sent_hlc);
int store_row_newest(struct backend *b, const char *tbl, const char *row_id,
                     struct field_cur *ret);
/* store_apply_change() - merge one in-scope change (journal, field state, conflict rules).
 * When @ret_cur is not NULL it receives the field's version after the merge if the change
 * lost (the caller frees it with store_field_cur_done()). */
int store_apply_change(struct store *s, struct applying *a, bool *ret_applied,
                       struct field_cur *ret_cur);
/* store_row_owner() - 1 and the row's person in @ret, 0 for a new row, or -errno. */
int store_row_owner(struct store *s, const char *tbl, const char *row_id,
                    char ret[static UUID_STR_MAX]);
int store_person_exists(struct store *s, const char *person_id);
/* store_ever_assigned() - 1 when user @user_id was ever assigned person @person_id (now or in the
 * past), 0 when never, or -errno. */
int store_ever_assigned(struct store *s, int64_t user_id, const char *person_id);
/* store_in_scope() - 1 when @p may read and write person @person_id, else 0, or -errno. */
int store_in_scope(struct store *s, const struct store_principal *p, const char *person_id);
/* store_write_field() - a server-side write (admin, resolution): fresh clock, sequential base. */
int store_write_field(struct store *s, const char *device, int64_t user_id, const char *tbl,
                      const char *row_id, const char *person_id, const char *field,
                      const char *value, char ret_change_id[static UUID_STR_MAX]);
/* store_rows_to_array() - each row of @st as an object keyed by @keys, in a new array. */
int store_rows_to_array(struct sql_stmt *st, const char *const *keys, cJSON **ret);
int store_add_column(cJSON *o, const char *key, struct sql_stmt *st, int i);

/* store_audit_init()/store_audit_done() - the digest the audit chain uses, per store handle. */
int store_audit_init(struct store *s);
void store_audit_done(struct store *s);
/* store_audit() - append an event to the hash-chained audit log inside the current write
 * transaction. @user_id 0 = the server itself; @detail is borrowed. */
int store_audit(struct store *s, const char *kind, int64_t user_id, const char *device,
                const char *person_id, const cJSON *detail);
/* store_audit_change() - audit one change with the field's value before it and its outcome.
 * Between store_audit_batch_begin() and store_audit_batch_flush() the changes are collected
 * and written as one "change" event per person, writer and device; otherwise at once. */
int store_audit_change(struct store *s, const struct applying *a, const char *outcome,
                       const char *before);
void store_audit_batch_begin(struct store *s);
int store_audit_batch_flush(struct store *s);
void store_audit_batch_drop(struct store *s);
/* store_json_add_u64()/store_json_add_str() - add @key to JSON object @o: @v as a JSON string
 * of its digits (a JSON number in cJSON holds 53 bits), or as a string (null for NULL), for a
 * statement's JSON array parameter (store_batch.c). 0 or -ENOMEM. */
int store_json_add_u64(cJSON *o, const char *key, uint64_t v);
int store_json_add_str(cJSON *o, const char *key, const char *v);
/* store_audit_flush() - write the audit rows queued by this transaction (PostgreSQL), in one
 * statement; the chain trigger still checks every row. Called by the commit before the head is
 * saved, and before anything reads the audit table inside the transaction. 0 or -errno. */
int store_audit_flush(struct store *s);
/* store_audit_queue_drop() - forget the queued rows (a rollback). */
void store_audit_queue_drop(struct store *s);
/* store_audit_head() - the chain's last row (id 0 and 64 zeros when empty), this transaction's
 * own events included. 0 or -errno. */
int store_audit_head(struct store *s, int64_t *ret_id, char ret_hash[static SHA256_HEX_MAX]);
/* store_audit_holds() - 1 when row @id of the chain exists and its hash starts with @prefix
 * (id 0: the empty chain, always held), 0 when not, or -errno. */
int store_audit_holds(struct store *s, int64_t id, const char *prefix);
/* The lowest sequence number a store may use after it went back in time: above every number
 * an earlier incarnation can have issued (docs/internals/audit.md, "Rewinds"). */
uint64_t store_seq_floor(void);

/* ---- access (store_access.c) ---- */

int store_row_load(struct store *s, const char *tbl, const char *row_id, struct store_row *ret);
/* store_denied() - 1 when an active consent provision denies @role's sector for the person. */
int store_denied(struct store *s, const char *role, const char *person_id);
/* store_deny_since() - 1 when an active deny for @role's sector covers the person, with when
 * the server received what made the first such deny (Unix ms) and its sequence number; 0 when
 * none, or -errno. */
int store_deny_since(struct store *s, const char *role, const char *person_id,
                     uint64_t *ret_received_ms, uint64_t *ret_seq);
/* store_row_visible() - 1 when @p may see this row (common/access.c rules), 0, or -errno. */
int store_row_visible(struct store *s, const struct store_principal *p, const struct cat_table *t,
                      const char *row_id, const char *person_id);

/* ---- conflict notices (store_conflicts.c) ---- */

#define STORE_NOTICE_IDS_MAX PROTO_NOTICE_IDS_MAX /* conflict ids in one sync's notices */

/*
 * store_conflict_notices() - inside a write transaction: the number of conflicts whose losing
 * value @p's user wrote that were created or resolved after @p's device's notice cursor (a
 * device never told: since @enrolled_ms), moving the cursor to the newest event. Their ids (the
 * first STORE_NOTICE_IDS_MAX) are added to @ret_ids's notices when not NULL. Count or -errno.
 */
int store_conflict_notices(struct store *s, const struct store_principal *p, int64_t enrolled_ms,
                           struct proto_sync_reply *ret_ids);

/* ---- device health (store_devices.c) ---- */

/*
 * store_device_report_txn() - store_device_report() inside the caller's write transaction (so a
 * sync could record it in its own transaction and save a commit).
 */
int store_device_report_txn(struct store *s, const struct store_principal *p,
                            const struct store_device_report *rep, bool notices,
                            struct proto_sync_reply *ret_ids);
