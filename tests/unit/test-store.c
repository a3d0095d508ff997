/* SPDX-License-Identifier: MIT */
/* test-store.c - the server store through its public interface: staff, enrolment and tokens,
 * people and assignments, and store_sync's merge (sequential and concurrent edits in both
 * arrival orders, replays, tombstones, out-of-scope edits, far-future clocks), pull paging,
 * full state on assignment, purge on unassignment and conflict resolution. The store file is
 * inspected with a separate read-only SQLite connection. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "hlc.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* ---- inspecting the store file ---- */

static sqlite3 *ro_open(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s read-only: %s\n", path, sqlite3_errmsg(db));
        abort();
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* q_int() - the first column of the first row of a printf-style (sqlite3_mprintf) query. */
static int64_t q_int(const char *path, const char *fmt, ...)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = ro_open(path);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int64_t v = -1;
    va_list ap;
    char *sql;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (db_prepare(db, sql, &st) < 0) {
        fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(db));
        abort();
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_free(sql);
    return v;
}

/* q_text() - as q_int() for text; malloc'd, NULL for no row or SQL NULL. */
static char *q_text(const char *path, const char *fmt, ...)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = ro_open(path);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char *v = NULL, *sql;
    va_list ap;
    bool oom = false;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (db_prepare(db, sql, &st) < 0) {
        fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(db));
        abort();
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = db_column_strdup(st, 0, &oom);
    sqlite3_free(sql);
    return v;
}

/* ---- fixture: a store with alice (nurse), bob (link worker), cora (coordinator) and one
 * person, P, assigned to alice and bob ---- */

struct fixture {
    char path[4200];
    struct store *s;
    struct store_principal alice, bob, cora;
    char p[UUID_STR_MAX];
    char node[UUID_STR_MAX];
};

static void fixture_done(struct fixture *f)
{
    f->s = store_free(f->s);
}

static void enrol(struct store *s, const char *user, struct store_principal *ret)
{
    char code[STORE_CODE_MAX];
    struct store_enrolment e;

    ASSERT_OK(store_enrol_code_new(s, user, 3600, code));
    ASSERT_OK(store_enrol(s, code, "unit-test", "0.1.0", &e));
    ASSERT_OK(store_authenticate(s, e.token, ret));
    ASSERT_STREQ(ret->device_id, e.device_id);
}

static void fixture_open(struct fixture *f, const char *name)
{
    const struct store_person_fields pf = {.name = "Ada Example", .phone = "0131 000 0000",
                                           .birth_date = "1944-02-29"};
    const char *why = NULL, *which = NULL;

    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/%s.db", test_tmpdir(), name);
    (void)remove(f->path);
    ASSERT_OK(store_open(f->path, true, &f->s));
    snprintf(f->node, sizeof(f->node), "%s", store_node_id(f->s));
    ASSERT_TRUE(uuid_valid(f->node));
    ASSERT_OK(store_user_add(f->s, "alice", "nurse"));
    ASSERT_OK(store_user_add(f->s, "bob", "link_worker"));
    ASSERT_OK(store_user_add(f->s, "cora", "coordinator"));
    enrol(f->s, "alice", &f->alice);
    CHECK_PASSING();
    enrol(f->s, "bob", &f->bob);
    CHECK_PASSING();
    enrol(f->s, "cora", &f->cora);
    CHECK_PASSING();
    ASSERT_OK(store_person_add(f->s, &pf, f->p, &why));
    ASSERT_EQ(store_assign(f->s, f->p, "alice", &which), 1);
    ASSERT_EQ(store_assign(f->s, f->p, "bob", &which), 1);
}

#define FIXTURE(f, name)                                                                           \
    _cleanup_(fixture_done) struct fixture f;                                                      \
    fixture_open(&f, name);                                                                        \
    CHECK_PASSING()

/* ---- building pushed changes ---- */

struct batch {
    struct change_record c[640];
    size_t n;
};

static void batch_done(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        wire_change_done(&b->c[i]);
    b->n = 0;
}

/* Append one change. @base_dev NULL = the device held no version. */
static void add(struct batch *b, const char *change_id, const char *table, const char *row,
                const char *person, const char *field, const char *value, uint64_t hlc,
                uint64_t base_hlc, const char *base_dev)
{
    struct change_record *c = &b->c[b->n++];

    memset(c, 0, sizeof(*c));
    snprintf(c->change_id, sizeof(c->change_id), "%s", change_id);
    c->table = catalogue_table(table);
    c->field = catalogue_field(c->table, field);
    if (!c->table || !c->field)
        abort();
    snprintf(c->row_id, sizeof(c->row_id), "%s", row);
    snprintf(c->person_id, sizeof(c->person_id), "%s", person);
    c->value = value ? strdup(value) : NULL;
    c->hlc = hlc;
    if (base_dev) {
        c->base_hlc = base_hlc;
        snprintf(c->base_device, sizeof(c->base_device), "%s", base_dev);
    }
}

static void new_id(char id[static UUID_STR_MAX])
{
    if (uuid_v7(hlc_wall_ms(), id) < 0)
        abort();
}

/* A clock @ago_ms before now (plausible), distinct per @n. */
static uint64_t past(uint64_t ago_ms, unsigned n)
{
    return hlc_pack(hlc_wall_ms() - ago_ms, n);
}

/* A clock @ms after now: later than anything the fixture wrote, and well within the 5-minute
 * far-future bound. Edits must be stamped after their base, as a real device's clock is. */
static uint64_t ahead(uint64_t ms, unsigned n)
{
    return hlc_pack(hlc_wall_ms() + ms, n);
}

/* ---- calling store_sync ---- */

static int do_sync(struct fixture *f, const struct store_principal *p, struct batch *b,
                   const char *cursor, bool pull, cJSON **ret, struct store_error *err)
{
    struct store_error e = {0};
    int r = store_sync(f->s, p, b ? b->c : NULL, b ? b->n : 0, cursor, pull, 0, "0.1.0", ret,
                       &e);

    if (r < 0 && !err)
        fprintf(stderr, "store_sync(%s): %d %s: %s (index %ld)\n", p->user, r,
                e.code ? e.code : "?", e.message, e.index);
    if (err)
        *err = e;
    return r;
}

#define SYNC(f, p, b, cursor, ret) ASSERT_OK(do_sync(&(f), &(p), (b), (cursor), true, (ret), NULL))

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *outcome(const cJSON *resp, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(resp, "outcomes"), i);
}

static const char *outcome_str(const cJSON *resp, int i)
{
    return jstr(outcome(resp, i), "outcome");
}

static bool jtrue(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The pulled field state for (table, row, field) in a response, or NULL. */
static const cJSON *pulled(const cJSON *resp, const char *table, const char *row,
                           const char *field)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp, "changes")) {
        const char *t = jstr(it, "table"), *r = jstr(it, "row_id"), *fl = jstr(it, "field");

        if (t && r && fl && streq(t, table) && streq(r, row) && streq(fl, field))
            return it;
    }
    return NULL;
}

static bool purges(const cJSON *resp, const char *person)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp, "purge"))
        if (cJSON_IsString(it) && streq(it->valuestring, person))
            return true;
    return false;
}

