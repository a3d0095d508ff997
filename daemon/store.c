/* SPDX-License-Identifier: MIT */
/* store.c - the server store on SQLite: staff, devices and enrolment, caseloads, the merge of
 * pushed changes (field-level last-writer-wins with the conflict log), pull pages and conflict
 * resolution. The only file that touches the server's SQL. docs/internals/merge.md. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hlc.h"
#include "merge.h"
#include "store_int.h"


bool store_role_valid(const char *role)
{
    return access_role_valid(role);
}

const char *store_role_list(void)
{
    return access_role_list();
}

bool store_role_is_coordinator(const char *role)
{
    return role && streq(role, "coordinator");
}

/* ---- statements, transactions ---- */

/*
 * Prepared statements are cached by the address of their SQL literal (one per call site), reset
 * and unbound before reuse. Returns NULL on failure (the caller maps it to -EIO).
 */
sqlite3_stmt *store_stmt(struct store *s, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % STMT_CACHE;

    for (size_t i = 0; i < STMT_CACHE; i++) {
        size_t k = (h + i) % STMT_CACHE;

        if (s->cache[k].sql == sql) {
            sqlite3_reset(s->cache[k].st);
            sqlite3_clear_bindings(s->cache[k].st);
            return s->cache[k].st;
        }
        if (!s->cache[k].sql) {
            sqlite3_stmt *st = NULL;

            if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
                SQLITE_OK)
                return NULL;
            s->cache[k].sql = sql;
            s->cache[k].st = st;
            return st;
        }
    }
    return NULL; /* cache full: a programming error caught by the tests */
}

int store_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* Bound without a copy: every caller steps the statement while @v is alive, and store_stmt()
 * clears the bindings before the statement is used again. */
void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/*
 * Transactions. Outside a group each one is its own BEGIN ... COMMIT. Inside a group
 * (store_group_begin(), the writer thread's group commit: docs/ARCHITECTURE.md "Threads") the
 * group holds the one BEGIN IMMEDIATE and each transaction is a SAVEPOINT in it: RELEASE keeps
 * its work for the group's COMMIT, ROLLBACK TO undoes only its own. Nothing is carried from one
 * transaction to the next in memory but what is re-read at each begin (sequence, clock, audit
 * tail) or reset at each rollback (the actor name), so a transaction rolled back inside a group,
 * or a group whose COMMIT failed, leaves no trace in the handle either.
 */
int store_plain_begin(struct store *s, bool write)
{
    if (s->group)
        return db_exec(s->db, "SAVEPOINT job");
    return db_begin(s->db, write);
}

int store_plain_commit(struct store *s)
{
    int r;

    if (s->group)
        return db_exec(s->db, "RELEASE job");
    r = db_commit(s->db);
    if (r >= 0)
        s->commits++;
    return r;
}

void store_txn_rollback(struct store *s)
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

int store_txn_begin(struct store *s)
{
    int r = store_plain_begin(s, true);

    if (r < 0)
        return r;
    s->txn_seq = 0;
    s->audit_tail_id = 0;
    r = db_meta_get_u64(s->db, "seq", &s->txn_seq);
    if (r >= 0)
        r = db_hlc_get(s->db, &s->txn_hlc);
    if (r < 0)
        store_txn_rollback(s);
    return r < 0 ? r : 0;
}

int store_txn_commit(struct store *s)
{
    int r = db_meta_set_u64(s->db, "seq", s->txn_seq);

    if (r >= 0)
        r = db_meta_set_u64(s->db, "hlc", s->txn_hlc);
    if (r >= 0)
        r = store_plain_commit(s);
    if (r < 0)
        store_txn_rollback(s);
    s->audit_tail_id = 0;
    return r;
}

int store_group_begin(struct store *s)
{
    int r = db_begin(s->db, true);

    if (r < 0)
        return r;
    s->group = true;
    return 0;
}

bool store_group_lost(struct store *s)
{
    return s->group && sqlite3_get_autocommit(s->db);
}

