/* SPDX-License-Identifier: MIT */
/*
 * pg_store.c - the PostgreSQL half of the store handle (struct store_db_ops, beside
 * sqlite_store.c's): opening the store by URL (pg_sql.c's connection, the migrations of
 * schema/server-pg, the node id and the incarnation in meta), and transactions over the one
 * append point, store_head (docs/internals/scale-out.md, "The daemon on PostgreSQL"):
 *
 *  - A sync's transaction (store_sync_begin()) takes no head at BEGIN. It takes the writers'
 *    gate shared, its device row FOR NO KEY UPDATE and its user's row FOR SHARE, reads the
 *    head's seq and clock without a lock (H: what its pull is bounded by), and the push then
 *    locks every person its batch touches (store_batch.c) before it loads them. The head's row
 *    lock is taken only when something needs it (store_head_need(): a number, a stamp, the
 *    audit chain's tail), so syncs of different people on several daemons load in parallel
 *    and take turns only for their merge, their writes and their audit.
 *  - Every other write transaction takes the writers' gate exclusive and the head at BEGIN,
 *    as before: it waits for every sync in flight and no sync starts meanwhile, so it can
 *    read and write any person's state without person locks, and no sync can have loaded a
 *    person it changes (no lost update), and no circle of waits can form (a sync waits for
 *    the gate holding nothing).
 *  - Commit writes the audit rows the transaction queued (one statement, store_audit_flush()),
 *    then the head's new seq, clock and chain tail back when it holds the head, then COMMIT; a
 *    transaction that never took it commits without.
 *  - A read is a REPEATABLE READ transaction: one snapshot for all its statements, as SQLite's
 *    deferred BEGIN gives.
 *  - No group commit: the writer's jobs are each their own transaction (store_group_begin()
 *    is a no-op here). A group would hold the head, so every other daemon's writers, for the
 *    whole group; and PostgreSQL's WAL flush is shared by concurrent commits anyway
 *    (commit_delay), so the fsync a group saves on SQLite is not this store's bottleneck.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "log.h"
#include "pg_sql.h"
#include "store_int.h"
#include "util.h"

/* Take the append point: its row lock until the transaction ends, and what it holds. @lazy: a
 * sync's transaction taking it late, whose seq and clock may have moved past the head's since
 * (a rewind's lift): they only go forward. */
static int head_take(struct store *s, bool lazy)
{
    struct sql_stmt *st = store_sql(s, "UPDATE store_head SET seq = seq RETURNING seq, hlc");
    int r;

    if (!st)
        return -EIO;
    r = sql_step(st);
    if (r == SQL_ROW) {
        uint64_t seq = (uint64_t)sql_column_int64(st, 0), hlc = (uint64_t)sql_column_int64(st, 1);

        s->txn_seq = lazy && s->txn_seq > seq ? s->txn_seq : seq;
        s->txn_hlc = lazy && s->txn_hlc > hlc ? s->txn_hlc : hlc;
        r = 0;
    } else if (r == SQL_DONE) {
        r = -EUCLEAN; /* no head row: not a caresync store (0010 makes it) */
    }
    sql_reset(st);
    return r;
}

/* Write the head's new counter, clock and chain tail (what this transaction appended) back.
 * greatest(): a transaction that numbered nothing leaves them as they are. */
static int head_save(struct store *s)
{
    struct sql_stmt *st = store_sql(s, "UPDATE store_head SET seq = greatest(seq, ?1),"
                                       " hlc = greatest(hlc, ?2),"
                                       " audit_hash = CASE WHEN ?3 > audit_id"
                                       "   THEN CAST(?4 AS TEXT) ELSE audit_hash END,"
                                       " audit_id = greatest(audit_id, ?3)");

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, (int64_t)s->txn_seq);
    sql_bind_int64(st, 2, (int64_t)s->txn_hlc);
    sql_bind_int64(st, 3, s->audit_tail_id);
    sql_bind_text(st, 4, s->audit_tail_id > 0 ? s->audit_tail_hash : "");
    return sql_step_done(st);
}

static void pg_rollback(struct store *s)
{
    store_audit_queue_drop(s);
    s->audit_tail_id = 0;
    s->actor_id = 0;
    s->txn_held = false;
    s->head_lazy = false;
    s->head_err = 0;
    (void)sql_exec(s->sql, "ROLLBACK"); /* a lost connection: the server rolled it back */
}

/*
 * The writers' gate: a transaction-level advisory lock under a key class of its own (72658, not
 * the persons' 72657, so that no person's hash can be it). A sync holds it shared, every other
 * write exclusive, each before any other lock of its transaction (docs/internals/scale-out.md,
 * "Who locks what").
 */
#define STORE_GATE_LOCK(mode) "SELECT pg_advisory_xact_lock" mode "(72658, 0)"

