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
    free(s->scope);
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

/* ---- the merge ---- */


void store_field_cur_done(struct field_cur *c)
{
    free(c->value);
    c->value = NULL;
    c->exists = false;
}

int store_field_current(struct store *s, const char *tbl, const char *row_id, const char *field,
                         struct field_cur *ret)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT value, hlc, device, change_id FROM field_state"
                               " WHERE tbl = ? AND row_id = ? AND field = ?");
    bool oom = false;
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (!st)
        return -EIO;
    store_bind_text(st, 1, tbl);
    store_bind_text(st, 2, row_id);
    store_bind_text(st, 3, field);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->exists = true;
        ret->value = db_column_strdup(st, 0, &oom);
        ret->hlc = (uint64_t)sqlite3_column_int64(st, 1);
        copy_text(ret->device, sizeof(ret->device), sqlite3_column_text(st, 2));
        copy_text(ret->change_id, sizeof(ret->change_id), sqlite3_column_text(st, 3));
    }
    sqlite3_reset(st);
    if (oom)
        return -ENOMEM;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int store_conflict_add(struct store *s, const char *kind, struct applying *a,
                        const char *loser_change_id, const char *winner_change_id,
                        const char *field)
{
    /* A "missed" already before a coordinator as missed-vs-completed is not logged again as a
     * plain concurrent edit when the visit's later "completed" overwrites it too. */
    sqlite3_stmt *st = store_stmt(s, "INSERT OR IGNORE INTO conflicts(kind, review, tbl, row_id, field,"
                               " person_id, loser_change_id, winner_change_id, created_ms)"
                               " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE ?1 <> 'concurrent_edit'"
                               " OR NOT EXISTS (SELECT 1 FROM conflicts WHERE loser_change_id = ?7"
                               " AND kind = 'missed_vs_completed')");
    const struct cat_table *t = catalogue_table(a->tbl);
    const struct cat_field *f = catalogue_field(t, field);
    int r;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, kind);
    sqlite3_bind_int(st, 2, f && f->kind == CAT_LR);
    store_bind_text(st, 3, a->tbl);
    store_bind_text(st, 4, a->row_id);
    store_bind_text(st, 5, field);
    store_bind_text(st, 6, a->person_id);
    store_bind_text(st, 7, loser_change_id);
    store_bind_text(st, 8, winner_change_id);
    sqlite3_bind_int64(st, 9, (int64_t)hlc_wall_ms());
    r = store_step_done(st);
    if (r < 0)
        return r;
    if (sqlite3_changes(s->db) > 0) {
        s->batch_conflicts++;
        if (loser_change_id && streq(loser_change_id, a->change_id))
            a->conflict = true;
        st = store_stmt(s, "UPDATE change_log SET conflict = 1 WHERE change_id = ?");
        if (!st)
            return -EIO;
        store_bind_text(st, 1, loser_change_id);
        return store_step_done(st);
    }
    return 0;
}

/* 1 when a restore (_deleted = "0") newer than version (@hlc, @device) exists for the row. */
static int superseded_by_restore(struct store *s, const char *tbl, const char *row_id,
                                 uint64_t hlc, const char *device)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM change_log WHERE tbl = ? AND row_id = ?"
                                     " AND field = '_deleted' AND value = '0'"
                                     " AND outcome IN ('applied', 'lost')"
                                     " AND " HLC_SQL_AFTER("?3", "?4") " LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, tbl);
    store_bind_text(st, 2, row_id);
    sqlite3_bind_int64(st, 3, (int64_t)hlc);
    store_bind_text(st, 4, device);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* (3) A delete hides edits to the row its writer had not seen, unless a restore newer than the
 * delete has already brought the row back. A device's own edits are never hidden from it. */
