/* SPDX-License-Identifier: MIT */
/* test-replica.c - libcaresync's replica layer without a server: opening a home, the file modes
 * of a new replica, the device's merge of pulled versions (newer wins, ties by device id,
 * tombstones), the outbox (task writes, refusals, batches in order within their limits), purges
 * deferred while the outbox holds the person's changes, and the wipe of a revoked device. */
#include <sys/stat.h>

#include "caresync_int.h"
#include "db.h"
#include "harness.h"
#include "hlc.h"

#define DEV_A "01900000-0000-7000-8000-00000000000a"
#define DEV_B "01900000-0000-7000-8000-00000000000b"
#define ME    "01900000-0000-7000-8000-0000000000ff"

static unsigned home_n;

static void caresync_closep(struct caresync **c)
{
    caresync_close(*c);
}

/* A new home enrolled as device ME: the replica made as enrolment makes it, with the device id,
 * user and role that enrolment writes (a nurse). Returns NULL after an ASSERT failure. */
static struct caresync *enrolled_home(char path[static 4608])
{
    struct caresync *c = NULL;

    snprintf(path, 4608, "%s/home%u/sub", test_tmpdir(), ++home_n);
    if (caresync_open(path, &c) != CARESYNC_OK)
        return caresync_close(c);
    if (replica_create(c) != CARESYNC_OK || db_meta_set(c->db, "device_id", ME) < 0 ||
        db_meta_set(c->db, "user", "nurse.amira") < 0 || db_meta_set(c->db, "role", "nurse") < 0)
        return caresync_close(c);
    caresync_close(c);
    if (caresync_open(path, &c) != CARESYNC_OK)
        return caresync_close(c);
    return c;
}

static int count(struct caresync *c, const char *sql)
{
    uint64_t n = 0;

    if (replica_count(c->db, sql, &n) < 0)
        return -1;
    return (int)n;
}

static const char *field_of(struct caresync *c, const char *tbl, const char *id, const char *f,
                            char buf[static 256])
{
    cJSON *o = NULL;
    const cJSON *v;
    bool found;

    buf[0] = '\0';
    if (query_row(c->db, catalogue_table(tbl), id, &o) != 1)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(o, f);
    found = cJSON_IsString(v);
    if (found)
        snprintf(buf, 256, "%s", v->valuestring);
    cJSON_Delete(o);
    return found ? buf : NULL;
}

static int pull(struct caresync *c, const char *tbl, const char *row, const char *person,
                const char *field, const char *value, uint64_t hlc, const char *dev)
{
    const struct cat_table *t = catalogue_table(tbl);
    int r;

    if (db_exec(c->db, "BEGIN IMMEDIATE") < 0)
        return -EIO;
    r = apply_version(c, t, catalogue_field(t, field), row, person, value, hlc, dev);
    if (db_exec(c->db, r < 0 ? "ROLLBACK" : "COMMIT") < 0)
        return -EIO;
    return r;
}

TEST(open_without_home_or_enrolment)
{
    struct caresync *c = NULL;
    char path[4608];

    unsetenv("CARESYNC_HOME");
    ASSERT_EQ(caresync_open(NULL, &c), CARESYNC_EUSAGE);
    ASSERT_TRUE(strstr(caresync_errmsg(c), "--home") != NULL);
    c = caresync_close(c);
    snprintf(path, sizeof(path), "%s/never-enrolled", test_tmpdir());
    ASSERT_EQ(caresync_open(path, &c), CARESYNC_OK);
    ASSERT_EQ(cs_need_replica(c), CARESYNC_EUSAGE);
    ASSERT_TRUE(strstr(caresync_errmsg(c), "not enrolled") != NULL);
    ASSERT_TRUE(strstr(caresync_errmsg(c), "enrol --server") != NULL);
    /* Opening does not create anything. */
    ASSERT_TRUE(access(path, F_OK) < 0);
    caresync_close(c);
}

TEST(new_replica_is_private)
{
    struct caresync *c;
    char path[4608], db[4700];
    struct stat sb;

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(cs_need_replica(c), CARESYNC_OK);
    ASSERT_STREQ(c->device_id, ME);
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0700);
    /* The parent made for it is private too. */
    *strrchr(path, '/') = '\0';
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0700);
    snprintf(db, sizeof(db), "%s/sub/" CS_REPLICA_FILE, path);
    ASSERT_EQ(stat(db, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0600);
    caresync_close(c);
}

