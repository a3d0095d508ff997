/* SPDX-License-Identifier: MIT */
/*
 * sqlite_store.c - the SQLite backend's part of the store handle (struct store_db_ops, beside
 * pg_store.c's): opening the file (pragmas, migrations, the node id and the incarnation),
 * transactions and the writer's group commit (BEGIN IMMEDIATE, savepoints). What the store
 * does over SQL is written once, over sql.h, in store*.c.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hlc.h"
#include "sqlite_sql.h"
#include "store_int.h"

/* ---- statements, transactions ---- */

/*
 * Transactions. Outside a group each one is its own BEGIN ... COMMIT. Inside a group
 * (store_group_begin(), the writer thread's group commit: docs/ARCHITECTURE.md "Threads") the
 * group holds the one BEGIN IMMEDIATE and each transaction is a SAVEPOINT in it: RELEASE keeps
 * its work for the group's COMMIT, ROLLBACK TO undoes only its own. Nothing is carried from one
 * transaction to the next in memory but what is re-read at each begin (sequence, clock, audit
 * tail) or reset at each rollback (the actor name), so a transaction rolled back inside a group,
 * or a group whose COMMIT failed, leaves no trace in the handle either.
 */
static int sqlite_plain_begin(struct store *s, bool write)
{
    if (s->group)
        return db_exec(s->db, "SAVEPOINT job");
    return db_begin(s->db, write);
}

static int sqlite_plain_commit(struct store *s)
{
    int r;

    if (s->group)
        return db_exec(s->db, "RELEASE job");
    r = db_commit(s->db);
    if (r >= 0)
        s->commits++;
    return r;
}

static void sqlite_txn_rollback(struct store *s)
{
    s->audit_tail_id = 0;
    s->actor_id = 0;
    if (sqlite3_get_autocommit(s->db))
        return; /* SQLite rolled back already (a full disk, an I/O error), a group's too */
    if (s->group) {
        if (db_exec(s->db, "ROLLBACK TO job") < 0 || db_exec(s->db, "RELEASE job") < 0)
            db_rollback(s->db); /* the group is lost; store_group_lost() tells the writer */
        return;
    }
    db_rollback(s->db);
}

static int sqlite_txn_begin(struct store *s)
{
    int r = sqlite_plain_begin(s, true);

    if (r < 0)
        return r;
    s->txn_seq = 0;
    s->audit_tail_id = 0;
    r = db_meta_get_u64(s->db, "seq", &s->txn_seq);
    if (r >= 0)
        r = db_hlc_get(s->db, &s->txn_hlc);
    if (r < 0)
        sqlite_txn_rollback(s);
    return r < 0 ? r : 0;
}

static int sqlite_txn_commit(struct store *s)
{
    int r = db_meta_set_u64(s->db, "seq", s->txn_seq);

    if (r >= 0)
        r = db_meta_set_u64(s->db, "hlc", s->txn_hlc);
    if (r >= 0)
        r = sqlite_plain_commit(s);
    if (r < 0)
        sqlite_txn_rollback(s);
    s->audit_tail_id = 0;
    return r;
}

static int sqlite_group_begin(struct store *s)
{
    int r = db_begin(s->db, true);

    if (r < 0)
        return r;
    s->group = true;
    return 0;
}

static bool sqlite_group_lost(struct store *s)
{
    return s->group && sqlite3_get_autocommit(s->db);
}

static int sqlite_group_commit(struct store *s)
{
    int r = sqlite_group_lost(s) ? -EIO : db_commit(s->db);

    if (r < 0)
        db_rollback(s->db);
    else
        s->commits++;
    s->group = false;
    s->audit_tail_id = 0;
    if (r < 0)
        s->actor_id = 0;
    return r;
}

static void sqlite_group_rollback(struct store *s)
{
    db_rollback(s->db);
    s->group = false;
    s->audit_tail_id = 0;
    s->actor_id = 0;
}

/* ---- open / close ---- */

/* What every handle on the file needs once it is open: @pragmas, the audit digest and the SQL
 * driver over it. On failure the handle is closed. */
static int handle_setup(struct store *s, const char *pragmas)
{
    int r = db_exec(s->db, pragmas);

    if (r >= 0)
        r = store_audit_init(s);
    if (r >= 0)
        r = sqlite_sql_open(s->db, &s->sql);
    if (r < 0) {
        store_audit_done(s);
        sqlite3_close_v2(s->db);
    }
    return r;
}

/* Meta @key, a UUID made and stored when missing, into @ret. 0, -EUCLEAN when what is stored is
 * not a UUID, or -errno. */
static int meta_uuid(struct store *s, const char *key, char ret[static UUID_STR_MAX])
{
    _cleanup_free_ char *v = NULL;
    char id[UUID_STR_MAX];
    int r = db_meta_get(s->db, key, &v);

    if (r < 0)
        return r;
    if (r > 0) {
        if (!uuid_valid(v))
            return -EUCLEAN;
        memcpy(ret, v, UUID_STR_MAX);
        return 0;
    }
    r = uuid_v7(hlc_wall_ms(), id);
    if (r >= 0)
        r = db_meta_set(s->db, key, id);
    if (r >= 0)
        memcpy(ret, id, UUID_STR_MAX);
    return r < 0 ? r : 0;
}

/*
 * The store's incarnation: read meta 'epoch' (made when missing), note where the audit chain
 * ends, and lift the sequence counter to store_seq_floor(). A store can only be put back in
 * time while no daemon holds it, so raising the counter at every open is what makes a copied
 * file safe before any device has said anything.
 */