static int detect_delete(struct store *s, struct applying *a)
{
    struct merge_version xbase = {a->base_hlc, a->base_device};
    sqlite3_stmt *st;
    int rc, r;

    r = superseded_by_restore(s, a->tbl, a->row_id, a->hlc, a->device);
    if (r != 0)
        return r < 0 ? r : 0;
    st = store_stmt(s, "SELECT change_id, hlc, device, field, sent_hlc, base_hlc, base_device"
                       " FROM change_log WHERE tbl = ? AND row_id = ? AND field <> '_deleted'"
                       " AND hlc >= ? AND outcome IN ('applied', 'lost')");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, a->tbl);
    store_bind_text(st, 2, a->row_id);
    sqlite3_bind_int64(st, 3, (int64_t)a->base_hlc);
    for (;;) {
        char loser[UUID_STR_MAX], field[64];
        struct merge_version e, ebase;

        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        e.hlc = (uint64_t)sqlite3_column_int64(st, 1);
        e.device = (const char *)sqlite3_column_text(st, 2);
        ebase.hlc = (uint64_t)sqlite3_column_int64(st, 5);
        ebase.device = sqlite3_column_type(st, 6) == SQLITE_NULL ? "" :
                       (const char *)sqlite3_column_text(st, 6);
        if (!merge_hidden_by_delete(e, xbase) ||
            merge_same_writer(e, ebase, (uint64_t)sqlite3_column_int64(st, 4) != e.hlc,
                              (struct merge_version){a->hlc, a->device}, xbase,
                              a->hlc != a->sent_hlc))
            continue;
        copy_text(loser, sizeof(loser), sqlite3_column_text(st, 0));
        copy_text(field, sizeof(field), sqlite3_column_text(st, 3));
        r = store_conflict_add(s, "edit_after_delete", a, loser, a->change_id, field);
        if (r < 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    return 0;
}

/* One journal entry of a field's (or the row's tombstones') history. */
struct hist {
    char change_id[UUID_STR_MAX];
    char device[UUID_STR_MAX];
    char base_device[UUID_STR_MAX];
    bool tombstone;  /* field _deleted */
    char *value;
    uint64_t hlc, sent_hlc, base_hlc;
};

static void hist_free(struct hist *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].value);
    free(h);
}

/*
 * The history the rules need for an edit to one field: the field's journal from @from on, and
 * every tombstone and restore of the row, read once (in index order; the rules pick the oldest
 * match themselves, which saves a sort per change).
 */
static int hist_read(sqlite3_stmt *st, struct hist **h, size_t *n, size_t *cap)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 4);
        struct hist *e;

        if (array_grow((void **)h, cap, *n, sizeof(**h), 8) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        e = &(*h)[*n];
        copy_text(e->change_id, sizeof(e->change_id), sqlite3_column_text(st, 0));
        copy_text(e->device, sizeof(e->device), sqlite3_column_text(st, 1));
        copy_text(e->base_device, sizeof(e->base_device), sqlite3_column_type(st, 2) == SQLITE_NULL ? "" :
                 (const char *)sqlite3_column_text(st, 2));
        e->tombstone = streq((const char *)sqlite3_column_text(st, 3), CAT_DELETED_FIELD);
        e->value = v ? strdup((const char *)v) : NULL;
        if (v && !e->value) {
            rc = SQLITE_NOMEM;
            break;
        }
        e->hlc = (uint64_t)sqlite3_column_int64(st, 5);
        e->sent_hlc = (uint64_t)sqlite3_column_int64(st, 6);
        e->base_hlc = (uint64_t)sqlite3_column_int64(st, 7);
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return rc == SQLITE_NOMEM ? -ENOMEM : db_errno(rc);
}