static char *cursor_of(const cJSON *resp)
{
    const char *c = jstr(resp, "cursor");

    return strdup(c ? c : "");
}

static void field_version(struct fixture *f, const char *tbl, const char *row, const char *field,
                          uint64_t *hlc, char dev[static UUID_STR_MAX])
{
    _cleanup_free_ char *d = NULL;

    *hlc = (uint64_t)q_int(f->path,
                           "SELECT hlc FROM field_state WHERE tbl=%Q AND row_id=%Q AND field=%Q",
                           tbl, row, field);
    d = q_text(f->path,
               "SELECT device FROM field_state WHERE tbl=%Q AND row_id=%Q AND field=%Q", tbl,
               row, field);
    ASSERT_NOT_NULL(d);
    snprintf(dev, UUID_STR_MAX, "%s", d);
}

static char *field_value(struct fixture *f, const char *tbl, const char *row, const char *field)
{
    return q_text(f->path, "SELECT value FROM field_state WHERE tbl=%Q AND row_id=%Q AND field=%Q",
                  tbl, row, field);
}

static int64_t count(struct fixture *f, const char *table)
{
    return q_int(f->path, "SELECT count(*) FROM %s", table);
}

/* ======================================================================================== */

TEST(users_enrolment_and_tokens)
{
    char path[4200], code[STORE_CODE_MAX], code2[STORE_CODE_MAX], mangled[64];
    char sha[SHA256_HEX_MAX];
    struct store *s = NULL;
    struct store_enrolment e, e2;
    struct store_principal p;
    size_t j = 0;

    snprintf(path, sizeof(path), "%s/enrol.db", test_tmpdir());
    ASSERT_ERRNO(store_open(path, false, &s), -ENOENT);
    ASSERT_OK(store_open(path, true, &s));
    ASSERT_OK(store_user_add(s, "alice", "nurse"));
    ASSERT_ERRNO(store_user_add(s, "alice", "nurse"), -EEXIST);
    ASSERT_ERRNO(store_user_add(s, "mallory", "wizard"), -EINVAL);
    ASSERT_ERRNO(store_user_add(s, "", "nurse"), -EINVAL);
    ASSERT_TRUE(store_role_valid("link_worker"));
    ASSERT_FALSE(store_role_valid("Nurse"));
    ASSERT_TRUE(store_role_is_coordinator("coordinator"));
    ASSERT_FALSE(store_role_is_coordinator("nurse"));

    ASSERT_ERRNO(store_enrol_code_new(s, "nobody", 3600, code), -ENOENT);
    ASSERT_OK(store_enrol_code_new(s, "alice", 3600, code));
    ASSERT_EQ(strlen(code), 14);
    ASSERT_OK(store_enrol(s, code, "tablet", "0.1.0", &e));
    ASSERT_TRUE(uuid_valid(e.device_id));
    ASSERT_TRUE(strncmp(e.token, "cs1_", 4) == 0);
    ASSERT_EQ(strlen(e.token), 68);
    ASSERT_STREQ(e.user, "alice");
    ASSERT_STREQ(e.role, "nurse");
    ASSERT_GT(e.server_hlc, 0);
    /* a code works once */
    ASSERT_ERRNO(store_enrol(s, code, "tablet", "0.1.0", &e2), -EACCES);
    ASSERT_ERRNO(store_enrol(s, "AAAA-BBBB-CCCC", NULL, NULL, &e2), -EACCES);

    /* case, spaces and dashes are ignored */
    ASSERT_OK(store_enrol_code_new(s, "alice", 3600, code2));
    for (size_t i = 0; code2[i]; i++) {
        if (code2[i] == '-') {
            mangled[j++] = ' ';
            continue;
        }
        mangled[j++] = (char)(code2[i] >= 'A' && code2[i] <= 'Z' ? code2[i] + 32 : code2[i]);
    }
    mangled[j] = '\0';
    ASSERT_OK(store_enrol(s, mangled, NULL, NULL, &e2));
    ASSERT_TRUE(strcmp(e.token, e2.token) != 0);
    ASSERT_TRUE(strcmp(e.device_id, e2.device_id) != 0);

    /* an expired code is refused */
    ASSERT_OK(store_enrol_code_new(s, "alice", 1, code2));
    setenv("CARESYNC_CLOCK_OFFSET_MS", "5000", 1);
    ASSERT_ERRNO(store_enrol(s, code2, NULL, NULL, &e2), -EACCES);
    unsetenv("CARESYNC_CLOCK_OFFSET_MS");

    /* authenticate */
    ASSERT_OK(store_authenticate(s, e.token, &p));
    ASSERT_STREQ(p.user, "alice");
    ASSERT_STREQ(p.role, "nurse");
    ASSERT_STREQ(p.device_id, e.device_id);
    ASSERT_GT(p.user_id, 0);
    ASSERT_ERRNO(store_authenticate(s, "cs1_0000000000000000000000000000000000000000000000000000"
                                       "000000000000",
                                    &p),
                 -EACCES);
    ASSERT_ERRNO(store_authenticate(s, "", &p), -EACCES);

    /* only the token's SHA-256 is stored */
    ASSERT_OK(sha256_hex(e.token, strlen(e.token), sha));
    ASSERT_EQ(q_int(path, "SELECT count(*) FROM devices WHERE token_hash=%Q", sha), 1);
    ASSERT_EQ(q_int(path, "SELECT count(*) FROM devices WHERE token_hash=%Q", e.token), 0);
    ASSERT_EQ(q_int(path, "SELECT count(*) FROM enrol_codes WHERE code_hash=%Q", code), 0);

    /* revocation */
    ASSERT_ERRNO(store_device_revoke(s, "0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f"), -ENOENT);
    ASSERT_OK(store_device_revoke(s, e.device_id));
    ASSERT_ERRNO(store_authenticate(s, e.token, &p), -EKEYREVOKED);
    ASSERT_OK(store_authenticate(s, e2.token, &p)); /* the other device still works */
    s = store_free(s);
    ASSERT_NULL(s);
}

