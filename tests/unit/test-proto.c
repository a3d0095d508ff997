/* SPDX-License-Identifier: MIT */
/* test-proto.c - the /v1 protocol codec (common/proto.c): every body's encode -> print -> decode
 * round trip gives the struct back, the examples of docs/PROTOCOL.md decode, and bad request
 * bodies are refused with the status, code, field, index and limit the daemon answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hlc.h"
#include "proto.h"

#define PID  "0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f"
#define ROW  "0193c6b2-6a4e-7c4d-9b1e-000000000a01"
#define CID  "0193c6b2-6a4e-7c4d-9b1e-000000000c01"
#define CID2 "0193c6b2-6a4e-7c4d-9b1e-000000000c02"
#define DEV  "0193c6b2-6a4e-7c4d-9b1e-00000000d001"
#define DEV2 "0193c6b2-6a4e-7c4d-9b1e-00000000d002"

/* Print @o (taken) and return the text; NULL on failure. */
static char *print_take(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;

    cJSON_Delete(o);
    return text;
}

/* Print @o (taken) and parse it again as a device would: the tree, or NULL. */
static cJSON *reparse(cJSON *o)
{
    char *text = print_take(o);
    cJSON *root = NULL;
    const char *why = NULL;

    if (text && wire_parse(text, strlen(text), &root, &why) < 0)
        root = NULL;
    cJSON_free(text);
    return root;
}

/* Decode @body with decoder @fn into @ret, expecting a refusal: status, code and field. */
#define ASSERT_REFUSED(call, want_status, want_code, want_field) \
    do {                                                         \
        int r_ = (call);                                         \
        ASSERT_TRUE(r_ == -EBADMSG || r_ == -E2BIG);             \
        ASSERT_EQ(err.status, want_status);                      \
        ASSERT_STREQ(err.code, want_code);                       \
        ASSERT_STREQ(err.field, want_field);                     \
        ASSERT_TRUE(err.message[0] != '\0');                     \
    } while (0)

static void change(struct change_record *c, const char *cid, const char *field, const char *value,
                   uint64_t hlc)
{
    *c = (struct change_record){.hlc = hlc};
    memcpy(c->change_id, cid, UUID_STR_MAX);
    c->table = catalogue_table("person");
    c->field = catalogue_field(c->table, field);
    memcpy(c->row_id, PID, UUID_STR_MAX);
    memcpy(c->person_id, PID, UUID_STR_MAX);
    c->value = value ? strdup(value) : NULL;
}

static void same_change(const struct change_record *a, const struct change_record *b)
{
    ASSERT_TRUE(a->table == b->table && a->field == b->field);
    ASSERT_STREQ(a->change_id, b->change_id);
    ASSERT_STREQ(a->row_id, b->row_id);
    ASSERT_STREQ(a->person_id, b->person_id);
    ASSERT_EQ(a->hlc, b->hlc);
    ASSERT_EQ(a->base_hlc, b->base_hlc);
    ASSERT_STREQ(a->base_device, b->base_device);
    ASSERT_STREQ(a->device, b->device);
    ASSERT_EQ(a->value == NULL, b->value == NULL);
    if (a->value)
        ASSERT_STREQ(a->value, b->value);
}

/* ---- round trips ---- */

TEST(enrol_round_trip)
{
    _cleanup_(proto_enrol_request_done) struct proto_enrol_request back = {0};
    _cleanup_(proto_enrol_reply_done) struct proto_enrol_reply rback = {0};
    struct proto_enrol_request q = {.code = (char *)"K7QD-2MXR-9HCE",
                                    .device_name = (char *)"nurse-tablet-3",
                                    .client_version = (char *)"0.1.0"};
    struct proto_enrol_reply a = {.token = (char *)"cs1_00ff",
                                  .user = (char *)"alice",
                                  .role = (char *)"nurse",
                                  .server_hlc = hlc_pack(1763925429000, 0)};
    _cleanup_free_ char *text = print_take(proto_enrol_request_encode(&q));
    _cleanup_json_ cJSON *root = NULL;
    struct proto_error err;

    ASSERT_NOT_NULL(text);
    ASSERT_OK(proto_enrol_request_decode(text, strlen(text), &back, &err));
    ASSERT_STREQ(back.code, q.code);
    ASSERT_STREQ(back.device_name, q.device_name);
    ASSERT_STREQ(back.client_version, q.client_version);

    memcpy(a.device_id, DEV, UUID_STR_MAX);
    root = reparse(proto_enrol_reply_encode(&a));
    ASSERT_NOT_NULL(root);
    ASSERT_OK(proto_enrol_reply_decode_json(root, &rback));
    ASSERT_STREQ(rback.device_id, DEV);
    ASSERT_STREQ(rback.token, a.token);
    ASSERT_STREQ(rback.user, "alice");
    ASSERT_STREQ(rback.role, "nurse");
    ASSERT_EQ(rback.server_hlc, a.server_hlc);
}

TEST(enrol_optional_members)
{
    _cleanup_(proto_enrol_request_done) struct proto_enrol_request back = {0};
    struct proto_enrol_request q = {.code = (char *)"K7QD"};
    _cleanup_free_ char *text = print_take(proto_enrol_request_encode(&q));
    struct proto_error err;

    ASSERT_STREQ(text, "{\"code\":\"K7QD\"}");
    ASSERT_OK(proto_enrol_request_decode(text, strlen(text), &back, &err));
    ASSERT_NULL(back.device_name);
    ASSERT_NULL(back.client_version);
}

TEST(sync_request_round_trip)
{
    _cleanup_(proto_sync_request_done) struct proto_sync_request back = {0};
    struct change_record c[2];
    struct proto_export ex[1] = {{PID, "2026-11-23T19:38:00Z"}};
    struct proto_sync_request q = {
            .cursor = (char *)"1042:0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f:7:00112233aabbccdd",
            .changes = c,
            .n_changes = 2,
            .pull = false,
            .has_pending = true,
            .pending = 3,
            .client_version = (char *)"0.1.0",
            .has_oldest_pending_ms = true,
            .oldest_pending_ms = 5400000,
            .has_last_error = true,
            .last_error = (char *)"sync failed: cannot reach the server; nothing was lost",
            .device_time = (char *)"2026-11-23T19:40:00.000Z",
            .exports = ex,
            .n_exports = 1,
    };
    _cleanup_free_ char *text = NULL;
    struct proto_error err;

    change(&c[0], CID, "phone", "0131 496 0000", hlc_pack(1763925429000, 3));
    c[0].base_hlc = hlc_pack(1763920000000, 0);
    memcpy(c[0].base_device, DEV2, UUID_STR_MAX);
    change(&c[1], CID2, "phone", NULL, hlc_pack(1763925429000, 4));
    text = print_take(proto_sync_request_encode(&q));
    ASSERT_NOT_NULL(text);
    ASSERT_OK(proto_sync_request_decode(text, strlen(text), &back, &err));
    ASSERT_STREQ(back.cursor, q.cursor);
    ASSERT_EQ(back.n_changes, 2u);
    same_change(&c[0], &back.changes[0]);
    CHECK_PASSING();
    same_change(&c[1], &back.changes[1]);
    CHECK_PASSING();
    ASSERT_FALSE(back.pull);
    ASSERT_TRUE(back.has_pending);
    ASSERT_EQ(back.pending, 3u);
    ASSERT_STREQ(back.client_version, "0.1.0");
    ASSERT_TRUE(back.has_oldest_pending_ms);
    ASSERT_EQ(back.oldest_pending_ms, 5400000u);
    ASSERT_TRUE(back.has_last_error);
    ASSERT_STREQ(back.last_error, q.last_error);
    ASSERT_STREQ(back.device_time, q.device_time);
    ASSERT_EQ(back.device_ms, (int64_t)1795462800000);
    ASSERT_EQ(back.n_exports, 1u);
    ASSERT_STREQ(back.exports[0].person_id, PID);
    ASSERT_STREQ(back.exports[0].at, "2026-11-23T19:38:00Z");
    ASSERT_TRUE(back.report_decoded);
    ASSERT_EQ(back.batch_size, 2);
    free(c[0].value);
}

