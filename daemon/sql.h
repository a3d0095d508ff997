/* SPDX-License-Identifier: MIT */
/*
 * sql.h - the SQL driver under the store: one connection's prepared statements, whatever the
 * database (the shape of Dovecot's lib-sql drivers and of Synapse's one code path over SQLite and
 * PostgreSQL). The store's SQL (the batch operations of store_push.c, store_merge.c and
 * store_pull.c; staff, devices, caseload, people, conflicts inbox, console, audit, exports,
 * population) is written ONCE, in the portable subset below, and runs over either driver:
 *
 *   sqlite_sql.c   - SQLite (the embedded default): the only server file besides sqlite_*.c
 *                    that calls sqlite3_*.
 *   pg_sql.c       - PostgreSQL over libpq (issue 12).
 *
 * test_pg_statements prepares every SQL text of daemon/store*.c on PostgreSQL over
 * schema/server-pg. Where a backend batches differently (one round trip per push on
 * PostgreSQL), its own operations replace these in its backend_ops.
 *
 * The portable subset, which both drivers accept:
 *  - parameters are `?` (the next number) or `?N` (number N, may repeat), as in SQLite; the
 *    PostgreSQL driver renumbers them `$N`, leaving quoted text alone;
 *  - a text parameter is sent untyped, so the database infers its type from where it stands (a
 *    timestamptz column takes an ISO 8601 text); where nothing gives it a type (`? IS NULL`,
 *    a bare SELECT ?) write CAST(? AS TEXT) or CAST(? AS BIGINT);
 *  - no INSERT OR IGNORE/REPLACE (write INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE),
 *    no last_insert_rowid() (write RETURNING id), no julianday()/date()/strftime(), no
 *    group_concat(): where a statement cannot be written portably, the caller chooses the text
 *    by sql_dialect();
 *  - integers are 64-bit; booleans are stored as integers 0/1;
 *  - a timestamp column reads back as text exactly as iso_time() writes it,
 *    "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), on every driver.
 *
 * Errors: every function returning int gives 0 (or SQL_ROW/SQL_DONE, or a count) or a NEGATIVE
 * ERRNO, the same on every driver:
 *   -EEXIST      a unique or primary-key constraint refused the write
 *   -EINVAL      another constraint (CHECK, NOT NULL, foreign key) refused it
 *   -EBUSY       another writer holds the database (SQLite busy), or a lock wait timed out
 *   -EAGAIN      the transaction was chosen to fail (deadlock, serialization): run it again
 *   -ENOTCONN    the database is unreachable or the connection was lost: the daemon answers 503
 *   -ENOSPC      the disk is full
 *   -ENOMEM, -EIO (anything else; the driver logs the database's message once)
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

enum sql_dialect {
    SQL_SQLITE = 1,
    SQL_POSTGRESQL = 2,
};

/* sql_step() results besides a negative errno. */
enum {
    SQL_DONE = 0, /* no (more) rows: the statement has run to its end */
    SQL_ROW = 1,  /* a row is ready for the sql_column_*() calls */
};

/* sql_column_type() results. */
enum sql_type {
    SQL_NULL = 0,
    SQL_INTEGER = 1,
    SQL_TEXT = 2,
    SQL_OTHER = 3, /* real, blob, numeric: read it as text */
};

struct sql;
struct sql_stmt;

struct sql_driver {
    const char *name; /* "sqlite", "postgresql" */
    enum sql_dialect dialect;
    /* A prepared statement for @sql, cached on the connection by the literal's ADDRESS (callers
     * pass string literals), returned reset and with no bindings. */
    int (*prepare)(struct sql *db, const char *sql, struct sql_stmt **ret);
    void (*bind_int64)(struct sql_stmt *st, int i, int64_t v);
    /* @v NULL binds SQL NULL. The text is borrowed until the statement is reset. */
    void (*bind_text)(struct sql_stmt *st, int i, const char *v);
    /* The first call runs the statement; then one row per call. SQL_ROW, SQL_DONE or -errno. */
    int (*step)(struct sql_stmt *st);
    /* Ends the run (rows not read are dropped) and clears the bindings. */
    void (*reset)(struct sql_stmt *st);
    enum sql_type (*column_type)(struct sql_stmt *st, int col);
    int64_t (*column_int64)(struct sql_stmt *st, int col); /* NULL reads 0 */
    /* NULL for SQL NULL; valid until the next step or reset of @st. */
    const char *(*column_text)(struct sql_stmt *st, int col);
    /* Rows written by the connection's last INSERT, UPDATE or DELETE. */
    int64_t (*changes)(struct sql *db);
    /* Run one or more statements that take no parameters and return no rows. */
    int (*exec)(struct sql *db, const char *sql);
    /* Finalize every cached statement and close the connection (NULL is fine). */
    void (*close)(struct sql *db);
};

/* Every driver's connection and statement begin with these. */
struct sql {
    const struct sql_driver *drv;
};

struct sql_stmt {
    const struct sql_driver *drv;
};

static inline enum sql_dialect sql_dialect(const struct sql *db)
{
    return db->drv->dialect;
}

static inline int sql_prepare(struct sql *db, const char *sql, struct sql_stmt **ret)
{
    return db->drv->prepare(db, sql, ret);
}

static inline void sql_bind_int64(struct sql_stmt *st, int i, int64_t v)
{
    st->drv->bind_int64(st, i, v);
}

static inline void sql_bind_text(struct sql_stmt *st, int i, const char *v)
{
    st->drv->bind_text(st, i, v);
}

static inline int sql_step(struct sql_stmt *st)
{
    return st->drv->step(st);
}

/* sql_reset(NULL) does nothing (as sqlite3_reset(NULL)), so a cleanup path need not check. */
static inline void sql_reset(struct sql_stmt *st)
{
    if (st)
        st->drv->reset(st);
}

static inline enum sql_type sql_column_type(struct sql_stmt *st, int col)
{
    return st->drv->column_type(st, col);
}

static inline int64_t sql_column_int64(struct sql_stmt *st, int col)
{
    return st->drv->column_int64(st, col);
}

static inline const char *sql_column_text(struct sql_stmt *st, int col)
{
    return st->drv->column_text(st, col);
}

static inline int64_t sql_changes(struct sql *db)
{
    return db->drv->changes(db);
}

static inline int sql_exec(struct sql *db, const char *sql)
{
    return db->drv->exec(db, sql);
}

static inline void sql_close(struct sql *db)
{
    if (db)
        db->drv->close(db);
}

/* sql_step_done() - step a statement that returns no rows, then reset it. 0 or -errno (a row
 * is -EPROTO: the SQL was not what the caller thought). */
static inline int sql_step_done(struct sql_stmt *st)
{
    int r = sql_step(st);

    sql_reset(st);
    return r == SQL_DONE ? 0 : r < 0 ? r : -EPROTO;
}