TEST(people_and_assignments)
{
    FIXTURE(f, "people");
    const struct store_person_fields bad = {.name = "Bad Date", .birth_date = "1990-02-30"};
    const struct store_person_fields noname = {.phone = "1"};
    char id[UUID_STR_MAX];
    const char *why = NULL, *which = NULL;
    _cleanup_free_ char *name = NULL, *phone = NULL;

    ASSERT_TRUE(uuid_valid(f.p));
    name = field_value(&f, "person", f.p, "name");
    phone = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(name, "Ada Example");
    ASSERT_STREQ(phone, "0131 000 0000");
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM field_state WHERE person_id=%Q", f.p), 3);
    ASSERT_ERRNO(store_person_add(f.s, &bad, id, &why), -EINVAL);
    ASSERT_NOT_NULL(why);
    ASSERT_ERRNO(store_person_add(f.s, &noname, id, &why), -EINVAL);

    ASSERT_EQ(store_assign(f.s, f.p, "alice", &which), 0); /* already */
    ASSERT_ERRNO(store_assign(f.s, "0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f", "alice", &which),
                 -ENOENT);
    ASSERT_STREQ(which, "person");
    ASSERT_ERRNO(store_assign(f.s, f.p, "nobody", &which), -ENOENT);
    ASSERT_STREQ(which, "user");
    /* The admin commands are the coordinators' caseload changes made by the server: an admin
     * account holds no caseload, and an ended assignment ends a worker's named-coordinator
     * role; both audited as "caresyncd". */
    ASSERT_OK(store_user_add(f.s, "root.admin", "admin"));
    ASSERT_ERRNO(store_assign(f.s, f.p, "root.admin", &which), -EINVAL);
    ASSERT_STREQ(which, "user");
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM assignments WHERE user_id ="
                            " (SELECT id FROM users WHERE name = 'root.admin')"), 0);
    {
        struct store_principal cora = {.user_id = 3, .user = "cora", .role = "coordinator"};
        const char *because = NULL;

        ASSERT_EQ(store_named_coordinator_set(f.s, &cora, f.p, "alice", &because), 1);
    }
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM named_coordinators WHERE person_id = %Q",
                    f.p), 1);
    ASSERT_EQ(store_unassign(f.s, f.p, "alice", &which), 1);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM named_coordinators WHERE person_id = %Q",
                    f.p), 0);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM audit WHERE kind = 'unassign'"
                            " AND actor_user = 'caresyncd' AND person_id = %Q", f.p), 1);
    ASSERT_EQ(store_unassign(f.s, f.p, "alice", &which), 0);
    ASSERT_EQ(store_assign(f.s, f.p, "alice", &which), 1);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM assignments WHERE person_id=%Q", f.p), 3);
    ASSERT_EQ(q_int(f.path,
                    "SELECT count(*) FROM assignments WHERE person_id=%Q AND end_seq IS NULL",
                    f.p),
              2);
}

TEST(first_sync_delivers_caseload_only)
{
    FIXTURE(f, "first");
    _cleanup_json_ cJSON *ra = NULL, *rc = NULL, *rd = NULL;
    struct store_principal dave;
    const cJSON *ph;

    ASSERT_OK(store_user_add(f.s, "dave", "nurse"));
    enrol(f.s, "dave", &dave);
    CHECK_PASSING();
    SYNC(f, f.alice, NULL, "", &ra);
    ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(ra, "outcomes")), 0);
    ph = pulled(ra, "person", f.p, "phone");
    ASSERT_NOT_NULL(ph);
    ASSERT_STREQ(jstr(ph, "value"), "0131 000 0000");
    ASSERT_STREQ(jstr(ph, "person_id"), f.p);
    ASSERT_STREQ(jstr(ph, "device"), f.node);
    ASSERT_NOT_NULL(pulled(ra, "person", f.p, "name"));
    ASSERT_NOT_NULL(jstr(ra, "cursor"));
    ASSERT_NOT_NULL(jstr(ra, "server_hlc"));
    ASSERT_FALSE(jtrue(ra, "more"));

    /* not assigned: nothing */
    SYNC(f, dave, NULL, "", &rd);
    ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(rd, "changes")), 0);

    /* a coordinator sees every person */
    SYNC(f, f.cora, NULL, "", &rc);
    ASSERT_NOT_NULL(pulled(rc, "person", f.p, "phone"));
}

TEST(sequential_edit_no_conflict)
{
    FIXTURE(f, "sequential");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
    _cleanup_free_ char *v = NULL;
    char c1[UUID_STR_MAX], c2[UUID_STR_MAX], dev0[UUID_STR_MAX];
    uint64_t h0, ha = ahead(1000, 0);

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(c1);
    new_id(c2);
    add(&a, c1, "person", f.p, f.p, "phone", "111", ha, h0, dev0);
    SYNC(f, f.alice, &a, "", &r1);
    ASSERT_STREQ(outcome_str(r1, 0), "applied");
    ASSERT_STREQ(jstr(outcome(r1, 0), "change_id"), c1);
    /* bob saw alice's value and overwrote it */
    add(&b, c2, "person", f.p, f.p, "phone", "222", ahead(2000, 0), ha, f.alice.device_id);
    SYNC(f, f.bob, &b, "", &r2);
    ASSERT_STREQ(outcome_str(r2, 0), "applied");
    ASSERT_FALSE(jtrue(outcome(r2, 0), "conflict"));
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "222");
    ASSERT_EQ(count(&f, "conflicts"), 0);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM change_log WHERE change_id IN (%Q,%Q)", c1, c2),
              2);
}

/*
 * Alice and Bob both edit P's phone from the same base; Bob's clock is later. Run in a fresh
 * store with the given arrival order; report the final value and the conflict's loser.
 */
static void concurrent_run(bool alice_first, uint64_t ha, uint64_t hb, char **ret_value,
                           char **ret_loser)
{
    FIXTURE(f, alice_first ? "concurrent-ab" : "concurrent-ba");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL;
    _cleanup_free_ char *kind = NULL, *winner = NULL, *dev = NULL;
    char dev0[UUID_STR_MAX];
    uint64_t h0;
    int64_t log_rows;

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    add(&a, "0193c6b2-0000-7000-8000-00000000a001", "person", f.p, f.p, "phone", "alice-value",
        ha, h0, dev0);
    add(&b, "0193c6b2-0000-7000-8000-00000000b001", "person", f.p, f.p, "phone", "bob-value",
        hb, h0, dev0);
    if (alice_first) {
        SYNC(f, f.alice, &a, "", &r1);
        SYNC(f, f.bob, &b, "", &r2);
        ASSERT_STREQ(outcome_str(r1, 0), "applied");
        ASSERT_STREQ(outcome_str(r2, 0), "applied");
        /* the winner arrived second: the log entry is alice's, not this change's */
    } else {
        SYNC(f, f.bob, &b, "", &r2);
        SYNC(f, f.alice, &a, "", &r1);
        ASSERT_STREQ(outcome_str(r2, 0), "applied");
        ASSERT_STREQ(outcome_str(r1, 0), "lost");
        ASSERT_TRUE(jtrue(outcome(r1, 0), "conflict"));
        /* the device is told the winning version */
        ASSERT_STREQ(jstr(cJSON_GetObjectItem(outcome(r1, 0), "current"), "value"), "bob-value");
        ASSERT_STREQ(jstr(cJSON_GetObjectItem(outcome(r1, 0), "current"), "device"),
                     f.bob.device_id);
    }
    ASSERT_EQ(count(&f, "conflicts"), 1);
    kind = q_text(f.path, "SELECT kind FROM conflicts");
    ASSERT_STREQ(kind, "concurrent_edit");
    winner = q_text(f.path, "SELECT winner_change_id FROM conflicts");
    ASSERT_STREQ(winner, "0193c6b2-0000-7000-8000-00000000b001");
    dev = q_text(f.path, "SELECT device FROM field_state WHERE tbl='person' AND row_id=%Q AND"
                         " field='phone'", f.p);
    ASSERT_STREQ(dev, f.bob.device_id);

    /* re-merging anything adds nothing */
    log_rows = count(&f, "change_log");
    SYNC(f, f.alice, &a, "", &r3);
    ASSERT_EQ(count(&f, "conflicts"), 1);
    ASSERT_EQ(count(&f, "change_log"), log_rows);

    *ret_value = field_value(&f, "person", f.p, "phone");
    *ret_loser = q_text(f.path, "SELECT loser_change_id FROM conflicts");
}