TEST(sync_request_defaults)
{
    _cleanup_(proto_sync_request_done) struct proto_sync_request back = {0};
    static const char body[] = "{\"cursor\": \"\", \"changes\": []}";
    struct proto_error err;

    ASSERT_OK(proto_sync_request_decode(body, strlen(body), &back, &err));
    ASSERT_STREQ(back.cursor, "");
    ASSERT_TRUE(back.pull);
    ASSERT_FALSE(back.has_pending);
    ASSERT_FALSE(back.has_oldest_pending_ms);
    ASSERT_FALSE(back.has_last_error);
    ASSERT_NULL(back.client_version);
    ASSERT_NULL(back.device_time);
    ASSERT_EQ(back.n_changes, 0u);
    ASSERT_EQ(back.n_exports, 0u);
}

/* A reply with one of everything, as the store builds it. */
static void full_reply(struct proto_sync_reply *a)
{
    struct proto_outcome applied = {.hlc = hlc_pack(1763925429000, 3)};
    struct proto_outcome lost = {.hlc = hlc_pack(1763925429000, 4),
                                 .clamped = true,
                                 .conflict = true,
                                 .has_current = true,
                                 .current_value = (char *)"0131 496 1111",
                                 .current_hlc = hlc_pack(1763925430000, 0)};
    const struct cat_table *goal = catalogue_table("goal");

    memcpy(applied.change_id, CID, UUID_STR_MAX);
    strcpy(applied.outcome, "applied");
    memcpy(lost.change_id, CID2, UUID_STR_MAX);
    strcpy(lost.outcome, "lost");
    memcpy(lost.current_device, DEV2, UUID_STR_MAX);
    ASSERT_OK(proto_sync_reply_add_outcome(a, &applied));
    ASSERT_OK(proto_sync_reply_add_outcome(a, &lost));
    ASSERT_OK(proto_sync_reply_add_change(a, goal, catalogue_field(goal, "description"), ROW, PID,
                                          "Walk to the post office", hlc_pack(1763925431000, 0),
                                          DEV));
    ASSERT_OK(proto_sync_reply_add_change(a, goal, &catalogue_deleted_field, ROW, PID, "1",
                                          hlc_pack(1763925431000, 1), DEV));
    ASSERT_OK(proto_sync_reply_add_purge(a, PID));
    ASSERT_OK(proto_sync_reply_add_drop(a, catalogue_table("plan_action"), ROW));
    ASSERT_OK(proto_sync_reply_set_cursor(a, "1107:0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f:9:0011"));
    ASSERT_OK(proto_sync_reply_add_notice(a, 7));
    a->more = true;
    a->rewound = true;
    a->reread = true;
    a->has_notices = true;
    a->lost_values = 1;
    a->server_hlc = hlc_pack(1763925432000, 1);
    a->has_policy = true;
    a->lock_after_days = 14;
}

TEST(sync_reply_round_trip)
{
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0}, back = {0};
    _cleanup_json_ cJSON *root = NULL;
    const char *why = NULL;

    full_reply(&a);
    CHECK_PASSING();
    root = reparse(proto_sync_reply_encode(&a));
    ASSERT_NOT_NULL(root);
    ASSERT_OK(proto_sync_reply_decode_json(root, &back, &why));
    ASSERT_EQ(back.n_outcomes, 2u);
    ASSERT_STREQ(back.outcomes[0].change_id, CID);
    ASSERT_STREQ(back.outcomes[0].outcome, "applied");
    ASSERT_EQ(back.outcomes[0].hlc, a.outcomes[0].hlc);
    ASSERT_FALSE(back.outcomes[0].clamped || back.outcomes[0].conflict);
    ASSERT_FALSE(back.outcomes[0].has_current);
    ASSERT_STREQ(back.outcomes[1].outcome, "lost");
    ASSERT_TRUE(back.outcomes[1].clamped && back.outcomes[1].conflict);
    ASSERT_TRUE(back.outcomes[1].has_current);
    ASSERT_STREQ(back.outcomes[1].current_value, "0131 496 1111");
    ASSERT_EQ(back.outcomes[1].current_hlc, a.outcomes[1].current_hlc);
    ASSERT_STREQ(back.outcomes[1].current_device, DEV2);
    ASSERT_EQ(back.n_changes, 2u);
    for (size_t i = 0; i < 2; i++) {
        same_change(&a.changes[i], &back.changes[i]);
        CHECK_PASSING();
    }
    ASSERT_EQ(back.n_purge, 1u);
    ASSERT_STREQ(back.purge[0], PID);
    ASSERT_EQ(back.n_drop, 1u);
    ASSERT_TRUE(back.drop[0].table == catalogue_table("plan_action"));
    ASSERT_STREQ(back.drop[0].row_id, ROW);
    ASSERT_STREQ(back.cursor, a.cursor);
    ASSERT_TRUE(back.more && back.rewound && back.reread);
    ASSERT_EQ(back.server_hlc, a.server_hlc);
    ASSERT_TRUE(back.has_notices);
    ASSERT_EQ(back.lost_values, 1u);
    ASSERT_EQ(back.n_notice_ids, 1u);
    ASSERT_EQ(back.notice_ids[0], 7);
    ASSERT_TRUE(back.has_policy);
    ASSERT_EQ(back.lock_after_days, 14u);
}

TEST(sync_reply_minimal)
{
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0}, back = {0};
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ cJSON *root = NULL;
    const char *why = NULL;

    /* A push-only reply (pull false) has every array, empty, and no optional member. */
    ASSERT_OK(proto_sync_reply_set_cursor(&a, "42"));
    a.server_hlc = hlc_pack(1763925432000, 0);
    text = print_take(proto_sync_reply_encode(&a));
    ASSERT_STREQ(text, "{\"outcomes\":[],\"changes\":[],\"purge\":[],\"drop\":[],\"cursor\":\"42\","
                       "\"more\":false,\"server_hlc\":\"1763925432000.00000\"}");
    ASSERT_OK(wire_parse(text, strlen(text), &root, &why));
    ASSERT_OK(proto_sync_reply_decode_json(root, &back, &why));
    ASSERT_FALSE(back.has_notices || back.has_policy || back.more || back.rewound);
}

TEST(resolve_round_trip)
{
    static const char *const actions[] = {"keep", "restore", "value", "value"};
    static const char *const values[] = {NULL, NULL, "0131 496 1111", NULL};

    for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
        _cleanup_(proto_resolve_request_done) struct proto_resolve_request back = {0};
        struct proto_resolve_request q = {.action = (char *)actions[i],
                                          .has_value = streq(actions[i], "value"),
                                          .value = (char *)values[i],
                                          .reason = (char *)"Ada's daughter confirmed 1111"};
        _cleanup_free_ char *text = print_take(proto_resolve_request_encode(&q));
        struct proto_error err;

        ASSERT_NOT_NULL(text);
        ASSERT_OK(proto_resolve_request_decode(text, strlen(text), &back, &err));
        ASSERT_STREQ(back.action, actions[i]);
        ASSERT_EQ(back.has_value, q.has_value);
        ASSERT_EQ(back.value == NULL, values[i] == NULL);
        if (values[i])
            ASSERT_STREQ(back.value, values[i]);
        ASSERT_STREQ(back.reason, q.reason);
    }
}

TEST(restore_round_trip)
{
    _cleanup_(proto_restore_request_done) struct proto_restore_request back = {0};
    struct proto_restore_request q = {.table = (char *)"plan_action",
                                      .row_id = (char *)ROW,
                                      .reason = (char *)"deleted by mistake"};
    struct proto_restore_reply a = {.table = "plan_action"}, rback;
    _cleanup_free_ char *text = print_take(proto_restore_request_encode(&q));
    _cleanup_json_ cJSON *root = NULL;
    struct proto_error err;

    ASSERT_OK(proto_restore_request_decode(text, strlen(text), &back, &err));
    ASSERT_STREQ(back.table, "plan_action");
    ASSERT_STREQ(back.row_id, ROW);
    ASSERT_STREQ(back.reason, "deleted by mistake");
    memcpy(a.row_id, ROW, UUID_STR_MAX);
    memcpy(a.person_id, PID, UUID_STR_MAX);
    memcpy(a.change_id, CID, UUID_STR_MAX);
    root = reparse(proto_restore_reply_encode(&a));
    ASSERT_OK(proto_restore_reply_decode_json(root, &rback));
    ASSERT_TRUE(memcmp(&a, &rback, sizeof(a)) == 0);
}