int store_group_commit(struct store *s)
{
    int r = store_group_lost(s) ? -EIO : db_commit(s->db);

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

void store_group_rollback(struct store *s)
{
    db_rollback(s->db);
    s->group = false;
    s->audit_tail_id = 0;
    s->actor_id = 0;
}

uint64_t store_commits(const struct store *s)
{
    return s->commits;
}

/*
 * Sequence numbers never go back, whatever happened to the file (docs/internals/audit.md,
 * "Rewinds"): the counter is at least the wall clock in microseconds (ms x 1000) when a store
 * is opened and when it learns it went back in time. Every number an earlier incarnation
 * issued is below that, as long as the server's clock was not set back and it numbered fewer
 * than 1000 field writes per millisecond on average since it was opened -- SQLite commits a
 * few thousand a second.
 */
uint64_t store_seq_floor(void)
{
    return hlc_wall_ms() * 1000;
}

uint64_t store_next_seq(struct store *s)
{
    return ++s->txn_seq;
}

uint64_t store_tick(struct store *s)
{
    return hlc_tick(&s->txn_hlc, hlc_wall_ms());
}

static char *now_iso(char buf[static ISO_TIME_MAX])
{
    return iso_time(hlc_wall_ms(), buf);
}

/* ---- open / close ---- */

/*
 * The store's incarnation: read meta 'epoch' (made when missing), note where the audit chain
 * ends, and lift the sequence counter to store_seq_floor(). A store can only be put back in
 * time while no daemon holds it, so raising the counter at every open is what makes a copied
 * file safe before any device has said anything.
 */
static int open_epoch(struct store *s)
{
    _cleanup_free_ char *epoch = NULL;
    char hash[SHA256_HEX_MAX];
    uint64_t seq = 0;
    int r;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = db_meta_get(s->db, "epoch", &epoch);
    if (r == 0) {
        char id[UUID_STR_MAX];

        r = uuid_v7(hlc_wall_ms(), id);
        if (r >= 0)
            r = db_meta_set(s->db, "epoch", id);
        if (r >= 0)
            memcpy(s->epoch, id, UUID_STR_MAX);
    } else if (r > 0) {
        if (!uuid_valid(epoch))
            r = -EUCLEAN;
        else
            memcpy(s->epoch, epoch, UUID_STR_MAX);
    }
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
    _cleanup_free_ char *node = NULL;
    int r;

    if (!s)
        return -ENOMEM;
    r = db_open(path, create ? DB_OPEN_CREATE : 0, &s->db);
    if (r < 0)
        return r;
    s->max_forward_ms = STORE_MAX_FORWARD_MS;
    s->grace_ms = STORE_HANDOVER_GRACE_MS;
    s->max_device_conflicts = STORE_DEVICE_CONFLICTS_MAX;
    s->be.ops = &sqlite_backend_ops;
    s->be.seq = &s->txn_seq;
    s->be.hlc = &s->txn_hlc;
    /* The daemon's working set (field state and change-log indexes) stays in memory rather
     * than being read back through the page cache on every merge. */
    r = db_exec(s->db, STORE_CACHE_PRAGMA);
    if (r >= 0)
        r = store_audit_init(s);
    if (r < 0) {
        sqlite3_close_v2(s->db);
        return r;
    }
    r = db_migrate(s->db, schema_server, schema_server_count);
    if (r >= 0)
        r = db_meta_get(s->db, "node_id", &node);
    if (r == 0) {
        char id[UUID_STR_MAX];

        r = uuid_v7(hlc_wall_ms(), id);
        if (r >= 0)
            r = db_meta_set(s->db, "node_id", id);
        if (r >= 0)
            memcpy(s->node_id, id, UUID_STR_MAX);
    } else if (r > 0) {
        if (!uuid_valid(node))
            r = -EUCLEAN;
        else
            memcpy(s->node_id, node, UUID_STR_MAX);
    }
    if (r >= 0)
        r = open_epoch(s);
    if (r < 0) {
        sqlite3_close_v2(s->db);
        return r;
    }
    *ret = TAKE_PTR(s);
    return 0;
}

int store_open_reader(const struct store *w, const char *path, struct store **ret)
{
    _cleanup_free_ struct store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    r = db_open(path, 0, &s->db);
    if (r < 0)
        return r;
    /* A reader that tried to write would be a routing bug: make it fail, not race the writer. */
    r = db_exec(s->db, STORE_CACHE_PRAGMA "; PRAGMA query_only = 1");
    if (r >= 0)
        r = store_audit_init(s);
    if (r < 0) {
        sqlite3_close_v2(s->db);
        return r;
    }
    memcpy(s->node_id, w->node_id, sizeof(s->node_id));
    memcpy(s->epoch, w->epoch, sizeof(s->epoch));
    s->open_audit_id = w->open_audit_id;
    s->max_forward_ms = w->max_forward_ms;
    s->grace_ms = w->grace_ms;
    s->max_device_conflicts = w->max_device_conflicts;
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

struct store *store_free(struct store *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(s->cache[i].st);
    store_audit_done(s);
    sqlite3_close_v2(s->db);
    free(s);
    return NULL;
}

const char *store_node_id(const struct store *s)
{
    return s->node_id;
}

void store_set_max_forward(struct store *s, uint64_t ms)
{
    s->max_forward_ms = ms;
}

void store_set_max_device_conflicts(struct store *s, uint64_t n)
{
    s->max_device_conflicts = n;
}

void store_set_handover_grace(struct store *s, uint64_t ms)
{
    s->grace_ms = ms;
}

/* ---- users, enrolment, devices ---- */

static int user_lookup(struct store *s, const char *name, int64_t *ret_id)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT id FROM users WHERE name = ?");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
}

int store_user_add(struct store *s, const char *name, const char *role)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    sqlite3_stmt *st;
    char ts[ISO_TIME_MAX];
    int r;

    if (!access_user_valid(name) || !store_role_valid(role))
        return -EINVAL;
    if (!d || wire_add_string(d, "user", name) < 0 || wire_add_string(d, "role", role) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_stmt(s, "INSERT INTO users(name, role, created_at) VALUES(?, ?, ?)");
    if (!st) {
        store_txn_rollback(s);
        return -EIO;
    }
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, role);
    store_bind_text(st, 3, now_iso(ts));
    r = store_step_done(st);
    if (r >= 0)
        r = store_audit(s, "user_add", 0, NULL, NULL, d);
    if (r >= 0)
        r = store_txn_commit(s);
    else
        store_txn_rollback(s);
    return r;
}

