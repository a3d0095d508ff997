/* SPDX-License-Identifier: MIT */
/* db.h - SQLite helpers: open with the house pragmas, migrate, transactions, meta keys, the
 * persisted hybrid logical clock, and errno mapping. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "schema.h"

static inline void sqlite3_finalizep(sqlite3_stmt **p)
{
    if (*p)
        sqlite3_finalize(*p);
}
static inline void sqlite3_closep(sqlite3 **p)
{
    if (*p)
        sqlite3_close_v2(*p);
}
static inline void sqlite3_freep(void *p)
{
    sqlite3_free(*(void **)p);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* db_errno() - map an SQLite result code to a negative errno (0 for OK/ROW/DONE). */
int db_errno(int rc);

#define DB_OPEN_CREATE       1u /* create the file if missing (mode from the umask) */
#define DB_OPEN_SECURE_DELETE 2u /* PRAGMA secure_delete=ON: deleted content is zeroed */

/*
 * db_open() - open @path in WAL mode with synchronous=FULL, foreign keys on, a 10 s busy
 * timeout and temp_store=MEMORY. Returns 0 and the handle in *ret (close with sqlite3_close_v2),
 * -ENOENT when the file is missing and DB_OPEN_CREATE is not set, or another negative errno.
 */
int db_open(const char *path, unsigned flags, sqlite3 **ret);

/*
 * db_migrate() - apply every migration newer than PRAGMA user_version, each in its own
 * transaction, in order. Returns the number applied, -EPROTO if the file is newer than this
 * program (user_version > @n), or a negative errno.
 */
int db_migrate(sqlite3 *db, const struct schema_migration *m, size_t n);

/* db_exec() - run SQL without results. Returns 0 or a negative errno. */
int db_exec(sqlite3 *db, const char *sql);

/* db_prepare() - prepare @sql. Returns 0 and the statement in *ret, or a negative errno. */
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);

/* db_query_i64() - the one integer that @sql (one row, one column; ?1 bound to @arg) gives,
 * 0 for NULL. 0 or -errno (-ENOENT when there is no row). */
int db_query_i64(sqlite3 *db, const char *sql, const char *arg, int64_t *ret);

/* db_begin() - BEGIN IMMEDIATE (write) or BEGIN (read). db_commit()/db_rollback() end it. */
int db_begin(sqlite3 *db, bool write);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

/*
 * db_meta_get() - read key @key of table meta(key TEXT PRIMARY KEY, value). Returns 1 and a
 * malloc'd copy in *ret (caller frees), 0 when absent (*ret untouched), or a negative errno.
 */
int db_meta_get(sqlite3 *db, const char *key, char **ret);
int db_meta_set(sqlite3 *db, const char *key, const char *value);
/* db_meta_get_u64() - as db_meta_get(), parsing a decimal value; absent leaves *ret alone. */
int db_meta_get_u64(sqlite3 *db, const char *key, uint64_t *ret);
int db_meta_set_u64(sqlite3 *db, const char *key, uint64_t value);

/*
 * db_hlc_tick() - tick the clock persisted under meta key "hlc" and store it back, so the
 * clock never goes backwards across restarts. Call inside a write transaction so the new value
 * commits with the change it stamps. Returns 0 and the clock in *ret, or a negative errno.
 */
int db_hlc_tick(sqlite3 *db, uint64_t *ret);

/* db_hlc_recv() - merge a received (already plausibility-checked) clock into the persisted one. */
int db_hlc_recv(sqlite3 *db, uint64_t remote, uint64_t *ret);

/* db_hlc_get() - the persisted clock without changing it (0 when never ticked). */
int db_hlc_get(sqlite3 *db, uint64_t *ret);

/* db_column_strdup() - malloc'd copy of a text column, NULL for SQL NULL. Sets *oom on failure. */
char *db_column_strdup(sqlite3_stmt *st, int col, bool *oom);

/* ---- a cache of prepared statements keyed by their SQL text ---- */

struct db_cache;

/*
 * db_cache_get() - the prepared statement for @sql on @db, prepared once and kept in *@cache
 * (allocated on first use). The statement is reset and its bindings cleared; it belongs to the
 * cache: never finalize it. Returns 0, or a negative errno.
 */
int db_cache_get(struct db_cache **cache, sqlite3 *db, const char *sql, sqlite3_stmt **ret);

/* db_cache_free() - finalize every statement (before closing the database). Accepts NULL. */
void db_cache_free(struct db_cache *cache);
