/* SPDX-License-Identifier: MIT */
/* test-engine.c - the sync engine's push rules over the in-memory backend (backend_mem.c), with
 * no database: concurrent edits, append-only fields, fields set centrally, people out of scope
 * and never on the caseload, replays and reused ids, the conflict quota; a batch that fails at
 * any backend call, or at commit, leaves the store as it was; and what a push costs in backend
 * calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_mem.h"
#include "engine.h"
#include "harness.h"
#include "hlc.h"
#include "util.h"

#define PERSON "01900000-0000-7000-8000-000000000001"
#define OTHER  "01900000-0000-7000-8000-000000000002"
#define LEFT   "01900000-0000-7000-8000-000000000003"
#define DEV_A  "01900000-0000-7000-8000-00000000000a"
#define DEV_B  "01900000-0000-7000-8000-00000000000b"

static const struct store_principal nurse = {
    .user_id = 7, .user = "amira", .role = "nurse", .device_id = DEV_A};

struct scene {
    struct mem_backend *m;
    struct engine e;
};

static void scene_init(struct scene *sc)
{
    sc->m = mem_new();
    sc->e = (struct engine){.b = mem_backend(sc->m), .node_id = "caresyncd-test",
                            .max_forward_ms = STORE_MAX_FORWARD_MS,
                            .grace_ms = STORE_HANDOVER_GRACE_MS,
                            .max_device_conflicts = STORE_DEVICE_CONFLICTS_MAX};
    mem_add_device(sc->m, DEV_A);
    mem_add_person(sc->m, PERSON, "Ada");
    mem_assign(sc->m, PERSON, nurse.user_id);
    mem_add_person(sc->m, OTHER, "Bea");
    mem_add_person(sc->m, LEFT, "Cy");
    mem_assign(sc->m, LEFT, nurse.user_id);
    mem_unassign(sc->m, LEFT, nurse.user_id, 1000); /* long ago: past any grace */
}

static void scene_done(struct scene *sc)
{
    mem_free(sc->m);
}

/* A change to field @field of person @person by the nurse's device, at @ms ago. */
static struct change_record change(const char *person, const char *field, const char *value,
                                   uint64_t ms_ago, uint64_t base_hlc, const char *base_device)
{
    struct change_record c = {0};
    const struct cat_table *t = catalogue_table("person");

    if (uuid_v7(hlc_wall_ms(), c.change_id) < 0)
        abort();
    c.table = t;
    c.field = catalogue_field(t, field);
    copy_text(c.row_id, sizeof(c.row_id), person);
    copy_text(c.person_id, sizeof(c.person_id), person);
    c.value = (char *)value;
    c.hlc = hlc_pack(hlc_wall_ms() - ms_ago, 0);
    c.base_hlc = base_hlc;
    copy_text(c.base_device, sizeof(c.base_device), base_device ? base_device : "");
    return c;
}

/* One sync's push in its own transaction, as store_sync_reported() runs it. */
static int push(const struct engine *e, const struct change_record *c, size_t n,
                struct proto_sync_reply *reply, struct store_error *err)
{
    struct backend *b = e->b;
    int r = b->ops->begin(b, true);

    if (r < 0)
        return r;
    r = engine_push(e, &nurse, c, n, reply, -1, NULL, err);
    if (r < 0) {
        b->ops->rollback(b);
        return r;
    }
    return b->ops->commit(b);
}

static const char *outcome(const struct proto_sync_reply *reply, size_t i)
{
    return i < reply->n_outcomes ? reply->outcomes[i].outcome : "(none)";
}