TEST(revoke_round_trip)
{
    struct proto_revoke_reply a = {.revoked = true, .already = true}, back;
    _cleanup_json_ cJSON *root = NULL;
    struct proto_error err;

    memcpy(a.device_id, DEV, UUID_STR_MAX);
    root = reparse(proto_revoke_reply_encode(&a));
    ASSERT_OK(proto_revoke_reply_decode_json(root, &back));
    ASSERT_STREQ(back.device_id, DEV);
    ASSERT_TRUE(back.revoked && back.already);
    ASSERT_REFUSED(proto_empty_request_decode("", 0, &err), 400, "malformed_json", "");
    ASSERT_OK(proto_empty_request_decode("{}", 2, &err));
    ASSERT_REFUSED(proto_empty_request_decode("{\"x\":1}", 7, &err), 400, "unknown_field", "x");
}

TEST(assignment_round_trip)
{
    struct proto_assignment q = {.user = "nurse.ben", .action = "unassign", .changed = true}, back,
                            rback;
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ cJSON *root = NULL;
    struct proto_error err;

    memcpy(q.person_id, PID, UUID_STR_MAX);
    text = print_take(proto_assignment_request_encode(&q));
    ASSERT_OK(proto_assignment_request_decode(text, strlen(text), &back, &err));
    ASSERT_STREQ(back.person_id, PID);
    ASSERT_STREQ(back.user, "nurse.ben");
    ASSERT_STREQ(back.action, "unassign");
    root = reparse(proto_assignment_reply_encode(&q));
    ASSERT_OK(proto_assignment_reply_decode_json(root, &rback));
    ASSERT_TRUE(memcmp(&q, &rback, sizeof(q)) == 0);
}

TEST(transfer_and_named_coordinator_round_trip)
{
    struct proto_transfer_request q = {.from = "nurse.ben", .to = "nurse.amira"}, back;
    struct proto_named_coordinator_request n = {.user = "sw.ella"}, nback;
    _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    struct proto_error err;

    t1 = print_take(proto_transfer_request_encode(&q));
    ASSERT_STREQ(t1, "{\"from\":\"nurse.ben\",\"to\":\"nurse.amira\"}");
    ASSERT_OK(proto_transfer_request_decode(t1, strlen(t1), &back, &err));
    ASSERT_STREQ(back.from, "nurse.ben");
    ASSERT_STREQ(back.to, "nurse.amira");
    ASSERT_FALSE(back.has_person);
    q.has_person = true;
    memcpy(q.person_id, PID, UUID_STR_MAX);
    t2 = print_take(proto_transfer_request_encode(&q));
    ASSERT_OK(proto_transfer_request_decode(t2, strlen(t2), &back, &err));
    ASSERT_TRUE(back.has_person);
    ASSERT_STREQ(back.person_id, PID);
    t3 = print_take(proto_named_coordinator_request_encode(&n));
    ASSERT_OK(proto_named_coordinator_request_decode(t3, strlen(t3), &nback, &err));
    ASSERT_STREQ(nback.user, "sw.ella");
}

TEST(transfer_reply_round_trip)
{
    _cleanup_(proto_transfer_reply_done) struct proto_transfer_reply a = {0}, back = {0};
    _cleanup_json_ cJSON *root = NULL;

    copy_text(a.from, sizeof(a.from), "nurse.ben");
    copy_text(a.to, sizeof(a.to), "nurse.amira");
    ASSERT_OK(proto_transfer_reply_add(&a, true, PID));
    ASSERT_OK(proto_transfer_reply_add(&a, true, ROW));
    ASSERT_OK(proto_transfer_reply_add(&a, false, CID));
    root = reparse(proto_transfer_reply_encode(&a));
    ASSERT_OK(proto_transfer_reply_decode_json(root, &back));
    ASSERT_STREQ(back.from, "nurse.ben");
    ASSERT_STREQ(back.to, "nurse.amira");
    ASSERT_EQ(back.n_moved, 2u);
    ASSERT_STREQ(back.moved[0], PID);
    ASSERT_STREQ(back.moved[1], ROW);
    ASSERT_EQ(back.n_already, 1u);
    ASSERT_STREQ(back.already[0], CID);
    cJSON_Delete(root);
    /* The documented example: every member present, "already" empty. */
    root = NULL;
    ASSERT_OK(wire_parse("{\"from\": \"nurse.ben\", \"to\": \"nurse.amira\", \"moved\": [\"" PID
                         "\"], \"already\": []}",
                         strlen("{\"from\": \"nurse.ben\", \"to\": \"nurse.amira\", \"moved\": "
                                "[\"" PID "\"], \"already\": []}"),
                         &root, &(const char *){NULL}));
    proto_transfer_reply_done(&back);
    ASSERT_OK(proto_transfer_reply_decode_json(root, &back));
    ASSERT_EQ(back.n_moved, 1u);
    ASSERT_EQ(back.n_already, 0u);
}

TEST(team_round_trip)
{
    _cleanup_(proto_team_done) struct proto_team a = {0}, back = {0};
    struct proto_team_member ella = {(char *)"sw.ella", (char *)"social_worker",
                                     (char *)"2026-11-20T10:00:00.000Z"};
    struct proto_team_member amira = {(char *)"nurse.amira", (char *)"nurse", NULL};
    _cleanup_json_ cJSON *root = NULL;
    _cleanup_free_ char *text = NULL;

    memcpy(a.person_id, PID, UUID_STR_MAX);
    text = print_take(proto_team_encode(&a));
    ASSERT_STREQ(text, "{\"person_id\":\"" PID "\",\"name\":null,\"named_coordinator\":null,"
                       "\"team\":[]}");
    a.name = strdup("Doreen Ashworth");
    ASSERT_NOT_NULL(a.name);
    ASSERT_OK(proto_team_set_coordinator(&a, &ella));
    ASSERT_OK(proto_team_add(&a, &amira));
    ASSERT_OK(proto_team_add(&a, &ella));
    root = reparse(proto_team_encode(&a));
    ASSERT_OK(proto_team_decode_json(root, &back));
    ASSERT_STREQ(back.person_id, PID);
    ASSERT_STREQ(back.name, "Doreen Ashworth");
    ASSERT_TRUE(back.has_named_coordinator);
    ASSERT_STREQ(back.named_coordinator.user, "sw.ella");
    ASSERT_STREQ(back.named_coordinator.since, "2026-11-20T10:00:00.000Z");
    ASSERT_EQ(back.n_team, 2u);
    ASSERT_STREQ(back.team[0].user, "nurse.amira");
    ASSERT_STREQ(back.team[0].role, "nurse");
    ASSERT_NULL(back.team[0].since);
    ASSERT_STREQ(back.team[1].role, "social_worker");
}

TEST(lifecycle_round_trip)
{
    static const char *const keys[] = {NULL, "reason", "nhs_number", "gp_practice"};
    static const char *const args[] = {NULL, "moved-away", "9434765919", "A81001"};

    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        _cleanup_(proto_lifecycle_request_done) struct proto_lifecycle_request back = {0};
        struct proto_lifecycle_request q = {.key = keys[i], .arg = (char *)args[i]};
        _cleanup_free_ char *text = print_take(proto_lifecycle_request_encode(&q));
        struct proto_error err;

        ASSERT_OK(proto_lifecycle_request_decode(text, strlen(text), keys[i], &back, &err));
        ASSERT_EQ(back.arg == NULL, args[i] == NULL);
        if (args[i])
            ASSERT_STREQ(back.arg, args[i]);
    }
}

/* A copy of @s for a struct that owns its strings (NULL stays NULL). */
static char *own(const char *s)
{
    char *c = s ? strdup(s) : NULL;

    if (s && !c)
        abort();
    return c;
}

