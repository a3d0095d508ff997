/* SPDX-License-Identifier: MIT */
/*
 * migrate.h - `caresyncd store migrate`: an embedded store (SQLite) moved whole into a
 * PostgreSQL database (issue 12; docs/DEPLOYMENT.md, "Moving from the embedded store";
 * docs/internals/scale-out.md, "Moving a store"). Three parts:
 *
 *   sqlite_migrate.c  reads the embedded store: its tables, columns and rows, in one read
 *                     transaction that keeps every other writer out;
 *   pg_migrate.c      the copy: the PostgreSQL migrations, then every table in one PostgreSQL
 *                     transaction (COPY), the append point, the identities, a verification;
 *   admin_migrate.c   the command: the serve lock, the refusals, DIR/store.url and the
 *                     renamed store.db.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sql.h"
#include "util.h"

struct store;

/* ---- the embedded store's side (sqlite_migrate.c) ---- */

/* Where the embedded store is, read inside the copy's read transaction. */
struct migrate_source {
    char node_id[UUID_STR_MAX];
    char epoch[UUID_STR_MAX];
    uint64_t seq; /* meta 'seq': the highest sequence number given */
    uint64_t hlc; /* meta 'hlc': the store's clock */
    int64_t audit_id; /* the audit chain's tail (0 and 64 zeros: an empty chain) */
    char audit_hash[SHA256_HEX_MAX];
};

/* One value of a row as the embedded store holds it. */
enum migrate_type {
    MIGRATE_NULL,
    MIGRATE_INTEGER, /* decimal text */
    MIGRATE_REAL,    /* decimal text, %.17g */
    MIGRATE_TEXT,    /* UTF-8 text, @len bytes */
    MIGRATE_BLOB,    /* raw bytes, @len of them */
};

struct migrate_value {
    enum migrate_type type;
    const char *v; /* NULL for MIGRATE_NULL; valid until the callback returns */
    size_t len;
};

/* Called once per row with its @n values, in the order of the columns asked for. Returns 0 to go
 * on or a negative errno, which ends the scan and is returned by it. */
typedef int (*migrate_row_fn)(void *userdata, const struct migrate_value *values, size_t n);

/*
 * sqlite_migrate_begin() - begin the copy's transaction on the embedded store @s: BEGIN
 * IMMEDIATE, so that no admin command writes to it while it is read (they wait on its busy
 * timeout, or fail), and everything read after it is one snapshot. Fills @ret. 0 or -errno
 * (-EBUSY: another writer holds it). sqlite_migrate_end() rolls it back (nothing was written).
 */
int sqlite_migrate_begin(struct store *s, struct migrate_source *ret);
void sqlite_migrate_end(struct store *s);

/*
 * sqlite_migrate_tables() - the names of the store's tables (SQLite's own sqlite_* left out),
 * sorted, as a NULL-terminated array the caller frees with strv_free(). 0 or -errno.
 * sqlite_migrate_columns() - the columns of @table in their order, likewise.
 */
int sqlite_migrate_tables(struct store *s, char ***ret);
int sqlite_migrate_columns(struct store *s, const char *table, char ***ret);

/* sqlite_migrate_count() - count(*) of @table. 0 or -errno. */
int sqlite_migrate_count(struct store *s, const char *table, int64_t *ret);

/*
 * sqlite_migrate_scan() - every row of @table (a name sqlite_migrate_tables() gave; columns
 * that sqlite_migrate_columns() gave), in the order of @order_by when not NULL (a column), to
 * @fn. 0, the callback's error, or -errno.
 */
int sqlite_migrate_scan(struct store *s, const char *table, char *const *columns,
                        const char *order_by, migrate_row_fn fn, void *userdata);

/*
 * sqlite_migrate_checkpoint() - copy the WAL into the database file and empty it
 * (wal_checkpoint(TRUNCATE)), outside any transaction, so that store.db alone holds the store
 * before it is renamed. 0, -EBUSY (a reader kept it from finishing) or -errno.
 */
int sqlite_migrate_checkpoint(struct store *s);

/* strv_free() - free a NULL-terminated array of strings and the strings; returns NULL. */
char **strv_free(char **v);

/* ---- the copy (pg_migrate.c) ---- */

/* What the copy did, table by table, for the summary. */
struct migrate_table_report {
    const char *name; /* static */
    int64_t rows;
    double seconds; /* read, sent and stored */
};

struct migrate_report {
    struct migrate_source source;
    int migrations; /* PostgreSQL schema migrations applied first */
    struct migrate_table_report tables[32];
    size_t n_tables;
    int64_t rows;        /* all tables */
    uint64_t head_seq;   /* store_head after the copy */
    uint64_t head_hlc;
    double seconds;      /* the PostgreSQL transaction, from BEGIN to COMMIT */
    bool already;        /* the database held exactly this store already: nothing copied */
    char why[256];       /* a refusal's reason, one line, in the operator's words */
};

/*
 * pg_migrate_copy() - move the embedded store @s into the database @db (a pg_sql_open()
 * connection): run the PostgreSQL migrations, refuse a database that holds any caresync data
 * (a store with the same node id and the same rows is "already", @ret->already, and nothing is
 * written), then, in ONE transaction, take store_head, COPY every table in id order, move the
 * head (sequence, clock, audit tail) and every identity past what was copied, compare every
 * table's count and the chain's tail with the source, and commit.
 *
 * Returns 0 (@ret filled in), or a negative errno with @ret->why saying why in one line:
 * -EEXIST the database holds another store or data; -EPROTO the embedded store has a table or
 * column this program cannot move; -EBADMSG a count or the chain's tail differs after the copy;
 * the -errno of sql.h otherwise. On every failure nothing is left in the database but the
 * migrations' empty schema.
 */
int pg_migrate_copy(struct store *s, struct sql *db, struct migrate_report *ret);

/*
 * pg_migrate_same_store() - whether @db holds the store whose node id is @node_id (meta
 * 'node_id'): 1, 0 (another or none), or -errno.
 */
int pg_migrate_same_store(struct sql *db, const char *node_id);