TEST(concurrent_edit_logged_once_in_both_orders)
{
    _cleanup_free_ char *v1 = NULL, *l1 = NULL, *v2 = NULL, *l2 = NULL;
    uint64_t ha = ahead(60000, 0), hb = ahead(120000, 0); /* both runs fit in a minute */

    concurrent_run(true, ha, hb, &v1, &l1);
    CHECK_PASSING();
    concurrent_run(false, ha, hb, &v2, &l2);
    CHECK_PASSING();
    ASSERT_STREQ(v1, "bob-value");
    ASSERT_STREQ(v2, "bob-value");
    ASSERT_STREQ(l1, "0193c6b2-0000-7000-8000-00000000a001");
    ASSERT_STREQ(l2, l1);
}

TEST(concurrent_equal_values_not_logged)
{
    FIXTURE(f, "equal");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
    char dev0[UUID_STR_MAX], c1[UUID_STR_MAX], c2[UUID_STR_MAX];
    uint64_t h0;

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(c1);
    new_id(c2);
    add(&a, c1, "person", f.p, f.p, "phone", "same", ahead(1000, 0), h0, dev0);
    add(&b, c2, "person", f.p, f.p, "phone", "same", ahead(2000, 0), h0, dev0);
    SYNC(f, f.bob, &b, "", &r2);
    SYNC(f, f.alice, &a, "", &r1);
    ASSERT_EQ(count(&f, "conflicts"), 0);
}

TEST(replayed_batch_same_outcomes_nothing_written)
{
    FIXTURE(f, "replay");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
    _cleanup_free_ char *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL;
    char dev0[UUID_STR_MAX], id[UUID_STR_MAX], g[UUID_STR_MAX];
    uint64_t h0;
    int64_t log_rows, states, conflicts;

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(g);
    new_id(id);
    add(&a, id, "person", f.p, f.p, "phone", "alice", ahead(1000, 0), h0, dev0);
    new_id(id);
    add(&a, id, "goal", g, f.p, "description", "Walk to the shop", ahead(1000, 1), 0, NULL);
    new_id(id);
    add(&b, id, "person", f.p, f.p, "phone", "bob", ahead(2000, 0), h0, dev0);
    SYNC(f, f.bob, &b, "", &r3);
    SYNC(f, f.alice, &a, "", &r1);
    log_rows = count(&f, "change_log");
    states = count(&f, "field_state");
    conflicts = count(&f, "conflicts");
    ASSERT_EQ(conflicts, 1);

    SYNC(f, f.alice, &a, "", &r2);
    o1 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r1, "outcomes"));
    o2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r2, "outcomes"));
    ASSERT_STREQ(o2, o1);
    ASSERT_STREQ(outcome_str(r2, 0), "lost");
    ASSERT_STREQ(outcome_str(r2, 1), "applied");
    ASSERT_EQ(count(&f, "change_log"), log_rows);
    ASSERT_EQ(count(&f, "field_state"), states);
    ASSERT_EQ(count(&f, "conflicts"), conflicts);

    /* the winner replayed too */
    SYNC(f, f.bob, &b, "", &r4);
    o3 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r3, "outcomes"));
    o4 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r4, "outcomes"));
    ASSERT_STREQ(o4, o3);
    ASSERT_EQ(count(&f, "change_log"), log_rows);
    ASSERT_EQ(count(&f, "conflicts"), conflicts);
}

TEST(change_id_reused_with_other_content_refused)
{
    FIXTURE(f, "reuse");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
    _cleanup_free_ char *v = NULL;
    struct store_error err;
    char dev0[UUID_STR_MAX], id[UUID_STR_MAX], other[UUID_STR_MAX];
    uint64_t h0, h = ahead(1000, 0);
    int64_t log_rows;

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(id);
    new_id(other);
    add(&a, id, "person", f.p, f.p, "phone", "first", h, h0, dev0);
    SYNC(f, f.alice, &a, "", &r1);
    log_rows = count(&f, "change_log");
    add(&b, other, "person", f.p, f.p, "address", "1 New Street", ahead(2000, 0), 0, NULL);
    add(&b, id, "person", f.p, f.p, "phone", "second", h, h0, dev0);
    ASSERT_TRUE(do_sync(&f, &f.alice, &b, "", true, &r2, &err) < 0);
    ASSERT_EQ(proto_error_status(err.code), 409);
    ASSERT_STREQ(err.code, "change_id_reused");
    ASSERT_EQ(err.index, 1);
    ASSERT_NULL(r2);
    ASSERT_EQ(count(&f, "change_log"), log_rows);
    v = field_value(&f, "person", f.p, "address");
    ASSERT_NULL(v);
}

TEST(row_owner_mismatch_refuses_whole_batch)
{
    FIXTURE(f, "owner");
    const struct store_person_fields qf = {.name = "Quentin Example"};
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
    _cleanup_free_ char *v = NULL;
    struct store_error err;
    char q[UUID_STR_MAX], g[UUID_STR_MAX], id[UUID_STR_MAX], dev0[UUID_STR_MAX];
    const char *why = NULL, *which = NULL;
    uint64_t h0;
    int64_t log_rows;

    ASSERT_OK(store_person_add(f.s, &qf, q, &why));
    ASSERT_EQ(store_assign(f.s, q, "alice", &which), 1);
    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(g);
    new_id(id);
    add(&a, id, "goal", g, f.p, "description", "Goal of P", ahead(1000, 0), 0, NULL);
    SYNC(f, f.alice, &a, "", &r1);
    log_rows = count(&f, "change_log");
    new_id(id);
    add(&b, id, "person", f.p, f.p, "phone", "999", ahead(2000, 0), h0, dev0);
    new_id(id);
    add(&b, id, "goal", g, q, "description", "moved to Q", ahead(2000, 1), 0, NULL);
    ASSERT_TRUE(do_sync(&f, &f.alice, &b, "", true, &r2, &err) < 0);
    ASSERT_EQ(proto_error_status(err.code), 400);
    ASSERT_STREQ(err.code, "row_owner_mismatch");
    ASSERT_EQ(err.index, 1);
    ASSERT_EQ(count(&f, "change_log"), log_rows);
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "0131 000 0000");
}

/*
 * Group commit (the daemon's writer thread): syncs inside one store_group_begin() ...
 * store_group_commit() each run in their own savepoint. A batch refused after it applied a
 * change rolls back only itself; the others are committed together; a group rolled back leaves
 * nothing, the sequence counter and the audit chain included, and the store goes on from there.
 */