TEST(devices_round_trip)
{
    _cleanup_(proto_devices_done) struct proto_devices a = {0}, back = {0};
    _cleanup_json_ cJSON *root = NULL;
    _cleanup_free_ char *text = NULL, *again = NULL;
    struct proto_device *d;

    text = print_take(proto_devices_encode(&a));
    ASSERT_STREQ(text, "{\"devices\":[]}");
    free(TAKE_PTR(text));
    /* Never synced: every number null, the strings not sent null. */
    d = proto_devices_add(&a);
    ASSERT_NOT_NULL(d);
    d->user = own("nurse.amira");
    d->role = own("nurse");
    d->device_id = own(DEV);
    d->enrolled_at = own("2026-11-20T10:00:00.000Z");
    /* Synced, reporting everything, then revoked. */
    d = proto_devices_add(&a);
    ASSERT_NOT_NULL(d);
    d->user = own("nurse.ben");
    d->role = own("nurse");
    d->device_id = own(DEV2);
    d->name = own("tablet 3");
    d->enrolled_at = own("2026-11-20T10:00:00.000Z");
    d->last_sync_at = own("2026-11-23T19:40:00.000Z");
    d->has_since_sync_ms = d->has_pending = d->has_oldest_pending_ms = true;
    d->has_clock_skew_ms = true;
    d->since_sync_ms = 5400000;
    d->pending = 0;
    d->oldest_pending_ms = 1763925429000;
    d->last_error = own("sync failed: cannot reach the server");
    d->client_version = own("0.1.0");
    d->device_time = own("2026-11-23T19:39:58.000Z");
    d->clock_skew_ms = -2000;
    d->revoked_at = own("2026-11-24T08:00:00.000Z");
    d->revoked = true;
    text = print_take(proto_devices_encode(&a));
    ASSERT_STREQ(text,
                 "{\"devices\":[{\"user\":\"nurse.amira\",\"role\":\"nurse\",\"device_id\":\"" DEV
                 "\",\"name\":null,\"enrolled_at\":\"2026-11-20T10:00:00.000Z\","
                 "\"last_sync_at\":null,\"since_sync_ms\":null,\"pending\":null,"
                 "\"oldest_pending_ms\":null,\"last_error\":null,\"client_version\":null,"
                 "\"device_time\":null,\"clock_skew_ms\":null,\"revoked_at\":null,"
                 "\"revoked\":false},{\"user\":\"nurse.ben\",\"role\":\"nurse\",\"device_id\":\"" DEV2
                 "\",\"name\":\"tablet 3\",\"enrolled_at\":\"2026-11-20T10:00:00.000Z\","
                 "\"last_sync_at\":\"2026-11-23T19:40:00.000Z\",\"since_sync_ms\":5400000,"
                 "\"pending\":0,\"oldest_pending_ms\":1763925429000,"
                 "\"last_error\":\"sync failed: cannot reach the server\","
                 "\"client_version\":\"0.1.0\",\"device_time\":\"2026-11-23T19:39:58.000Z\","
                 "\"clock_skew_ms\":-2000,\"revoked_at\":\"2026-11-24T08:00:00.000Z\","
                 "\"revoked\":true}]}");
    root = reparse(proto_devices_encode(&a));
    ASSERT_OK(proto_devices_decode_json(root, &back));
    ASSERT_EQ(back.n_devices, 2u);
    ASSERT_NULL(back.devices[0].name);
    ASSERT_FALSE(back.devices[0].has_pending || back.devices[0].has_since_sync_ms);
    ASSERT_STREQ(back.devices[1].last_error, "sync failed: cannot reach the server");
    ASSERT_TRUE(back.devices[1].has_clock_skew_ms);
    ASSERT_EQ(back.devices[1].clock_skew_ms, -2000);
    ASSERT_EQ(back.devices[1].oldest_pending_ms, 1763925429000);
    ASSERT_TRUE(back.devices[1].revoked);
    again = print_take(proto_devices_encode(&back));
    ASSERT_STREQ(again, text);
}

TEST(devices_refusals)
{
    static const char *const bad[] = {
            "{}",
            "{\"devices\": {}}",
            "{\"devices\": [1]}",
            "{\"devices\": [{\"user\": \"nurse.ben\"}]}",
            "{\"devices\":[{\"user\":\"u\",\"role\":\"nurse\",\"device_id\":\"" DEV "\","
            "\"name\":null,\"enrolled_at\":null,\"last_sync_at\":null,\"since_sync_ms\":\"5\","
            "\"pending\":null,\"oldest_pending_ms\":null,\"last_error\":null,"
            "\"client_version\":null,\"device_time\":null,\"clock_skew_ms\":null,"
            "\"revoked_at\":null,\"revoked\":false}]}",
            "{\"devices\":[{\"user\":\"u\",\"role\":\"nurse\",\"device_id\":\"" DEV "\","
            "\"name\":null,\"enrolled_at\":null,\"last_sync_at\":null,\"since_sync_ms\":null,"
            "\"pending\":1.5,\"oldest_pending_ms\":null,\"last_error\":null,"
            "\"client_version\":null,\"device_time\":null,\"clock_skew_ms\":null,"
            "\"revoked_at\":null,\"revoked\":false}]}",
            "{\"devices\":[{\"user\":\"u\",\"role\":\"nurse\",\"device_id\":\"" DEV "\","
            "\"name\":null,\"enrolled_at\":null,\"last_sync_at\":null,\"since_sync_ms\":null,"
            "\"pending\":null,\"oldest_pending_ms\":null,\"last_error\":null,"
            "\"client_version\":null,\"device_time\":null,\"clock_skew_ms\":null,"
            "\"revoked_at\":null,\"revoked\":null}]}",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(proto_devices_done) struct proto_devices a = {0};
        _cleanup_json_ cJSON *root = NULL;
        const char *why = NULL;

        ASSERT_OK(wire_parse(bad[i], strlen(bad[i]), &root, &why));
        ASSERT_ERRNO(proto_devices_decode_json(root, &a), -EBADMSG);
        ASSERT_EQ(a.n_devices, 0u);
    }
}

/* An open concurrent edit of a person's phone, as GET /v1/conflicts lists it. */
static void open_conflict(struct proto_conflict *c)
{
    c->id = 7;
    c->kind = own("concurrent_edit");
    c->priority = own("normal");
    c->status = own("open");
    c->table = own("person");
    c->row_id = own(PID);
    c->person_id = own(PID);
    c->person_name = own("Doreen Ashworth");
    c->field = own("phone");
    c->winner_value = own("0131 496 1111");
    c->has_winner_hlc = true;
    c->winner_hlc = hlc_pack(1763925430000, 0);
    c->winner_device = own(DEV2);
    c->winner_user = own("nurse.ben");
    c->loser_value = own("0131 496 0000");
    c->loser_hlc = hlc_pack(1763925429000, 3);
    c->loser_device = own(DEV);
    c->loser_user = own("nurse.amira");
    c->loser_change_id = own(CID);
    c->current_value = own("0131 496 1111");
    c->has_row_deleted = true;
    c->description = own("person record of Doreen Ashworth");
    c->created_at = own("2026-11-23T19:40:00.000Z");
}

#define OPEN_CONFLICT_JSON                                                                         \
    "{\"id\":7,\"kind\":\"concurrent_edit\",\"priority\":\"normal\",\"review\":false,"            \
    "\"status\":\"open\",\"table\":\"person\",\"row_id\":\"" PID "\",\"person_id\":\"" PID "\","  \
    "\"person_name\":\"Doreen Ashworth\",\"field\":\"phone\",\"winner_value\":\"0131 496 1111\"," \
    "\"winner_deleted\":false,\"winner_hlc\":\"1763925430000.00000\",\"winner_device\":\"" DEV2   \
    "\",\"winner_user\":\"nurse.ben\",\"loser_value\":\"0131 496 0000\","                          \
    "\"loser_hlc\":\"1763925429000.00003\",\"loser_device\":\"" DEV "\","                          \
    "\"loser_user\":\"nurse.amira\",\"loser_change_id\":\"" CID "\","                              \
    "\"current_value\":\"0131 496 1111\",\"row_deleted\":false,"                                   \
    "\"description\":\"person record of Doreen Ashworth\","                                        \
    "\"created_at\":\"2026-11-23T19:40:00.000Z\""

