/* SPDX-License-Identifier: MIT */
/* fuzz-wire.c - the JSON wire codec (common/wire.c) on any bytes: wire_parse(), then every
 * decoder on what parses (a push change, each element of a "changes" array, a pulled field
 * state), with a round trip for each change that decodes (encode, print, parse, decode: the same
 * record comes back), and the text parsers under it (hlc_parse, uuid_valid, parse_u64). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hlc.h"
#include "util.h"
#include "wire.h"

#define FUZZ_WIRE_MAX 65536

static void same_record(const struct change_record *a, const struct change_record *b, bool push)
{
    FUZZ_CHECK(a->table == b->table && a->field == b->field);
    FUZZ_CHECK(strcmp(a->row_id, b->row_id) == 0 && strcmp(a->person_id, b->person_id) == 0);
    FUZZ_CHECK(a->hlc == b->hlc);
    FUZZ_CHECK((a->value == NULL) == (b->value == NULL));
    FUZZ_CHECK(!a->value || strcmp(a->value, b->value) == 0);
    if (push) {
        FUZZ_CHECK(strcmp(a->change_id, b->change_id) == 0);
        FUZZ_CHECK(a->base_hlc == b->base_hlc && strcmp(a->base_device, b->base_device) == 0);
    } else {
        FUZZ_CHECK(strcmp(a->device, b->device) == 0);
    }
}

/* Decode @obj as a push (or pull) change; when it decodes, it must survive a round trip. */
static void decode_one(const cJSON *obj, bool push)
{
    struct change_record c = {0}, again = {0};
    const char *why = NULL, *where = NULL;
    cJSON *enc, *reparsed = NULL;
    char *text;
    int r;

    r = push ? wire_decode_push_change(obj, &c, &why, &where)
             : wire_decode_pull_change(obj, &c, &why, &where);
    if (r < 0) {
        /* A refusal always says why, for the 400 the daemon sends. */
        FUZZ_CHECK(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
        FUZZ_CHECK(r == -ENOMEM || (why && *why));
        return;
    }
    enc = push ? wire_encode_push_change(&c) : wire_encode_pull_change(&c);
    FUZZ_CHECK(enc);
    text = cJSON_PrintUnformatted(enc);
    FUZZ_CHECK(text);
    r = wire_parse(text, strlen(text), &reparsed, &why);
    if (r < 0)
        fprintf(stderr, "re-parse of an encoded change failed (%s): %s\n", why, text);
    FUZZ_CHECK(r == 0);
    r = push ? wire_decode_push_change(reparsed, &again, &why, &where)
             : wire_decode_pull_change(reparsed, &again, &why, &where);
    if (r < 0)
        fprintf(stderr, "re-decode failed (%s at %s): %s\n", why, where ? where : "-", text);
    FUZZ_CHECK(r == 0);
    same_record(&c, &again, push);
    wire_change_done(&again);
    cJSON_Delete(reparsed);
    cJSON_free(text);
    cJSON_Delete(enc);
    wire_change_done(&c);
}

static void text_parsers(const uint8_t *data, size_t size)
{
    char buf[64];
    uint64_t u;
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

    memcpy(buf, data, n);
    buf[n] = '\0';
    if (hlc_parse(buf, &u) == 0) {
        char out[HLC_STR_MAX];

        /* The text form is canonical: what parses prints back the same. */
        FUZZ_CHECK(strcmp(hlc_format(u, out), buf) == 0);
    }
    (void)uuid_valid(buf);
    (void)parse_u64(buf, &u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"cursor", "changes", "pull", "pending", NULL};
    const char *why = NULL, *bad = NULL;
    const cJSON *changes, *elem;
    cJSON *root = NULL;
    uint64_t u;
    bool b;
    int r;

    if (size > FUZZ_WIRE_MAX)
        return 0;
    text_parsers(data, size);
    r = wire_parse((const char *)data, size, &root, &why);
    if (r < 0) {
        FUZZ_CHECK(why && *why);
        return 0;
    }
    FUZZ_CHECK(cJSON_IsObject(root));
    (void)wire_check_keys(root, keys, &bad, &why);
    (void)wire_get_uint(root, "pending", &u);
    (void)wire_get_bool(root, "pull", &b);
    changes = cJSON_GetObjectItemCaseSensitive(root, "changes");
    if (cJSON_IsArray(changes)) {
        cJSON_ArrayForEach (elem, changes)
            decode_one(elem, true);
    } else {
        decode_one(root, true);
        decode_one(root, false);
    }
    cJSON_Delete(root);
    return 0;
}