TEST(group_commit_savepoints)
{
    FIXTURE(f, "group");
    const struct store_person_fields qf = {.name = "Quentin Group"};
    _cleanup_(batch_done) struct batch good = {0}, bad = {0}, other = {0}, lost = {0}, after = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;
    _cleanup_free_ char *v = NULL, *w = NULL;
    struct store_error err;
    struct store_position p0, p1, p2;
    char q[UUID_STR_MAX], g1[UUID_STR_MAX], g2[UUID_STR_MAX], g3[UUID_STR_MAX],
            bad_row[UUID_STR_MAX], id[UUID_STR_MAX];
    const char *why = NULL, *which = NULL;
    int64_t rows, bad_id;

    ASSERT_OK(store_person_add(f.s, &qf, q, &why));
    ASSERT_EQ(store_assign(f.s, q, "alice", &which), 1);
    new_id(g1);
    new_id(g2);
    new_id(g3);
    new_id(bad_row);
    new_id(id);
    add(&good, id, "goal", g1, f.p, "description", "Committed with the group", ahead(1000, 0), 0,
        NULL);
    new_id(id);
    add(&bad, id, "goal", bad_row, f.p, "description", "Half of a bad batch", ahead(1000, 1), 0,
        NULL);
    new_id(id);
    add(&bad, id, "goal", bad_row, q, "description", "The other half", ahead(1000, 2), 0, NULL);
    new_id(id);
    add(&other, id, "person", f.p, f.p, "preferred_name", "Ada", ahead(1000, 3), 0, NULL);

    ASSERT_OK(store_group_begin(f.s));
    SYNC(f, f.alice, &good, "", &r1);
    ASSERT_TRUE(do_sync(&f, &f.alice, &bad, "", true, &r2, &err) < 0);
    ASSERT_STREQ(err.code, "row_owner_mismatch");
    ASSERT_FALSE(store_group_lost(f.s));
    SYNC(f, f.alice, &other, "", &r3);
    /* Nothing is visible to another connection before the group commits. */
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM field_state WHERE row_id = '%s'", g1), 0);
    ASSERT_OK(store_group_commit(f.s));
    v = field_value(&f, "goal", g1, "description");
    ASSERT_STREQ(v, "Committed with the group");
    w = field_value(&f, "person", f.p, "preferred_name");
    ASSERT_STREQ(w, "Ada");
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM field_state WHERE row_id = '%s'", bad_row), 0);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM change_log WHERE row_id = '%s'", bad_row), 0);
    ASSERT_OK(store_audit_verify(f.s, &rows, &bad_id));

    /* A group rolled back (its COMMIT failed, say): nothing of it, the counter included. */
    ASSERT_OK(store_position(f.s, &p0));
    new_id(id);
    add(&lost, id, "goal", g2, f.p, "description", "Never committed", ahead(1000, 4), 0, NULL);
    ASSERT_OK(store_group_begin(f.s));
    SYNC(f, f.alice, &lost, "", &r4);
    store_group_rollback(f.s);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM field_state WHERE row_id = '%s'", g2), 0);
    ASSERT_OK(store_position(f.s, &p1));
    ASSERT_EQ(p1.seq, p0.seq);
    ASSERT_EQ(p1.head_id, p0.head_id);
    ASSERT_STREQ(p1.head_hash, p0.head_hash);
    ASSERT_OK(store_audit_verify(f.s, &rows, &bad_id));

    /* And the store goes on from the file, not from what the lost group had counted. */
    new_id(id);
    add(&after, id, "goal", g3, f.p, "description", "After the lost group", ahead(1000, 5), 0,
        NULL);
    SYNC(f, f.alice, &after, "", &r5);
    ASSERT_OK(store_position(f.s, &p2));
    ASSERT_GT(p2.seq, p0.seq);
    ASSERT_GT(p2.head_id, p0.head_id);
    ASSERT_OK(store_audit_verify(f.s, &rows, &bad_id));
}

/*
 * Alice created goal G; then Alice deletes it while Bob, offline, edits its description. The
 * deleter had not seen Bob's edit: edit_after_delete, logged once, whatever the arrival order
 * and whichever clock is later; the row stays deleted.
 */
static const char *tomb_name(bool delete_first, bool edit_later)
{
    if (delete_first)
        return edit_later ? "tomb-dl" : "tomb-de";
    return edit_later ? "tomb-el" : "tomb-ee";
}

static void tombstone_run(bool delete_first, bool edit_later, char **ret_state)
{
    FIXTURE(f, tomb_name(delete_first, edit_later));
    _cleanup_(batch_done) struct batch mk = {0}, del = {0}, ed = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL;
    _cleanup_free_ char *kind = NULL, *loser = NULL, *deleted = NULL, *desc = NULL;
    const char *g = "0193c6b2-0000-7000-8000-0000000000a1";
    const char *del_id = "0193c6b2-0000-7000-8000-0000000000d1";
    const char *edit_id = "0193c6b2-0000-7000-8000-0000000000e1";
    uint64_t t1 = ahead(500, 0), t2 = ahead(500, 1);
    uint64_t td = ahead(edit_later ? 1000 : 2000, 0), te = ahead(edit_later ? 2000 : 1000, 0);

    add(&mk, "0193c6b2-0000-7000-8000-0000000000c1", "goal", g, f.p, "description", "Walk",
        t1, 0, NULL);
    add(&mk, "0193c6b2-0000-7000-8000-0000000000c2", "goal", g, f.p, "lifecycle_status",
        "active", t2, 0, NULL);
    SYNC(f, f.alice, &mk, "", &r0);
    /* the tombstone's base: the highest version of any field of G that alice held */
    add(&del, del_id, "goal", g, f.p, "_deleted", "1", td, t2, f.alice.device_id);
    add(&ed, edit_id, "goal", g, f.p, "description", "Walk further", te, t1, f.alice.device_id);
    if (delete_first) {
        SYNC(f, f.alice, &del, "", &r1);
        SYNC(f, f.bob, &ed, "", &r2);
    } else {
        SYNC(f, f.bob, &ed, "", &r2);
        SYNC(f, f.alice, &del, "", &r1);
    }
    ASSERT_STREQ(outcome_str(r1, 0), "applied");
    ASSERT_EQ(count(&f, "conflicts"), 1);
    kind = q_text(f.path, "SELECT kind FROM conflicts");
    loser = q_text(f.path, "SELECT loser_change_id FROM conflicts");
    ASSERT_STREQ(kind, "edit_after_delete");
    ASSERT_STREQ(loser, edit_id);
    deleted = field_value(&f, "goal", g, "_deleted");
    ASSERT_STREQ(deleted, "1");
    /* the field register still follows last-writer-wins */
    desc = field_value(&f, "goal", g, "description");
    ASSERT_STREQ(desc, "Walk further");
    /* replays add nothing */
    SYNC(f, f.bob, &ed, "", &r3);
    ASSERT_EQ(count(&f, "conflicts"), 1);
    *ret_state = q_text(f.path,
                        "SELECT group_concat(field || '=' || ifnull(value, 'NULL'), ';')"
                        " FROM (SELECT * FROM field_state WHERE tbl='goal' ORDER BY field)");
}

