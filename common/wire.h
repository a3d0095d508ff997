/* SPDX-License-Identifier: MIT */
/* wire.h - the JSON wire codec (on cJSON): strict parsing with limits, and change records.
 * docs/PROTOCOL.md is the contract this implements. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "macro.h"
#include "util.h"

#define WIRE_MAX_DEPTH 16 /* deepest JSON nesting accepted */

static inline void cjson_deletep(cJSON **p)
{
    if (*p)
        cJSON_Delete(*p);
}
#define _cleanup_json_ _cleanup_(cjson_deletep)

/*
 * One field of one row: a change pushed by a device, or a field state pulled from the server.
 * Strings are owned by the record (wire_change_done frees them); table and field point into the
 * static catalogue.
 */
struct change_record {
    char change_id[UUID_STR_MAX];      /* push only */
    const struct cat_table *table;
    const struct cat_field *field;
    char row_id[UUID_STR_MAX];
    char person_id[UUID_STR_MAX];
    char *value;                       /* NULL = JSON null */
    uint64_t hlc;
    char device[UUID_STR_MAX];         /* pull: who wrote this version; push: set by the server */
    uint64_t base_hlc;                 /* push only; 0 with base_device "" = no version seen */
    char base_device[UUID_STR_MAX];
};

void wire_change_done(struct change_record *c);

/*
 * wire_parse() - parse a request or response body strictly: well-formed UTF-8 without NUL or
 * "\u0000", nesting at most WIRE_MAX_DEPTH, a JSON object at the top. Returns 0 and the tree
 * in *ret (caller frees with cJSON_Delete), or -EBADMSG/-E2BIG/-ENOMEM with *why set to a
 * static, user-readable reason.
 */
int wire_parse(const char *body, size_t len, cJSON **ret, const char **why);

/*
 * wire_check_keys() - every member of object @obj must be named in the NULL-terminated @allowed
 * list, and appear once. Returns 0, or -EBADMSG with *bad set to the offending key (borrowed
 * from @obj) and *why to "unknown field" or "duplicate field".
 */
int wire_check_keys(const cJSON *obj, const char *const *allowed, const char **bad,
                    const char **why);

/*
 * wire_check_text() - every string in the tree @root (values and member names, at any depth)
 * must be free of the control characters text_control_char() refuses. Returns 0, or -EBADMSG
 * with the path of the first offending string ("changes[3].value", "device_name") in @ret_field
 * (@size bytes, cut short if need be) and the character in *ret_char. @root is borrowed.
 * wire_parse() does not do this itself: a device must still read what an older server stored.
 */
int wire_check_text(const cJSON *root, char *ret_field, size_t size, unsigned *ret_char);

/* Typed getters: 0 on success, -ENOENT when absent, -EBADMSG when of the wrong type. */
int wire_get_string(const cJSON *obj, const char *key, const char **ret);
/* As wire_get_string(), but JSON null yields *ret = NULL. */
int wire_get_string_or_null(const cJSON *obj, const char *key, const char **ret);
int wire_get_bool(const cJSON *obj, const char *key, bool *ret);
/* Integers must be whole, non-negative and at most 2^53. */
int wire_get_uint(const cJSON *obj, const char *key, uint64_t *ret);

/*
 * wire_decode_push_change() - one element of a push "changes" array. Checks every key and type,
 * ids, the clock form, table and field against the catalogue and the value against its field.
 * Returns 0 and fills *ret (call wire_change_done), or -EBADMSG/-E2BIG with *why a static
 * reason and *where the offending key (static or borrowed from @obj).
 */
int wire_decode_push_change(const cJSON *obj, struct change_record *ret, const char **why,
                            const char **where);

/* wire_encode_push_change() - the push form of @c. Returns a new object or NULL (OOM). */
cJSON *wire_encode_push_change(const struct change_record *c);

/* wire_decode_pull_change()/wire_encode_pull_change() - the pulled field-state form. */
int wire_decode_pull_change(const cJSON *obj, struct change_record *ret, const char **why,
                            const char **where);
cJSON *wire_encode_pull_change(const struct change_record *c);

/* wire_add_string() - add @v (NULL = JSON null) under @key. Returns 0 or -ENOMEM. */
int wire_add_string(cJSON *obj, const char *key, const char *v);
/* wire_add_item() - add @item under @key, taking it: on failure it is freed. 0 or -ENOMEM. */
int wire_add_item(cJSON *obj, const char *key, cJSON *item);
/* wire_add_hlc() - add the text form of @h under @key. */
int wire_add_hlc(cJSON *obj, const char *key, uint64_t h);
/* wire_add_string_lit()/wire_add_hlc_lit() - the same with a key that outlives @obj (a string
 * literal), which is not copied: for objects built by the hundred thousand (pull pages). */
int wire_add_string_lit(cJSON *obj, const char *key, const char *v);
int wire_add_hlc_lit(cJSON *obj, const char *key, uint64_t h);