TEST(applies_a_new_value)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    bool found;

    scene_init(&sc);
    c = change(PERSON, "phone", "0123", 1000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "applied");
    ASSERT_STREQ(mem_field(sc.m, "person", PERSON, "phone", &found), "0123");
    ASSERT_TRUE(found);
    ASSERT_EQ(mem_conflict_count(sc.m, NULL), 0u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(concurrent_edit_loses_and_is_logged)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    bool found;

    scene_init(&sc);
    /* Another device wrote the phone 10 s ago; this device's edit, made 20 s ago without
     * having seen it, loses and goes to the conflict log. */
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0999",
                  hlc_pack(hlc_wall_ms() - 10000, 0), DEV_B);
    c = change(PERSON, "phone", "0123", 20000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "lost");
    ASSERT_TRUE(reply.outcomes[0].conflict);
    ASSERT_TRUE(reply.outcomes[0].has_current);
    ASSERT_STREQ(reply.outcomes[0].current_value, "0999");
    ASSERT_STREQ(mem_field(sc.m, "person", PERSON, "phone", &found), "0999");
    ASSERT_EQ(mem_conflict_count(sc.m, "concurrent_edit"), 1u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(newer_concurrent_edit_wins_and_logs_the_overwritten_value)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    bool found;

    scene_init(&sc);
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0999",
                  hlc_pack(hlc_wall_ms() - 20000, 0), DEV_B);
    c = change(PERSON, "phone", "0123", 10000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "applied");
    ASSERT_STREQ(mem_field(sc.m, "person", PERSON, "phone", &found), "0123");
    ASSERT_EQ(mem_conflict_count(sc.m, "concurrent_edit"), 1u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(a_batch_reads_its_own_earlier_writes)
{
    struct scene sc;
    struct change_record c[2];
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    size_t journaled;
    bool found;

    scene_init(&sc);
    /* Another device wrote the phone 10 s ago. This batch writes it twice, the newer edit
     * first: the merge reads the batch's own first write (from the push's snapshot, before
     * anything reached the backend), so the older second edit loses to it, and the other
     * device's overwritten value is logged once, not once per edit. */
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0999",
                  hlc_pack(hlc_wall_ms() - 10000, 0), DEV_B);
    c[0] = change(PERSON, "phone", "0111", 1000, 0, NULL);
    c[1] = change(PERSON, "phone", "0222", 5000, 0, NULL);
    journaled = mem_journal_count(sc.m);
    ASSERT_OK(push(&sc.e, c, 2, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "applied");
    ASSERT_STREQ(outcome(&reply, 1), "lost");
    ASSERT_TRUE(reply.outcomes[1].has_current);
    ASSERT_STREQ(reply.outcomes[1].current_value, "0111");
    ASSERT_STREQ(mem_field(sc.m, "person", PERSON, "phone", &found), "0111");
    ASSERT_EQ(mem_journal_count(sc.m), journaled + 2);
    ASSERT_EQ(mem_conflict_count(sc.m, "concurrent_edit"), 1u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

/* What two pushes over a field with an old history gave (base_far_older_than_the_bound). */
struct bound_run {
    char outcome[2][16];
    size_t concurrent, conflicts, journaled;
    char phone[16];
    unsigned long calls;
};

static void bound_run(uint64_t floor, struct bound_run *ret)
{
    uint64_t now = hlc_wall_ms(), base = hlc_pack(now - 60000, 0);
    struct scene sc;
    struct wrap_backend w;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    const char *v;
    bool found;

    scene_init(&sc);
    mem_set_journal_floor(sc.m, floor);
    wrap_init(&w, mem_backend(sc.m));
    sc.e.b = &w.be;
    /* The nurse's device wrote the phone a minute ago; another device then changed it twice.
     * The nurse, offline, edits it on from her own version: the other two values were
     * overwritten unseen (logged), her base is one the server issued (trusted). Then she
     * edits it again from the same base: nothing new is logged for the same losers. */
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0100", base, DEV_A);
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0200",
                  hlc_pack(now - 40000, 0), DEV_B);
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0300",
                  hlc_pack(now - 30000, 0), DEV_B);
    for (size_t i = 0; i < 2; i++) {
        c = change(PERSON, "phone", i ? "0500" : "0400", i ? 10000 : 20000, base, DEV_A);
        if (push(&sc.e, &c, 1, &reply, &err) < 0)
            abort();
        copy_text(ret->outcome[i], sizeof(ret->outcome[i]), outcome(&reply, 0));
        proto_sync_reply_done(&reply);
        reply = (struct proto_sync_reply){0};
    }
    ret->concurrent = mem_conflict_count(sc.m, "concurrent_edit");
    ret->conflicts = mem_conflict_count(sc.m, NULL);
    ret->journaled = mem_journal_count(sc.m);
    v = mem_field(sc.m, "person", PERSON, "phone", &found);
    copy_text(ret->phone, sizeof(ret->phone), v ? v : "(null)");
    ret->calls = w.calls;
    scene_done(&sc);
}

TEST(base_far_older_than_the_bound)
{
    struct bound_run all, bounded;

    /* push_load() reads a row's journal from a bound on (backend.h "journal_from"). Here the
     * backend's bound is above every entry, so the base (a minute old) is far older than it:
     * whether the base was issued, the field's history from the base, and whether a loser is
     * logged already must all be asked of the backend, and give what the whole journal gives. */
    bound_run(0, &all);
    bound_run(hlc_pack(hlc_wall_ms() + 60000, 0), &bounded);
    ASSERT_STREQ(all.outcome[0], "applied");
    ASSERT_STREQ(all.outcome[1], "applied");
    ASSERT_STREQ(all.phone, "0500");
    ASSERT_EQ(all.concurrent, 2u); /* 0200 and 0300, each once */
    ASSERT_STREQ(bounded.outcome[0], all.outcome[0]);
    ASSERT_STREQ(bounded.outcome[1], all.outcome[1]);
    ASSERT_STREQ(bounded.phone, all.phone);
    ASSERT_EQ(bounded.concurrent, all.concurrent);
    ASSERT_EQ(bounded.conflicts, all.conflicts);
    ASSERT_EQ(bounded.journaled, all.journaled);
    /* ...and it did ask: the per-change reads below the bound are backend calls. */
    ASSERT_TRUE(bounded.calls > all.calls);
}

TEST(append_only_keeps_the_first_value)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    bool found;

    scene_init(&sc);
    mem_set_field(sc.m, "person", PERSON, PERSON, "created_on", "2026-01-01",
                  hlc_pack(hlc_wall_ms() - 20000, 0), DEV_B);
    c = change(PERSON, "created_on", "2026-02-02", 1000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "lost");
    ASSERT_STREQ(mem_field(sc.m, "person", PERSON, "created_on", &found), "2026-01-01");
    ASSERT_EQ(mem_conflict_count(sc.m, "append_only"), 1u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(set_centrally_is_refused_and_nothing_written)
{
    struct scene sc;
    struct change_record c[2];
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    _cleanup_free_ char *before = NULL, *after = NULL;

    scene_init(&sc);
    before = mem_digest(sc.m);
    c[0] = change(PERSON, "phone", "0123", 1000, 0, NULL);
    c[1] = change(PERSON, "nhs_number", "9434765919", 1000, 0, NULL);
    ASSERT_ERRNO(push(&sc.e, c, 2, &reply, &err), -EPERM);
    ASSERT_STREQ(err.code, "forbidden");
    ASSERT_EQ(err.index, 1);
    ASSERT_EQ(proto_error_status(err.code), 403);
    after = mem_digest(sc.m);
    ASSERT_STREQ(after, before);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(never_on_caseload_is_refused)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    _cleanup_free_ char *before = NULL, *after = NULL;

    scene_init(&sc);
    before = mem_digest(sc.m);
    c = change(OTHER, "phone", "0123", 1000, 0, NULL);
    ASSERT_ERRNO(push(&sc.e, &c, 1, &reply, &err), -EPERM);
    ASSERT_STREQ(err.code, "not_on_caseload");
    after = mem_digest(sc.m);
    ASSERT_STREQ(after, before);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(out_of_scope_is_journaled_not_applied)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    bool found;

    scene_init(&sc);
    c = change(LEFT, "phone", "0123", 1000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &reply, &err));
    ASSERT_STREQ(outcome(&reply, 0), "out_of_scope");
    ASSERT_NULL(mem_field(sc.m, "person", LEFT, "phone", &found));
    ASSERT_FALSE(found);
    ASSERT_EQ(mem_conflict_count(sc.m, "out_of_scope"), 1u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(replay_answers_the_stored_outcome)
{
    struct scene sc;
    struct change_record c, d;
    struct proto_sync_reply r1 = {0}, r2 = {0}, r3 = {0};
    struct store_error err = {0};
    size_t journal;

    scene_init(&sc);
    c = change(PERSON, "phone", "0123", 1000, 0, NULL);
    ASSERT_OK(push(&sc.e, &c, 1, &r1, &err));
    journal = mem_journal_count(sc.m);
    ASSERT_OK(push(&sc.e, &c, 1, &r2, &err));
    ASSERT_STREQ(outcome(&r2, 0), "applied");
    ASSERT_EQ(r2.outcomes[0].hlc, r1.outcomes[0].hlc);
    ASSERT_EQ(mem_journal_count(sc.m), journal);
    /* The same id with other content is refused. */
    d = c;
    d.value = (char *)"0456";
    ASSERT_ERRNO(push(&sc.e, &d, 1, &r3, &err), -EEXIST);
    ASSERT_STREQ(err.code, "change_id_reused");
    ASSERT_EQ(proto_error_status(err.code), 409);
    proto_sync_reply_done(&r1);
    proto_sync_reply_done(&r2);
    proto_sync_reply_done(&r3);
    scene_done(&sc);
}

TEST(duplicate_ids_in_one_batch_are_refused)
{
    struct scene sc;
    struct change_record c[2];
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};

    scene_init(&sc);
    c[0] = change(PERSON, "phone", "0123", 1000, 0, NULL);
    c[1] = c[0];
    ASSERT_ERRNO(push(&sc.e, c, 2, &reply, &err), -EINVAL);
    ASSERT_STREQ(err.code, "duplicate_change_id");
    ASSERT_EQ(err.index, 1);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

TEST(conflict_quota_refuses_the_batch)
{
    struct scene sc;
    struct change_record c;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    _cleanup_free_ char *before = NULL, *after = NULL;

    scene_init(&sc);
    sc.e.max_device_conflicts = 0;
    mem_set_field(sc.m, "person", PERSON, PERSON, "phone", "0999",
                  hlc_pack(hlc_wall_ms() - 10000, 0), DEV_B);
    before = mem_digest(sc.m);
    c = change(PERSON, "phone", "0123", 20000, 0, NULL);
    ASSERT_ERRNO(push(&sc.e, &c, 1, &reply, &err), -EDQUOT);
    ASSERT_STREQ(err.code, "too_many_conflicts");
    ASSERT_EQ(proto_error_status(err.code), 429);
    after = mem_digest(sc.m);
    ASSERT_STREQ(after, before);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

/* A batch touching three fields with a conflict, so that most operations are called. */
static size_t busy_batch(struct change_record *c)
{
    c[0] = change(PERSON, "phone", "0123", 20000, 0, NULL);
    c[1] = change(PERSON, "email", "ada@example.org", 1000, 0, NULL);
    c[2] = change(PERSON, "created_on", "2026-02-02", 1000, 0, NULL);
    c[3] = change(LEFT, "phone", "0777", 1000, 0, NULL);
    return 4;
}

static void busy_scene(struct scene *sc)
{
    scene_init(sc);
    mem_set_field(sc->m, "person", PERSON, PERSON, "phone", "0999",
                  hlc_pack(hlc_wall_ms() - 10000, 0), DEV_B);
    mem_set_field(sc->m, "person", PERSON, PERSON, "created_on", "2026-01-01",
                  hlc_pack(hlc_wall_ms() - 20000, 0), DEV_B);
}

TEST(a_batch_failing_at_any_call_writes_nothing)
{
    struct change_record c[4];
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    unsigned long total;
    size_t n;

    /* Count the calls of a successful run first. */
    busy_scene(&sc);
    n = busy_batch(c);
    wrap_init(&w, mem_backend(sc.m));
    sc.e.b = &w.be;
    ASSERT_OK(push(&sc.e, c, n, &reply, &err));
    proto_sync_reply_done(&reply);
    total = w.calls;
    ASSERT_GT(total, 10u);
    scene_done(&sc);

    for (unsigned long at = 1; at <= total; at++) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        struct proto_sync_reply rp = {0};
        int r;

        busy_scene(&sc);
        n = busy_batch(c);
        wrap_init(&w, mem_backend(sc.m));
        w.fail_at = at;
        w.fail_err = at % 2 ? -ENOSPC : -EIO;
        sc.e.b = &w.be;
        before = mem_digest(sc.m);
        err = (struct store_error){0};
        r = push(&sc.e, c, n, &rp, &err);
        ASSERT_EQ(r, w.fail_err);
        after = mem_digest(sc.m);
        ASSERT_STREQ(after, before);
        /* Reported cleanly: a disk that is full says so; any other failure is internal. (The
         * failures of begin and commit come before and after the engine's refusal.) */
        if (err.code)
            ASSERT_STREQ(err.code, w.fail_err == -ENOSPC ? "storage_full" : "internal_error");
        proto_sync_reply_done(&rp);
        scene_done(&sc);
    }
}

TEST(a_failed_commit_writes_nothing)
{
    struct change_record c[4];
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    _cleanup_free_ char *before = NULL, *after = NULL;
    size_t n;

    busy_scene(&sc);
    n = busy_batch(c);
    wrap_init(&w, mem_backend(sc.m));
    w.fail_commit = true;
    sc.e.b = &w.be;
    before = mem_digest(sc.m);
    ASSERT_ERRNO(push(&sc.e, c, n, &reply, &err), -EIO);
    after = mem_digest(sc.m);
    ASSERT_STREQ(after, before);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}

/* Backend calls of one push of @n new phone numbers (n distinct fields of one row would run
 * out of fields: each change is a later edit of the same field). */
static unsigned long push_calls(size_t n)
{
    _cleanup_free_ struct change_record *c = calloc(n, sizeof(*c));
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    char num[16];
    _cleanup_free_ char **values = calloc(n, sizeof(*values));
    unsigned long calls;

    if (!c || !values)
        abort();
    scene_init(&sc);
    wrap_init(&w, mem_backend(sc.m));
    sc.e.b = &w.be;
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "0%zu", i);
        values[i] = strdup(num);
        c[i] = change(PERSON, "phone", values[i], 100000 - i * 10, 0, NULL);
        if (i > 0) {
            c[i].base_hlc = c[i - 1].hlc;
            copy_text(c[i].base_device, sizeof(c[i].base_device), DEV_A);
        }
    }
    if (push(&sc.e, c, n, &reply, &err) < 0)
        abort();
    calls = w.calls;
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
    return calls;
}

TEST(push_cost_in_backend_calls)
{
    unsigned long c30 = push_calls(30), c300 = push_calls(300);

    /* A push costs a constant number of backend calls (docs/internals/backend.md): one
     * push_load() reads what the rules need about the whole batch, the merge runs over it in
     * memory, and one push_write() writes the journal, field states, conflicts and audit. */
    fprintf(stderr, "backend calls: 30 changes %lu, 300 changes %lu (%.1f per change)\n", c30,
            c300, (double)(c300 - c30) / 270);
    ASSERT_EQ(c300, c30);
    ASSERT_LE(c300, 10u);
}

/* ---- the pull (engine_pull.c) ---- */

#define GOAL_A  "01900000-0000-7000-8000-0000000000a1"
#define GOAL_B  "01900000-0000-7000-8000-0000000000a2"
#define ACTION  "01900000-0000-7000-8000-0000000000a3"
#define NOTE_C  "01900000-0000-7000-8000-0000000000a4"
#define NOTE_S  "01900000-0000-7000-8000-0000000000a5"
#define CONSENT "01900000-0000-7000-8000-0000000000a6"

static const struct store_principal volunteer = {
    .user_id = 8, .user = "vic", .role = "volunteer", .device_id = DEV_B};
static const struct store_principal coordinator = {
    .user_id = 9, .user = "cora", .role = "coordinator",
    .device_id = "01900000-0000-7000-8000-00000000000c"};

static void put(struct scene *sc, const char *tbl, const char *row, const char *person,
                const char *field, const char *value)
{
    mem_set_field(sc->m, tbl, row, person, field, value, hlc_pack(hlc_wall_ms() - 5000, 0),
                  DEV_B);
}

/* One pull page for @p after @cursor, in its own transaction, as store_sync_reported() runs
 * it; the page's cursor in *ret_cursor when it commits. */
static int pull(struct scene *sc, const struct store_principal *p, uint64_t cursor,
                struct proto_sync_reply *reply, uint64_t *ret_cursor)
{
    struct backend *b = sc->e.b;
    uint64_t given = *ret_cursor;
    int r = b->ops->begin(b, true);

    if (r < 0)
        return r;
    r = engine_pull(&sc->e, p, cursor, *b->seq, 0, reply, &given);
    if (r < 0) {
        *ret_cursor = given; /* the engine's, to show it gave none */
        b->ops->rollback(b);
        return r;
    }
    r = b->ops->commit(b);
    if (r >= 0) /* given with the committed reply only */
        *ret_cursor = given;
    return r;
}

/* How many of the page's changes are field @field of row @row (NULL: any field). */
static size_t sent(const struct proto_sync_reply *reply, const char *row, const char *field)
{
    size_t n = 0;

    for (size_t i = 0; i < reply->n_changes; i++)
        n += streq(reply->changes[i].row_id, row) &&
             (!field || streq(reply->changes[i].field->name, field));
    return n;
}

static bool purged(const struct proto_sync_reply *reply, const char *person)
{
    for (size_t i = 0; i < reply->n_purge; i++)
        if (streq(reply->purge[i], person))
            return true;
    return false;
}

/* A person with a clinical note by someone else, a safeguarding concern, two goals and an
 * action of the volunteer's serving the first. */
static void care_scene(struct scene *sc)
{
    scene_init(sc);
    mem_add_device(sc->m, DEV_B);
    mem_assign(sc->m, PERSON, volunteer.user_id);
    put(sc, "person", PERSON, PERSON, "nhs_number", "9434765919");
    put(sc, "note", NOTE_C, PERSON, "category", "clinical");
    put(sc, "note", NOTE_C, PERSON, "author", "someone");
    put(sc, "note", NOTE_C, PERSON, "text", "wound healing");
    put(sc, "note", NOTE_S, PERSON, "category", "safeguarding-concern");
    put(sc, "note", NOTE_S, PERSON, "author", "someone");
    put(sc, "note", NOTE_S, PERSON, "text", "worried");
    put(sc, "goal", GOAL_A, PERSON, "description", "walk to the shop");
    put(sc, "goal", GOAL_B, PERSON, "description", "sleep better");
    put(sc, "plan_action", ACTION, PERSON, "goal_id", GOAL_A);
    put(sc, "plan_action", ACTION, PERSON, "who", "vic");
    put(sc, "plan_action", ACTION, PERSON, "what", "walk together");
}

TEST(pull_projects_per_role)
{
    struct scene sc;
    struct proto_sync_reply rn = {0}, rv = {0}, rc = {0};
    uint64_t cn = 0, cv = 0, cc = 0;

    care_scene(&sc);
    ASSERT_OK(pull(&sc, &nurse, 0, &rn, &cn));
    ASSERT_OK(pull(&sc, &volunteer, 0, &rv, &cv));
    ASSERT_OK(pull(&sc, &coordinator, 0, &rc, &cc));

    /* A nurse: the clinical note and the NHS number, not the safeguarding concern (D9, D10);
     * every goal. (A row is sent whole again at each change of a field that decides who sees
     * it: the note's category, then its author.) */
    ASSERT_EQ(sent(&rn, NOTE_C, "text"), 2u);
    ASSERT_EQ(sent(&rn, NOTE_S, NULL), 0u);
    ASSERT_EQ(sent(&rn, PERSON, "nhs_number"), 1u);
    ASSERT_EQ(sent(&rn, GOAL_B, NULL), 1u);
    /* A volunteer: neither note, no NHS number, their action and the goal it serves only. */
    ASSERT_EQ(sent(&rv, NOTE_C, NULL), 0u);
    ASSERT_EQ(sent(&rv, NOTE_S, NULL), 0u);
    ASSERT_EQ(sent(&rv, PERSON, "nhs_number"), 0u);
    ASSERT_EQ(sent(&rv, PERSON, "name"), 1u);
    ASSERT_GE(sent(&rv, ACTION, "what"), 1u);
    ASSERT_GE(sent(&rv, GOAL_A, "description"), 1u);
    ASSERT_EQ(sent(&rv, GOAL_B, NULL), 0u);
    /* A coordinator: everyone (OTHER too), the safeguarding concern, not the clinical note. */
    ASSERT_GE(sent(&rc, NOTE_S, "text"), 1u);
    ASSERT_EQ(sent(&rc, NOTE_C, NULL), 0u);
    ASSERT_EQ(sent(&rc, OTHER, "name"), 1u);
    /* A worker never gets a person off the caseload. */
    ASSERT_EQ(sent(&rn, OTHER, NULL), 0u);
    ASSERT_FALSE(rn.more || rv.more || rc.more);
    ASSERT_EQ(cn, *sc.e.b->seq);
    proto_sync_reply_done(&rn);
    proto_sync_reply_done(&rv);
    proto_sync_reply_done(&rc);
    scene_done(&sc);
}

TEST(pull_changed_action_resends_or_drops_its_goal)
{
    struct scene sc;
    struct proto_sync_reply r1 = {0}, r2 = {0};
    uint64_t c1 = 0, c2 = 0;

    care_scene(&sc);
    ASSERT_OK(pull(&sc, &volunteer, 0, &r1, &c1));
    ASSERT_GE(sent(&r1, GOAL_A, "description"), 1u);
    /* The action is given to someone else: the volunteer's device drops it and its goal. */
    put(&sc, "plan_action", ACTION, PERSON, "who", "someone");
    ASSERT_OK(pull(&sc, &volunteer, c1, &r2, &c2));
    ASSERT_EQ(r2.n_changes, 0u);
    ASSERT_EQ(r2.n_drop, 2u);
    ASSERT_GT(c2, c1);
    proto_sync_reply_done(&r1);
    proto_sync_reply_done(&r2);
    scene_done(&sc);
}

TEST(pull_person_joins_and_leaves_the_caseload)
{
    struct scene sc;
    struct proto_sync_reply r0 = {0}, r1 = {0}, r2 = {0};
    uint64_t c0 = 0, c1 = 0, c2 = 0;

    scene_init(&sc);
    put(&sc, "person", OTHER, OTHER, "phone", "0777");
    ASSERT_OK(pull(&sc, &nurse, 0, &r0, &c0));
    ASSERT_EQ(sent(&r0, OTHER, NULL), 0u);
    ASSERT_EQ(sent(&r0, PERSON, "name"), 1u);

    /* Assigned mid-stream: the whole state written before the assignment comes with it. */
    mem_assign(sc.m, OTHER, nurse.user_id);
    put(&sc, "person", PERSON, PERSON, "phone", "0111");
    ASSERT_OK(pull(&sc, &nurse, c0, &r1, &c1));
    ASSERT_EQ(sent(&r1, OTHER, "name"), 1u);
    ASSERT_EQ(sent(&r1, OTHER, "phone"), 1u);
    ASSERT_EQ(sent(&r1, PERSON, NULL), 1u); /* only what changed */
    ASSERT_EQ(r1.n_purge, 0u);

    /* Unassigned: purged, and nothing of theirs is sent after. */
    mem_unassign(sc.m, OTHER, nurse.user_id, hlc_wall_ms());
    put(&sc, "person", OTHER, OTHER, "phone", "0888");
    ASSERT_OK(pull(&sc, &nurse, c1, &r2, &c2));
    ASSERT_TRUE(purged(&r2, OTHER));
    ASSERT_EQ(sent(&r2, OTHER, NULL), 0u);
    ASSERT_GT(c2, c1);
    proto_sync_reply_done(&r0);
    proto_sync_reply_done(&r1);
    proto_sync_reply_done(&r2);
    scene_done(&sc);
}

TEST(pull_consent_deny_purges_the_sector)
{
    struct scene sc;
    struct proto_sync_reply r0 = {0}, rn = {0}, rv = {0}, again = {0};
    uint64_t c0 = 0, cn = 0, cv = 0, ca = 0;

    scene_init(&sc);
    mem_assign(sc.m, PERSON, volunteer.user_id);
    ASSERT_OK(pull(&sc, &nurse, 0, &r0, &c0));
    /* The person denies sharing with health: off the nurse's device, still on the volunteer's. */
    put(&sc, "consent", CONSENT, PERSON, "sector", "health");
    put(&sc, "consent", CONSENT, PERSON, "decision", "deny");
    put(&sc, "consent", CONSENT, PERSON, "status", "active");
    ASSERT_OK(pull(&sc, &nurse, c0, &rn, &cn));
    ASSERT_TRUE(purged(&rn, PERSON));
    ASSERT_EQ(sent(&rn, PERSON, NULL), 0u);
    ASSERT_OK(pull(&sc, &volunteer, c0, &rv, &cv));
    ASSERT_FALSE(purged(&rv, PERSON));
    /* Withdrawn: the person's whole visible state comes back to the nurse. */
    put(&sc, "consent", CONSENT, PERSON, "status", "inactive");
    ASSERT_OK(pull(&sc, &nurse, cn, &again, &ca));
    ASSERT_FALSE(purged(&again, PERSON));
    ASSERT_EQ(sent(&again, PERSON, "name"), 1u);
    proto_sync_reply_done(&r0);
    proto_sync_reply_done(&rn);
    proto_sync_reply_done(&rv);
    proto_sync_reply_done(&again);
    scene_done(&sc);
}

/* @n notes of one line each for PERSON, their ids in @ids. */
static void notes(struct scene *sc, size_t n, char (*ids)[UUID_STR_MAX])
{
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], UUID_STR_MAX, "01900000-0000-7000-8001-%012zx", i);
        put(sc, "note", ids[i], PERSON, "text", "a visit");
    }
}