TEST(tombstone_vs_concurrent_edit_both_orders)
{
    _cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;

    tombstone_run(true, false, &s1);
    CHECK_PASSING();
    tombstone_run(false, false, &s2);
    CHECK_PASSING();
    tombstone_run(true, true, &s3);
    CHECK_PASSING();
    tombstone_run(false, true, &s4);
    CHECK_PASSING();
    /* the same final state whichever arrived first */
    ASSERT_STREQ(s1, "_deleted=1;description=Walk further;lifecycle_status=active");
    ASSERT_STREQ(s2, s1);
    ASSERT_STREQ(s3, s1);
    ASSERT_STREQ(s4, s1);
}

TEST(out_of_scope_change_logged_not_applied)
{
    FIXTURE(f, "scope");
    _cleanup_(batch_done) struct batch a = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL;
    _cleanup_free_ char *cursor = NULL, *v = NULL, *kind = NULL, *outc = NULL;
    char dev0[UUID_STR_MAX], id[UUID_STR_MAX];
    const char *which = NULL;
    uint64_t h0;

    SYNC(f, f.alice, NULL, "", &r0);
    cursor = cursor_of(r0);
    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    ASSERT_EQ(store_unassign(f.s, f.p, "alice", &which), 1);
    /* No handover grace: an edit stamped after the assignment ended is out of scope. */
    store_set_handover_grace(f.s, 0);
    new_id(id);
    add(&a, id, "person", f.p, f.p, "phone", "offline edit", ahead(1000, 0), h0, dev0);
    SYNC(f, f.alice, &a, cursor, &r1);
    ASSERT_STREQ(outcome_str(r1, 0), "out_of_scope");
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "0131 000 0000");
    outc = q_text(f.path, "SELECT outcome FROM change_log WHERE change_id=%Q", id);
    ASSERT_STREQ(outc, "out_of_scope");
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM conflicts WHERE loser_change_id=%Q", id), 1);
    kind = q_text(f.path, "SELECT kind FROM conflicts WHERE loser_change_id=%Q", id);
    ASSERT_STREQ(kind, "out_of_scope");
    /* the device learns to purge P */
    ASSERT_TRUE(purges(r1, f.p));
    ASSERT_NULL(pulled(r1, "person", f.p, "phone"));
}


/* The window's edges, by the server's clock: a change received in the millisecond its scope ended
 * arrived after the end (which committed first). This flaked the test above when the unassign
 * and the push fell in one millisecond. */
TEST(handover_window_edges)
{
    ASSERT_FALSE(store_window_open(1000, 1000, 0));
    ASSERT_FALSE(store_window_open(1001, 1000, 0));
    ASSERT_TRUE(store_window_open(999, 1000, 0));
    ASSERT_TRUE(store_window_open(1000, 1000, 1));
    ASSERT_TRUE(store_window_open(1000 + 71 * 3600 * 1000ULL, 1000, 72 * 3600 * 1000ULL));
    ASSERT_FALSE(store_window_open(1000 + 72 * 3600 * 1000ULL, 1000, 72 * 3600 * 1000ULL));
}

TEST(handover_grace_keeps_edit_recorded_before_the_end)
{
    FIXTURE(f, "grace");
    _cleanup_(batch_done) struct batch a = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL;
    _cleanup_free_ char *cursor = NULL, *v = NULL;
    char dev0[UUID_STR_MAX], id[UUID_STR_MAX];
    const char *which = NULL;
    uint64_t h0;

    SYNC(f, f.alice, NULL, "", &r0);
    cursor = cursor_of(r0);
    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    ASSERT_EQ(store_unassign(f.s, f.p, "alice", &which), 1);
    /* Default grace (72 h): an edit recorded around the end of the assignment is kept. */
    new_id(id);
    add(&a, id, "person", f.p, f.p, "phone", "visit really happened", ahead(0, 0), h0, dev0);
    SYNC(f, f.alice, &a, cursor, &r1);
    ASSERT_STREQ(outcome_str(r1, 0), "applied");
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "visit really happened");
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM conflicts WHERE loser_change_id=%Q", id), 0);
}
TEST(far_future_clock_is_clamped)
{
    FIXTURE(f, "future");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
    char dev0[UUID_STR_MAX], id[UUID_STR_MAX], id2[UUID_STR_MAX];
    uint64_t h0, sent = hlc_pack(hlc_wall_ms() + 3600000, 0), stored = 0, now;
    uint64_t near = hlc_pack(hlc_wall_ms() + 240000, 0), server = 0;

    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(id);
    add(&a, id, "person", f.p, f.p, "phone", "from the future", sent, h0, dev0);
    SYNC(f, f.alice, &a, "", &r1);
    now = hlc_wall_ms();
    ASSERT_STREQ(outcome_str(r1, 0), "applied");
    ASSERT_TRUE(jtrue(outcome(r1, 0), "clamped"));
    ASSERT_OK(hlc_parse(jstr(outcome(r1, 0), "hlc"), &stored));
    ASSERT_LT(stored, sent);
    ASSERT_LE(hlc_ms(stored), now + STORE_MAX_FORWARD_MS);
    ASSERT_EQ(q_int(f.path, "SELECT sent_hlc FROM change_log WHERE change_id=%Q", id),
              (int64_t)sent);
    ASSERT_EQ(q_int(f.path, "SELECT hlc FROM change_log WHERE change_id=%Q", id),
              (int64_t)stored);
    ASSERT_EQ(q_int(f.path, "SELECT hlc FROM field_state WHERE tbl='person' AND row_id=%Q AND"
                            " field='phone'", f.p),
              (int64_t)stored);
    /* the server never adopts the future clock */
    ASSERT_OK(hlc_parse(jstr(r1, "server_hlc"), &server));
    ASSERT_LE(hlc_ms(server), now + STORE_MAX_FORWARD_MS);
    ASSERT_EQ(q_int(f.path, "SELECT count(*) FROM field_state WHERE hlc > %lld",
                    (long long)hlc_pack(now + STORE_MAX_FORWARD_MS, 0)),
              0);

    /* within the bound: kept as sent, not clamped */
    new_id(id2);
    add(&b, id2, "person", f.p, f.p, "address", "4 minutes ahead", near, 0, NULL);
    SYNC(f, f.alice, &b, "", &r2);
    ASSERT_FALSE(jtrue(outcome(r2, 0), "clamped"));
    ASSERT_EQ(q_int(f.path, "SELECT hlc FROM change_log WHERE change_id=%Q", id2), (int64_t)near);
}