/* Crockford base32: no I, L, O or U, so codes read aloud and typed survive. */
static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Upper-case, drop separators, read O as 0 and I/L as 1. Returns 0 or -EINVAL. */
static int code_normalise(const char *in, char out[static 13])
{
    size_t n = 0;

    for (const char *p = in; *p; p++) {
        char c = *p;

        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c == 'O')
            c = '0';
        if (c == 'I' || c == 'L')
            c = '1';
        if (!strchr(code_alphabet, c) || c == '\0' || n >= 12)
            return -EINVAL;
        out[n++] = c;
    }
    if (n != 12)
        return -EINVAL;
    out[12] = '\0';
    return 0;
}

int store_enrol_code_new(struct store *s, const char *name, uint64_t ttl_s,
                         char ret[static STORE_CODE_MAX])
{
    unsigned char rnd[12];
    char raw[13], hash[SHA256_HEX_MAX], ts[ISO_TIME_MAX];
    int64_t uid = 0;
    sqlite3_stmt *st;
    int r;

    r = user_lookup(s, name, &uid);
    if (r < 0)
        return r;
    r = random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        return r;
    for (int i = 0; i < 12; i++)
        raw[i] = code_alphabet[rnd[i] & 31];
    raw[12] = '\0';
    r = sha256_hex(raw, 12, hash);
    if (r < 0)
        return r;
    st = store_stmt(s, "INSERT INTO enrol_codes(code_hash, user_id, created_at, expires_ms)"
                 " VALUES(?, ?, ?, ?)");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, hash);
    sqlite3_bind_int64(st, 2, uid);
    store_bind_text(st, 3, now_iso(ts));
    sqlite3_bind_int64(st, 4, (int64_t)(hlc_wall_ms() + ttl_s * 1000));
    r = store_step_done(st);
    if (r < 0)
        return r;
    snprintf(ret, STORE_CODE_MAX, "%.4s-%.4s-%.4s", raw, raw + 4, raw + 8);
    return 0;
}