TEST(pull_pages_are_bounded_and_the_cursor_moves)
{
    struct scene sc;
    struct proto_sync_reply r0 = {0}, r1 = {0}, r2 = {0};
    uint64_t c0 = 0, c1 = 0, c2 = 0;
    char (*ids)[UUID_STR_MAX] = calloc(STORE_PULL_PAGE + 500, UUID_STR_MAX);
    size_t total = 0;

    ASSERT_NOT_NULL(ids);
    scene_init(&sc);
    ASSERT_OK(pull(&sc, &nurse, 0, &r0, &c0));
    notes(&sc, STORE_PULL_PAGE + 500, ids);
    ASSERT_OK(pull(&sc, &nurse, c0, &r1, &c1));
    ASSERT_TRUE(r1.more);
    ASSERT_EQ(r1.n_changes, (size_t)STORE_PULL_PAGE);
    ASSERT_GT(c1, c0);
    ASSERT_LT(c1, *sc.e.b->seq);
    ASSERT_OK(pull(&sc, &nurse, c1, &r2, &c2));
    ASSERT_FALSE(r2.more);
    ASSERT_EQ(r2.n_changes, 500u);
    ASSERT_EQ(c2, *sc.e.b->seq);
    /* Every note exactly once across the two pages. */
    for (size_t i = 0; i < STORE_PULL_PAGE + 500; i++)
        total += sent(&r1, ids[i], NULL) + sent(&r2, ids[i], NULL) == 1;
    ASSERT_EQ(total, (size_t)STORE_PULL_PAGE + 500);
    free(ids);
    proto_sync_reply_done(&r0);
    proto_sync_reply_done(&r1);
    proto_sync_reply_done(&r2);
    scene_done(&sc);
}