TEST(pull_pages)
{
    FIXTURE(f, "paging");
    _cleanup_(batch_done) struct batch a = {0};
    _cleanup_json_ cJSON *rb = NULL;
    _cleanup_free_ char *cursor = NULL;
    static char seen[1200][UUID_STR_MAX + 32];
    size_t n_seen = 0, pages = 0;
    const int goals = 600;

    SYNC(f, f.bob, NULL, "", &rb);
    cursor = cursor_of(rb);
    for (int half = 0; half < 2; half++) {
        _cleanup_json_ cJSON *ra = NULL;

        batch_done(&a);
        for (int i = half * goals / 2; i < (half + 1) * goals / 2; i++) {
            char g[UUID_STR_MAX], id[UUID_STR_MAX];

            snprintf(g, sizeof(g), "0193c6b2-0000-7000-8000-%012d", i);
            new_id(id);
            add(&a, id, "goal", g, f.p, "description", "goal text", past(5000, (unsigned)i * 2),
                0, NULL);
            new_id(id);
            add(&a, id, "goal", g, f.p, "lifecycle_status", "active",
                past(5000, (unsigned)i * 2 + 1), 0, NULL);
        }
        ASSERT_OK(do_sync(&f, &f.alice, &a, "", false, &ra, NULL));
        ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(ra, "changes")), 0);
        ASSERT_STREQ(jstr(ra, "cursor"), "");
    }
    for (;;) {
        _cleanup_json_ cJSON *r = NULL;
        const cJSON *it;
        int n;

        SYNC(f, f.bob, NULL, cursor, &r);
        pages++;
        n = cJSON_GetArraySize(cJSON_GetObjectItem(r, "changes"));
        ASSERT_LE(n, STORE_PULL_PAGE);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "changes")) {
            char key[UUID_STR_MAX + 32];

            if (!streq(jstr(it, "table"), "goal"))
                continue;
            snprintf(key, sizeof(key), "%s/%s", jstr(it, "row_id"), jstr(it, "field"));
            for (size_t k = 0; k < n_seen; k++)
                ASSERT_TRUE(strcmp(seen[k], key) != 0); /* no field twice */
            ASSERT_LT(n_seen, 1200);
            snprintf(seen[n_seen++], sizeof(seen[0]), "%s", key);
        }
        free(cursor);
        cursor = cursor_of(r);
        if (!jtrue(r, "more"))
            break;
        ASSERT_EQ(n, STORE_PULL_PAGE);
        ASSERT_LT(pages, 10);
    }
    ASSERT_GE(pages, 2);
    ASSERT_EQ(n_seen, 1200);
}

TEST(new_assignment_sends_full_state_unassign_sends_purge)
{
    FIXTURE(f, "assign");
    _cleanup_(batch_done) struct batch a = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
    _cleanup_free_ char *c1 = NULL, *c2 = NULL, *c3 = NULL;
    struct store_principal dave;
    const char *which = NULL;
    char g[UUID_STR_MAX], id[UUID_STR_MAX];
    int64_t states;
    const cJSON *it;
    int for_p = 0;

    ASSERT_OK(store_user_add(f.s, "dave", "occupational_therapist"));
    enrol(f.s, "dave", &dave);
    CHECK_PASSING();
    new_id(g);
    new_id(id);
    add(&a, id, "goal", g, f.p, "description", "Make tea independently", past(4000, 0), 0, NULL);
    SYNC(f, f.alice, &a, "", &r0);
    /* dave's cursor passes all of P's data before P is assigned to him */
    SYNC(f, dave, NULL, "", &r1);
    ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(r1, "changes")), 0);
    c1 = cursor_of(r1);
    ASSERT_EQ(store_assign(f.s, f.p, "dave", &which), 1);
    SYNC(f, dave, NULL, c1, &r2);
    states = q_int(f.path, "SELECT count(*) FROM field_state WHERE person_id=%Q", f.p);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r2, "changes"))
        if (streq(jstr(it, "person_id"), f.p))
            for_p++;
    ASSERT_EQ(for_p, states);
    ASSERT_NOT_NULL(pulled(r2, "goal", g, "description"));
    ASSERT_STREQ(jstr(pulled(r2, "person", f.p, "name"), "value"), "Ada Example");
    ASSERT_FALSE(purges(r2, f.p));
    c2 = cursor_of(r2);

    ASSERT_EQ(store_unassign(f.s, f.p, "dave", &which), 1);
    SYNC(f, dave, NULL, c2, &r3);
    ASSERT_TRUE(purges(r3, f.p));
    ASSERT_NULL(pulled(r3, "person", f.p, "name"));
    c3 = cursor_of(r3);
    /* told once */
    SYNC(f, dave, NULL, c3, &r4);
    ASSERT_FALSE(purges(r4, f.p));
    ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(r4, "changes")), 0);
}

TEST(conflict_list_and_resolve)
{
    FIXTURE(f, "resolve");
    _cleanup_(batch_done) struct batch a = {0}, b = {0};
    _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL;
    _cleanup_(proto_conflicts_done) struct proto_conflicts list = {0}, open2 = {0}, all = {0};
    _cleanup_(proto_conflict_done) struct proto_conflict res = {0}, dummy = {0};
    _cleanup_free_ char *v = NULL, *cursor = NULL;
    char dev0[UUID_STR_MAX], ia[UUID_STR_MAX], ib[UUID_STR_MAX];
    const struct proto_conflict *c;
    const char *why = NULL;
    uint64_t h0;
    int64_t id;

    SYNC(f, f.bob, NULL, "", &r3);
    cursor = cursor_of(r3);
    cJSON_Delete(r3);
    r3 = NULL;
    field_version(&f, "person", f.p, "phone", &h0, dev0);
    CHECK_PASSING();
    new_id(ia);
    new_id(ib);
    add(&a, ia, "person", f.p, f.p, "phone", "alice-phone", ahead(1000, 0), h0, dev0);
    add(&b, ib, "person", f.p, f.p, "phone", "bob-phone", ahead(2000, 0), h0, dev0);
    SYNC(f, f.alice, &a, "", &r1);
    SYNC(f, f.bob, &b, cursor, &r2);
    free(cursor);
    cursor = cursor_of(r2);

    ASSERT_OK(store_conflicts_list(f.s, false, &list));
    ASSERT_EQ(list.n_conflicts, 1u);
    c = &list.conflicts[0];
    ASSERT_STREQ(c->kind, "concurrent_edit");
    ASSERT_STREQ(c->status, "open");
    ASSERT_STREQ(c->loser_value, "alice-phone");
    ASSERT_STREQ(c->winner_value, "bob-phone");
    ASSERT_STREQ(c->loser_user, "alice");
    ASSERT_STREQ(c->winner_user, "bob");
    ASSERT_STREQ(c->loser_change_id, ia);
    ASSERT_STREQ(c->field, "phone");
    ASSERT_TRUE(c->id > 0);
    ASSERT_FALSE(c->resolved);
    id = c->id;

    ASSERT_ERRNO(store_conflict_resolve(f.s, &f.cora, id + 100, "keep", NULL, "why", &dummy,
                                        &why),
                 -ENOENT);
    ASSERT_ERRNO(store_conflict_resolve(f.s, &f.cora, id, "shrug", NULL, "why", &dummy, &why),
                 -EINVAL);
    /* a resolution needs a reason */
    ASSERT_ERRNO(store_conflict_resolve(f.s, &f.cora, id, "keep", NULL, NULL, &dummy, &why),
                 -EINVAL);
    ASSERT_ERRNO(store_conflict_resolve(f.s, &f.cora, id, "keep", NULL, "  ", &dummy, &why),
                 -EINVAL);
    ASSERT_OK(store_conflict_resolve(f.s, &f.cora, id, "restore", NULL, "alice rang the person",
                                     &res, &why));
    ASSERT_TRUE(res.resolved);
    ASSERT_STREQ(res.resolution, "restore");
    ASSERT_STREQ(res.reason, "alice rang the person");
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "alice-phone");
    free(v);
    /* a later resolution supersedes: keep puts back what the restore replaced ... */
    ASSERT_OK(store_conflict_resolve(f.s, &f.cora, id, "keep", NULL, "wrong person rang",
                                     &dummy, &why));
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "bob-phone");
    free(v);
    ASSERT_STREQ(dummy.resolution, "keep");
    ASSERT_EQ(dummy.n_resolutions, 2u);
    /* ... and restoring again writes the lost value again */
    proto_conflict_done(&dummy);
    ASSERT_OK(store_conflict_resolve(f.s, &f.cora, id, "restore", NULL, "checked twice",
                                     &dummy, &why));
    v = field_value(&f, "person", f.p, "phone");
    ASSERT_STREQ(v, "alice-phone");

    ASSERT_OK(store_conflicts_list(f.s, false, &open2));
    ASSERT_EQ(open2.n_conflicts, 0u);
    ASSERT_OK(store_conflicts_list(f.s, true, &all));
    ASSERT_EQ(all.n_conflicts, 1u);
    c = &all.conflicts[0];
    ASSERT_STREQ(c->status, "resolved");
    ASSERT_STREQ(c->resolved_by, "cora");

    /* the resolution is an ordinary write that devices pull */
    SYNC(f, f.bob, NULL, cursor, &r3);
    ASSERT_STREQ(jstr(pulled(r3, "person", f.p, "phone"), "value"), "alice-phone");
    ASSERT_STREQ(jstr(pulled(r3, "person", f.p, "phone"), "device"), f.cora.device_id);
}