static int hist_load(struct store *s, const struct applying *a, uint64_t from, struct hist **ret,
                     size_t *ret_n)
{
    struct hist *h = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st;
    int r;

    /* Two index seeks: an IN list over the field would build a temporary table per change. */
    st = store_stmt(s, "SELECT change_id, device, base_device, field, value, hlc, sent_hlc,"
                       " base_hlc FROM change_log WHERE tbl = ? AND row_id = ? AND field = ?"
                       " AND hlc >= ? AND outcome IN ('applied', 'lost')");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, a->tbl);
    store_bind_text(st, 2, a->row_id);
    store_bind_text(st, 3, a->field->name);
    sqlite3_bind_int64(st, 4, (int64_t)from);
    r = hist_read(st, &h, &n, &cap);
    if (r >= 0 && !streq(a->field->name, CAT_DELETED_FIELD)) {
        st = store_stmt(s, "SELECT change_id, device, base_device, field, value, hlc, sent_hlc,"
                           " base_hlc FROM change_log WHERE tbl = ? AND row_id = ?"
                           " AND field = '_deleted' AND outcome IN ('applied', 'lost')");
        if (!st)
            r = -EIO;
        else {
            store_bind_text(st, 1, a->tbl);
            store_bind_text(st, 2, a->row_id);
            r = hist_read(st, &h, &n, &cap);
        }
    }
    if (r < 0) {
        hist_free(h, n);
        return r;
    }
    *ret = h;
    *ret_n = n;
    return 0;
}

static struct merge_version hist_version(const struct hist *e)
{
    return (struct merge_version){e->hlc, e->device};
}

static struct merge_version hist_base(const struct hist *e)
{
    return (struct merge_version){e->base_hlc, e->base_device};
}

/* The server gave this write a clock of its own (a clamp, a domain rule's re-stamp). */
static bool hist_restamped(const struct hist *e)
{
    return e->hlc != e->sent_hlc;
}

static bool version_after(uint64_t hlc, const char *device, const struct hist *than)
{
    return hlc_version_cmp(hlc, device, than->hlc, than->device) > 0;
}

/*
 * Find the conflict-log entries the arrival of @a creates, by the pairwise rules of merge.h
 * against the stored history of the field (and, for deletes, of the row). Whichever change of a
 * pair arrives second detects it, so the log does not depend on arrival order; UNIQUE(loser,
 * kind) keeps each entry once. Out-of-scope changes are not part of any field's history.
 */
static int detect_conflicts(struct store *s, struct applying *a)
{
    struct merge_version x = {a->hlc, a->device};
    struct merge_version xbase = {a->base_hlc, a->base_device};
    bool is_delete = streq(a->field->name, CAT_DELETED_FIELD) && a->value && streq(a->value, "1");
    bool on_tombstone = streq(a->field->name, CAT_DELETED_FIELD);
    const char *base_device = a->base_device ? a->base_device : "";
    bool restamped = a->hlc != a->sent_hlc;
    struct hist *h = NULL;
    size_t n = 0;
    int r;

    r = hist_load(s, a, a->base_hlc < a->hlc ? a->base_hlc : a->hlc, &h, &n);
    if (r < 0)
        return r;

    /* (1) Newer writes that had not seen this one: this value is a concurrent loser to the
     * oldest of them. A writer whose base is this change's clock as sent had seen it,
     * re-stamped or not. */
    {
        const struct hist *winner = NULL;

        for (size_t i = 0; i < n; i++) {
            const struct hist *y = &h[i];

            if ((y->tombstone && !on_tombstone) || y->hlc < a->hlc ||
                streq(y->change_id, a->change_id) ||
                (y->base_hlc == a->sent_hlc && streq(y->base_device, a->device)))
                continue;
            if ((!winner || version_after(winner->hlc, winner->device, y)) &&
                merge_concurrent_loss(x, a->value, hist_version(y), hist_base(y), y->value) &&
                !merge_same_writer(x, xbase, restamped, hist_version(y), hist_base(y),
                                   hist_restamped(y)))
                winner = y;
        }
        if (winner) {
            r = store_conflict_add(s, "concurrent_edit", a, a->change_id, winner->change_id,
                                   a->field->name);
            if (r < 0)
                goto out;
        }
    }

    /* (2) Older writes this one overwrote without having seen them. */
    for (size_t i = 0; i < n; i++) {
        const struct hist *w = &h[i];

        if ((w->tombstone && !on_tombstone) || w->hlc > a->hlc || w->hlc < a->base_hlc ||
            streq(w->change_id, a->change_id) ||
            (w->sent_hlc == a->base_hlc && streq(w->device, base_device)))
            continue;
        if (!merge_concurrent_loss(hist_version(w), w->value, x, xbase, a->value) ||
            merge_same_writer(hist_version(w), hist_base(w), hist_restamped(w), x, xbase,
                              restamped))
            continue;
        r = store_conflict_add(s, "concurrent_edit", a, w->change_id, a->change_id,
                               a->field->name);
        if (r < 0)
            goto out;
    }

    if (is_delete) {
        r = detect_delete(s, a);
    } else if (!on_tombstone) {
        /* (4) An edit arriving after a delete that had not seen it, while no newer restore
         * has brought the row back (an edit made after a restore is not hidden): logged
         * against the oldest such delete. */
        const struct hist *winner = NULL;

        for (size_t i = 0; i < n; i++) {
            const struct hist *t = &h[i];
            bool restored = false;

            if (!t->tombstone || !t->value || !streq(t->value, "1") ||
                (winner && !version_after(winner->hlc, winner->device, t)))
                continue;
            for (size_t j = 0; j < n && !restored; j++)
                restored = h[j].tombstone && h[j].value && streq(h[j].value, "0") &&
                           version_after(h[j].hlc, h[j].device, t);
            if (!restored && merge_hidden_by_delete(x, hist_base(t)) &&
                !merge_same_writer(x, xbase, restamped, hist_version(t), hist_base(t),
                                   hist_restamped(t)))
                winner = t;
        }
        if (winner)
            r = store_conflict_add(s, "edit_after_delete", a, a->change_id, winner->change_id,
                                   a->field->name);
    }
out:
    hist_free(h, n);
    return r < 0 ? r : 0;
}