TEST(conflicts_round_trip)
{
    _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0}, back = {0};
    _cleanup_json_ cJSON *root = NULL;
    _cleanup_free_ char *text = NULL, *again = NULL;
    struct proto_conflict *c;
    struct proto_resolution *h;

    text = print_take(proto_conflicts_encode(&a));
    ASSERT_STREQ(text, "{\"conflicts\":[]}");
    free(TAKE_PTR(text));
    c = proto_conflicts_add(&a);
    ASSERT_NOT_NULL(c);
    open_conflict(c);
    text = print_take(proto_conflicts_encode(&a));
    ASSERT_STREQ(text, "{\"conflicts\":[" OPEN_CONFLICT_JSON "}]}");
    free(TAKE_PTR(text));

    /* Resolved twice; a winner that is gone (no clock), the row deleted now. */
    c = proto_conflicts_add(&a);
    ASSERT_NOT_NULL(c);
    open_conflict(c);
    c->id = 8;
    free(c->status);
    c->status = own("resolved");
    c->review = true;
    c->has_winner_hlc = false;
    c->row_deleted = true;
    c->resolved = true;
    c->resolution = own("keep");
    c->resolved_by = own("coord.iona");
    c->resolved_at = own("2026-11-24T09:00:00.000Z");
    c->reason = own("rang the daughter");
    h = proto_conflict_add_resolution(c);
    ASSERT_NOT_NULL(h);
    h->action = own("restore");
    h->value = own("0131 496 0000");
    h->wrote = true;
    h->reason = own("checked");
    h->by = own("coord.iona");
    h->at = own("2026-11-24T08:00:00.000Z");
    h = proto_conflict_add_resolution(c);
    ASSERT_NOT_NULL(h);
    h->action = own("keep");
    h->reason = own("rang the daughter");
    h->at = own("2026-11-24T09:00:00.000Z");
    /* A worker's own lost value about a person who left their caseload. */
    c = proto_conflicts_add(&a);
    ASSERT_NOT_NULL(c);
    open_conflict(c);
    c->id = 9;
    free(TAKE_PTR(c->winner_value));
    free(TAKE_PTR(c->current_value));
    free(TAKE_PTR(c->person_name));
    free(c->description);
    c->description = own("person");
    c->has_row_deleted = false;
    c->redacted = true;

    text = print_take(proto_conflict_encode(&a.conflicts[1]));
    ASSERT_STREQ(text,
                 "{\"id\":8,\"kind\":\"concurrent_edit\",\"priority\":\"normal\",\"review\":true,"
                 "\"status\":\"resolved\",\"table\":\"person\",\"row_id\":\"" PID "\","
                 "\"person_id\":\"" PID "\",\"person_name\":\"Doreen Ashworth\",\"field\":\"phone\","
                 "\"winner_value\":\"0131 496 1111\",\"winner_deleted\":false,\"winner_hlc\":null,"
                 "\"winner_device\":\"" DEV2 "\",\"winner_user\":\"nurse.ben\","
                 "\"loser_value\":\"0131 496 0000\",\"loser_hlc\":\"1763925429000.00003\","
                 "\"loser_device\":\"" DEV "\",\"loser_user\":\"nurse.amira\","
                 "\"loser_change_id\":\"" CID "\",\"current_value\":\"0131 496 1111\","
                 "\"row_deleted\":true,\"description\":\"person record of Doreen Ashworth\","
                 "\"created_at\":\"2026-11-23T19:40:00.000Z\",\"resolution\":\"keep\","
                 "\"resolved_value\":null,\"resolved_by\":\"coord.iona\","
                 "\"resolved_at\":\"2026-11-24T09:00:00.000Z\",\"reason\":\"rang the daughter\","
                 "\"resolutions\":[{\"action\":\"restore\",\"value\":\"0131 496 0000\","
                 "\"wrote\":true,\"reason\":\"checked\",\"by\":\"coord.iona\","
                 "\"at\":\"2026-11-24T08:00:00.000Z\"},{\"action\":\"keep\",\"value\":null,"
                 "\"wrote\":false,\"reason\":\"rang the daughter\",\"by\":null,"
                 "\"at\":\"2026-11-24T09:00:00.000Z\"}]}");
    free(TAKE_PTR(text));
    text = print_take(proto_conflict_encode(&a.conflicts[2]));
    ASSERT_STREQ(text,
                 "{\"id\":9,\"kind\":\"concurrent_edit\",\"priority\":\"normal\",\"review\":false,"
                 "\"status\":\"open\",\"table\":\"person\",\"row_id\":\"" PID "\","
                 "\"person_id\":\"" PID "\",\"person_name\":null,\"field\":\"phone\","
                 "\"winner_value\":null,\"winner_deleted\":false,"
                 "\"winner_hlc\":\"1763925430000.00000\",\"winner_device\":\"" DEV2 "\","
                 "\"winner_user\":\"nurse.ben\",\"loser_value\":\"0131 496 0000\","
                 "\"loser_hlc\":\"1763925429000.00003\",\"loser_device\":\"" DEV "\","
                 "\"loser_user\":\"nurse.amira\",\"loser_change_id\":\"" CID "\","
                 "\"current_value\":null,\"row_deleted\":null,\"description\":\"person\","
                 "\"created_at\":\"2026-11-23T19:40:00.000Z\",\"redacted\":true}");
    root = reparse(proto_conflicts_encode(&a));
    ASSERT_OK(proto_conflicts_decode_json(root, &back));
    ASSERT_EQ(back.n_conflicts, 3u);
    ASSERT_EQ(back.conflicts[0].id, 7);
    ASSERT_STREQ(back.conflicts[0].loser_change_id, CID);
    ASSERT_EQ(back.conflicts[0].loser_hlc, hlc_pack(1763925429000, 3));
    ASSERT_FALSE(back.conflicts[0].resolved || back.conflicts[0].redacted);
    ASSERT_TRUE(back.conflicts[1].review && back.conflicts[1].resolved);
    ASSERT_FALSE(back.conflicts[1].has_winner_hlc);
    ASSERT_TRUE(back.conflicts[1].has_row_deleted && back.conflicts[1].row_deleted);
    ASSERT_NULL(back.conflicts[1].resolved_value);
    ASSERT_EQ(back.conflicts[1].n_resolutions, 2u);
    ASSERT_STREQ(back.conflicts[1].resolutions[0].value, "0131 496 0000");
    ASSERT_TRUE(back.conflicts[1].resolutions[0].wrote);
    ASSERT_NULL(back.conflicts[1].resolutions[1].by);
    ASSERT_TRUE(back.conflicts[2].redacted);
    ASSERT_FALSE(back.conflicts[2].has_row_deleted);
    ASSERT_NULL(back.conflicts[2].person_name);
    ASSERT_STREQ(back.conflicts[2].description, "person");
    again = print_take(proto_conflicts_encode(&back));
    free(TAKE_PTR(text));
    text = print_take(proto_conflicts_encode(&a));
    ASSERT_STREQ(again, text);
}

TEST(resolve_reply_round_trip)
{
    _cleanup_(proto_conflict_done) struct proto_conflict c = {0}, back = {0};
    _cleanup_json_ cJSON *root = NULL;
    _cleanup_free_ char *text = NULL;

    open_conflict(&c);
    text = print_take(proto_resolve_reply_encode(&c));
    ASSERT_STREQ(text, "{\"conflict\":" OPEN_CONFLICT_JSON "}}");
    root = reparse(proto_resolve_reply_encode(&c));
    ASSERT_OK(proto_resolve_reply_decode_json(root, &back));
    ASSERT_EQ(back.id, 7);
    ASSERT_STREQ(back.winner_user, "nurse.ben");
    ASSERT_EQ(back.winner_hlc, hlc_pack(1763925430000, 0));
}