/* A wrapped scene: nurse's and volunteer's notes and actions after @c0, pulled again. */
static unsigned long pull_calls(size_t n, const struct store_principal *p)
{
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply r0 = {0}, reply = {0};
    uint64_t c0 = 0, c = 0;
    char (*ids)[UUID_STR_MAX] = calloc(n, UUID_STR_MAX);
    unsigned long calls;

    if (!ids)
        abort();
    care_scene(&sc);
    if (pull(&sc, p, 0, &r0, &c0) < 0)
        abort();
    notes(&sc, n, ids);
    /* rows whose visibility reads their fields, and an action whose goal is re-decided */
    put(&sc, "note", NOTE_C, PERSON, "text", "healed");
    put(&sc, "plan_action", ACTION, PERSON, "who", "vic");
    wrap_init(&w, sc.e.b);
    sc.e.b = &w.be;
    if (pull(&sc, p, c0, &reply, &c) < 0)
        abort();
    calls = w.calls;
    free(ids);
    proto_sync_reply_done(&r0);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
    return calls;
}

TEST(pull_cost_in_backend_calls)
{
    const struct store_principal *who[] = {&nurse, &volunteer, &coordinator};

    /* A page costs a constant number of backend calls (docs/internals/backend.md): one
     * pull_load() for its stream and events, one pull_facts() for its people and rows, one
     * more for the goals of actions that changed. */
    for (size_t i = 0; i < 3; i++) {
        unsigned long c10 = pull_calls(10, who[i]), c1000 = pull_calls(990, who[i]);

        fprintf(stderr, "backend calls for a %s's page: 10 rows %lu, 1,000 rows %lu\n",
                who[i]->role, c10, c1000);
        ASSERT_EQ(c1000, c10);
        ASSERT_LE(c1000, 6u);
    }
}