static int open_epoch(struct store *s)
{
    char hash[SHA256_HEX_MAX];
    uint64_t seq = 0;
    int r;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = meta_uuid(s, "epoch", s->epoch);
    if (r >= 0)
        r = store_audit_head(s, &s->open_audit_id, hash);
    if (r >= 0) {
        seq = store_seq_floor();
        if (s->txn_seq < seq)
            s->txn_seq = seq;
        r = store_txn_commit(s);
    } else {
        store_txn_rollback(s);
    }
    return r;
}

int store_open(const char *path, bool create, struct store **ret)
{
    _cleanup_free_ struct store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    r = db_open(path, create ? DB_OPEN_CREATE : 0, &s->db);
    if (r < 0)
        return r;
    s->max_forward_ms = STORE_MAX_FORWARD_MS;
    s->grace_ms = STORE_HANDOVER_GRACE_MS;
    s->max_device_conflicts = STORE_DEVICE_CONFLICTS_MAX;
    s->ops = &sqlite_store_ops;
    s->be.ops = &sqlite_backend_ops;
    s->be.seq = &s->txn_seq;
    s->be.hlc = &s->txn_hlc;
    /* The daemon's working set (field state and change-log indexes) stays in memory rather
     * than being read back through the page cache on every merge. */
    r = handle_setup(s, STORE_CACHE_PRAGMA);
    if (r < 0)
        return r;
    r = db_migrate(s->db, schema_server, schema_server_count);
    if (r >= 0)
        r = meta_uuid(s, "node_id", s->node_id);
    if (r >= 0)
        r = open_epoch(s);
    if (r < 0) {
        store_audit_done(s);
        sql_close(s->sql);
        return r;
    }
    *ret = TAKE_PTR(s);
    return 0;
}

static int sqlite_open_reader(const struct store *w, const char *path, struct store **ret)
{
    _cleanup_free_ struct store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    r = db_open(path, 0, &s->db);
    if (r < 0)
        return r;
    s->ops = &sqlite_store_ops;
    /* A reader that tried to write would be a routing bug: make it fail, not race the writer. */
    r = handle_setup(s, STORE_CACHE_PRAGMA "; PRAGMA query_only = 1");
    if (r < 0)
        return r;
    store_reader_settings(s, w);
    *ret = TAKE_PTR(s);
    return 0;
}

int store_position(struct store *s, struct store_position *ret)
{
    int r = store_txn_begin(s);

    if (r < 0)
        return r;
    memcpy(ret->epoch, s->epoch, UUID_STR_MAX);
    ret->seq = s->txn_seq;
    r = store_audit_head(s, &ret->head_id, ret->head_hash);
    store_txn_rollback(s);
    return r;
}

int store_mark_restored(struct store *s, const char *backup_taken_at,
                        const struct store_position *replaced)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char id[UUID_STR_MAX], num[24], hash[SHA256_HEX_MAX];
    cJSON *lost, *from;
    int64_t head;
    int r;

    if (!d)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = uuid_v7(hlc_wall_ms(), id);
    if (r >= 0)
        r = store_audit_head(s, &head, hash);
    if (r < 0)
        goto fail;
    r |= wire_add_string(d, "backup_taken_at", backup_taken_at) < 0;
    r |= wire_add_string(d, "backup_epoch", s->epoch) < 0;
    r |= wire_add_string(d, "epoch", id) < 0;
    from = cJSON_AddObjectToObject(d, "backup_chain_head");
    r |= !from || !cJSON_AddNumberToObject(from, "id", (double)head) ||
         wire_add_string(from, "hash", hash) < 0;
    lost = cJSON_AddObjectToObject(d, "lost");
    r |= !lost || !cJSON_AddNumberToObject(lost, "after_row", (double)head);
    if (replaced && lost) {
        r |= !cJSON_AddNumberToObject(lost, "through_row", (double)replaced->head_id);
        r |= wire_add_string(lost, "hash_of_that_row", replaced->head_hash) < 0;
        r |= wire_add_string(lost, "replaced_epoch", replaced->epoch) < 0;
        snprintf(num, sizeof(num), "%" PRIu64, replaced->seq);
        r |= wire_add_string(lost, "replaced_seq", num) < 0;
        if (s->txn_seq < replaced->seq)
            s->txn_seq = replaced->seq;
    } else if (lost) {
        r |= wire_add_string(lost, "through_row", "unknown: no store was replaced") < 0;
    }
    if (s->txn_seq < store_seq_floor())
        s->txn_seq = store_seq_floor();
    s->txn_seq += 1000;
    snprintf(num, sizeof(num), "%" PRIu64, s->txn_seq);
    r |= wire_add_string(d, "seq_after", num) < 0;
    if (r) {
        r = -ENOMEM;
        goto fail;
    }
    r = db_meta_set(s->db, "epoch", id);
    if (r >= 0)
        r = store_audit(s, "restore", 0, NULL, NULL, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r >= 0)
        memcpy(s->epoch, id, UUID_STR_MAX);
    return r;
fail:
    store_txn_rollback(s);
    return r;
}

static const char *sqlite_path(struct store *s)
{
    return sqlite3_db_filename(s->db, "main");
}

const struct store_db_ops sqlite_store_ops = {
    .plain_begin = sqlite_plain_begin,
    .plain_commit = sqlite_plain_commit,
    .rollback = sqlite_txn_rollback,
    .txn_begin = sqlite_txn_begin,
    .txn_commit = sqlite_txn_commit,
    .group_begin = sqlite_group_begin,
    .group_lost = sqlite_group_lost,
    .group_commit = sqlite_group_commit,
    .group_rollback = sqlite_group_rollback,
    .open_reader = sqlite_open_reader,
    .path = sqlite_path,
};