/* A copy of @s with its first @from replaced by @to. */
static char *replaced(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);

    if (!at || !out)
        abort();
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

TEST(conflicts_refusals)
{
    static const char list[] = "{\"conflicts\":[" OPEN_CONFLICT_JSON "}]}";
    static const struct {
        const char *from, *to;
    } bad[] = {
            {"{\"conflicts\":[", "{\"conflict\":["},
            {"{\"conflicts\":[", "{\"conflicts\":[7,"},
            {"\"id\":7", "\"id\":\"7\""},
            {"\"id\":7", "\"id\":7.5"},
            {"\"loser_hlc\":\"1763925429000.00003\"", "\"loser_hlc\":\"soon\""},
            {"\"winner_hlc\":\"1763925430000.00000\"", "\"winner_hlc\":1"},
            {"\"review\":false", "\"review\":0"},
            {"\"review\":false", "\"reviewed\":false"},
            {"\"field\":\"phone\"", "\"field\":1"},
            {"\"row_deleted\":false", "\"row_deleted\":\"no\""},
            /* resolved, but with no history, or a history entry missing members */
            {"}]}", ",\"resolution\":\"keep\"}]}"},
            {"\"created_at\":\"2026-11-23T19:40:00.000Z\"",
             "\"created_at\":\"2026-11-23T19:40:00.000Z\",\"resolution\":\"keep\","
             "\"resolved_value\":null,\"resolved_by\":\"c\",\"resolved_at\":\"t\","
             "\"reason\":\"r\",\"resolutions\":[{\"action\":\"keep\"}]"},
    };
    _cleanup_(proto_conflicts_done) struct proto_conflicts good = {0};
    _cleanup_json_ cJSON *groot = NULL;
    _cleanup_free_ char *with = NULL;
    const char *why = NULL;

    /* What the bad ones are made from decodes, resolved or not. */
    ASSERT_OK(wire_parse(list, strlen(list), &groot, &why));
    ASSERT_OK(proto_conflicts_decode_json(groot, &good));
    proto_conflicts_done(&good);
    cJSON_Delete(groot);
    with = replaced(list, "}]}", ",\"resolution\":\"keep\",\"resolved_value\":null,"
                                 "\"resolved_by\":\"c\",\"resolved_at\":\"t\",\"reason\":\"r\","
                                 "\"resolutions\":[]}]}");
    groot = NULL;
    ASSERT_OK(wire_parse(with, strlen(with), &groot, &why));
    ASSERT_OK(proto_conflicts_decode_json(groot, &good));
    ASSERT_TRUE(good.conflicts[0].resolved);

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0};
        _cleanup_(proto_conflict_done) struct proto_conflict one = {0};
        _cleanup_json_ cJSON *root = NULL, *reply = NULL;
        _cleanup_free_ char *text = replaced(list, bad[i].from, bad[i].to);
        cJSON *first;

        ASSERT_OK(wire_parse(text, strlen(text), &root, &why));
        ASSERT_ERRNO(proto_conflicts_decode_json(root, &a), -EBADMSG);
        ASSERT_EQ(a.n_conflicts, 0u);
        /* the same conflict as a resolution's reply */
        first = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "conflicts"), 0);
        if (!first)
            continue;
        reply = cJSON_CreateObject();
        ASSERT_NOT_NULL(reply);
        ASSERT_TRUE(cJSON_AddItemReferenceToObject(reply, "conflict", first));
        if (cJSON_IsObject(first))
            ASSERT_ERRNO(proto_resolve_reply_decode_json(reply, &one), -EBADMSG);
    }
}

TEST(person_round_trip)
{
    _cleanup_(proto_people_done) struct proto_people list = {0}, back = {0};
    _cleanup_(proto_person_done) struct proto_person one = {0};
    _cleanup_json_ cJSON *root = NULL, *root2 = NULL;
    _cleanup_free_ char *text = NULL, *again = NULL;
    struct proto_person *p = proto_people_add(&list), *q;

    ASSERT_NOT_NULL(p);
    p->person_id = own(PID);
    p->name = own("Doreen Ashworth");
    p->birth_date = own("1941-03-02");
    p->status = own("closed");
    p->closed_reason = own("moved-away");
    p->closed_on = own("2026-11-24");
    p->nhs_number = own("9434765919");
    p->gp_practice = own("A81001");
    p->assigned = own("nurse.amira,sw.ella");
    q = proto_people_add(&list);
    ASSERT_NOT_NULL(q);
    q->person_id = own(ROW);
    q->status = own("referred");
    text = print_take(proto_lifecycle_reply_encode(&list.people[0]));
    ASSERT_STREQ(text, "{\"person\":{\"person_id\":\"" PID "\",\"name\":\"Doreen Ashworth\","
                       "\"birth_date\":\"1941-03-02\",\"status\":\"closed\","
                       "\"closed_reason\":\"moved-away\",\"closed_on\":\"2026-11-24\","
                       "\"nhs_number\":\"9434765919\",\"gp_practice\":\"A81001\","
                       "\"assigned\":\"nurse.amira,sw.ella\"}}");
    root = reparse(proto_lifecycle_reply_encode(&list.people[0]));
    ASSERT_OK(proto_lifecycle_reply_decode_json(root, &one));
    ASSERT_STREQ(one.closed_reason, "moved-away");
    ASSERT_STREQ(one.assigned, "nurse.amira,sw.ella");
    free(TAKE_PTR(text));
    text = print_take(proto_people_encode(&list));
    ASSERT_STREQ(strstr(text, "},{"),
                 "},{\"person_id\":\"" ROW "\",\"name\":null,\"birth_date\":null,"
                 "\"status\":\"referred\",\"closed_reason\":null,\"closed_on\":null,"
                 "\"nhs_number\":null,\"gp_practice\":null,\"assigned\":null}]}");
    root2 = reparse(proto_people_encode(&list));
    ASSERT_OK(proto_people_decode_json(root2, &back));
    ASSERT_EQ(back.n_people, 2u);
    ASSERT_NULL(back.people[1].name);
    again = print_take(proto_people_encode(&back));
    ASSERT_STREQ(again, text);
}

TEST(person_refusals)
{
    static const char *const bad[] = {
            "{}",
            "{\"person\": null}",
            "{\"person\": {\"person_id\": \"" PID "\"}}",
            "{\"person\": {\"person_id\":\"" PID "\",\"name\":1,\"birth_date\":null,"
            "\"status\":\"active\",\"closed_reason\":null,\"closed_on\":null,"
            "\"nhs_number\":null,\"gp_practice\":null,\"assigned\":null}}",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(proto_person_done) struct proto_person a = {0};
        _cleanup_json_ cJSON *root = NULL;
        const char *why = NULL;

        ASSERT_OK(wire_parse(bad[i], strlen(bad[i]), &root, &why));
        ASSERT_ERRNO(proto_lifecycle_reply_decode_json(root, &a), -EBADMSG);
        ASSERT_NULL(a.person_id);
    }
}

TEST(error_round_trip)
{
    struct proto_error e = {.status = 413, .code = "body_too_large", .limit = 4194304, .index = -1},
                       back;
    _cleanup_json_ cJSON *root = NULL;

    strcpy(e.message, "request body is larger than the limit of 4194304 bytes; push fewer "
                      "changes per request");
    root = reparse(proto_error_encode(&e));
    ASSERT_OK(proto_error_decode_json(root, &back));
    ASSERT_STREQ(back.code, e.code);
    ASSERT_STREQ(back.message, e.message);
    ASSERT_EQ(back.limit, e.limit);
    ASSERT_FALSE(back.has_field);
    ASSERT_EQ(back.index, -1);
    strcpy(e.field, "changes");
    e.has_field = true;
    e.index = 3;
    e.limit = -1;
    cJSON_Delete(root);
    root = reparse(proto_error_encode(&e));
    ASSERT_OK(proto_error_decode_json(root, &back));
    ASSERT_TRUE(back.has_field);
    ASSERT_STREQ(back.field, "changes");
    ASSERT_EQ(back.index, 3);
    ASSERT_EQ(back.limit, -1);
    ASSERT_ERRNO(proto_error_decode_json(NULL, &back), -EBADMSG);
}