/* A sync's whole pull, as store_sync_reported() runs it after the push: the page, then what
 * the device was given, committed with the reply. */
static int sync_pull(struct scene *sc, const struct store_principal *p, const char *cursor,
                     struct proto_sync_reply *reply)
{
    struct backend *b = sc->e.b;
    struct engine_pull_state st;
    uint64_t cur = 0;
    int r = b->ops->begin(b, true);

    if (r < 0)
        return r;
    if (cursor && *cursor && parse_u64(cursor, &cur) < 0)
        abort();
    r = engine_sync_pull(&sc->e, p, cursor, cur, *b->seq, reply, &st);
    if (r >= 0)
        r = engine_sync_pull_end(&sc->e, p, reply, &st);
    if (r < 0) {
        b->ops->rollback(b);
        return r;
    }
    return b->ops->commit(b);
}

TEST(pull_gives_the_cursor_with_the_committed_reply)
{
    struct scene sc;
    struct proto_sync_reply r1 = {0}, r2 = {0};
    char (*ids)[UUID_STR_MAX] = calloc(STORE_PULL_PAGE + 10, UUID_STR_MAX);
    uint64_t given;

    ASSERT_NOT_NULL(ids);
    care_scene(&sc);
    notes(&sc, STORE_PULL_PAGE + 10, ids);
    ASSERT_EQ(mem_given_cursor(sc.m, DEV_A), 0u);
    ASSERT_OK(sync_pull(&sc, &nurse, "", &r1));
    ASSERT_TRUE(r1.more);
    ASSERT_OK(parse_u64(r1.cursor, &given));
    ASSERT_EQ(mem_given_cursor(sc.m, DEV_A), given);
    ASSERT_OK(sync_pull(&sc, &nurse, r1.cursor, &r2));
    ASSERT_FALSE(r2.more);
    ASSERT_OK(parse_u64(r2.cursor, &given));
    ASSERT_EQ(given, *sc.e.b->seq);
    ASSERT_EQ(mem_given_cursor(sc.m, DEV_A), given);
    free(ids);
    proto_sync_reply_done(&r1);
    proto_sync_reply_done(&r2);
    scene_done(&sc);
}