int store_enrol(struct store *s, const char *code, const char *device_name,
                const char *client_version, struct store_enrolment *ret)
{
    struct store_enrolment e = {0};
    char norm[13], hash[SHA256_HEX_MAX], ts[ISO_TIME_MAX];
    unsigned char rnd[32];
    char hex[65];
    int64_t uid;
    sqlite3_stmt *st;
    int r, rc;

    if (code_normalise(code, norm) < 0)
        return -EACCES;
    r = sha256_hex(norm, 12, hash);
    if (r < 0)
        return r;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT c.user_id, c.expires_ms, c.used_at, u.name, u.role FROM enrol_codes c"
                 " JOIN users u ON u.id = c.user_id WHERE c.code_hash = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, hash);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        r = rc == SQLITE_DONE ? -EACCES : db_errno(rc);
        goto fail;
    }
    uid = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL ||
        (uint64_t)sqlite3_column_int64(st, 1) < hlc_wall_ms()) {
        sqlite3_reset(st);
        r = -EACCES;
        goto fail;
    }
    copy_text(e.user, sizeof(e.user), (const char *)sqlite3_column_text(st, 3));
    copy_text(e.role, sizeof(e.role), (const char *)sqlite3_column_text(st, 4));
    sqlite3_reset(st);

    r = uuid_v7(hlc_wall_ms(), e.device_id);
    if (r >= 0)
        r = random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        goto fail;
    hex_encode(rnd, sizeof(rnd), hex);
    snprintf(e.token, sizeof(e.token), "cs1_%s", hex);
    r = sha256_hex(e.token, strlen(e.token), hash);
    if (r < 0)
        goto fail;
    st = store_stmt(s, "INSERT INTO devices(id, user_id, token_hash, name, client_version, created_at)"
                 " VALUES(?, ?, ?, ?, ?, ?)");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, e.device_id);
    sqlite3_bind_int64(st, 2, uid);
    store_bind_text(st, 3, hash);
    store_bind_text(st, 4, device_name);
    store_bind_text(st, 5, client_version);
    store_bind_text(st, 6, now_iso(ts));
    r = store_step_done(st);
    if (r < 0)
        goto fail;
    r = sha256_hex(norm, 12, hash);
    st = store_stmt(s, "UPDATE enrol_codes SET used_at = ?, device_id = ? WHERE code_hash = ?");
    if (r < 0 || !st) {
        r = r < 0 ? r : -EIO;
        goto fail;
    }
    store_bind_text(st, 1, ts);
    store_bind_text(st, 2, e.device_id);
    store_bind_text(st, 3, hash);
    r = store_step_done(st);
    if (r < 0)
        goto fail;
    {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        r = !d || wire_add_string(d, "device", e.device_id) < 0 ||
                            wire_add_string(d, "device_name", device_name) < 0 ||
                            wire_add_string(d, "client_version", client_version) < 0
                    ? -ENOMEM
                    : store_audit(s, "enrol", uid, e.device_id, NULL, d);
        if (r < 0)
            goto fail;
    }
    e.server_hlc = store_tick(s);
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    *ret = e;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