int store_journal(struct store *s, const struct applying *a, const char *outcome)
{
    sqlite3_stmt *st = store_stmt(s, "INSERT INTO change_log(change_id, device, user_id, tbl, row_id,"
                               " field, person_id, value, hlc, sent_hlc, base_hlc, base_device,"
                               " outcome, received_ms, sent_base_hlc, sent_base_device)"
                               " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");

    if (!st)
        return -EIO;
    store_bind_text(st, 1, a->change_id);
    store_bind_text(st, 2, a->device);
    if (a->user_id)
        sqlite3_bind_int64(st, 3, a->user_id);
    store_bind_text(st, 4, a->tbl);
    store_bind_text(st, 5, a->row_id);
    store_bind_text(st, 6, a->field->name);
    store_bind_text(st, 7, a->person_id);
    store_bind_text(st, 8, a->value);
    sqlite3_bind_int64(st, 9, (int64_t)a->hlc);
    sqlite3_bind_int64(st, 10, (int64_t)a->sent_hlc);
    sqlite3_bind_int64(st, 11, (int64_t)a->base_hlc);
    store_bind_text(st, 12, a->base_device ? a->base_device : "");
    store_bind_text(st, 13, outcome);
    sqlite3_bind_int64(st, 14, (int64_t)hlc_wall_ms());
    if (a->base_untrusted) {
        sqlite3_bind_int64(st, 15, (int64_t)a->sent_base_hlc);
        store_bind_text(st, 16, a->sent_base_device ? a->sent_base_device : "");
    }
    return store_step_done(st);
}

static int field_state_put(struct store *s, const struct applying *a)
{
    sqlite3_stmt *st = store_stmt(s, "INSERT INTO field_state(tbl, row_id, field, person_id, value,"
                                     " hlc, device, change_id, seq) VALUES(?,?,?,?,?,?,?,?,?)"
                                     " ON CONFLICT(tbl, row_id, field) DO UPDATE SET"
                                     " value = excluded.value, hlc = excluded.hlc,"
                                     " device = excluded.device, change_id = excluded.change_id,"
                                     " seq = excluded.seq");

    if (!st)
        return -EIO;
    store_bind_text(st, 1, a->tbl);
    store_bind_text(st, 2, a->row_id);
    store_bind_text(st, 3, a->field->name);
    store_bind_text(st, 4, a->person_id);
    store_bind_text(st, 5, a->value);
    sqlite3_bind_int64(st, 6, (int64_t)a->hlc);
    store_bind_text(st, 7, a->device);
    store_bind_text(st, 8, a->change_id);
    sqlite3_bind_int64(st, 9, (int64_t)store_next_seq(s));
    return store_step_done(st);
}