static int pg_plain_begin(struct store *s, bool write)
{
    int r;

    store_audit_queue_drop(s);
    s->audit_tail_id = 0;
    s->head_lazy = false;
    s->head_err = 0;
    if (!write)
        return sql_exec(s->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    r = sql_exec(s->sql, "BEGIN");
    if (r >= 0)
        r = sql_exec(s->sql, STORE_GATE_LOCK(""));
    if (r >= 0)
        r = head_take(s, false);
    if (r < 0) {
        pg_rollback(s);
        return r;
    }
    s->txn_held = true;
    return 0;
}

/* store_sync_begin() on PostgreSQL: the gate shared, the device and user rows, H. */
static int pg_sync_begin(struct store *s, const struct store_principal *p)
{
    struct sql_stmt *st;
    int r;

    store_audit_queue_drop(s);
    s->audit_tail_id = 0;
    s->head_err = 0;
    s->txn_held = false;
    r = sql_exec(s->sql, "BEGIN");
    if (r >= 0)
        r = sql_exec(s->sql, STORE_GATE_LOCK("_shared"));
    if (r < 0)
        goto fail;
    /* Two requests of one device run one after the other; a role change, a disable or a
     * revocation (FOR UPDATE, behind the gate) comes wholly before or after. A device or user
     * gone is found by the statements that follow, as on SQLite. */
    st = store_sql(s, "SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id"
                      " WHERE d.id = ?1 FOR NO KEY UPDATE OF d FOR SHARE OF u");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, p->device_id);
    r = sql_step(st);
    sql_reset(st);
    if (r < 0)
        goto fail;
    /* H, after the device lock: every number up to it was committed before this statement
     * began (the head's holders commit in the order they numbered), so a pull bounded by it
     * skips none. Not locked: the head is taken only when needed (store_head_need()). */
    st = store_sql(s, "SELECT seq, hlc FROM store_head");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    r = sql_step(st);
    if (r == SQL_ROW) {
        s->txn_seq = (uint64_t)sql_column_int64(st, 0);
        s->txn_hlc = (uint64_t)sql_column_int64(st, 1);
        r = 0;
    } else if (r == SQL_DONE) {
        r = -EUCLEAN;
    }
    sql_reset(st);
    if (r < 0)
        goto fail;
    s->head_lazy = true;
    return 0;
fail:
    pg_rollback(s);
    return r;
}

/* store_head_need() on PostgreSQL: take the head now, once. A failure is kept, so that a
 * caller that cannot return it (store_next_seq()) still makes the commit fail. */
static int pg_head_need(struct store *s)
{
    int r;

    if (s->txn_held || !s->head_lazy)
        return 0;
    if (s->head_err)
        return s->head_err;
    r = head_take(s, true);
    if (r < 0) {
        s->head_err = r;
        return r;
    }
    s->txn_held = true;
    return 0;
}

static int pg_commit(struct store *s)
{
    int r = s->head_err;

    /* The audit rows first: the head may only name a row the chain holds. Only the head's
     * holder saves it (a read, or a sync that needed none, took none). */
    if (r >= 0)
        r = store_audit_flush(s);
    if (r >= 0 && s->txn_held)
        r = head_save(s);
    if (r >= 0)
        r = sql_exec(s->sql, "COMMIT");
    if (r < 0) {
        pg_rollback(s);
        return r;
    }
    s->commits++;
    s->txn_held = false;
    s->head_lazy = false;
    s->audit_tail_id = 0;
    return 0;
}

static int pg_txn_begin(struct store *s)
{
    return pg_plain_begin(s, true);
}

static int pg_group_begin(struct store *s)
{
    s->group = false; /* each job its own transaction: see the top of this file */
    return 0;
}

static bool pg_group_lost(struct store *s)
{
    (void)s;
    return false;
}

static int pg_group_commit(struct store *s)
{
    (void)s;
    return 0;
}

static void pg_group_rollback(struct store *s)
{
    (void)s;
}

static const char *pg_path(struct store *s)
{
    (void)s;
    return NULL; /* no file: /readyz's free-space check is the database's administrator's */
}

/* Meta @key into @ret: the value stored, or @make's UUID stored when none is (the first daemon
 * to write it wins; the others read its value). 0, -EUCLEAN when not a UUID, or -errno. */
static int meta_uuid(struct store *s, const char *key, char ret[static UUID_STR_MAX])
{
    char id[UUID_STR_MAX];
    struct sql_stmt *st;
    const char *v;
    int r;

    r = uuid_v7(hlc_wall_ms(), id);
    if (r < 0)
        return r;
    st = store_sql(s, "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, key);
    sql_bind_text(st, 2, id);
    r = sql_step_done(st);
    if (r < 0)
        return r;
    st = store_sql(s, "SELECT value FROM meta WHERE key = ?1");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, key);
    r = sql_step(st);
    v = r == SQL_ROW ? sql_column_text(st, 0) : NULL;
    if (r == SQL_ROW && v && uuid_valid(v)) {
        memcpy(ret, v, UUID_STR_MAX);
        r = 0;
    } else if (r >= 0) {
        r = -EUCLEAN;
    }
    sql_reset(st);
    return r;
}