int store_authenticate(struct store *s, const char *token, struct store_principal *ret)
{
    char hash[SHA256_HEX_MAX];
    sqlite3_stmt *st;
    int r, rc;

    if (!token || strlen(token) != 68 || strncmp(token, "cs1_", 4) != 0)
        return -EACCES;
    r = sha256_hex(token, strlen(token), hash);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT d.id, d.revoked_at, u.id, u.name, u.role FROM devices d"
                 " JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, hash);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -EACCES : db_errno(rc);
    }
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
        sqlite3_reset(st);
        return -EKEYREVOKED;
    }
    memset(ret, 0, sizeof(*ret));
    copy_text(ret->device_id, sizeof(ret->device_id), sqlite3_column_text(st, 0));
    ret->user_id = sqlite3_column_int64(st, 2);
    copy_text(ret->user, sizeof(ret->user), sqlite3_column_text(st, 3));
    copy_text(ret->role, sizeof(ret->role), sqlite3_column_text(st, 4));
    sqlite3_reset(st);
    return 0;
}

int store_device_revoke(struct store *s, const char *device_id)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char ts[ISO_TIME_MAX];
    sqlite3_stmt *st;
    int64_t uid = 0;
    int r, rc, changed = 0;

    if (!d || wire_add_string(d, "device", device_id) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT user_id, revoked_at FROM devices WHERE id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, device_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        uid = sqlite3_column_int64(st, 0);
        changed = sqlite3_column_type(st, 1) == SQLITE_NULL;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
        goto fail;
    }
    if (!changed) {
        store_txn_rollback(s);
        return 0;
    }
    st = store_stmt(s, "UPDATE devices SET revoked_at = ? WHERE id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, now_iso(ts));
    store_bind_text(st, 2, device_id);
    r = store_step_done(st);
    if (r >= 0)
        r = store_audit(s, "revoke", 0, device_id, NULL, d);
    if (r < 0)
        goto fail;
    (void)uid;
    r = store_txn_commit(s);
    return r < 0 ? r : 1;
fail:
    store_txn_rollback(s);
    return r;
}

/* Add column @i of @st to @o under @key as string, number or null, by its SQLite type. */
int store_add_column(cJSON *o, const char *key, sqlite3_stmt *st, int i)
{
    cJSON *v;

    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        v = cJSON_CreateNull();
        break;
    case SQLITE_INTEGER:
        v = cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
        break;
    default:
        v = cJSON_CreateString((const char *)sqlite3_column_text(st, i));
        break;
    }
    if (!v || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    return 0;
}

/* Turn every row of @st into an object with @keys (one per column) appended to a new array. */
int store_rows_to_array(sqlite3_stmt *st, const char *const *keys, cJSON **ret)
{
    _cleanup_json_ cJSON *arr = cJSON_CreateArray();
    int rc;

    if (!arr)
        return -ENOMEM;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            sqlite3_reset(st);
            return -ENOMEM;
        }
        for (int i = 0; keys[i]; i++) {
            if (store_add_column(o, keys[i], st, i) < 0) {
                sqlite3_reset(st);
                return -ENOMEM;
            }
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    *ret = TAKE_PTR(arr);
    return 0;
}

int store_device_list(struct store *s, cJSON **ret)
{
    static const char *const keys[] = {"id",           "user",    "role",   "name",
                                       "client_version", "created_at", "last_sync_at",
                                       "pending",      "revoked_at", NULL};
    sqlite3_stmt *st = store_stmt(s, "SELECT d.id, u.name, u.role, d.name, d.client_version,"
                               " d.created_at, d.last_sync_at, d.pending, d.revoked_at"
                               " FROM devices d JOIN users u ON u.id = d.user_id"
                               " ORDER BY u.name, d.created_at");

    if (!st)
        return -EIO;
    return store_rows_to_array(st, keys, ret);
}

/* Letters per @shape: 'D' a digit, 'A' a capital letter, '+' one or more digits to the end
 * (at most 8). */
static bool shaped(const char *v, const char *shape)
{
    for (; *shape; shape++, v++) {
        if (*shape == '+') {
            size_t n = strspn(v, "0123456789");

            return n >= 1 && n <= 8 && !v[n];
        }
        if (*shape == 'D' ? !(*v >= '0' && *v <= '9') : !(*v >= 'A' && *v <= 'Z'))
            return false;
    }
    return !*v;
}