/*
 * 1 when the current version was re-stamped by the server (a clamped clock or a domain rule) and
 * @a was written by a device that had seen it under its original clock (its base is that
 * version): @a is that device's next edit and must win, so it is re-stamped too. Without this a
 * worker's "completed" would lose to their own re-stamped "in progress" of the same visit.
 */
static int successor_of_restamp(struct store *s, const struct applying *a,
                                const struct field_cur *cur)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT sent_hlc, hlc FROM change_log WHERE change_id = ?");
    int rc, yes = 0;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, cur->change_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        uint64_t sent = (uint64_t)sqlite3_column_int64(st, 0);

        yes = sent != (uint64_t)sqlite3_column_int64(st, 1) && a->base_hlc == sent &&
              a->base_device && streq(a->base_device, cur->device);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_errno(rc);
    return yes;
}

/* Domain rules that override plain last-writer-wins (docs/internals/merge.md). */
enum policy {
    POLICY_LWW,          /* the ordinary rule */
    POLICY_LOSE,         /* the change loses whatever its clock */
    POLICY_WIN_RESTAMP,  /* the change wins; it gets a fresh server clock so devices agree */
};

static bool value_is(const char *v, const char *want)
{
    return v && streq(v, want);
}

/* A visit status that records contact with the person: started or completed. */
static bool contact_status(const char *v)
{
    return value_is(v, "completed") || value_is(v, "in-progress");
}

static int visit_has_actual_start(struct store *s, const char *row_id)
{
    _cleanup_(store_field_cur_done) struct field_cur st = {0};
    int r = store_field_current(s, "visit", row_id, "actual_start", &st);

    if (r < 0)
        return r;
    return st.exists && st.value != NULL;
}

/*
 * Which rule decides @a against the current version @cur, and the conflict kind to log when a
 * domain rule decides (*kind NULL for the ordinary rule).
 *  - Append-only fields keep the value they were created with: a later write loses.
 *  - A visit with an actual start time that is marked completed (or in progress) stays so
 *    against a concurrent "missed" (evidence of contact), whichever clock is higher. One
 *    device's successive edits are not concurrent: a worker who marked a visit missed and then
 *    started it (or the reverse) meant the later one, which wins by the ordinary rule.
 */
static int merge_policy(struct store *s, const struct applying *a, const struct field_cur *cur,
                        const char **kind)
{
    int r;

    *kind = NULL;
    if (!cur->exists)
        return POLICY_LWW;
    if (a->field->kind == CAT_A && !streq(cur->change_id, a->change_id)) {
        *kind = "append_only";
        return POLICY_LOSE;
    }
    if (!streq(a->tbl, "visit") || !streq(a->field->name, "status"))
        return POLICY_LWW;
    /* One device's successive statuses. The current version's base is not at hand, so when
     * it is the later of the two (a re-stamp) the pair is judged by the domain rule. */
    if (merge_same_writer((struct merge_version){cur->hlc, cur->device},
                          (struct merge_version){0, ""}, true,
                          (struct merge_version){a->hlc, a->device},
                          (struct merge_version){a->base_hlc, a->base_device ? a->base_device : ""},
                          a->hlc != a->sent_hlc))
        return POLICY_LWW;
    if (value_is(a->value, "missed") && contact_status(cur->value)) {
        r = visit_has_actual_start(s, a->row_id);
        if (r <= 0)
            return r < 0 ? r : POLICY_LWW;
        *kind = "missed_vs_completed";
        return POLICY_LOSE;
    }
    if (contact_status(a->value) && value_is(cur->value, "missed")) {
        r = visit_has_actual_start(s, a->row_id);
        if (r <= 0)
            return r < 0 ? r : POLICY_LWW;
        *kind = "missed_vs_completed";
        return POLICY_WIN_RESTAMP;
    }
    return POLICY_LWW;
}