TEST(pulled_versions_merge_by_clock_then_device)
{
    _cleanup_(caresync_closep) struct caresync *c = NULL;
    char path[4608], buf[256], p[UUID_STR_MAX];
    uint64_t hlc;
    char dev[UUID_STR_MAX];

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_OK(uuid_v7(1764547200000, p));
    ASSERT_EQ(pull(c, "person", p, p, "name", "Doreen Ashworth", 1000, DEV_A), 1);
    ASSERT_STREQ(field_of(c, "person", p, "name", buf), "Doreen Ashworth");
    /* Older: ignored. Newer: replaces. */
    ASSERT_EQ(pull(c, "person", p, p, "name", "Old name", 999, DEV_B), 0);
    ASSERT_STREQ(field_of(c, "person", p, "name", buf), "Doreen Ashworth");
    ASSERT_EQ(pull(c, "person", p, p, "name", "Dee Ashworth", 1001, DEV_A), 1);
    ASSERT_STREQ(field_of(c, "person", p, "name", buf), "Dee Ashworth");
    /* The same clock: the higher device id wins, the lower loses, whatever the order. */
    ASSERT_EQ(pull(c, "person", p, p, "name", "By B", 1001, DEV_B), 1);
    ASSERT_EQ(pull(c, "person", p, p, "name", "By A again", 1001, DEV_A), 0);
    ASSERT_STREQ(field_of(c, "person", p, "name", buf), "By B");
    ASSERT_EQ(replica_read_version(c, "person", p, "name", &hlc, dev), 1);
    ASSERT_EQ(hlc, 1001);
    ASSERT_STREQ(dev, DEV_B);
    ASSERT_TRUE(hlc_version_cmp(1001, DEV_B, 1001, DEV_A) > 0);
    /* Other fields keep their own versions. */
    ASSERT_EQ(pull(c, "person", p, p, "phone", "01632 960000", 5, DEV_A), 1);
    ASSERT_STREQ(field_of(c, "person", p, "phone", buf), "01632 960000");
    ASSERT_EQ(replica_read_version(c, "person", p, NULL, &hlc, dev), 1);
    ASSERT_EQ(hlc, 1001);
    ASSERT_EQ(replica_read_version(c, "person", p, "email", &hlc, dev), 0);
    ASSERT_EQ(hlc, 0);
}

TEST(tombstone_hides_row_and_newer_undelete_restores)
{
    _cleanup_(caresync_closep) struct caresync *c = NULL;
    char path[4608], buf[256], p[UUID_STR_MAX], g[UUID_STR_MAX];

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_OK(uuid_v7(1764547200000, p));
    ASSERT_OK(uuid_v7(1764547200000, g));
    ASSERT_EQ(pull(c, "person", p, p, "name", "A Person", 10, DEV_A), 1);
    ASSERT_EQ(pull(c, "alert", g, p, "text", "Dog in the garden", 11, DEV_A), 1);
    ASSERT_STREQ(field_of(c, "alert", g, "text", buf), "Dog in the garden");
    ASSERT_EQ(pull(c, "alert", g, p, CAT_DELETED_FIELD, "1", 12, DEV_B), 1);
    ASSERT_NULL(field_of(c, "alert", g, "text", buf));
    /* An older undelete loses to the tombstone; a newer one brings the row back whole. */
    ASSERT_EQ(pull(c, "alert", g, p, CAT_DELETED_FIELD, "0", 11, DEV_B), 0);
    ASSERT_NULL(field_of(c, "alert", g, "text", buf));
    ASSERT_EQ(pull(c, "alert", g, p, CAT_DELETED_FIELD, "0", 13, DEV_A), 1);
    ASSERT_STREQ(field_of(c, "alert", g, "text", buf), "Dog in the garden");
}

static int insert_note(struct caresync *c, const char *person, const char *text,
                       char id[static UUID_STR_MAX])
{
    const struct outbox_field fs[] = {
        {"text", text},
        {"category", "visit"},
        {"author", "nurse.amira"},
        {"occurred_at", "2026-12-01T10:30:00Z"},
        {"recorded_at", "2026-12-01T10:35:00Z"},
    };
    int r = outbox_tx_begin(c);

    if (r != CARESYNC_OK)
        return r;
    r = outbox_new_id(c, id);
    if (r == CARESYNC_OK)
        r = outbox_insert(c, "note", person, id, fs, sizeof(fs) / sizeof(fs[0]));
    return outbox_tx_end(c, r);
}

