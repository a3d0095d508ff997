/* SPDX-License-Identifier: MIT */
/* test-sql.c - the SQLite driver for sql.h (daemon/sqlite_sql.c) over a real SQLite file: the
 * portable subset (?N parameters, ON CONFLICT, RETURNING), the errno table, the one statement
 * cache that sql_prepare() and the SQLite backend's raw view share, and NULL handling. */
#include "harness.h"

#include <sqlite3.h>

#include "db.h"
#include "sqlite_sql.h"

static struct sql *open_sql(const char *name)
{
    char path[4200];
    sqlite3 *db = NULL;
    struct sql *sql = NULL;

    snprintf(path, sizeof(path), "%s/%s.db", test_tmpdir(), name);
    if (db_open(path, DB_OPEN_CREATE, &db) < 0)
        return NULL;
    if (sqlite_sql_open(db, &sql) < 0) {
        sqlite3_close_v2(db);
        return NULL;
    }
    if (sql_exec(sql, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                      " n INTEGER CHECK (n >= 0), note TEXT)") < 0) {
        sql_close(sql);
        return NULL;
    }
    return sql;
}

static const char INSERT[] = "INSERT INTO t(name, n, note) VALUES(?1, ?2, ?3) RETURNING id";

TEST(driver_is_sqlite)
{
    struct sql *db = open_sql("dialect");

    ASSERT_NOT_NULL(db);
    ASSERT_EQ(sql_dialect(db), SQL_SQLITE);
    ASSERT_STREQ(db->drv->name, "sqlite");
    sql_close(db);
}

TEST(returning_and_types)
{
    struct sql *db = open_sql("returning");
    struct sql_stmt *st;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(sql_prepare(db, INSERT, &st));
    sql_bind_text(st, 1, "ann");
    sql_bind_int64(st, 2, INT64_C(1) << 40);
    sql_bind_text(st, 3, NULL);
    ASSERT_EQ(sql_step(st), SQL_ROW);
    ASSERT_EQ(sql_column_type(st, 0), SQL_INTEGER);
    ASSERT_EQ(sql_column_int64(st, 0), 1);
    ASSERT_EQ(sql_step(st), SQL_DONE);
    sql_reset(st);
    ASSERT_EQ(sql_changes(db), 1);

    ASSERT_OK(sql_prepare(db, "SELECT name, n, note, CAST(?1 AS TEXT) FROM t WHERE id = ?1", &st));
    sql_bind_int64(st, 1, 1);
    ASSERT_EQ(sql_step(st), SQL_ROW);
    ASSERT_EQ(sql_column_type(st, 0), SQL_TEXT);
    ASSERT_STREQ(sql_column_text(st, 0), "ann");
    ASSERT_EQ(sql_column_int64(st, 1), INT64_C(1) << 40);
    ASSERT_EQ(sql_column_type(st, 2), SQL_NULL);
    ASSERT_NULL(sql_column_text(st, 2));
    ASSERT_EQ(sql_column_int64(st, 2), 0);
    ASSERT_STREQ(sql_column_text(st, 3), "1");
    sql_reset(st);
    sql_close(db);
}

TEST(errno_table)
{
    struct sql *db = open_sql("errno");
    struct sql_stmt *st;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(sql_prepare(db, "INSERT INTO t(name, n) VALUES(?, ?)", &st));
    sql_bind_text(st, 1, "ann");
    sql_bind_int64(st, 2, 1);
    ASSERT_OK(sql_step_done(st));
    /* A unique constraint: -EEXIST; CHECK and NOT NULL: -EINVAL. Nothing written. */
    ASSERT_OK(sql_prepare(db, "INSERT INTO t(name, n) VALUES(?, ?)", &st));
    sql_bind_text(st, 1, "ann");
    sql_bind_int64(st, 2, 2);
    ASSERT_ERRNO(sql_step_done(st), -EEXIST);
    ASSERT_OK(sql_prepare(db, "INSERT INTO t(name, n) VALUES(?, ?)", &st));
    sql_bind_text(st, 1, "bob");
    sql_bind_int64(st, 2, -1);
    ASSERT_ERRNO(sql_step_done(st), -EINVAL);
    ASSERT_OK(sql_prepare(db, "INSERT INTO t(name, n) VALUES(?, ?)", &st));
    sql_bind_text(st, 1, NULL);
    sql_bind_int64(st, 2, 1);
    ASSERT_ERRNO(sql_step_done(st), -EINVAL);
    /* A statement that returns a row where none was expected. */
    ASSERT_OK(sql_prepare(db, "SELECT count(*) FROM t", &st));
    ASSERT_ERRNO(sql_step_done(st), -EPROTO);
    ASSERT_OK(sql_prepare(db, "SELECT count(*) FROM t", &st));
    ASSERT_EQ(sql_step(st), SQL_ROW);
    ASSERT_EQ(sql_column_int64(st, 0), 1);
    sql_reset(st);
    /* SQL that does not prepare is an error, not a crash. */
    ASSERT_ERRNO(sql_prepare(db, "SELEKT 1", &st), -EIO);
    ASSERT_ERRNO(sql_exec(db, "INSERT INTO nowhere VALUES(1)"), -EIO);
    sql_close(db);
}