int store_server_version(struct store *s, const struct applying *a, const char *value,
                         const char *writer_device, uint64_t sent_hlc, const char *before,
                         char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc)
{
    struct applying k = *a;
    int r;

    r = uuid_v7(hlc_wall_ms(), ret_change_id);
    if (r < 0)
        return r;
    k.change_id = ret_change_id;
    k.value = value;
    k.sent_hlc = sent_hlc;
    k.hlc = store_tick(s);
    k.device = writer_device;
    k.user_id = 0;
    k.base_hlc = a->hlc;
    k.base_device = a->device;
    k.base_untrusted = false;
    r = store_journal(s, &k, "applied");
    if (r >= 0)
        r = store_audit_change(s, &k, "applied", before);
    if (r >= 0)
        r = field_state_put(s, &k);
    if (r >= 0)
        *ret_hlc = k.hlc;
    return r;
}

/*
 * Merge one in-scope change: journal it, make it the field's value when it wins, and log what it
 * displaced or lost to. *ret_applied tells which. A domain rule may give the change a fresh
 * server clock (a->hlc is updated; the device records it like a clamped clock).
 */
int store_apply_change(struct store *s, struct applying *a, bool *ret_applied,
                       struct field_cur *ret_cur)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    struct merge_version x = {a->hlc, a->device};
    struct merge_version cv;
    const char *kind;
    bool wins;
    int policy, r;

    r = store_field_current(s, a->tbl, a->row_id, a->field->name, &cur);
    if (r < 0)
        return r;
    cv.hlc = cur.hlc;
    cv.device = cur.device;
    wins = merge_wins(x, cur.exists ? &cv : NULL);
    if (cur.exists && !wins) {
        r = successor_of_restamp(s, a, &cur);
        if (r < 0)
            return r;
        if (r > 0) {
            a->hlc = store_tick(s);
            wins = true;
        }
    }
    policy = merge_policy(s, a, &cur, &kind);
    if (policy < 0)
        return policy;

    if (policy == POLICY_LOSE) {
        r = store_journal(s, a, "lost");
        if (r >= 0)
            r = store_audit_change(s, a, "lost", cur.value);
        if (r >= 0)
            r = store_conflict_add(s, kind, a, a->change_id, cur.change_id, a->field->name);
        if (r >= 0 && wins) {
            /* The losing change is newer: write the kept value again with a fresh clock based on
             * the loser, so every device (the loser's too) converges on it by the plain rule. A
             * re-stamp of the kept version: same writer, the version it replaces as sent. */
            char cid[UUID_STR_MAX];
            uint64_t hlc;

            r = store_server_version(s, a, cur.value, cur.device, cur.hlc, a->value, cid, &hlc);
            if (r >= 0 && ret_cur) {
                /* The field now holds the kept value under the re-stamp's version. */
                cur.hlc = hlc;
                copy_text(cur.change_id, sizeof(cur.change_id), cid);
            }
        }
        if (r < 0)
            return r;
        *ret_applied = false;
        if (ret_cur)
            *ret_cur = cur, cur.value = NULL;
        return 0;
    }
    if (policy == POLICY_WIN_RESTAMP) {
        if (!wins)
            a->hlc = store_tick(s);
        r = store_journal(s, a, "applied");
        if (r >= 0)
            r = store_audit_change(s, a, "applied", cur.value);
        if (r >= 0)
            r = field_state_put(s, a);
        if (r >= 0)
            r = store_conflict_add(s, kind, a, cur.change_id, a->change_id, a->field->name);
        if (r < 0)
            return r;
        *ret_applied = true;
        return 0;
    }

    r = store_journal(s, a, wins ? "applied" : "lost");
    if (r >= 0)
        r = store_audit_change(s, a, wins ? "applied" : "lost", cur.value);
    if (r >= 0 && wins)
        r = field_state_put(s, a);
    /* A row this batch created has no history to search: nobody else has written it. */
    if (r >= 0 && !a->new_row)
        r = detect_conflicts(s, a);
    if (r < 0)
        return r;
    *ret_applied = wins;
    if (ret_cur && !wins)
        *ret_cur = cur, cur.value = NULL;
    return 0;
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