TEST(outbox_writes_refusals_and_batches)
{
    _cleanup_(caresync_closep) struct caresync *c = NULL;
    struct outbox_batch b = {0};
    char path[4608], buf[256], p[UUID_STR_MAX], n1[UUID_STR_MAX], n2[UUID_STR_MAX];
    int before;

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_OK(uuid_v7(1764547200000, p));
    ASSERT_EQ(pull(c, "person", p, p, "name", "A Person", 10, DEV_A), 1);
    /* A note for someone not in the replica is refused and writes nothing. */
    {
        char other[UUID_STR_MAX];

        ASSERT_OK(uuid_v7(1764547200000, other));
        ASSERT_EQ(insert_note(c, other, "lost?", n1), CARESYNC_ENOTFOUND);
        ASSERT_EQ(count(c, "SELECT count(*) FROM outbox"), 0);
    }
    ASSERT_EQ(insert_note(c, p, "First visit", n1), CARESYNC_OK);
    ASSERT_EQ(insert_note(c, p, "Second visit", n2), CARESYNC_OK);
    ASSERT_STREQ(field_of(c, "note", n1, "text", buf), "First visit");
    before = count(c, "SELECT count(*) FROM outbox");
    ASSERT_EQ(before, 10);
    /* Edits: a server field and a set-once field are refused; an unchanged value writes nothing. */
    ASSERT_EQ(outbox_tx_begin(c), CARESYNC_OK);
    ASSERT_EQ(outbox_set(c, "person", p, "nhs_number", "9912003888"), CARESYNC_EUSAGE);
    ASSERT_EQ(outbox_set(c, "note", n1, "text", "rewritten"), CARESYNC_EUSAGE);
    ASSERT_EQ(outbox_set(c, "person", p, "name", "A Person"), CARESYNC_OK);
    ASSERT_EQ(outbox_set(c, "person", p, "phone", "not checked?"), CARESYNC_OK);
    ASSERT_EQ(outbox_tx_end(c, CARESYNC_OK), CARESYNC_OK);
    ASSERT_EQ(count(c, "SELECT count(*) FROM outbox"), before + 1);
    /* Batches: in order, within the count and byte limits, at least one whatever the limit. */
    ASSERT_OK(outbox_load(c, 0, 100, 1 << 20, &b));
    ASSERT_EQ(b.n, (size_t)before + 1);
    for (size_t i = 0; i < b.n; i++)
        ASSERT_STREQ(b.v[i].row_id, i < 5 ? n1 : i < 10 ? n2 : p);
    outbox_batch_done(&b);
    ASSERT_OK(outbox_load(c, 0, 3, 1 << 20, &b));
    ASSERT_EQ(b.n, 3);
    {
        int64_t last = b.last;

        outbox_batch_done(&b);
        ASSERT_OK(outbox_load(c, last, 100, 1 << 20, &b));
        ASSERT_EQ(b.n, (size_t)before + 1 - 3);
        ASSERT_EQ(b.after, last);
    }
    outbox_batch_done(&b);
    ASSERT_OK(outbox_load(c, 0, 100, 1, &b));
    ASSERT_EQ(b.n, 1);
    outbox_batch_done(&b);
}

TEST(purge_waits_for_the_outbox)
{
    _cleanup_(caresync_closep) struct caresync *c = NULL;
    char path[4608], buf[256], p[UUID_STR_MAX], q[UUID_STR_MAX], n[UUID_STR_MAX];

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_OK(uuid_v7(1764547200000, p));
    ASSERT_OK(uuid_v7(1764547200000, q));
    ASSERT_EQ(pull(c, "person", p, p, "name", "Kept until sent", 10, DEV_A), 1);
    ASSERT_EQ(pull(c, "person", q, q, "name", "Nothing unsent", 10, DEV_A), 1);
    ASSERT_EQ(insert_note(c, p, "unsent words", n), CARESYNC_OK);
    ASSERT_OK(db_exec(c->db, "BEGIN IMMEDIATE"));
    ASSERT_EQ(apply_purge(c->db, p), 0); /* deferred: the note is not on the server yet */
    ASSERT_EQ(apply_purge(c->db, q), 1);
    ASSERT_OK(db_exec(c->db, "COMMIT"));
    ASSERT_STREQ(field_of(c, "note", n, "text", buf), "unsent words");
    ASSERT_NULL(field_of(c, "person", q, "name", buf));
    ASSERT_EQ(count(c, "SELECT count(*) FROM pending_purge"), 1);
    /* Still pending while the outbox holds the note; purged once it is gone. */
    ASSERT_EQ(apply_pending_purges(c->db), 0);
    ASSERT_OK(db_exec(c->db, "DELETE FROM outbox")); /* what an acknowledged push does */
    ASSERT_EQ(apply_pending_purges(c->db), 1);
    ASSERT_NULL(field_of(c, "note", n, "text", buf));
    ASSERT_NULL(field_of(c, "person", p, "name", buf));
    ASSERT_EQ(count(c, "SELECT count(*) FROM field_version"), 0);
    ASSERT_EQ(count(c, "SELECT count(*) FROM pending_purge"), 0);
}

TEST(wipe_leaves_nothing)
{
    struct caresync *c;
    char path[4608], f[4700], p[UUID_STR_MAX];

    c = enrolled_home(path);
    ASSERT_NOT_NULL(c);
    ASSERT_OK(uuid_v7(1764547200000, p));
    ASSERT_EQ(pull(c, "person", p, p, "name", "To be wiped", 10, DEV_A), 1);
    snprintf(f, sizeof(f), "%s/" CS_TOKEN_FILE, path);
    {
        FILE *t = fopen(f, "w");

        ASSERT_NOT_NULL(t);
        fputs("cs1_secret", t);
        fclose(t);
    }
    ASSERT_OK(cs_wipe(c));
    ASSERT_TRUE(access(f, F_OK) < 0);
    for (const char *const *s = (const char *const[]){"", "-wal", "-shm", "-journal", NULL}; *s;
         s++) {
        snprintf(f, sizeof(f), "%s/" CS_REPLICA_FILE "%s", path, *s);
        ASSERT_TRUE(access(f, F_OK) < 0);
    }
    ASSERT_EQ(cs_need_replica(c), CARESYNC_EUSAGE);
    caresync_close(c);
}
