/* SPDX-License-Identifier: MIT */
/* test-audit.c - the audit log: every kind of event is written, the hash chain verifies, and
 * editing, deleting or reordering a row is detected; one person's trail exports. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "hlc.h"
#include "store.h"

static char dbpath[4200];

static int q_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_open(dbpath, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static int tamper(const char *sql)
{
    sqlite3 *db;
    int rc;

    if (sqlite3_open(dbpath, &db) != SQLITE_OK)
        return -1;
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* A store with two users, a person, an enrolled device, a sync with one edit and a resolution. */
static void populate(struct store *s, char pid[static UUID_STR_MAX])
{
    struct store_person_fields pf = {.name = "Audit Person", .phone = "01632 960001"};
    struct store_enrolment e;
    struct store_principal p;
    struct store_error err;
    struct change_record c = {0};
    char code[STORE_CODE_MAX];
    const char *why, *which;
    cJSON *resp = NULL;

    ASSERT_OK(store_user_add(s, "nurse.ann", "nurse"));
    ASSERT_OK(store_user_add(s, "coord.cal", "coordinator"));
    ASSERT_OK(store_person_add(s, &pf, pid, &why));
    ASSERT_EQ(store_assign(s, pid, "nurse.ann", &which), 1);
    ASSERT_OK(store_enrol_code_new(s, "nurse.ann", 600, code));
    ASSERT_OK(store_enrol(s, code, "tablet", "test", &e));
    ASSERT_OK(store_authenticate(s, e.token, &p));
    ASSERT_OK(store_sync(s, &p, NULL, 0, "", true, 0, NULL, &resp, &err));
    cJSON_Delete(resp);
    ASSERT_OK(uuid_v7(hlc_wall_ms(), c.change_id));
    c.table = catalogue_table("person");
    c.field = catalogue_field(c.table, "phone");
    memcpy(c.row_id, pid, UUID_STR_MAX);
    memcpy(c.person_id, pid, UUID_STR_MAX);
    c.value = strdup("01632 960002");
    c.hlc = hlc_pack(hlc_wall_ms(), 7);
    ASSERT_OK(store_sync(s, &p, &c, 1, "", true, 0, NULL, &resp, &err));
    cJSON_Delete(resp);
    free(c.value);
    ASSERT_EQ(store_device_revoke(s, p.device_id), 1);
    ASSERT_EQ(store_unassign(s, pid, "nurse.ann", &which), 1);
}

TEST(events_chain_and_verify)
{
    struct store *s = NULL;
    char pid[UUID_STR_MAX];
    int64_t rows = 0, bad = 0;

    snprintf(dbpath, sizeof(dbpath), "%s/audit.db", test_tmpdir());
    ASSERT_OK(store_open(dbpath, true, &s));
    populate(s, pid);
    ASSERT_OK(store_audit_verify(s, &rows, &bad));
    ASSERT_TRUE(rows >= 8);
    store_free(s);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'user_add'"), 2);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'enrol'"), 1);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'revoke'"), 1);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'assign'"), 1);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'unassign'"), 1);
    ASSERT_TRUE(q_int("SELECT count(*) FROM audit WHERE kind = 'pull'") >= 1);
    /* person add (two fields) and the device's edit, with before and after */
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'change'"), 3);
    ASSERT_EQ(q_int("SELECT count(*) FROM audit, json_each(audit.detail, '$.changes') c"
                    " WHERE kind = 'change' AND"
                    " json_extract(c.value, '$.before') = '01632 960001' AND"
                    " json_extract(c.value, '$.after') = '01632 960002'"),
              1);
    /* each event lists its changes and says when the server recorded them */
    ASSERT_EQ(q_int("SELECT count(*) FROM audit WHERE kind = 'change' AND"
                    " (json_array_length(detail, '$.changes') < 1 OR"
                    "  json_extract(detail, '$.recorded_at') IS NULL)"),
              0);
    /* the triggers refuse casual edits */
    ASSERT_TRUE(tamper("UPDATE audit SET kind = 'x' WHERE id = 1") != SQLITE_OK);
    ASSERT_TRUE(tamper("DELETE FROM audit WHERE id = 1") != SQLITE_OK);
}

static void expect_broken(int64_t want_id)
{
    struct store *s = NULL;
    int64_t rows = 0, bad = 0;

    ASSERT_OK(store_open(dbpath, false, &s));
    ASSERT_ERRNO(store_audit_verify(s, &rows, &bad), -EBADMSG);
    ASSERT_EQ(bad, want_id);
    store_free(s);
}

TEST(edited_row_is_detected)
{
    struct store *s = NULL;
    char pid[UUID_STR_MAX];

    snprintf(dbpath, sizeof(dbpath), "%s/edit.db", test_tmpdir());
    ASSERT_OK(store_open(dbpath, true, &s));
    populate(s, pid);
    store_free(s);
    /* Someone with the file drops the triggers and rewrites history. */
    ASSERT_EQ(tamper("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
                     " UPDATE audit SET detail = replace(detail, '01632 960002', '01632 960666')"
                     " WHERE kind = 'change' AND detail LIKE '%960002%'"),
              SQLITE_OK);
    expect_broken(q_int("SELECT min(id) FROM audit WHERE detail LIKE '%960666%'"));
}

TEST(deleted_row_is_detected)
{
    struct store *s = NULL;
    char pid[UUID_STR_MAX];

    snprintf(dbpath, sizeof(dbpath), "%s/delete.db", test_tmpdir());
    ASSERT_OK(store_open(dbpath, true, &s));
    populate(s, pid);
    store_free(s);
    ASSERT_EQ(tamper("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 3"), SQLITE_OK);
    expect_broken(3);
}

TEST(rehashed_row_still_breaks_the_next_link)
{
    struct store *s = NULL;
    char pid[UUID_STR_MAX];

    snprintf(dbpath, sizeof(dbpath), "%s/rehash.db", test_tmpdir());
    ASSERT_OK(store_open(dbpath, true, &s));
    populate(s, pid);
    store_free(s);
    /* Editing a row and giving it any new hash cannot match its successor's prev_hash. */
    ASSERT_EQ(tamper("DROP TRIGGER audit_no_update;"
                     " UPDATE audit SET actor_user = 'someone', hash = prev_hash WHERE id = 2"),
              SQLITE_OK);
    expect_broken(2);
}

TEST(person_trail_exports)
{
    struct store *s = NULL;
    char pid[UUID_STR_MAX];
    cJSON *trail = NULL, *it;
    int n = 0, assigns = 0;

    snprintf(dbpath, sizeof(dbpath), "%s/export.db", test_tmpdir());
    ASSERT_OK(store_open(dbpath, true, &s));
    populate(s, pid);
    ASSERT_OK(store_audit_export(s, pid, &trail));
    cJSON_ArrayForEach(it, trail) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "person_id");

        ASSERT_TRUE(cJSON_IsString(p) && strcmp(p->valuestring, pid) == 0);
        ASSERT_TRUE(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(it, "detail")));
        if (cJSON_IsString(k) && strcmp(k->valuestring, "assign") == 0)
            assigns++;
        n++;
    }
    ASSERT_TRUE(n >= 5);
    ASSERT_EQ(assigns, 1);
    cJSON_Delete(trail);
    store_free(s);
}

