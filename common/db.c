/* SPDX-License-Identifier: MIT */
/* db.c - SQLite helpers: open, migrate, transactions, meta keys, persisted HLC. */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "util.h"

int db_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EUCLEAN;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int db_exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : db_errno(rc);
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, ret, NULL);

    return rc == SQLITE_OK ? 0 : db_errno(rc);
}

int db_open(const char *path, unsigned flags, sqlite3 **ret)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc, r;

    if (flags & DB_OPEN_CREATE)
        oflags |= SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &db, oflags, NULL);
    if (rc != SQLITE_OK)
        return db_errno(rc);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 10000);
    r = db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                    " PRAGMA temp_store=MEMORY;");
    if (r < 0)
        return r;
    if (flags & DB_OPEN_SECURE_DELETE) {
        r = db_exec(db, "PRAGMA secure_delete=ON;");
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(db);
    return 0;
}

static int user_version(sqlite3 *db, int64_t *ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = db_prepare(db, "PRAGMA user_version", &st);

    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_ROW)
        return -EIO;
    *ret = sqlite3_column_int64(st, 0);
    return 0;
}

int db_migrate(sqlite3 *db, const struct schema_migration *m, size_t n)
{
    int64_t v;
    int r, applied = 0;

    r = user_version(db, &v);
    if (r < 0)
        return r;
    if (v > (int64_t)n)
        return -EPROTO;
    for (size_t i = (size_t)v; i < n; i++) {
        char pragma[64];

        r = db_begin(db, true);
        if (r < 0)
            return r;
        r = db_exec(db, m[i].sql);
        if (r >= 0) {
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", i + 1);
            r = db_exec(db, pragma);
        }
        if (r >= 0)
            r = db_commit(db);
        if (r < 0) {
            db_rollback(db);
            return r;
        }
        applied++;
    }
    return applied;
}

int db_begin(sqlite3 *db, bool write)
{
    return db_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

int db_commit(sqlite3 *db)
{
    return db_exec(db, "COMMIT");
}

void db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        (void)db_exec(db, "ROLLBACK");
}

int db_meta_get(sqlite3 *db, const char *key, char **ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const unsigned char *v;
    char *copy;
    int r, rc;

    r = db_prepare(db, "SELECT value FROM meta WHERE key = ?", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    v = sqlite3_column_text(st, 0);
    if (!v)
        return 0;
    copy = strdup((const char *)v);
    if (!copy)
        return -ENOMEM;
    *ret = copy;
    return 1;
}

int db_meta_set(sqlite3 *db, const char *key, const char *value)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(db,
                   "INSERT INTO meta(key, value) VALUES(?, ?)"
                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int db_meta_get_u64(sqlite3 *db, const char *key, uint64_t *ret)
{
    _cleanup_free_ char *v = NULL;
    int r = db_meta_get(db, key, &v);

    if (r <= 0)
        return r;
    r = parse_u64(v, ret);
    return r < 0 ? -EUCLEAN : 1;
}

int db_meta_set_u64(sqlite3 *db, const char *key, uint64_t value)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, value);
    return db_meta_set(db, key, buf);
}

int db_hlc_get(sqlite3 *db, uint64_t *ret)
{
    uint64_t h = 0;
    int r = db_meta_get_u64(db, "hlc", &h);

    if (r < 0)
        return r;
    *ret = h;
    return 0;
}

int db_hlc_tick(sqlite3 *db, uint64_t *ret)
{
    uint64_t h;
    int r = db_hlc_get(db, &h);

    if (r < 0)
        return r;
    hlc_tick(&h, hlc_wall_ms());
    r = db_meta_set_u64(db, "hlc", h);
    if (r < 0)
        return r;
    *ret = h;
    return 0;
}

int db_hlc_recv(sqlite3 *db, uint64_t remote, uint64_t *ret)
{
    uint64_t h;
    int r = db_hlc_get(db, &h);

    if (r < 0)
        return r;
    hlc_recv(&h, remote, hlc_wall_ms());
    r = db_meta_set_u64(db, "hlc", h);
    if (r < 0)
        return r;
    if (ret)
        *ret = h;
    return 0;
}

char *db_column_strdup(sqlite3_stmt *st, int col, bool *oom)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    char *c;

    if (!v)
        return NULL;
    c = strdup((const char *)v);
    if (!c)
        *oom = true;
    return c;
}

#define DB_CACHE_SLOTS 1024 /* a power of two; the replica needs a few hundred statements */

struct db_cache {
    size_t n;
    struct {
        char *sql;
        sqlite3_stmt *st;
    } slot[DB_CACHE_SLOTS];
};

int db_cache_get(struct db_cache **cache, sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
    struct db_cache *c = *cache;
    size_t i;
    int rc;

    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return -ENOMEM;
        *cache = c;
    }
    for (i = (size_t)fnv1a(sql) & (DB_CACHE_SLOTS - 1); c->slot[i].sql;
         i = (i + 1) & (DB_CACHE_SLOTS - 1)) {
        if (strcmp(c->slot[i].sql, sql) == 0) {
            sqlite3_reset(c->slot[i].st);
            sqlite3_clear_bindings(c->slot[i].st);
            *ret = c->slot[i].st;
            return 0;
        }
    }
    if (c->n >= DB_CACHE_SLOTS / 2) /* keep probes short: prepare without caching */
        return -E2BIG;
    c->slot[i].sql = strdup(sql);
    if (!c->slot[i].sql)
        return -ENOMEM;
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->slot[i].st, NULL);
    if (rc != SQLITE_OK) {
        free(c->slot[i].sql);
        c->slot[i].sql = NULL;
        return db_errno(rc);
    }
    c->n++;
    *ret = c->slot[i].st;
    return 0;
}

void db_cache_free(struct db_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < DB_CACHE_SLOTS; i++) {
        sqlite3_finalize(cache->slot[i].st);
        free(cache->slot[i].sql);
    }
    free(cache);
}

int db_query_i64(sqlite3 *db, const char *sql, const char *arg, int64_t *ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(db, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    *ret = sqlite3_column_int64(st, 0);
    return 0;
}
