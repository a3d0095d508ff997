/* SPDX-License-Identifier: MIT */
/* fuzz-proto.c - the /v1 protocol codec (common/proto.c) on any bytes: every request decoder on
 * the input as a body (a refusal always says what to answer), each body that decodes encoded,
 * printed and decoded again to the same struct, and every reply decoder on what parses as JSON
 * (what a device decodes must encode and decode back the same). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

#define FUZZ_PROTO_MAX 65536

/* A refusal names its status, a code and a message. */
static void refused(int r, const struct proto_error *err)
{
    FUZZ_CHECK(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
    if (r == -ENOMEM)
        return;
    FUZZ_CHECK(err->status == 400 || err->status == 413);
    FUZZ_CHECK(err->code[0] && err->message[0]);
}

static char *print_take(cJSON *o)
{
    char *text;

    FUZZ_CHECK(o);
    text = cJSON_PrintUnformatted(o);
    FUZZ_CHECK(text);
    cJSON_Delete(o);
    return text;
}

static void same_change(const struct change_record *a, const struct change_record *b)
{
    FUZZ_CHECK(a->table == b->table && a->field == b->field);
    FUZZ_CHECK(strcmp(a->change_id, b->change_id) == 0 && strcmp(a->row_id, b->row_id) == 0);
    FUZZ_CHECK(strcmp(a->person_id, b->person_id) == 0 && strcmp(a->device, b->device) == 0);
    FUZZ_CHECK(a->hlc == b->hlc && a->base_hlc == b->base_hlc);
    FUZZ_CHECK(strcmp(a->base_device, b->base_device) == 0);
    FUZZ_CHECK((a->value == NULL) == (b->value == NULL));
    FUZZ_CHECK(!a->value || strcmp(a->value, b->value) == 0);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void sync_request(const char *data, size_t size)
{
    struct proto_sync_request q = {0}, back = {0};
    struct proto_error err;
    char *text;
    int r = proto_sync_request_decode(data, size, &q, &err);

    if (r < 0) {
        refused(r, &err);
        proto_sync_request_done(&q);
        return;
    }
    text = print_take(proto_sync_request_encode(&q));
    r = proto_sync_request_decode(text, strlen(text), &back, &err);
    if (r < 0)
        fprintf(stderr, "re-decode failed (%s): %s\n", err.message, text);
    FUZZ_CHECK(r == 0);
    FUZZ_CHECK(same_str(q.cursor, back.cursor) && q.n_changes == back.n_changes);
    for (size_t i = 0; i < q.n_changes; i++)
        same_change(&q.changes[i], &back.changes[i]);
    FUZZ_CHECK(q.pull == back.pull && q.has_pending == back.has_pending &&
               q.pending == back.pending);
    FUZZ_CHECK(same_str(q.client_version, back.client_version));
    FUZZ_CHECK(q.has_oldest_pending_ms == back.has_oldest_pending_ms &&
               q.oldest_pending_ms == back.oldest_pending_ms);
    FUZZ_CHECK(q.has_last_error == back.has_last_error && same_str(q.last_error, back.last_error));
    FUZZ_CHECK(same_str(q.device_time, back.device_time) && q.device_ms == back.device_ms);
    FUZZ_CHECK(q.n_exports == back.n_exports);
    for (size_t i = 0; i < q.n_exports; i++)
        FUZZ_CHECK(memcmp(&q.exports[i], &back.exports[i], sizeof(q.exports[i])) == 0);
    cJSON_free(text);
    proto_sync_request_done(&back);
    proto_sync_request_done(&q);
}

static void small_requests(const char *data, size_t size)
{
    static const char *const lifecycle_keys[] = {NULL, "reason", "nhs_number", "gp_practice"};
    struct proto_enrol_request e = {0}, e2 = {0};
    struct proto_resolve_request rs = {0}, rs2 = {0};
    struct proto_restore_request rr = {0}, rr2 = {0};
    struct proto_assignment as, as2;
    struct proto_transfer_request tr, tr2;
    struct proto_named_coordinator_request nc, nc2;
    struct proto_error err;
    char *text;
    int r;

    r = proto_enrol_request_decode(data, size, &e, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_enrol_request_encode(&e));
        FUZZ_CHECK(proto_enrol_request_decode(text, strlen(text), &e2, &err) == 0);
        FUZZ_CHECK(same_str(e.code, e2.code) && same_str(e.device_name, e2.device_name) &&
                   same_str(e.client_version, e2.client_version));
        cJSON_free(text);
    }
    proto_enrol_request_done(&e);
    proto_enrol_request_done(&e2);

    r = proto_resolve_request_decode(data, size, &rs, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_resolve_request_encode(&rs));
        FUZZ_CHECK(proto_resolve_request_decode(text, strlen(text), &rs2, &err) == 0);
        FUZZ_CHECK(same_str(rs.action, rs2.action) && rs.has_value == rs2.has_value &&
                   same_str(rs.value, rs2.value) && same_str(rs.reason, rs2.reason));
        cJSON_free(text);
    }
    proto_resolve_request_done(&rs);
    proto_resolve_request_done(&rs2);

    r = proto_restore_request_decode(data, size, &rr, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_restore_request_encode(&rr));
        FUZZ_CHECK(proto_restore_request_decode(text, strlen(text), &rr2, &err) == 0);
        FUZZ_CHECK(same_str(rr.table, rr2.table) && same_str(rr.row_id, rr2.row_id) &&
                   same_str(rr.reason, rr2.reason));
        cJSON_free(text);
    }
    proto_restore_request_done(&rr);
    proto_restore_request_done(&rr2);

    r = proto_assignment_request_decode(data, size, &as, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_assignment_request_encode(&as));
        FUZZ_CHECK(proto_assignment_request_decode(text, strlen(text), &as2, &err) == 0);
        FUZZ_CHECK(memcmp(&as, &as2, sizeof(as)) == 0);
        cJSON_free(text);
    }

    r = proto_transfer_request_decode(data, size, &tr, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_transfer_request_encode(&tr));
        FUZZ_CHECK(proto_transfer_request_decode(text, strlen(text), &tr2, &err) == 0);
        FUZZ_CHECK(memcmp(&tr, &tr2, sizeof(tr)) == 0);
        cJSON_free(text);
    }

    r = proto_named_coordinator_request_decode(data, size, &nc, &err);
    if (r < 0) {
        refused(r, &err);
    } else {
        text = print_take(proto_named_coordinator_request_encode(&nc));
        FUZZ_CHECK(proto_named_coordinator_request_decode(text, strlen(text), &nc2, &err) == 0);
        FUZZ_CHECK(strcmp(nc.user, nc2.user) == 0);
        cJSON_free(text);
    }

    for (size_t k = 0; k < sizeof(lifecycle_keys) / sizeof(lifecycle_keys[0]); k++) {
        struct proto_lifecycle_request lq = {0}, lq2 = {0};

        r = proto_lifecycle_request_decode(data, size, lifecycle_keys[k], &lq, &err);
        if (r < 0) {
            refused(r, &err);
        } else {
            text = print_take(proto_lifecycle_request_encode(&lq));
            FUZZ_CHECK(proto_lifecycle_request_decode(text, strlen(text), lifecycle_keys[k], &lq2,
                                                      &err) == 0);
            FUZZ_CHECK(same_str(lq.arg, lq2.arg));
            cJSON_free(text);
        }
        proto_lifecycle_request_done(&lq);
        proto_lifecycle_request_done(&lq2);
    }
    r = proto_empty_request_decode(data, size, &err);
    if (r < 0)
        refused(r, &err);
}