TEST(pull_fails_cleanly_at_every_backend_call)
{
    unsigned long total, page_calls;
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply reply = {0};
    uint64_t c = 0;

    /* How many calls a first page makes, then a failure at each in turn. */
    care_scene(&sc);
    wrap_init(&w, sc.e.b);
    sc.e.b = &w.be;
    ASSERT_OK(pull(&sc, &volunteer, 0, &reply, &c));
    ASSERT_GT(c, 0u);
    page_calls = w.calls;
    proto_sync_reply_done(&reply);
    reply = (struct proto_sync_reply){0};
    w.calls = 0;
    ASSERT_OK(sync_pull(&sc, &volunteer, "", &reply));
    ASSERT_GT(mem_given_cursor(sc.m, DEV_B), 0u);
    total = w.calls;
    proto_sync_reply_done(&reply);
    scene_done(&sc);
    ASSERT_GE(total, 4u);
    for (unsigned long k = 1; k <= total; k++) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        uint64_t cursor = 12345;

        care_scene(&sc);
        before = mem_digest(sc.m);
        wrap_init(&w, sc.e.b);
        w.fail_at = k;
        w.fail_err = -EIO;
        sc.e.b = &w.be;
        reply = (struct proto_sync_reply){0};
        if (k <= page_calls) {
            /* the page alone */
            ASSERT_ERRNO(pull(&sc, &volunteer, 0, &reply, &cursor), -EIO);
            ASSERT_EQ(cursor, 12345u); /* no cursor given */
            proto_sync_reply_done(&reply);
            reply = (struct proto_sync_reply){0};
            w.calls = 0;
        }
        /* the whole sync's pull: no cursor recorded as given, nothing written */
        ASSERT_ERRNO(sync_pull(&sc, &volunteer, "", &reply), -EIO);
        ASSERT_EQ(mem_given_cursor(sc.m, DEV_B), 0u);
        after = mem_digest(sc.m);
        ASSERT_STREQ(after, before);
        proto_sync_reply_done(&reply);
        scene_done(&sc);
    }
}