const char *store_user_profile_invalid(const struct store_user_profile *p)
{
    const char *d = p->display_name;

    if (d && (strlen(d) > STORE_DISPLAY_NAME_MAX || !utf8_valid(d, strlen(d))))
        return "the display name must be at most 200 bytes of UTF-8";
    for (; d && *d; d++)
        if ((unsigned char)*d < 0x20 || *d == 0x7f)
            return "the display name must be one line";
    if (p->nmc_pin && *p->nmc_pin && !shaped(p->nmc_pin, "DDADDDDA"))
        return "an NMC PIN is two digits, a capital letter, four digits and a capital letter "
               "(12A3456B)";
    if (p->hcpc_number && *p->hcpc_number && !shaped(p->hcpc_number, "AA+"))
        return "an HCPC number is two capital letters and digits (PH123456)";
    if (p->swe_number && *p->swe_number &&
        !(strncmp(p->swe_number, "SW", 2) == 0 && shaped(p->swe_number + 2, "+")))
        return "a Social Work England number is SW and digits (SW12345)";
    return NULL;
}

int store_user_set_profile(struct store *s, const char *name, const struct store_user_profile *p,
                           const char **why)
{
    static const char *const cols[] = {"display_name", "nmc_pin", "hcpc_number", "swe_number"};
    const char *vals[] = {p->display_name, p->nmc_pin, p->hcpc_number, p->swe_number};
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int64_t uid;
    int r = 0;

    *why = store_user_profile_invalid(p);
    if (*why)
        return -EINVAL;
    if (!d || wire_add_string(d, "user", name) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = user_lookup(s, name, &uid);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(cols); i++) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char sql[96];

        if (!vals[i])
            continue;
        snprintf(sql, sizeof(sql), "UPDATE users SET %s = ? WHERE id = ?", cols[i]);
        r = db_prepare(s->db, sql, &st);
        if (r < 0)
            break;
        if (*vals[i])
            store_bind_text(st, 1, vals[i]);
        else
            sqlite3_bind_null(st, 1);
        sqlite3_bind_int64(st, 2, uid);
        r = store_step_done(st);
        if (r >= 0 && wire_add_string(d, cols[i], vals[i]) < 0)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = store_audit(s, "user_profile", 0, NULL, NULL, d);
    if (r >= 0)
        return store_txn_commit(s);
    store_txn_rollback(s);
    return r;
}

int store_user_list(struct store *s, cJSON **ret)
{
    static const char *const keys[] = {"name", "role", "people", "devices", "display_name",
                                       "nmc_pin", "hcpc_number", "swe_number", NULL};
    sqlite3_stmt *st = store_stmt(s, "SELECT u.name, u.role,"
                               " (SELECT count(*) FROM assignments a WHERE a.user_id = u.id"
                               "  AND a.end_seq IS NULL),"
                               " (SELECT count(*) FROM devices d WHERE d.user_id = u.id"
                               "  AND d.revoked_at IS NULL),"
                               " u.display_name, u.nmc_pin, u.hcpc_number, u.swe_number"
                               " FROM users u ORDER BY u.name");

    if (!st)
        return -EIO;
    return store_rows_to_array(st, keys, ret);
}

/* ---- the merge (engine_merge.c) over this store's backend ---- */

int store_server_version(struct store *s, const struct applying *a, const char *value,
                         const char *writer_device, uint64_t sent_hlc, const char *before,
                         char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc)
{
    return engine_server_version(&s->be, a, value, writer_device, sent_hlc, before,
                                 ret_change_id, ret_hlc);
}

int store_apply_change(struct store *s, struct applying *a, bool *ret_applied,
                       struct field_cur *ret_cur)
{
    return engine_apply_change(&s->be, a, ret_applied, ret_cur);
}