/*
 * A coordinators' listing read from @root: when it decodes, its encoding decodes again and
 * encodes to the same text (nothing is lost or changed on the way); a refusal is -EBADMSG or
 * -ENOMEM.
 */
#define LISTING_AGAIN(type, root, decode, encode, done)                                            \
    do {                                                                                           \
        type a_ = {0}, b_ = {0};                                                                   \
        int r_ = decode(root, &a_);                                                                \
                                                                                                   \
        if (r_ == 0) {                                                                             \
            char *t1_ = print_take(encode(&a_)), *t2_;                                             \
            cJSON *again_ = cJSON_Parse(t1_);                                                      \
                                                                                                   \
            FUZZ_CHECK(again_ && decode(again_, &b_) == 0);                                        \
            t2_ = print_take(encode(&b_));                                                         \
            FUZZ_CHECK(strcmp(t1_, t2_) == 0);                                                     \
            cJSON_Delete(again_);                                                                  \
            cJSON_free(t1_);                                                                       \
            cJSON_free(t2_);                                                                       \
        } else {                                                                                   \
            FUZZ_CHECK(r_ == -EBADMSG || r_ == -ENOMEM);                                           \
        }                                                                                          \
        done(&a_);                                                                                 \
        done(&b_);                                                                                 \
    } while (0)

