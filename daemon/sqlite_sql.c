/* SPDX-License-Identifier: MIT */
/*
 * sqlite_sql.c - the SQLite driver for sql.h, over the store's one sqlite3 handle, and the
 * server's one statement cache: every store file prepares through sql_prepare(), which finds
 * the statement by the address of the SQL literal.
 */
#include "sqlite_sql.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "util.h"

/* One slot per SQL literal in the server: every call site of sql_prepare(). */
#define SQLITE_SQL_CACHE 512

struct sqlite_sql_stmt {
    struct sql_stmt base;
    sqlite3_stmt *st;
};

struct sqlite_sql {
    struct sql base;
    sqlite3 *db;
    size_t n;
    bool full_logged;
    struct {
        const char *sql;
        struct sqlite_sql_stmt st;
    } cache[SQLITE_SQL_CACHE];
};

static const struct sql_driver sqlite_driver;

static struct sqlite_sql *to_db(struct sql *db)
{
    return (struct sqlite_sql *)db;
}

static sqlite3_stmt *to_st(struct sql_stmt *st)
{
    return ((struct sqlite_sql_stmt *)st)->st;
}

/* sql.h's errno table; what it does not name keeps db_errno()'s meaning. */
int sqlite_sql_errno(int rc)
{
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
                               rc == SQLITE_CONSTRAINT_ROWID || rc == SQLITE_CONSTRAINT
                       ? -EEXIST
                       : -EINVAL;
    return db_errno(rc);
}

static struct sqlite_sql_stmt *cache_get(struct sqlite_sql *d, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % SQLITE_SQL_CACHE;

    for (size_t i = 0; i < SQLITE_SQL_CACHE; i++) {
        size_t k = (h + i) % SQLITE_SQL_CACHE;

        if (d->cache[k].sql == sql) {
            sqlite3_reset(d->cache[k].st.st);
            sqlite3_clear_bindings(d->cache[k].st.st);
            return &d->cache[k].st;
        }
        if (!d->cache[k].sql) {
            sqlite3_stmt *st = NULL;

            if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
                SQLITE_OK) {
                log_error("sqlite: cannot prepare a statement: %s", sqlite3_errmsg(d->db));
                return NULL;
            }
            d->cache[k].sql = sql;
            d->cache[k].st.base.drv = &sqlite_driver;
            d->cache[k].st.st = st;
            d->n++;
            return &d->cache[k].st;
        }
    }
    if (!d->full_logged) /* a programming error caught by the tests */
        log_error("sqlite: the statement cache is full (%d statements)", SQLITE_SQL_CACHE);
    d->full_logged = true;
    return NULL;
}

static int drv_prepare(struct sql *db, const char *sql, struct sql_stmt **ret)
{
    struct sqlite_sql_stmt *st = cache_get(to_db(db), sql);

    if (!st)
        return -EIO;
    *ret = &st->base;
    return 0;
}

/* Bound without a copy (sql.h: borrowed until the reset). */
static void drv_bind_text(struct sql_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(to_st(st), i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(to_st(st), i);
}

static void drv_bind_int64(struct sql_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(to_st(st), i, v);
}

static int drv_step(struct sql_stmt *st)
{
    int rc = sqlite3_step(to_st(st));

    if (rc == SQLITE_ROW)
        return SQL_ROW;
    if (rc == SQLITE_DONE)
        return SQL_DONE;
    return sqlite_sql_errno(rc);
}

static void drv_reset(struct sql_stmt *st)
{
    sqlite3_reset(to_st(st));
    sqlite3_clear_bindings(to_st(st));
}

static enum sql_type drv_column_type(struct sql_stmt *st, int col)
{
    switch (sqlite3_column_type(to_st(st), col)) {
    case SQLITE_NULL:
        return SQL_NULL;
    case SQLITE_INTEGER:
        return SQL_INTEGER;
    case SQLITE_TEXT:
        return SQL_TEXT;
    default:
        return SQL_OTHER;
    }
}

static int64_t drv_column_int64(struct sql_stmt *st, int col)
{
    return sqlite3_column_int64(to_st(st), col);
}

static const char *drv_column_text(struct sql_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(to_st(st), col);
}

static int64_t drv_changes(struct sql *db)
{
    return sqlite3_changes64(to_db(db)->db);
}

static int drv_exec(struct sql *db, const char *sql)
{
    int rc = sqlite3_exec(to_db(db)->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : sqlite_sql_errno(rc);
}

void sqlite_sql_finalize(struct sql *db)
{
    struct sqlite_sql *d;

    if (!db)
        return;
    d = to_db(db);
    for (size_t i = 0; i < SQLITE_SQL_CACHE; i++)
        if (d->cache[i].sql)
            sqlite3_finalize(d->cache[i].st.st);
    free(d);
}

static void drv_close(struct sql *db)
{
    sqlite3 *h = to_db(db)->db;

    sqlite_sql_finalize(db);
    sqlite3_close_v2(h);
}

static const struct sql_driver sqlite_driver = {
    .name = "sqlite",
    .dialect = SQL_SQLITE,
    .prepare = drv_prepare,
    .bind_int64 = drv_bind_int64,
    .bind_text = drv_bind_text,
    .step = drv_step,
    .reset = drv_reset,
    .column_type = drv_column_type,
    .column_int64 = drv_column_int64,
    .column_text = drv_column_text,
    .changes = drv_changes,
    .exec = drv_exec,
    .close = drv_close,
};

int sqlite_sql_open(sqlite3 *db, struct sql **ret)
{
    struct sqlite_sql *d = calloc(1, sizeof(*d));

    if (!d)
        return -ENOMEM;
    d->base.drv = &sqlite_driver;
    d->db = db;
    *ret = &d->base;
    return 0;
}
