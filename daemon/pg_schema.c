/* SPDX-License-Identifier: MIT */
/*
 * pg_schema.c - the PostgreSQL store's migrations (schema/server-pg, embedded at build time as
 * schema_server_pg[]): each file not yet recorded in schema_migrations runs in one
 * transaction holding pg_advisory_xact_lock(72657, 1), so that several daemons starting at
 * once migrate one at a time and every file runs once; DDL is transactional in PostgreSQL, so
 * a file that fails leaves nothing behind. docs/internals/scale-out.md, "The schema".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "pg_sql.h"
#include "schema.h"

/* Whether migration @version is recorded, and the highest recorded, in this transaction. */
static int recorded(struct sql *db, int64_t version, bool *ret_done, int64_t *ret_newest)
{
    struct sql_stmt *st;
    int r;

    r = sql_prepare(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", &st);
    if (r < 0)
        return r;
    r = sql_step(st);
    if (r == SQL_ROW && sql_column_int64(st, 0) == 0) {
        sql_reset(st);
        *ret_done = false; /* an empty database: 0001 makes the table */
        *ret_newest = 0;
        return 0;
    }
    sql_reset(st);
    if (r < 0)
        return r;
    r = sql_prepare(db, "SELECT count(*) FILTER (WHERE version = ?1), coalesce(max(version), 0)"
                        " FROM schema_migrations", &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, version);
    r = sql_step(st);
    if (r == SQL_ROW) {
        *ret_done = sql_column_int64(st, 0) > 0;
        *ret_newest = sql_column_int64(st, 1);
        r = 0;
    } else if (r == SQL_DONE)
        r = -EPROTO;
    sql_reset(st);
    return r;
}

static int apply_one(struct sql *db, const struct schema_migration *m, int64_t version,
                     bool *ret_applied)
{
    struct sql_stmt *st;
    int64_t newest = 0;
    bool done = false;
    int r;

    r = sql_exec(db, "SELECT pg_advisory_xact_lock(72657, 1)");
    if (r < 0)
        return r;
    r = recorded(db, version, &done, &newest);
    if (r < 0)
        return r;
    if (newest > (int64_t)schema_server_pg_count)
        return log_error_errno(-EPROTO, "the PostgreSQL store's schema is at migration %" PRId64
                               ", newer than this caresyncd knows (%zu): run the newer caresyncd",
                               newest, schema_server_pg_count);
    *ret_applied = false;
    if (done)
        return 0;
    r = sql_exec(db, m->sql);
    if (r < 0)
        return log_error_errno(r, "PostgreSQL schema migration %s failed: nothing of it was "
                               "applied", m->name);
    /* Each file records itself; a file that forgot is recorded here. */
    r = sql_prepare(db, "INSERT INTO schema_migrations(version, name) VALUES (?1, ?2)"
                        " ON CONFLICT DO NOTHING", &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, version);
    sql_bind_text(st, 2, m->name);
    r = sql_step_done(st);
    if (r < 0)
        return r;
    *ret_applied = true;
    return 0;
}

int pg_schema_migrate(struct sql *db)
{
    int applied = 0;

    for (size_t i = 0; i < schema_server_pg_count; i++) {
        const struct schema_migration *m = &schema_server_pg[i];
        int64_t version = strtoll(m->name, NULL, 10);
        bool done = false;
        int r;

        r = sql_exec(db, "BEGIN");
        if (r < 0)
            return r;
        r = apply_one(db, m, version, &done);
        if (r >= 0)
            r = sql_exec(db, "COMMIT");
        if (r < 0) {
            (void)sql_exec(db, "ROLLBACK");
            return r;
        }
        if (done) {
            log_info("PostgreSQL store: applied schema migration %s", m->name);
            applied++;
        }
    }
    return applied;
}