/* What a coordinator's device reads: the device list, the conflict log, a resolution, a person. */
static void listings(const cJSON *root)
{
    LISTING_AGAIN(struct proto_devices, root, proto_devices_decode_json, proto_devices_encode,
                  proto_devices_done);
    LISTING_AGAIN(struct proto_conflicts, root, proto_conflicts_decode_json,
                  proto_conflicts_encode, proto_conflicts_done);
    LISTING_AGAIN(struct proto_conflict, root, proto_resolve_reply_decode_json,
                  proto_resolve_reply_encode, proto_conflict_done);
    LISTING_AGAIN(struct proto_person, root, proto_lifecycle_reply_decode_json,
                  proto_lifecycle_reply_encode, proto_person_done);
    LISTING_AGAIN(struct proto_people, root, proto_people_decode_json, proto_people_encode,
                  proto_people_done);
}

/* What a device reads: a sync reply and an error, from a parsed tree. */
static void replies(const cJSON *root)
{
    struct proto_sync_reply a = {0}, b = {0};
    struct proto_error e, e2;
    const char *why = NULL;
    cJSON *again;
    int r;

    r = proto_sync_reply_decode_json(root, &a, &why);
    if (r == 0) {
        again = proto_sync_reply_encode(&a);
        FUZZ_CHECK(again);
        FUZZ_CHECK(proto_sync_reply_decode_json(again, &b, &why) == 0);
        FUZZ_CHECK(a.n_outcomes == b.n_outcomes && a.n_changes == b.n_changes &&
                   a.n_purge == b.n_purge && a.n_drop == b.n_drop);
        for (size_t i = 0; i < a.n_changes; i++)
            same_change(&a.changes[i], &b.changes[i]);
        for (size_t i = 0; i < a.n_outcomes; i++) {
            FUZZ_CHECK(strcmp(a.outcomes[i].change_id, b.outcomes[i].change_id) == 0);
            FUZZ_CHECK(a.outcomes[i].hlc == b.outcomes[i].hlc);
            FUZZ_CHECK(a.outcomes[i].has_current == b.outcomes[i].has_current);
            FUZZ_CHECK(same_str(a.outcomes[i].current_value, b.outcomes[i].current_value));
        }
        FUZZ_CHECK(same_str(a.cursor, b.cursor) && a.more == b.more &&
                   a.server_hlc == b.server_hlc && a.rewound == b.rewound);
        FUZZ_CHECK(a.lost_values == b.lost_values && a.n_notice_ids == b.n_notice_ids);
        cJSON_Delete(again);
    } else {
        FUZZ_CHECK(r == -ENOMEM || (r == -EBADMSG && why && *why));
    }
    proto_sync_reply_done(&a);
    proto_sync_reply_done(&b);
    if (proto_error_decode_json(root, &e) == 0) {
        again = proto_error_encode(&e);
        FUZZ_CHECK(again);
        FUZZ_CHECK(proto_error_decode_json(again, &e2) == 0);
        FUZZ_CHECK(strcmp(e.code, e2.code) == 0 && strcmp(e.message, e2.message) == 0);
        FUZZ_CHECK(e.index == e2.index && e.limit == e2.limit);
        cJSON_Delete(again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *why = NULL;
    cJSON *root = NULL;

    if (size > FUZZ_PROTO_MAX)
        return 0;
    sync_request(text, size);
    small_requests(text, size);
    if (wire_parse(text, size, &root, &why) == 0) {
        replies(root);
        listings(root);
        cJSON_Delete(root);
    }
    return 0;
}