TEST(pull_whole_states_past_the_budget)
{
    static const char *const people[] = {"01900000-0000-7000-8002-000000000001",
                                         "01900000-0000-7000-8002-000000000002",
                                         "01900000-0000-7000-8002-000000000003"};
    struct scene sc;
    struct wrap_backend w;
    struct proto_sync_reply reply = {0};
    uint64_t c = 0;

    /* Three people on a volunteer's caseload, each with 600 notes the volunteer may not see:
     * their whole states are more than one call's budget, and the page still sends each
     * person's name, in one page, loading the third person's state when it reaches them. */
    scene_init(&sc);
    for (size_t i = 0; i < 3; i++) {
        mem_add_person(sc.m, people[i], "Someone");
        for (size_t k = 0; k < 600; k++) {
            char id[UUID_STR_MAX];

            snprintf(id, sizeof(id), "01900000-0000-7000-8003-%06zx%06zx", i, k);
            put(&sc, "note", id, people[i], "text", "seen by nurses");
        }
        mem_assign(sc.m, people[i], volunteer.user_id);
    }
    wrap_init(&w, sc.e.b);
    sc.e.b = &w.be;
    ASSERT_OK(pull(&sc, &volunteer, 0, &reply, &c));
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(sent(&reply, people[i], "name"), 1u);
    ASSERT_EQ(reply.n_changes, 3u);
    ASSERT_FALSE(reply.more);
    /* begin, pull_load, pull_facts (two states: the budget), pull_facts (the third), commit */
    ASSERT_EQ(w.calls, 5u);
    proto_sync_reply_done(&reply);
    scene_done(&sc);
}