/* ---- docs/PROTOCOL.md's examples, with real ids in place of "0193..." ---- */

TEST(protocol_examples_decode)
{
    static const char enrol[] =
            "{\"code\": \"K7QD-2MXR-9HCE\", \"device_name\": \"nurse-tablet-3\", "
            "\"client_version\": \"0.1.0\"}";
    static const char sync[] =
            "{\"cursor\": \"1042\",\n \"changes\": [\n   {\"change_id\": \"" CID "\", "
            "\"table\": \"person\", \"row_id\": \"" PID "\", \"person_id\": \"" PID "\",\n"
            "    \"field\": \"phone\", \"value\": \"0131 496 0000\", \"hlc\": "
            "\"1763925429000.00003\",\n    \"base_hlc\": \"1763920000000.00000\", "
            "\"base_device\": \"" DEV "\"}],\n \"pull\": true,\n \"pending\": 0,\n "
            "\"client_version\": \"0.1.0\",\n \"oldest_pending_ms\": 5400000,\n \"last_error\": "
            "\"sync failed: cannot reach the server at https://...; nothing was lost\",\n "
            "\"device_time\": \"2026-11-23T19:40:00.000Z\"}";
    static const char reply[] =
            "{\"outcomes\": [\n {\"change_id\": \"" CID "\", \"outcome\": \"applied\", \"hlc\": "
            "\"1763925429000.00003\"},\n {\"change_id\": \"" CID2 "\", \"outcome\": \"lost\", "
            "\"hlc\": \"1763925429000.00004\",\n  \"current\": {\"value\": \"0131 496 1111\", "
            "\"hlc\": \"1763925430000.00000\", \"device\": \"" DEV "\"}}],\n \"changes\": [\n "
            "{\"table\": \"goal\", \"row_id\": \"" ROW "\", \"person_id\": \"" PID "\", "
            "\"field\": \"description\",\n  \"value\": \"Walk to the post office\", \"hlc\": "
            "\"1763925431000.00000\", \"device\": \"" DEV "\"}],\n \"purge\": [\"" PID "\"],\n "
            "\"drop\": [{\"table\": \"plan_action\", \"row_id\": \"" ROW "\"}],\n \"cursor\": "
            "\"1107\",\n \"more\": false,\n \"server_hlc\": \"1763925432000.00001\",\n "
            "\"notices\": {\"lost_values\": 1, \"conflicts\": [7]},\n \"policy\": "
            "{\"lock_after_days\": 14}}";
    static const char *const others[] = {
            "{\"action\": \"keep\", \"reason\": \"...\"}",
            "{\"action\": \"restore\", \"reason\": \"...\"}",
            "{\"action\": \"value\", \"value\": \"...\", \"reason\": \"...\"}",
    };
    _cleanup_(proto_enrol_request_done) struct proto_enrol_request e = {0};
    _cleanup_(proto_sync_request_done) struct proto_sync_request q = {0};
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0};
    _cleanup_(proto_restore_request_done) struct proto_restore_request rr = {0};
    _cleanup_json_ cJSON *root = NULL;
    struct proto_assignment as;
    struct proto_transfer_request tr;
    struct proto_named_coordinator_request nc;
    struct proto_error err;
    const char *why = NULL, *s;

    ASSERT_OK(proto_enrol_request_decode(enrol, strlen(enrol), &e, &err));
    ASSERT_STREQ(e.device_name, "nurse-tablet-3");
    ASSERT_OK(proto_sync_request_decode(sync, strlen(sync), &q, &err));
    ASSERT_EQ(q.n_changes, 1u);
    ASSERT_EQ(q.changes[0].base_hlc, hlc_pack(1763920000000, 0));
    ASSERT_STREQ(q.changes[0].base_device, DEV);
    ASSERT_TRUE(q.pull && q.has_pending && q.pending == 0);
    ASSERT_OK(wire_parse(reply, strlen(reply), &root, &why));
    ASSERT_OK(proto_sync_reply_decode_json(root, &a, &why));
    ASSERT_EQ(a.n_outcomes, 2u);
    ASSERT_TRUE(a.outcomes[1].has_current);
    ASSERT_EQ(a.n_changes, 1u);
    ASSERT_STREQ(a.changes[0].value, "Walk to the post office");
    ASSERT_STREQ(a.cursor, "1107");
    ASSERT_EQ(a.lost_values, 1u);
    ASSERT_EQ(a.notice_ids[0], 7);
    ASSERT_EQ(a.lock_after_days, 14u);
    for (size_t i = 0; i < ELEMENTSOF(others); i++) {
        _cleanup_(proto_resolve_request_done) struct proto_resolve_request rq = {0};

        ASSERT_OK(proto_resolve_request_decode(others[i], strlen(others[i]), &rq, &err));
    }
    s = "{\"table\": \"plan_action\", \"row_id\": \"" ROW "\", \"reason\": \"deleted by mistake\"}";
    ASSERT_OK(proto_restore_request_decode(s, strlen(s), &rr, &err));
    s = "{\"person_id\": \"" PID "\", \"user\": \"nurse.ben\", \"action\": \"assign\"}";
    ASSERT_OK(proto_assignment_request_decode(s, strlen(s), &as, &err));
    s = "{\"from\": \"nurse.ben\", \"to\": \"nurse.amira\", \"person_id\": \"" PID "\"}";
    ASSERT_OK(proto_transfer_request_decode(s, strlen(s), &tr, &err));
    s = "{\"user\": \"sw.ella\"}";
    ASSERT_OK(proto_named_coordinator_request_decode(s, strlen(s), &nc, &err));
}

/* ---- refusals: the daemon's 400s and 413s ---- */

