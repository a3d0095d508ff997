/* SPDX-License-Identifier: MIT */
/* test-schema.c - the embedded migrations: a fresh client replica has a column for every
 * catalogue field, migrating twice is a no-op, and a file newer than the program is refused. */
#include <stdio.h>
#include <string.h>

#include "catalogue.h"
#include "db.h"
#include "harness.h"
#include "schema.h"

static void open_fresh(const char *name, sqlite3 **ret)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    (void)remove(path);
    ASSERT_OK(db_open(path, DB_OPEN_CREATE, ret));
}

static int64_t user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (db_prepare(db, "PRAGMA user_version", &st) == 0 && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool has_column(sqlite3 *db, const char *table, const char *column)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char *sql = sqlite3_mprintf("PRAGMA table_info(%Q)", table);
    bool found = false;

    if (!sql || db_prepare(db, sql, &st) < 0) {
        sqlite3_free(sql);
        return false;
    }
    sqlite3_free(sql);
    while (sqlite3_step(st) == SQLITE_ROW)
        if (strcmp((const char *)sqlite3_column_text(st, 1), column) == 0)
            found = true;
    return found;
}

static int64_t count_objects(sqlite3 *db)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (db_prepare(db, "SELECT count(*) FROM sqlite_schema", &st) < 0 ||
        sqlite3_step(st) != SQLITE_ROW)
        return -1;
    return sqlite3_column_int64(st, 0);
}

TEST(client_has_every_catalogue_field)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    unsigned missing = 0;

    open_fresh("replica.db", &db);
    CHECK_PASSING();
    ASSERT_GT(schema_client_count, 0);
    ASSERT_EQ(db_migrate(db, schema_client, schema_client_count), (int)schema_client_count);
    ASSERT_EQ(user_version(db), (int64_t)schema_client_count);
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];

        if (!has_column(db, t->name, "id")) {
            fprintf(stderr, "replica table %s has no column id\n", t->name);
            missing++;
        }
        for (size_t j = 0; j < t->n_fields; j++) {
            if (!has_column(db, t->name, t->fields[j].name)) {
                fprintf(stderr, "replica table %s has no column %s\n", t->name,
                        t->fields[j].name);
                missing++;
            }
        }
    }
    ASSERT_EQ(missing, 0);
}

static void migrate_twice(const struct schema_migration *m, size_t n, const char *file)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    int64_t objects;

    open_fresh(file, &db);
    CHECK_PASSING();
    ASSERT_EQ(db_migrate(db, m, n), (int)n);
    objects = count_objects(db);
    ASSERT_GT(objects, 0);
    ASSERT_EQ(db_migrate(db, m, n), 0);
    ASSERT_EQ(db_migrate(db, m, n), 0);
    ASSERT_EQ(count_objects(db), objects);
    ASSERT_EQ(user_version(db), (int64_t)n);
}

TEST(client_migrations_twice_are_a_no_op)
{
    migrate_twice(schema_client, schema_client_count, "replica-twice.db");
}

TEST(server_migrations_twice_are_a_no_op)
{
    migrate_twice(schema_server, schema_server_count, "store-twice.db");
}

TEST(newer_file_is_refused)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    char pragma[64];

    open_fresh("future.db", &db);
    CHECK_PASSING();
    ASSERT_OK(db_migrate(db, schema_client, schema_client_count));
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", schema_client_count + 1);
    ASSERT_OK(db_exec(db, pragma));
    ASSERT_ERRNO(db_migrate(db, schema_client, schema_client_count), -EPROTO);
    ASSERT_EQ(user_version(db), (int64_t)schema_client_count + 1);
}

TEST(migrations_are_named_in_order)
{
    for (size_t i = 0; i < schema_client_count; i++) {
        char want[32];

        snprintf(want, sizeof(want), "%04zu_", i + 1);
        ASSERT_TRUE(strncmp(schema_client[i].name, want, 5) == 0);
    }
    for (size_t i = 0; i < schema_server_count; i++) {
        char want[32];

        snprintf(want, sizeof(want), "%04zu_", i + 1);
        ASSERT_TRUE(strncmp(schema_server[i].name, want, 5) == 0);
    }
}

TEST(server_has_the_tables_the_store_uses)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    static const char *const cols[][2] = {
        {"field_state", "seq"},      {"change_log", "change_id"}, {"change_log", "outcome"},
        {"conflicts", "kind"},       {"assignments", "end_seq"},  {"devices", "token_hash"},
        {"enrol_codes", "code_hash"}, {"meta", "value"},
    };

    open_fresh("store-cols.db", &db);
    CHECK_PASSING();
    ASSERT_OK(db_migrate(db, schema_server, schema_server_count));
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        if (!has_column(db, cols[i][0], cols[i][1]))
            fprintf(stderr, "server table %s has no column %s\n", cols[i][0], cols[i][1]);
        ASSERT_TRUE(has_column(db, cols[i][0], cols[i][1]));
    }
}

/* A replica made by the first release, with a person and a pending edit, upgrades in place:
 * every later migration keeps its rows and its outbox (offline work survives an upgrade). */
TEST(client_upgrade_keeps_rows_and_outbox)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (schema_client_count < 2) {
        fprintf(stderr, "only one client migration: nothing to upgrade\n");
        return;
    }
    open_fresh("upgrade.db", &db);
    CHECK_PASSING();
    ASSERT_EQ(db_migrate(db, schema_client, 1), 1);
    ASSERT_OK(db_exec(db, "INSERT INTO person(id, person_id, name, phone) VALUES"
                          " ('0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f',"
                          " '0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f', 'Ada Example', '0131');"
                          "INSERT INTO outbox(change_id, tbl, row_id, person_id, field, value,"
                          " hlc, created_ms) VALUES ('0193c6b2-6a4e-7c4d-9b1e-000000000c01',"
                          " 'person', '0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f',"
                          " '0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f', 'phone', '0131', 42, 1)"));
    ASSERT_EQ(db_migrate(db, schema_client, schema_client_count), (int)schema_client_count - 1);
    ASSERT_EQ(user_version(db), (int64_t)schema_client_count);
    ASSERT_OK(db_prepare(db, "SELECT p.name, p.phone, o.value, o.hlc FROM person p, outbox o"
                             " WHERE p.id = o.row_id", &st));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_STREQ((const char *)sqlite3_column_text(st, 0), "Ada Example");
    ASSERT_STREQ((const char *)sqlite3_column_text(st, 1), "0131");
    ASSERT_STREQ((const char *)sqlite3_column_text(st, 2), "0131");
    ASSERT_EQ(sqlite3_column_int64(st, 3), 42);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
}