TEST(on_conflict)
{
    static const char up[] = "INSERT INTO t(name, n) VALUES(?, ?) ON CONFLICT (name) DO UPDATE"
                             " SET n = excluded.n";
    static const char ignore[] = "INSERT INTO t(name, n) VALUES(?, ?) ON CONFLICT DO NOTHING";
    struct sql *db = open_sql("conflict");
    struct sql_stmt *st;

    ASSERT_NOT_NULL(db);
    for (int i = 1; i <= 2; i++) {
        ASSERT_OK(sql_prepare(db, up, &st));
        sql_bind_text(st, 1, "ann");
        sql_bind_int64(st, 2, i);
        ASSERT_OK(sql_step_done(st));
    }
    ASSERT_OK(sql_prepare(db, ignore, &st));
    sql_bind_text(st, 1, "ann");
    sql_bind_int64(st, 2, 7);
    ASSERT_OK(sql_step_done(st));
    ASSERT_EQ(sql_changes(db), 0);
    ASSERT_OK(sql_prepare(db, "SELECT n, count(*) FROM t", &st));
    ASSERT_EQ(sql_step(st), SQL_ROW);
    ASSERT_EQ(sql_column_int64(st, 0), 2);
    ASSERT_EQ(sql_column_int64(st, 1), 1);
    sql_reset(st);
    sql_close(db);
}

/* One cache: the same literal gives the same statement, reset and unbound, to every
 * sql_prepare(); rows not read are dropped by the next prepare. */
TEST(one_cache)
{
    static const char q[] = "SELECT id FROM t WHERE ?1 IS NULL OR name = ?1 ORDER BY id";
    struct sql *db = open_sql("cache");
    struct sql_stmt *a, *b;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(sql_exec(db, "INSERT INTO t(name) VALUES('a'), ('b'), ('c')"));
    ASSERT_OK(sql_prepare(db, q, &a));
    sql_bind_text(a, 1, "b");
    ASSERT_EQ(sql_step(a), SQL_ROW);
    ASSERT_EQ(sql_column_int64(a, 0), 2);
    /* Mid-run: prepared again, it starts over with no bindings (all three rows). */
    ASSERT_OK(sql_prepare(db, q, &b));
    ASSERT_TRUE(a == b);
    for (int i = 1; i <= 3; i++) {
        ASSERT_EQ(sql_step(b), SQL_ROW);
        ASSERT_EQ(sql_column_int64(b, 0), i);
    }
    ASSERT_EQ(sql_step(b), SQL_DONE);
    /* The same text at another address is another statement. */
    {
        char copy[sizeof(q)];

        memcpy(copy, q, sizeof(q));
        ASSERT_OK(sql_prepare(db, copy, &b));
        ASSERT_TRUE(a != b);
        sql_reset(b);
    }
    sql_reset(NULL); /* a no-op, as sqlite3_reset(NULL) */
    sql_close(db);
    sql_close(NULL);
}

/* Parameters bound by number may repeat, and a text parameter is borrowed until the reset. */
TEST(numbered_parameters)
{
    struct sql *db = open_sql("params");
    struct sql_stmt *st;
    char name[8] = "zed";

    ASSERT_NOT_NULL(db);
    ASSERT_OK(sql_prepare(db, "INSERT INTO t(name, note) VALUES(?1, ?1 || ?2)", &st));
    sql_bind_text(st, 1, name);
    sql_bind_text(st, 2, "!");
    ASSERT_OK(sql_step_done(st));
    memcpy(name, "xxx", 4);
    ASSERT_OK(sql_prepare(db, "SELECT note FROM t WHERE name = 'zed'", &st));
    ASSERT_EQ(sql_step(st), SQL_ROW);
    ASSERT_STREQ(sql_column_text(st, 0), "zed!");
    sql_reset(st);
    sql_close(db);
}