TEST(refuses_bad_bodies)
{
    static const struct {
        const char *body, *code, *field;
    } cases[] = {
            {"", "malformed_json", ""},
            {"[]", "malformed_json", ""},
            {"{\"code\": \"x\"} x", "malformed_json", ""},
            {"{\"code\": \"\xff\"}", "invalid_utf8", ""},
            {"{\"code\": \"a\\u0000\"}", "invalid_utf8", ""},
            {"{\"code\": \"x\", \"code\": \"y\"}", "malformed_json", "code"},
            {"{\"code\": \"x\", \"extra\": 1}", "unknown_field", "extra"},
            {"{\"code\": \"x\\u0007\"}", "invalid_value", "code"},
            {"{\"device_name\": \"x\"}", "missing_field", "code"},
            {"{\"code\": 7}", "wrong_type", "code"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(proto_enrol_request_done) struct proto_enrol_request q = {0};
        struct proto_error err;

        ASSERT_REFUSED(proto_enrol_request_decode(cases[i].body, strlen(cases[i].body), &q, &err),
                       400, cases[i].code, cases[i].field);
    }
}

TEST(refuses_deep_and_long)
{
    _cleanup_(proto_enrol_request_done) struct proto_enrol_request q = {0};
    char deep[64] = "{\"code\":", long_name[256];
    struct proto_error err;

    for (int i = 0; i < 17; i++)
        strcat(deep, "[");
    ASSERT_REFUSED(proto_enrol_request_decode(deep, strlen(deep), &q, &err), 400, "json_too_deep",
                   "");
    ASSERT_EQ(err.limit, WIRE_MAX_DEPTH);
    snprintf(long_name, sizeof(long_name), "{\"code\": \"x\", \"device_name\": \"%0101d\"}", 0);
    ASSERT_REFUSED(proto_enrol_request_decode(long_name, strlen(long_name), &q, &err), 400,
                   "value_too_long", "device_name");
    ASSERT_EQ(err.limit, PROTO_SHORT_STR_MAX);
}

TEST(refuses_bad_sync_requests)
{
    static const struct {
        const char *body, *code, *field;
        long index;
        bool report; /* the report members were read before the refusal */
    } cases[] = {
            {"{\"changes\": []}", "missing_field", "cursor", -1, false},
            {"{\"cursor\": 1, \"changes\": []}", "wrong_type", "cursor", -1, false},
            {"{\"cursor\": \"\", \"changes\": [], \"oldest_pending_ms\": \"1\"}", "wrong_type",
             "oldest_pending_ms", -1, false},
            {"{\"cursor\": \"\", \"changes\": [], \"oldest_pending_ms\": -1}", "invalid_value",
             "oldest_pending_ms", -1, false},
            {"{\"cursor\": \"\", \"changes\": [], \"last_error\": 1}", "wrong_type", "last_error",
             -1, false},
            {"{\"cursor\": \"\", \"changes\": [], \"device_time\": \"2026-11-23T19:40:00\"}",
             "invalid_value", "device_time", -1, false},
            {"{\"cursor\": \"\"}", "missing_field", "changes", -1, true},
            {"{\"cursor\": \"\", \"changes\": {}}", "wrong_type", "changes", -1, true},
            {"{\"cursor\": \"\", \"changes\": [], \"pull\": 1}", "wrong_type", "pull", -1, true},
            {"{\"cursor\": \"\", \"changes\": [], \"pending\": 1.5}", "invalid_value", "pending",
             -1, true},
            {"{\"cursor\": \"\", \"changes\": [7]}", "wrong_type", "changes", 0, true},
            {"{\"cursor\": \"\", \"changes\": [{\"change_id\": \"x\"}]}", "invalid_value",
             "change_id", 0, true},
            {"{\"cursor\": \"\", \"changes\": [], \"exports\": [{\"person_id\": \"x\", \"at\": "
             "\"y\"}]}",
             "invalid_value", "exports", 0, true},
            {"{\"cursor\": \"\", \"changes\": [], \"exports\": {}}", "invalid_value", "exports", -1,
             true},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(proto_sync_request_done) struct proto_sync_request q = {0};
        struct proto_error err;

        ASSERT_REFUSED(proto_sync_request_decode(cases[i].body, strlen(cases[i].body), &q, &err),
                       400, cases[i].code, cases[i].field);
        ASSERT_EQ(err.index, cases[i].index);
        ASSERT_EQ(q.report_decoded, cases[i].report);
    }
}

TEST(refuses_too_many_changes)
{
    _cleanup_(proto_sync_request_done) struct proto_sync_request q = {0};
    size_t n = PROTO_CHANGES_MAX + 1, len = 64 + 3 * n;
    _cleanup_free_ char *body = malloc(len);
    struct proto_error err;
    size_t at;

    ASSERT_NOT_NULL(body);
    at = (size_t)snprintf(body, len, "{\"cursor\": \"\", \"pending\": 2, \"changes\": [");
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(body + at, len - at, "%s{}", i ? "," : "");
    snprintf(body + at, len - at, "]}");
    ASSERT_ERRNO(proto_sync_request_decode(body, strlen(body), &q, &err), -E2BIG);
    ASSERT_EQ(err.status, 413);
    ASSERT_STREQ(err.code, "too_many_changes");
    ASSERT_EQ(err.limit, PROTO_CHANGES_MAX);
    /* The device's report still counts the refused batch as waiting. */
    ASSERT_TRUE(q.report_decoded);
    ASSERT_EQ(q.batch_size, (long)n);
    ASSERT_EQ(q.pending, 2u);
}

TEST(refuses_bad_change_value)
{
    _cleanup_(proto_sync_request_done) struct proto_sync_request q = {0};
    char body[1024], value[300];
    struct proto_error err;

    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"cursor\": \"\", \"changes\": [{\"change_id\": \"" CID "\", \"table\": \"person\","
             " \"row_id\": \"" PID "\", \"person_id\": \"" PID "\", \"field\": \"phone\", "
             "\"value\": \"%s\", \"hlc\": \"1763925429000.00003\", \"base_hlc\": null, "
             "\"base_device\": null}]}",
             value);
    ASSERT_REFUSED(proto_sync_request_decode(body, strlen(body), &q, &err), 400, "value_too_long",
                   "value");
    ASSERT_EQ(err.index, 0);
    ASSERT_GT(err.limit, 0);
    ASSERT_LT(err.limit, (int64_t)sizeof(value) - 1);
}

TEST(refuses_bad_resolutions)
{
    static const struct {
        const char *body, *code, *field;
    } cases[] = {
            {"{\"reason\": \"r\"}", "missing_field", "action"},
            {"{\"action\": \"keep\"}", "missing_field", "reason"},
            {"{\"action\": \"drop\", \"reason\": \"r\"}", "invalid_value", "action"},
            {"{\"action\": \"keep\", \"value\": \"v\", \"reason\": \"r\"}", "invalid_value",
             "value"},
            {"{\"action\": \"value\", \"reason\": \"r\"}", "missing_field", "value"},
            {"{\"action\": \"value\", \"value\": 1, \"reason\": \"r\"}", "wrong_type", "value"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(proto_resolve_request_done) struct proto_resolve_request q = {0};
        struct proto_error err;

        ASSERT_REFUSED(proto_resolve_request_decode(cases[i].body, strlen(cases[i].body), &q, &err),
                       400, cases[i].code, cases[i].field);
    }
}

TEST(refuses_bad_names_and_ids)
{
    struct proto_assignment as;
    struct proto_transfer_request tr;
    struct proto_error err;
    const char *s;

    s = "{\"person_id\": \"nobody\", \"user\": \"nurse.ben\", \"action\": \"assign\"}";
    ASSERT_REFUSED(proto_assignment_request_decode(s, strlen(s), &as, &err), 400, "invalid_value",
                   "person_id");
    s = "{\"person_id\": \"" PID "\", \"user\": \"nurse ben\", \"action\": \"assign\"}";
    ASSERT_REFUSED(proto_assignment_request_decode(s, strlen(s), &as, &err), 400, "invalid_value",
                   "user");
    s = "{\"person_id\": \"" PID "\", \"user\": \"nurse.ben\", \"action\": \"give\"}";
    ASSERT_REFUSED(proto_assignment_request_decode(s, strlen(s), &as, &err), 400, "invalid_value",
                   "action");
    s = "{\"from\": \"nurse.ben\"}";
    ASSERT_REFUSED(proto_transfer_request_decode(s, strlen(s), &tr, &err), 400, "missing_field",
                   "to");
    ASSERT_TRUE(access_user_valid("sw.ella_2-b"));
    ASSERT_FALSE(access_user_valid(""));
    ASSERT_FALSE(access_user_valid("a/b"));
}

/* ---- replies a device must refuse ---- */

TEST(sync_reply_refusals)
{
    static const char *const bad[] = {
            "{\"cursor\": \"1\", \"server_hlc\": \"1763925432000.00001\"}",
            "{\"outcomes\": [], \"server_hlc\": \"1763925432000.00001\"}",
            "{\"outcomes\": [], \"cursor\": \"1\", \"server_hlc\": \"soon\"}",
            "{\"outcomes\": [], \"cursor\": \"1\", \"server_hlc\": \"1763925432000.00001\", "
            "\"more\": 1}",
            "{\"outcomes\": [], \"cursor\": \"1\", \"server_hlc\": \"1763925432000.00001\", "
            "\"purge\": [\"x\"]}",
            "{\"outcomes\": [], \"cursor\": \"1\", \"server_hlc\": \"1763925432000.00001\", "
            "\"drop\": [{\"table\": \"nope\", \"row_id\": \"" ROW "\"}]}",
            "{\"outcomes\": [], \"cursor\": \"1\", \"server_hlc\": \"1763925432000.00001\", "
            "\"changes\": [{\"table\": \"goal\"}]}",
            "{\"outcomes\": [{\"change_id\": \"" CID "\", \"outcome\": \"lost\", \"hlc\": "
            "\"1763925429000.00004\", \"current\": {\"value\": 1}}], \"cursor\": \"1\", "
            "\"server_hlc\": \"1763925432000.00001\"}",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0};
        _cleanup_json_ cJSON *root = NULL;
        const char *why = NULL;

        ASSERT_OK(wire_parse(bad[i], strlen(bad[i]), &root, &why));
        ASSERT_ERRNO(proto_sync_reply_decode_json(root, &a, &why), -EBADMSG);
        ASSERT_TRUE(why && *why);
    }
}