/* 1 when @p may write and read person @person_id, 0 when not, or -errno. */
static int in_scope_now(struct store *s, const struct store_principal *p, const char *person_id)
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

void store_scope_begin(struct store *s)
{
    s->n_scope = 0;
    s->scope_on = true;
}

void store_scope_end(struct store *s)
{
    s->scope_on = false;
    s->n_scope = 0;
}

void store_scope_forget(struct store *s, const char *person_id)
{
    for (size_t i = 0; i < s->n_scope; i++)
        if (streq(s->scope[i].person_id, person_id))
            s->scope[i] = s->scope[--s->n_scope];
}

int store_in_scope(struct store *s, const struct store_principal *p, const char *person_id)
{
    struct scope_memo *m;
    int r;

    if (!s->scope_on)
        return in_scope_now(s, p, person_id);
    /* A batch's changes come person by person: look from the newest answer back. */
    for (size_t i = s->n_scope; i-- > 0;)
        if (streq(s->scope[i].person_id, person_id))
            return s->scope[i].in_scope;
    r = in_scope_now(s, p, person_id);
    if (r < 0 || strlen(person_id) >= UUID_STR_MAX)
        return r;
    if (array_grow((void **)&s->scope, &s->cap_scope, s->n_scope, sizeof(*s->scope), 64) < 0)
        return r; /* not remembered: asked again next time */
    m = &s->scope[s->n_scope++];
    memcpy(m->person_id, person_id, strlen(person_id) + 1);
    m->in_scope = r;
    return r;
}

/* ---- people and caseloads ---- */

/* The newest version of any field of a row, in @ret (exists false for a new row). */
static int row_newest_version(struct store *s, const char *tbl, const char *row_id,
                              struct field_cur *ret)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT hlc, device FROM field_state WHERE tbl = ?"
                                     " AND row_id = ? ORDER BY " HLC_SQL_NEWEST " LIMIT 1");
    int rc;

    store_field_cur_done(ret);
    if (!st)
        return -EIO;
    store_bind_text(st, 1, tbl);
    store_bind_text(st, 2, row_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->exists = true;
        ret->hlc = (uint64_t)sqlite3_column_int64(st, 0);
        copy_text(ret->device, sizeof(ret->device), sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* Write one server-authored field (admin commands, resolutions): a fresh clock, based on the
 * current version (for a delete, the row's newest) so it is a sequential overwrite. */
int store_write_field(struct store *s, const char *device, int64_t user_id, const char *tbl,
                       const char *row_id, const char *person_id, const char *field,
                       const char *value, char ret_change_id[static UUID_STR_MAX])
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    const struct cat_table *t = catalogue_table(tbl);
    struct applying a = {0};
    bool applied;
    int r;

    r = store_field_current(s, tbl, row_id, field, &cur);
    if (r < 0)
        return r;
    r = uuid_v7(hlc_wall_ms(), ret_change_id);
    if (r < 0)
        return r;
    a.change_id = ret_change_id;
    a.tbl = tbl;
    a.field = catalogue_field(t, field);
    if (!a.field)
        return -EINVAL;
    a.row_id = row_id;
    a.person_id = person_id;
    a.value = value;
    a.hlc = a.sent_hlc = store_tick(s);
    a.device = device;
    a.user_id = user_id;
    a.base_hlc = cur.exists ? cur.hlc : 0;
    a.base_device = cur.exists ? cur.device : "";
    if (streq(field, CAT_DELETED_FIELD) && value && streq(value, "1")) {
        /* A delete's base is the newest version of any field of the row (the writer sees the
         * whole row): a coordinator's delete after their own restore hides nothing. */
        r = row_newest_version(s, tbl, row_id, &cur);
        if (r < 0)
            return r;
        a.base_hlc = cur.exists ? cur.hlc : 0;
        a.base_device = cur.exists ? cur.device : "";
    }
    return store_apply_change(s, &a, &applied, NULL);
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