/* The person a row belongs to: 1 and @ret filled, 0 if the row is new, or -errno. */
int store_row_owner(struct store *s, const char *tbl, const char *row_id,
                     char ret[static UUID_STR_MAX])
{
    sqlite3_stmt *st = store_stmt(s, "SELECT person_id FROM field_state WHERE tbl = ? AND row_id = ?"
                               " LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, tbl);
    store_bind_text(st, 2, row_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_text(ret, UUID_STR_MAX, sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int store_person_exists(struct store *s, const char *person_id)
{
    char owner[UUID_STR_MAX];

    return store_row_owner(s, "person", person_id, owner);
}

int store_ever_assigned(struct store *s, int64_t user_id, const char *person_id)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM assignments WHERE person_id = ? AND"
                                     " user_id = ? LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, user_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* 1 when @p may write and read person @person_id, 0 when not, or -errno. A sync's push reads
 * the same facts for its whole batch at once (push_load(), engine_push.c). */
int store_in_scope(struct store *s, const struct store_principal *p, const char *person_id)
{
    sqlite3_stmt *st;
    int rc;

    if (store_role_is_coordinator(p->role))
        return store_person_exists(s, person_id);
    st = store_stmt(s, "SELECT 1 FROM assignments WHERE person_id = ? AND user_id = ?"
                 " AND end_seq IS NULL");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, p->user_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        /* A consent provision denying the worker's sector takes the person off their devices. */
        int d = store_denied(s, p->role, person_id);

        return d < 0 ? d : !d;
    }
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* ---- people and caseloads ---- */

/* Write one server-authored field (admin commands, resolutions): engine_write_field(). */
int store_write_field(struct store *s, const char *device, int64_t user_id, const char *tbl,
                      const char *row_id, const char *person_id, const char *field,
                      const char *value, char ret_change_id[static UUID_STR_MAX])
{
    return engine_write_field(&s->be, device, user_id, tbl, row_id, person_id, field, value,
                              ret_change_id);
}

int store_person_add(struct store *s, const struct store_person_fields *f,
                     char ret[static UUID_STR_MAX], const char **why)
{
    const struct cat_table *t = catalogue_table("person");
    const char *names[] = {"name",          "birth_date",    "phone",          "address",
                           "preferred_name", "family_name",   "given_names",    "name_prefix",
                           "address_line1", "address_line2", "address_city",   "address_postcode",
                           "gp_practice",   "gp_ods_code"};
    const char *values[] = {f->name,          f->birth_date,    f->phone,        f->address,
                            f->preferred_name, f->family_name,  f->given_names,  f->name_prefix,
                            f->address_line1, f->address_line2, f->address_city, f->address_postcode,
                            f->gp_practice,   f->gp_ods_code};
    char id[UUID_STR_MAX], cid[UUID_STR_MAX];
    int r;

    if (!f->name || !*f->name) {
        *why = "a person needs a name";
        return -EINVAL;
    }
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (values[i]) {
            r = catalogue_check_value(catalogue_field(t, names[i]), values[i], why);
            if (r < 0)
                return -EINVAL;
            if (!utf8_valid(values[i], strlen(values[i]))) {
                *why = "value is not valid UTF-8";
                return -EINVAL;
            }
        }
    }
    r = uuid_v7(hlc_wall_ms(), id);
    if (r < 0)
        return r;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ELEMENTSOF(names) && r >= 0; i++)
        if (values[i])
            r = store_write_field(s, s->node_id, 0, "person", id, id, names[i], values[i], cid);
    if (r >= 0)
        r = store_txn_commit(s);
    else
        store_txn_rollback(s);
    if (r < 0)
        return r;
    memcpy(ret, id, UUID_STR_MAX);
    return 0;
}

/* The daemon itself as the actor of an admin command (audited as "caresyncd"). */
static const struct store_principal server_actor = {.user_id = 0, .user = "caresyncd",
                                                    .role = "admin"};

/* An admin command's caseload change is a coordinator's, made by the server. */
int store_assign(struct store *s, const char *person_id, const char *name, const char **which)
{
    return store_caseload_assign(s, &server_actor, person_id, name, true, which);
}

int store_unassign(struct store *s, const char *person_id, const char *name, const char **which)
{
    return store_caseload_assign(s, &server_actor, person_id, name, false, which);
}