/*
 * After a coordinator restores an edit hidden by a delete, the row is live again: neither the
 * restore's own writes nor later edits by devices that pulled the restore are conflicts.
 */
TEST(restore_after_delete_adds_no_conflict)
{
    FIXTURE(f, "restore-delete");
    _cleanup_(batch_done) struct batch mk = {0}, del = {0}, ed = {0}, later = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL;
    _cleanup_(proto_conflict_done) struct proto_conflict res = {0};
    _cleanup_free_ char *deleted = NULL, *desc = NULL, *kinds = NULL;
    const char *g = "0193c6b2-0000-7000-8000-0000000000a2";
    const char *why = NULL;
    char vdev[UUID_STR_MAX];
    uint64_t t1 = ahead(500, 0), vh;
    int64_t id;

    add(&mk, "0193c6b2-0000-7000-8000-0000000001c1", "goal", g, f.p, "description", "Walk",
        t1, 0, NULL);
    SYNC(f, f.alice, &mk, "", &r0);
    add(&del, "0193c6b2-0000-7000-8000-0000000001d1", "goal", g, f.p, "_deleted", "1",
        ahead(1000, 0), t1, f.alice.device_id);
    add(&ed, "0193c6b2-0000-7000-8000-0000000001e1", "goal", g, f.p, "description",
        "Walk further", ahead(2000, 0), t1, f.alice.device_id);
    SYNC(f, f.alice, &del, "", &r1);
    SYNC(f, f.bob, &ed, "", &r2);
    ASSERT_EQ(count(&f, "conflicts"), 1);
    id = q_int(f.path, "SELECT id FROM conflicts");
    ASSERT_OK(store_conflict_resolve(f.s, &f.cora, id, "restore", NULL, "still wanted", &res,
                                     &why));
    deleted = field_value(&f, "goal", g, "_deleted");
    desc = field_value(&f, "goal", g, "description");
    ASSERT_STREQ(deleted, "0");
    ASSERT_STREQ(desc, "Walk further");
    kinds = q_text(f.path, "SELECT group_concat(kind || ':' || status, ',') FROM conflicts");
    ASSERT_STREQ(kinds, "edit_after_delete:resolved");

    /* bob pulled the restore and edits the live row on top of it */
    field_version(&f, "goal", g, "description", &vh, vdev);
    CHECK_PASSING();
    add(&later, "0193c6b2-0000-7000-8000-0000000001e2", "goal", g, f.p, "description",
        "Walk to the park", hlc_pack(hlc_ms(vh) + 1000, 0), vh, vdev);
    SYNC(f, f.bob, &later, "", &r3);
    ASSERT_STREQ(outcome_str(r3, 0), "applied");
    ASSERT_EQ(count(&f, "conflicts"), 1);
}

/*
 * A coordinator who restores an edit hidden by a delete and then changes their mind (keep, from
 * another desk: another device) is not logged against themselves: the re-delete is based on the
 * row's newest version. The entry shows the winner as the deletion, the row as deleted now, and
 * describes the goal.
 */
TEST(restore_then_keep_adds_no_conflict)
{
    FIXTURE(f, "restore-keep");
    _cleanup_(batch_done) struct batch mk = {0}, del = {0}, ed = {0};
    _cleanup_json_ cJSON *r0 = NULL, *r1 = NULL, *r2 = NULL;
    _cleanup_(proto_conflict_done) struct proto_conflict res = {0}, res2 = {0};
    _cleanup_(proto_conflicts_done) struct proto_conflicts all = {0};
    _cleanup_free_ char *deleted = NULL;
    const char *g = "0193c6b2-0000-7000-8000-0000000000a3";
    const char *why = NULL;
    struct store_principal desk2;
    const struct proto_conflict *c;
    uint64_t t1 = ahead(500, 0);
    int64_t id;

    enrol(f.s, "cora", &desk2);
    CHECK_PASSING();
    add(&mk, "0193c6b2-0000-7000-8000-0000000002c1", "goal", g, f.p, "description",
        "Walk to the shop", t1, 0, NULL);
    SYNC(f, f.alice, &mk, "", &r0);
    add(&del, "0193c6b2-0000-7000-8000-0000000002d1", "goal", g, f.p, "_deleted", "1",
        ahead(1000, 0), t1, f.alice.device_id);
    add(&ed, "0193c6b2-0000-7000-8000-0000000002e1", "goal", g, f.p, "description",
        "Walk to the shop with my son", ahead(2000, 0), t1, f.alice.device_id);
    SYNC(f, f.alice, &del, "", &r1);
    SYNC(f, f.bob, &ed, "", &r2);
    ASSERT_EQ(count(&f, "conflicts"), 1);
    id = q_int(f.path, "SELECT id FROM conflicts");
    ASSERT_OK(store_conflict_resolve(f.s, &f.cora, id, "restore", NULL, "still wanted", &res,
                                     &why));
    ASSERT_OK(store_conflict_resolve(f.s, &desk2, id, "keep", NULL, "not wanted after all",
                                     &res2, &why));
    deleted = field_value(&f, "goal", g, "_deleted");
    ASSERT_STREQ(deleted, "1");
    ASSERT_EQ(count(&f, "conflicts"), 1);

    ASSERT_OK(store_conflicts_list(f.s, true, &all));
    ASSERT_EQ(all.n_conflicts, 1u);
    c = &all.conflicts[0];
    ASSERT_TRUE(c->winner_deleted);
    ASSERT_NULL(c->winner_value);
    ASSERT_TRUE(c->has_row_deleted && c->row_deleted);
    ASSERT_TRUE(strstr(c->description, "goal \"Walk to the shop with my son\"") != NULL);
}