/* Whether the database already holds a caresync store (another daemon's): its node id. */
static int store_held(struct store *s, bool *ret)
{
    struct sql_stmt *st = store_sql(s, "SELECT to_regclass('meta') IS NOT NULL");
    int r;

    *ret = false;
    if (!st)
        return -EIO;
    r = sql_step(st);
    if (r == SQL_ROW && sql_column_int64(st, 0) == 1) {
        sql_reset(st);
        st = store_sql(s, "SELECT count(*) FROM meta WHERE key = 'node_id'");
        if (!st)
            return -EIO;
        r = sql_step(st);
        if (r == SQL_ROW)
            *ret = sql_column_int64(st, 0) > 0;
    }
    sql_reset(st);
    return r < 0 ? r : 0;
}

/*
 * The store's identity and incarnation, made by the first daemon (meta 'node_id' and 'epoch',
 * the same for every daemon: versions stamped with it never collide because every stamp comes
 * from the one head clock), where the audit chain ends, and the counter lifted to
 * store_seq_floor() as an embedded store lifts it at every open: a database put back from a
 * backup (pg_dump, point-in-time recovery) numbers past everything its devices saw.
 */
static int open_identity(struct store *s)
{
    char hash[SHA256_HEX_MAX];
    int r = pg_txn_begin(s);

    if (r < 0)
        return r;
    r = meta_uuid(s, "node_id", s->node_id);
    if (r >= 0)
        r = meta_uuid(s, "epoch", s->epoch);
    if (r >= 0)
        r = store_audit_head(s, &s->open_audit_id, hash);
    if (r < 0) {
        pg_rollback(s);
        return r;
    }
    if (s->txn_seq < store_seq_floor())
        s->txn_seq = store_seq_floor();
    return pg_commit(s);
}

static int pg_open_reader(const struct store *w, const char *path, struct store **ret)
{
    _cleanup_free_ struct store *s = calloc(1, sizeof(*s));
    int r;

    (void)path;
    if (!s)
        return -ENOMEM;
    s->ops = &pg_store_ops;
    s->url = strdup(w->url);
    if (!s->url)
        return -ENOMEM;
    r = pg_sql_open(w->url, &s->sql);
    if (r >= 0)
        r = store_audit_init(s);
    if (r < 0) {
        store_audit_done(s);
        sql_close(s->sql);
        free(s->url);
        return r;
    }
    store_reader_settings(s, w);
    *ret = TAKE_PTR(s);
    return 0;
}

int store_open_url(const char *url, struct store **ret, bool *ret_joined)
{
    char why[256] = "";
    int r = store_open_url_why(url, ret, ret_joined, why, sizeof(why));

    if (r == -ENOTCONN && why[0])
        log_error("cannot connect to PostgreSQL: %s; check the store URL and that the database "
                  "is up", why);
    return r;
}

int store_open_url_why(const char *url, struct store **ret, bool *ret_joined, char *why,
                       size_t why_size)
{
    struct store *s = calloc(1, sizeof(*s));
    bool joined = false;
    int r;

    if (!s)
        return -ENOMEM;
    s->ops = &pg_store_ops;
    s->max_forward_ms = STORE_MAX_FORWARD_MS;
    s->grace_ms = STORE_HANDOVER_GRACE_MS;
    s->max_device_conflicts = STORE_DEVICE_CONFLICTS_MAX;
    /* The batch operations (store_push.c, store_merge.c, store_pull.c) are written over sql.h
     * and take their transactions from store_txn_begin(): the same on both databases. */
    s->be.ops = &sqlite_backend_ops;
    s->be.seq = &s->txn_seq;
    s->be.hlc = &s->txn_hlc;
    s->url = strdup(url);
    if (!s->url) {
        free(s);
        return -ENOMEM;
    }
    r = pg_sql_connect(url, &s->sql, why, why_size);
    if (r < 0) {
        free(s->url);
        free(s);
        return r;
    }
    r = store_audit_init(s);
    if (r >= 0)
        r = store_held(s, &joined);
    if (r >= 0)
        r = pg_schema_migrate(s->sql);
    if (r >= 0)
        r = open_identity(s);
    if (r < 0) {
        store_free(s);
        return r;
    }
    if (ret_joined)
        *ret_joined = joined;
    *ret = s;
    return 0;
}

const struct store_db_ops pg_store_ops = {
    .plain_begin = pg_plain_begin,
    .plain_commit = pg_commit,
    .rollback = pg_rollback,
    .txn_begin = pg_txn_begin,
    .txn_commit = pg_commit,
    .group_begin = pg_group_begin,
    .group_lost = pg_group_lost,
    .group_commit = pg_group_commit,
    .group_rollback = pg_group_rollback,
    .open_reader = pg_open_reader,
    .path = pg_path,
    .sync_begin = pg_sync_begin,
    .head_need = pg_head_need,
};
