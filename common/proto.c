/* SPDX-License-Identifier: MIT */
/* proto.c - the /v1 bodies: strict request decoders with the daemon's errors, lenient reply
 * decoders for the device, and one encoder per body (docs/PROTOCOL.md is the contract). */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"

/* ---- errors ---- */

const char *proto_clip(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);

    if (n < size) {
        memcpy(buf, s, n + 1);
        return buf;
    }
    n = size - 4;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
}

/* Fill *e with a refusal. @field NULL, @limit < 0 and @index < 0 leave those out. Returns
 * -EBADMSG, what every refusal returns. */
_printf_(7, 8) static int fail(struct proto_error *e, int status, const char *code, int64_t limit,
                               const char *field, long index, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->limit = limit;
    e->has_field = field != NULL;
    if (field)
        proto_clip(field, e->field, sizeof(e->field));
    else
        e->field[0] = '\0';
    e->index = index;
    return -EBADMSG;
}

static const struct {
    const char *code;
    int status;
} error_status[] = {
    {"invalid_value", 400},       {"duplicate_change_id", 400}, {"row_owner_mismatch", 400},
    {"forbidden", 403},           {"not_on_caseload", 403},     {"change_id_reused", 409},
    {"too_many_conflicts", 429},  {"internal_error", 500},      {"busy", 503},
    {"storage_full", 503},
};

int proto_error_status(const char *code)
{
    for (size_t i = 0; code && i < ELEMENTSOF(error_status); i++)
        if (streq(error_status[i].code, code))
            return error_status[i].status;
    return 500;
}

cJSON *proto_error_encode(const struct proto_error *e)
{
    _cleanup_json_ cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_CreateObject();
    bool ok;

    if (!root || !err || !cJSON_AddItemToObject(root, "error", err)) {
        cJSON_Delete(err);
        return NULL;
    }
    ok = cJSON_AddStringToObject(err, "code", e->code) &&
         cJSON_AddStringToObject(err, "message", e->message);
    if (ok && e->limit >= 0)
        ok = cJSON_AddNumberToObject(err, "limit", (double)e->limit);
    if (ok && e->has_field)
        ok = cJSON_AddStringToObject(err, "field", e->field);
    if (ok && e->index >= 0)
        ok = cJSON_AddNumberToObject(err, "index", (double)e->index);
    return ok ? TAKE_PTR(root) : NULL;
}

int proto_error_decode_json(const cJSON *root, struct proto_error *ret)
{
    const cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
    const char *s;
    uint64_t u;

    if (!cJSON_IsObject(e))
        return -EBADMSG;
    *ret = (struct proto_error){.limit = -1, .index = -1};
    if (wire_get_string(e, "code", &s) == 0)
        snprintf(ret->code, sizeof(ret->code), "%s", s);
    if (wire_get_string(e, "message", &s) == 0)
        snprintf(ret->message, sizeof(ret->message), "%s", s);
    if (wire_get_string(e, "field", &s) == 0) {
        proto_clip(s, ret->field, sizeof(ret->field));
        ret->has_field = true;
    }
    if (wire_get_uint(e, "limit", &u) == 0 && u <= INT64_MAX)
        ret->limit = (int64_t)u;
    if (wire_get_uint(e, "index", &u) == 0 && u < 1000000)
        ret->index = (long)u;
    return 0;
}

/* ---- strict parsing of a request body ---- */

/*
 * Parse @body as an object whose members are all in @keys, each once, with no control
 * character in any string. 0 and the tree in *ret, or -ENOMEM, or -EBADMSG/-E2BIG with *err.
 */
static int parse_request(const char *body, size_t len, const char *const *keys, cJSON **ret,
                         struct proto_error *err)
{
    _cleanup_json_ cJSON *root = NULL;
    const char *why = NULL, *bad = NULL;
    char field[PROTO_ECHO_MAX], echo[PROTO_ECHO_MAX];
    unsigned c = 0;
    int r;

    r = wire_parse(body, len, &root, &why);
    if (r == -ENOMEM)
        return r;
    if (r == -E2BIG) {
        fail(err, 400, "json_too_deep", WIRE_MAX_DEPTH, NULL, -1, "%s; flatten the request", why);
        return r;
    }
    if (r < 0) {
        /* wire_parse() says "UTF-8" or "\u0000" for text problems, anything else is syntax. */
        bool text = strstr(why, "UTF-8") || strstr(why, "\\u0000");

        return fail(err, 400, text ? "invalid_utf8" : "malformed_json", -1, NULL, -1, "%s%s", why,
                    strchr(why, ';') ? "" : "; send one well-formed JSON object in UTF-8");
    }
    r = wire_check_keys(root, keys, &bad, &why);
    if (r < 0) {
        bool dup = strstr(why, "duplicate") != NULL;

        return fail(err, 400, dup ? "malformed_json" : "unknown_field", -1, bad, -1,
                    "%s '%s' in the request body; %s", why, proto_clip(bad, echo, sizeof(echo)),
                    dup ? "send each member once" : "remove it (see docs/PROTOCOL.md)");
    }
    /* Every string of every body (PROTOCOL.md "Text"): a raw control character would reach
     * other devices' screens, CSV exports and logs as it is. */
    if (wire_check_text(root, field, sizeof(field), &c) < 0)
        return fail(err, 400, "invalid_value", -1, field, -1,
                    "'%s' holds a control character (U+%04X); text may hold tab and newline "
                    "but no other control characters; remove it",
                    field, c);
    *ret = TAKE_PTR(root);
    return 0;
}

/*
 * String member @key of at most @max bytes (0: any): 0 and *ret (NULL when absent and not
 * @required), or -EBADMSG with *err.
 */
static int member_string(const cJSON *obj, const char *key, bool required, size_t max,
                         const char **ret, struct proto_error *err)
{
    const char *s = NULL;
    int r = wire_get_string(obj, key, &s);

    if (r == -ENOENT && !required) {
        *ret = NULL;
        return 0;
    }
    if (r == -ENOENT)
        return fail(err, 400, "missing_field", -1, key, -1,
                    "the request body needs '%s'; add it (see docs/PROTOCOL.md)", key);
    if (r < 0)
        return fail(err, 400, "wrong_type", -1, key, -1, "'%s' must be a string", key);
    if (max > 0 && strlen(s) > max)
        return fail(err, 400, "value_too_long", (int64_t)max, key, -1,
                    "'%s' is longer than the limit of %zu bytes; shorten it", key, max);
    *ret = s;
    return 0;
}

/* member_string() copied into *ret (NULL when absent). */
static int member_dup(const cJSON *obj, const char *key, bool required, size_t max, char **ret,
                      struct proto_error *err)
{
    const char *s;
    int r = member_string(obj, key, required, max, &s, err);

    if (r < 0)
        return r;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

/* A required user-name member, into @ret (PROTO_NAME_MAX + 1 bytes). */
static int member_user(const cJSON *obj, const char *key, char *ret, struct proto_error *err)
{
    const char *s;
    int r = member_string(obj, key, true, PROTO_NAME_MAX, &s, err);

    if (r < 0)
        return r;
    if (!access_user_valid(s))
        return fail(err, 400, "invalid_value", -1, key, -1,
                    "'%s' must be a user name (letters, digits, '.', '_' and '-')", key);
    memcpy(ret, s, strlen(s) + 1);
    return 0;
}

/* A person id member into @ret; 0 when absent and not @required (*ret_has false). */
static int member_person(const cJSON *obj, const char *key, bool required,
                         char ret[static UUID_STR_MAX], bool *ret_has, struct proto_error *err)
{
    const char *s;
    int r = member_string(obj, key, required, UUID_STR_LEN, &s, err);

    if (r < 0)
        return r;
    if (ret_has)
        *ret_has = s != NULL;
    if (!s)
        return 0;
    if (!uuid_valid(s))
        return fail(err, 400, "invalid_value", -1, key, -1,
                    "'%s' must be a person's id (a lower-case UUID)", key);
    memcpy(ret, s, UUID_STR_MAX);
    return 0;
}

/* Add @v under @key unless it is NULL. */
static int add_opt(cJSON *o, const char *key, const char *v)
{
    return v ? wire_add_string(o, key, v) : 0;
}

/* ---- POST /v1/enrol ---- */

void proto_enrol_request_done(struct proto_enrol_request *q)
{
    free(q->code);
    free(q->device_name);
    free(q->client_version);
    *q = (struct proto_enrol_request){0};
}

int proto_enrol_request_decode(const char *body, size_t len, struct proto_enrol_request *ret,
                               struct proto_error *err)
{
    static const char *const keys[] = {"code", "device_name", "client_version", NULL};
    _cleanup_json_ cJSON *root = NULL;
    int r;

    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_dup(root, "code", true, 0, &ret->code, err);
    if (r >= 0)
        r = member_dup(root, "device_name", false, PROTO_SHORT_STR_MAX, &ret->device_name, err);
    if (r >= 0)
        r = member_dup(root, "client_version", false, PROTO_SHORT_STR_MAX, &ret->client_version,
                       err);
    return r;
}

cJSON *proto_enrol_request_encode(const struct proto_enrol_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "code", q->code) < 0 ||
        add_opt(o, "device_name", q->device_name) < 0 ||
        add_opt(o, "client_version", q->client_version) < 0)
        return NULL;
    return TAKE_PTR(o);
}

void proto_enrol_reply_done(struct proto_enrol_reply *a)
{
    if (a->token)
        explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    free(a->user);
    free(a->role);
    *a = (struct proto_enrol_reply){0};
}

cJSON *proto_enrol_reply_encode(const struct proto_enrol_reply *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "device_id", a->device_id) < 0 ||
        wire_add_string(o, "token", a->token) < 0 || wire_add_string(o, "user", a->user) < 0 ||
        wire_add_string(o, "role", a->role) < 0 || wire_add_hlc(o, "server_hlc", a->server_hlc) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_enrol_reply_decode_json(const cJSON *root, struct proto_enrol_reply *ret)
{
    const char *dev, *token, *user, *role, *hs;
    struct proto_enrol_reply a = {0};

    if (wire_get_string(root, "device_id", &dev) < 0 || !uuid_valid(dev) ||
        wire_get_string(root, "token", &token) < 0 || wire_get_string(root, "user", &user) < 0 ||
        wire_get_string(root, "role", &role) < 0 || wire_get_string(root, "server_hlc", &hs) < 0 ||
        hlc_parse(hs, &a.server_hlc) < 0)
        return -EBADMSG;
    memcpy(a.device_id, dev, UUID_STR_MAX);
    a.token = strdup(token);
    a.user = strdup(user);
    a.role = strdup(role);
    if (!a.token || !a.user || !a.role) {
        proto_enrol_reply_done(&a);
        return -ENOMEM;
    }
    *ret = a;
    return 0;
}

/* ---- POST /v1/sync: the request ---- */

void proto_sync_request_done(struct proto_sync_request *q)
{
    for (size_t i = 0; q->changes && i < q->n_changes; i++)
        wire_change_done(&q->changes[i]);
    free(q->changes);
    free(q->cursor);
    free(q->client_version);
    free(q->last_error);
    free(q->device_time);
    free(q->exports);
    *q = (struct proto_sync_request){.pull = true, .batch_size = -1};
}

/* The longest value field @obj's table/field allow, for value_too_long's "limit". */
static size_t change_value_limit(const cJSON *obj)
{
    const struct cat_table *t;
    const struct cat_field *f = NULL;
    const char *tn, *fn;

    if (wire_get_string(obj, "table", &tn) == 0 && wire_get_string(obj, "field", &fn) == 0) {
        t = catalogue_table(tn);
        f = t ? catalogue_field(t, fn) : NULL;
    }
    if (f && f->type == CAT_TEXT && f->max_len > 0 && f->max_len < CAT_VALUE_MAX)
        return f->max_len;
    return CAT_VALUE_MAX;
}

/*
 * The refusal of change @index that wire_decode_push_change() refused with @r, @why, @where.
 * The code is worked out from the element itself: a member that is absent is missing_field, one
 * of the wrong JSON type is wrong_type, one of the right type with a bad content invalid_value.
 */
static int bad_change(struct proto_error *err, const cJSON *obj, long index, int r, const char *why,
                      const char *where)
{
    char echo[PROTO_ECHO_MAX];
    const cJSON *v;
    const char *code;
    bool nullable;

    where = where ? where : "changes";
    if (r == -E2BIG) {
        size_t limit = change_value_limit(obj);

        return fail(err, 400, "value_too_long", (int64_t)limit, where, index,
                    "changes[%ld].%s: %s (limit %zu bytes); nothing was written", index,
                    proto_clip(where, echo, sizeof(echo)), why, limit);
    }
    nullable = streq(where, "value") || streq(where, "base_hlc") || streq(where, "base_device");
    v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, where) : NULL;
    if (!cJSON_IsObject(obj))
        code = "wrong_type";
    else if (streq(why, "unknown field"))
        code = "unknown_field";
    else if (streq(why, "duplicate field"))
        code = "malformed_json";
    else if (!v)
        code = "missing_field";
    else if (!cJSON_IsString(v) && !(nullable && cJSON_IsNull(v)))
        code = "wrong_type";
    else
        code = "invalid_value";
    return fail(err, 400, code, -1, where, index, "changes[%ld].%s: %s; nothing was written", index,
                proto_clip(where, echo, sizeof(echo)), why);
}

/*
 * A device's wall clock as it reports it: "YYYY-MM-DDTHH:MM:SS[.f...](Z|+HH:MM|-HH:MM)", into
 * Unix ms. Returns 0, or -EINVAL for anything else (a time without a zone says nothing).
 */
static int parse_device_time(const char *s, int64_t *ret)
{
    bool zoned = false;

    if (strlen(s) < 20 || s[16] != ':' || iso_time_parse(s, ret, &zoned) < 0 || !zoned)
        return -EINVAL;
    return 0;
}

/* The sync-health members: oldest_pending_ms, last_error and device_time. */
static int sync_report(const cJSON *body, struct proto_sync_request *q, struct proto_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "oldest_pending_ms");
    const char *s;
    int r;

    if (v) {
        if (!cJSON_IsNumber(v))
            return fail(err, 400, "wrong_type", -1, "oldest_pending_ms", -1,
                        "'oldest_pending_ms' must be a number");
        if (wire_get_uint(body, "oldest_pending_ms", &q->oldest_pending_ms) < 0)
            return fail(err, 400, "invalid_value", -1, "oldest_pending_ms", -1,
                        "'oldest_pending_ms' must be a whole number of at least 0");
        q->has_oldest_pending_ms = true;
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "last_error");
    if (v) {
        if (wire_get_string_or_null(body, "last_error", &s) < 0)
            return fail(err, 400, "wrong_type", -1, "last_error", -1,
                        "'last_error' must be a string or null");
        if (s && strlen(s) > PROTO_LAST_ERROR_MAX)
            return fail(err, 400, "value_too_long", PROTO_LAST_ERROR_MAX, "last_error", -1,
                        "'last_error' is longer than the limit of %d bytes; shorten it",
                        PROTO_LAST_ERROR_MAX);
        if (s && !(q->last_error = strdup(s)))
            return -ENOMEM;
        q->has_last_error = true;
    }
    r = member_dup(body, "device_time", false, PROTO_SHORT_STR_MAX, &q->device_time, err);
    if (r < 0)
        return r;
    if (q->device_time && parse_device_time(q->device_time, &q->device_ms) < 0)
        return fail(err, 400, "invalid_value", -1, "device_time", -1,
                    "'device_time' must be an ISO 8601 date-time with a zone, such as"
                    " 2026-11-23T19:40:00.000Z");
    return 0;
}

/* The optional "exports": [{"person_id", "at"}]. */
static int sync_exports(const cJSON *body, struct proto_sync_request *q, struct proto_error *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "exports"), *e;
    size_t i = 0;

    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > PROTO_CHANGES_MAX)
        return fail(err, 400, "invalid_value", -1, "exports", -1,
                    "'exports' must be an array of at most %d {\"person_id\", \"at\"}",
                    PROTO_CHANGES_MAX);
    q->exports = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*q->exports));
    if (!q->exports)
        return -ENOMEM;
    cJSON_ArrayForEach (e, arr) {
        const char *person = NULL, *at = NULL;

        if (wire_get_string(e, "person_id", &person) < 0 || !person || !uuid_valid(person) ||
            wire_get_string(e, "at", &at) < 0 || !at || !*at || strlen(at) > PROTO_SHORT_STR_MAX)
            return fail(err, 400, "invalid_value", -1, "exports", (long)i,
                        "each export needs \"person_id\" (a person id) and \"at\" (the"
                        " device's time)");
        memcpy(q->exports[i].person_id, person, UUID_STR_MAX);
        memcpy(q->exports[i].at, at, strlen(at) + 1);
        q->n_exports = ++i;
    }
    return 0;
}

int proto_sync_request_decode(const char *body, size_t len, struct proto_sync_request *ret,
                              struct proto_error *err)
{
    static const char *const keys[] = {"cursor",     "changes",        "pull",
                                       "pending",    "client_version", "oldest_pending_ms",
                                       "last_error", "device_time",    "exports",
                                       NULL};
    _cleanup_json_ cJSON *root = NULL;
    const cJSON *changes, *elem, *pend;
    const char *why = NULL, *where = NULL;
    long i = 0;
    int n, r;

    *ret = (struct proto_sync_request){.pull = true, .batch_size = -1};
    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_dup(root, "cursor", true, 0, &ret->cursor, err);
    if (r >= 0)
        r = member_dup(root, "client_version", false, PROTO_SHORT_STR_MAX, &ret->client_version,
                       err);
    if (r >= 0)
        r = sync_report(root, ret, err);
    if (r < 0)
        return r;
    ret->report_decoded = true;
    changes = cJSON_GetObjectItemCaseSensitive(root, "changes");
    if (!changes)
        return fail(err, 400, "missing_field", -1, "changes", -1,
                    "the request body needs 'changes' (an array, may be empty)");
    if (!cJSON_IsArray(changes))
        return fail(err, 400, "wrong_type", -1, "changes", -1, "'changes' must be an array");
    r = wire_get_bool(root, "pull", &ret->pull);
    if (r == -EBADMSG)
        return fail(err, 400, "wrong_type", -1, "pull", -1, "'pull' must be true or false");
    pend = cJSON_GetObjectItemCaseSensitive(root, "pending");
    if (pend) {
        if (!cJSON_IsNumber(pend))
            return fail(err, 400, "wrong_type", -1, "pending", -1, "'pending' must be a number");
        if (wire_get_uint(root, "pending", &ret->pending) < 0)
            return fail(err, 400, "invalid_value", -1, "pending", -1,
                        "'pending' must be a whole number of at least 0");
        ret->has_pending = true;
    }
    n = cJSON_GetArraySize(changes);
    ret->batch_size = n;
    if (n > PROTO_CHANGES_MAX) {
        fail(err, 413, "too_many_changes", PROTO_CHANGES_MAX, "changes", -1,
             "a push may hold at most %d changes, this one has %d; send them in batches",
             PROTO_CHANGES_MAX, n);
        return -E2BIG;
    }
    if (n > 0) {
        ret->changes = calloc((size_t)n, sizeof(*ret->changes));
        if (!ret->changes)
            return -ENOMEM;
    }
    cJSON_ArrayForEach (elem, changes) {
        r = wire_decode_push_change(elem, &ret->changes[i], &why, &where);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            return bad_change(err, elem, i, r, why, where);
        ret->n_changes = (size_t)++i;
    }
    return sync_exports(root, ret, err);
}

cJSON *proto_sync_request_encode(const struct proto_sync_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *arr;

    if (!o)
        return NULL;
    if (q->has_oldest_pending_ms &&
        !cJSON_AddNumberToObject(o, "oldest_pending_ms", (double)q->oldest_pending_ms))
        return NULL;
    if (q->has_last_error && wire_add_string(o, "last_error", q->last_error) < 0)
        return NULL;
    if (add_opt(o, "device_time", q->device_time) < 0 ||
        wire_add_string(o, "cursor", q->cursor ? q->cursor : "") < 0)
        return NULL;
    arr = cJSON_AddArrayToObject(o, "changes");
    if (!arr)
        return NULL;
    for (size_t i = 0; i < q->n_changes; i++) {
        cJSON *c = wire_encode_push_change(&q->changes[i]);

        if (!c || !cJSON_AddItemToArray(arr, c)) {
            cJSON_Delete(c);
            return NULL;
        }
    }
    if (!cJSON_AddBoolToObject(o, "pull", q->pull) ||
        (q->has_pending && !cJSON_AddNumberToObject(o, "pending", (double)q->pending)) ||
        add_opt(o, "client_version", q->client_version) < 0)
        return NULL;
    if (q->n_exports > 0) {
        arr = cJSON_AddArrayToObject(o, "exports");
        if (!arr)
            return NULL;
        for (size_t i = 0; i < q->n_exports; i++) {
            cJSON *e = cJSON_CreateObject();

            if (!e || !cJSON_AddItemToArray(arr, e)) {
                cJSON_Delete(e);
                return NULL;
            }
            if (wire_add_string(e, "person_id", q->exports[i].person_id) < 0 ||
                wire_add_string(e, "at", q->exports[i].at) < 0)
                return NULL;
        }
    }
    return TAKE_PTR(o);
}

/* ---- POST /v1/sync: the reply ---- */

void proto_sync_reply_done(struct proto_sync_reply *a)
{
    for (size_t i = 0; a->outcomes && i < a->n_outcomes; i++)
        free(a->outcomes[i].current_value);
    free(a->outcomes);
    for (size_t i = 0; a->changes && i < a->n_changes; i++)
        wire_change_done(&a->changes[i]);
    free(a->changes);
    free(a->purge);
    free(a->drop);
    free(a->cursor);
    free(a->notice_ids);
    *a = (struct proto_sync_reply){0};
}

int proto_sync_reply_add_outcome(struct proto_sync_reply *a, const struct proto_outcome *o)
{
    struct proto_outcome *d;

    if (array_grow((void **)&a->outcomes, &a->cap_outcomes, a->n_outcomes, sizeof(*a->outcomes),
                   16) < 0)
        return -ENOMEM;
    d = &a->outcomes[a->n_outcomes];
    *d = *o;
    d->current_value = NULL;
    if (o->has_current && o->current_value && !(d->current_value = strdup(o->current_value)))
        return -ENOMEM;
    a->n_outcomes++;
    return 0;
}

int proto_sync_reply_add_change(struct proto_sync_reply *a, const struct cat_table *t,
                                const struct cat_field *f, const char *row_id,
                                const char *person_id, const char *value, uint64_t hlc,
                                const char *device)
{
    struct change_record *c;

    if (array_grow((void **)&a->changes, &a->cap_changes, a->n_changes, sizeof(*a->changes), 16) <
        0)
        return -ENOMEM;
    c = &a->changes[a->n_changes];
    *c = (struct change_record){.table = t, .field = f, .hlc = hlc};
    copy_text(c->row_id, sizeof(c->row_id), row_id);
    copy_text(c->person_id, sizeof(c->person_id), person_id);
    copy_text(c->device, sizeof(c->device), device);
    if (value && !(c->value = strdup(value)))
        return -ENOMEM;
    a->n_changes++;
    return 0;
}

int proto_sync_reply_add_purge(struct proto_sync_reply *a, const char *person_id)
{
    if (array_grow((void **)&a->purge, &a->cap_purge, a->n_purge, sizeof(*a->purge), 16) < 0)
        return -ENOMEM;
    copy_text(a->purge[a->n_purge++], UUID_STR_MAX, person_id);
    return 0;
}

int proto_sync_reply_add_drop(struct proto_sync_reply *a, const struct cat_table *t,
                              const char *row_id)
{
    if (array_grow((void **)&a->drop, &a->cap_drop, a->n_drop, sizeof(*a->drop), 16) < 0)
        return -ENOMEM;
    a->drop[a->n_drop].table = t;
    copy_text(a->drop[a->n_drop++].row_id, UUID_STR_MAX, row_id);
    return 0;
}

int proto_sync_reply_add_notice(struct proto_sync_reply *a, int64_t conflict_id)
{
    if (array_grow((void **)&a->notice_ids, &a->cap_notice_ids, a->n_notice_ids,
                   sizeof(*a->notice_ids), 16) < 0)
        return -ENOMEM;
    a->notice_ids[a->n_notice_ids++] = conflict_id;
    return 0;
}

int proto_sync_reply_set_cursor(struct proto_sync_reply *a, const char *cursor)
{
    char *c = strdup(cursor);

    if (!c)
        return -ENOMEM;
    free(a->cursor);
    a->cursor = c;
    return 0;
}

static int add_bool(cJSON *o, const char *key, bool v)
{
    return cJSON_AddBoolToObject(o, key, v) ? 0 : -ENOMEM;
}

static cJSON *encode_outcome(const struct proto_outcome *oc)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    int r = 0;

    if (!o)
        return NULL;
    r |= wire_add_string_lit(o, "change_id", oc->change_id);
    r |= wire_add_string_lit(o, "outcome", oc->outcome);
    r |= wire_add_hlc_lit(o, "hlc", oc->hlc);
    if (oc->clamped)
        r |= !cJSON_AddTrueToObject(o, "clamped");
    if (oc->conflict)
        r |= !cJSON_AddTrueToObject(o, "conflict");
    if (oc->has_current) {
        cJSON *c = cJSON_AddObjectToObject(o, "current");

        r |= !c;
        if (c) {
            r |= wire_add_string_lit(c, "value", oc->current_value);
            r |= wire_add_hlc_lit(c, "hlc", oc->current_hlc);
            r |= wire_add_string_lit(c, "device", oc->current_device);
        }
    }
    return r ? NULL : TAKE_PTR(o);
}

/* Append @item to @arr, taking it. 0 or -ENOMEM. */
static int push_item(cJSON *arr, cJSON *item)
{
    if (!item || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

cJSON *proto_sync_reply_encode(const struct proto_sync_reply *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *arr, *n;
    int r = 0;

    if (!o || !(arr = cJSON_AddArrayToObject(o, "outcomes")))
        return NULL;
    for (size_t i = 0; r >= 0 && i < a->n_outcomes; i++)
        r = push_item(arr, encode_outcome(&a->outcomes[i]));
    if (r >= 0 && a->rewound)
        r = add_bool(o, "rewound", true);
    if (r >= 0 && !(arr = cJSON_AddArrayToObject(o, "changes")))
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < a->n_changes; i++)
        r = push_item(arr, wire_encode_pull_change(&a->changes[i]));
    if (r >= 0 && !(arr = cJSON_AddArrayToObject(o, "purge")))
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < a->n_purge; i++)
        r = push_item(arr, cJSON_CreateString(a->purge[i]));
    if (r >= 0 && !(arr = cJSON_AddArrayToObject(o, "drop")))
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < a->n_drop; i++) {
        cJSON *d = cJSON_CreateObject();

        r = push_item(arr, d);
        if (r >= 0 && (wire_add_string(d, "table", a->drop[i].table->name) < 0 ||
                       wire_add_string(d, "row_id", a->drop[i].row_id) < 0))
            r = -ENOMEM;
    }
    if (r >= 0)
        r = wire_add_string(o, "cursor", a->cursor ? a->cursor : "");
    if (r >= 0)
        r = add_bool(o, "more", a->more);
    if (r >= 0 && a->reread)
        r = add_bool(o, "reread", true);
    if (r >= 0)
        r = wire_add_hlc(o, "server_hlc", a->server_hlc);
    if (r >= 0 && a->has_notices) {
        n = cJSON_AddObjectToObject(o, "notices");
        arr = n ? cJSON_AddArrayToObject(n, "conflicts") : NULL;
        r = arr ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < a->n_notice_ids; i++)
            r = push_item(arr, cJSON_CreateNumber((double)a->notice_ids[i]));
        if (r >= 0 && !cJSON_AddNumberToObject(n, "lost_values", (double)a->lost_values))
            r = -ENOMEM;
    }
    if (r >= 0 && a->has_policy) {
        n = cJSON_AddObjectToObject(o, "policy");
        if (!n || !cJSON_AddNumberToObject(n, "lock_after_days", (double)a->lock_after_days))
            r = -ENOMEM;
    }
    return r < 0 ? NULL : TAKE_PTR(o);
}

/* "current" of a lost outcome: exactly value, hlc and device. */
static int decode_current(const cJSON *cur, struct proto_outcome *o)
{
    static const char *const keys[] = {"value", "hlc", "device", NULL};
    const char *value, *hs, *dev, *bad, *why;

    if (!cJSON_IsObject(cur) || wire_check_keys(cur, keys, &bad, &why) < 0 ||
        wire_get_string_or_null(cur, "value", &value) < 0 || wire_get_string(cur, "hlc", &hs) < 0 ||
        hlc_parse(hs, &o->current_hlc) < 0 || wire_get_string(cur, "device", &dev) < 0 ||
        !uuid_valid(dev))
        return -EBADMSG;
    memcpy(o->current_device, dev, UUID_STR_MAX);
    if (value && !(o->current_value = strdup(value)))
        return -ENOMEM;
    o->has_current = true;
    return 0;
}

static int decode_outcome(const cJSON *it, struct proto_outcome *o, const char **why)
{
    const char *cid, *outcome, *hs;
    const cJSON *cur;
    int r;

    *o = (struct proto_outcome){0};
    if (!cJSON_IsObject(it) || wire_get_string(it, "change_id", &cid) < 0 ||
        strlen(cid) >= UUID_STR_MAX) {
        *why = "outcomes do not match the changes sent";
        return -EBADMSG;
    }
    memcpy(o->change_id, cid, strlen(cid) + 1);
    if (wire_get_string(it, "outcome", &outcome) < 0 || wire_get_string(it, "hlc", &hs) < 0 ||
        hlc_parse(hs, &o->hlc) < 0) {
        *why = "outcome";
        return -EBADMSG;
    }
    /* An outcome this client does not know is shown as "?" and otherwise ignored. */
    snprintf(o->outcome, sizeof(o->outcome), "%s",
             strlen(outcome) < sizeof(o->outcome) ? outcome : "?");
    if (wire_get_bool(it, "clamped", &o->clamped) == -EBADMSG) {
        *why = "outcome \"clamped\"";
        return -EBADMSG;
    }
    if (wire_get_bool(it, "conflict", &o->conflict) == -EBADMSG) {
        *why = "outcome \"conflict\"";
        return -EBADMSG;
    }
    cur = cJSON_GetObjectItemCaseSensitive(it, "current");
    if (cur && streq(o->outcome, "lost")) {
        r = decode_current(cur, o);
        if (r < 0) {
            *why = "outcome \"current\"";
            return r;
        }
    }
    return 0;
}

/* Optional bool @key of @root into *ret: -EBADMSG with *why when of another type. */
static int opt_bool(const cJSON *root, const char *key, bool *ret, const char *what,
                    const char **why)
{
    if (wire_get_bool(root, key, ret) == -EBADMSG) {
        *why = what;
        return -EBADMSG;
    }
    return 0;
}

/* The advisory members: "notices" and "policy", taken where well-formed. */
static int decode_advice(const cJSON *root, struct proto_sync_reply *a)
{
    const cJSON *notices = cJSON_GetObjectItemCaseSensitive(root, "notices");
    const cJSON *policy = cJSON_GetObjectItemCaseSensitive(root, "policy");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(notices, "conflicts"), *id;

    if (!cJSON_IsArray(ids))
        ids = NULL;

    if (cJSON_IsObject(notices)) {
        a->has_notices = true;
        (void)wire_get_uint(notices, "lost_values", &a->lost_values);
        cJSON_ArrayForEach (id, ids) {
            /* Conflict ids are whole numbers; anything else names no conflict. */
            if (!cJSON_IsNumber(id) || a->n_notice_ids >= PROTO_NOTICE_IDS_MAX ||
                !(id->valuedouble >= -9007199254740992.0 && id->valuedouble <= 9007199254740992.0))
                continue;
            if (proto_sync_reply_add_notice(a, (int64_t)id->valuedouble) < 0)
                return -ENOMEM;
        }
    }
    if (cJSON_IsObject(policy))
        a->has_policy = wire_get_uint(policy, "lock_after_days", &a->lock_after_days) == 0;
    return 0;
}

int proto_sync_reply_decode_json(const cJSON *root, struct proto_sync_reply *ret, const char **why)
{
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0};
    const cJSON *outcomes, *changes, *purge, *drop, *it;
    const char *cursor, *shlc;
    int r;

    outcomes = cJSON_GetObjectItemCaseSensitive(root, "outcomes");
    changes = cJSON_GetObjectItemCaseSensitive(root, "changes");
    purge = cJSON_GetObjectItemCaseSensitive(root, "purge");
    drop = cJSON_GetObjectItemCaseSensitive(root, "drop");
    *why = "\"outcomes\" missing or of the wrong length";
    if (!cJSON_IsArray(outcomes))
        return -EBADMSG;
    *why = "\"changes\" or \"purge\" is not an array";
    if ((changes && !cJSON_IsArray(changes)) || (purge && !cJSON_IsArray(purge)))
        return -EBADMSG;
    *why = "\"drop\" is not an array";
    if (drop && !cJSON_IsArray(drop))
        return -EBADMSG;
    *why = "\"cursor\"";
    if (wire_get_string(root, "cursor", &cursor) < 0)
        return -EBADMSG;
    *why = "\"server_hlc\"";
    if (wire_get_string(root, "server_hlc", &shlc) < 0 || hlc_parse(shlc, &a.server_hlc) < 0)
        return -EBADMSG;
    if (opt_bool(root, "more", &a.more, "\"more\"", why) < 0 ||
        opt_bool(root, "rewound", &a.rewound, "\"rewound\"", why) < 0 ||
        opt_bool(root, "reread", &a.reread, "\"reread\"", why) < 0)
        return -EBADMSG;
    if (proto_sync_reply_set_cursor(&a, cursor) < 0)
        return -ENOMEM;
    cJSON_ArrayForEach (it, outcomes) {
        struct proto_outcome o;

        r = decode_outcome(it, &o, why);
        if (r >= 0) {
            /* Taken as it is: current_value moves into the reply. */
            r = array_grow((void **)&a.outcomes, &a.cap_outcomes, a.n_outcomes, sizeof(*a.outcomes),
                           16);
            if (r >= 0)
                a.outcomes[a.n_outcomes++] = o;
        }
        if (r < 0) {
            free(o.current_value);
            return r;
        }
    }
    cJSON_ArrayForEach (it, changes) {
        struct change_record c = {0};
        const char *where = "";

        r = wire_decode_pull_change(it, &c, why, &where);
        if (r >= 0)
            r = array_grow((void **)&a.changes, &a.cap_changes, a.n_changes, sizeof(*a.changes),
                           16);
        if (r < 0) {
            wire_change_done(&c);
            if (r != -ENOMEM)
                *why = "pulled change";
            return r == -ENOMEM ? r : -EBADMSG;
        }
        a.changes[a.n_changes++] = c;
    }
    cJSON_ArrayForEach (it, drop) {
        const char *tname = NULL, *row = NULL;
        const struct cat_table *t;

        if (wire_get_string(it, "table", &tname) < 0 || wire_get_string(it, "row_id", &row) < 0 ||
            !(t = catalogue_table(tname)) || !uuid_valid(row)) {
            *why = "\"drop\" entry";
            return -EBADMSG;
        }
        if (proto_sync_reply_add_drop(&a, t, row) < 0)
            return -ENOMEM;
    }
    cJSON_ArrayForEach (it, purge) {
        if (!cJSON_IsString(it) || !uuid_valid(it->valuestring)) {
            *why = "\"purge\" entry";
            return -EBADMSG;
        }
        if (proto_sync_reply_add_purge(&a, it->valuestring) < 0)
            return -ENOMEM;
    }
    r = decode_advice(root, &a);
    if (r < 0)
        return r;
    *ret = a;
    a = (struct proto_sync_reply){0};
    return 0;
}

/* ---- POST /v1/conflicts/{id}/resolve ---- */

void proto_resolve_request_done(struct proto_resolve_request *q)
{
    free(q->action);
    free(q->value);
    free(q->reason);
    *q = (struct proto_resolve_request){0};
}

int proto_resolve_request_decode(const char *body, size_t len, struct proto_resolve_request *ret,
                                 struct proto_error *err)
{
    static const char *const keys[] = {"action", "value", "reason", NULL};
    _cleanup_json_ cJSON *root = NULL;
    const cJSON *v;
    const char *value = NULL;
    int r;

    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_dup(root, "action", true, 0, &ret->action, err);
    if (r >= 0)
        r = member_dup(root, "reason", true, PROTO_REASON_MAX, &ret->reason, err);
    if (r < 0)
        return r;
    if (!streq(ret->action, "keep") && !streq(ret->action, "restore") &&
        !streq(ret->action, "value"))
        return fail(err, 400, "invalid_value", -1, "action", -1,
                    "action must be \"keep\", \"restore\" or \"value\"");
    v = cJSON_GetObjectItemCaseSensitive(root, "value");
    if (!streq(ret->action, "value")) {
        if (v)
            return fail(err, 400, "invalid_value", -1, "value", -1,
                        "'value' is only accepted with action \"value\"; remove it");
        return 0;
    }
    if (!v)
        return fail(err, 400, "missing_field", -1, "value", -1,
                    "action \"value\" needs 'value', the value to write");
    if (wire_get_string_or_null(root, "value", &value) < 0)
        return fail(err, 400, "wrong_type", -1, "value", -1, "'value' must be a string or null");
    if (value && strlen(value) > CAT_VALUE_MAX)
        return fail(err, 400, "value_too_long", CAT_VALUE_MAX, "value", -1,
                    "'value' is longer than the limit of %d bytes; shorten it", CAT_VALUE_MAX);
    ret->has_value = true;
    if (value && !(ret->value = strdup(value)))
        return -ENOMEM;
    return 0;
}

cJSON *proto_resolve_request_encode(const struct proto_resolve_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "action", q->action) < 0 ||
        (q->has_value && wire_add_string(o, "value", q->value) < 0) ||
        wire_add_string(o, "reason", q->reason) < 0)
        return NULL;
    return TAKE_PTR(o);
}

/* ---- POST /v1/rows/restore ---- */

void proto_restore_request_done(struct proto_restore_request *q)
{
    free(q->table);
    free(q->row_id);
    free(q->reason);
    *q = (struct proto_restore_request){0};
}

int proto_restore_request_decode(const char *body, size_t len, struct proto_restore_request *ret,
                                 struct proto_error *err)
{
    static const char *const keys[] = {"table", "row_id", "reason", NULL};
    _cleanup_json_ cJSON *root = NULL;
    int r;

    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_dup(root, "table", true, PROTO_ARG_MAX, &ret->table, err);
    if (r >= 0)
        r = member_dup(root, "row_id", true, PROTO_ARG_MAX, &ret->row_id, err);
    if (r >= 0)
        r = member_dup(root, "reason", true, PROTO_REASON_MAX, &ret->reason, err);
    return r;
}

cJSON *proto_restore_request_encode(const struct proto_restore_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "table", q->table) < 0 ||
        wire_add_string(o, "row_id", q->row_id) < 0 || wire_add_string(o, "reason", q->reason) < 0)
        return NULL;
    return TAKE_PTR(o);
}

cJSON *proto_restore_reply_encode(const struct proto_restore_reply *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "table", a->table) < 0 ||
        wire_add_string(o, "row_id", a->row_id) < 0 ||
        wire_add_string(o, "person_id", a->person_id) < 0 ||
        wire_add_string(o, "change_id", a->change_id) < 0)
        return NULL;
    return TAKE_PTR(o);
}

/* A string member of at most @size - 1 bytes copied into @buf; -EBADMSG otherwise. */
static int get_into(const cJSON *root, const char *key, char *buf, size_t size)
{
    const char *s;

    if (wire_get_string(root, key, &s) < 0 || strlen(s) >= size)
        return -EBADMSG;
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

int proto_restore_reply_decode_json(const cJSON *root, struct proto_restore_reply *ret)
{
    struct proto_restore_reply a = {0};

    if (get_into(root, "table", a.table, sizeof(a.table)) < 0 ||
        get_into(root, "row_id", a.row_id, sizeof(a.row_id)) < 0 ||
        get_into(root, "person_id", a.person_id, sizeof(a.person_id)) < 0 ||
        get_into(root, "change_id", a.change_id, sizeof(a.change_id)) < 0)
        return -EBADMSG;
    *ret = a;
    return 0;
}

/* ---- POST /v1/devices/{id}/revoke ---- */

int proto_empty_request_decode(const char *body, size_t len, struct proto_error *err)
{
    static const char *const keys[] = {NULL};
    _cleanup_json_ cJSON *root = NULL;

    return parse_request(body, len, keys, &root, err);
}

cJSON *proto_revoke_reply_encode(const struct proto_revoke_reply *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "device_id", a->device_id) < 0 ||
        add_bool(o, "revoked", a->revoked) < 0 || add_bool(o, "already", a->already) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_revoke_reply_decode_json(const cJSON *root, struct proto_revoke_reply *ret)
{
    struct proto_revoke_reply a = {0};

    if (get_into(root, "device_id", a.device_id, sizeof(a.device_id)) < 0 ||
        wire_get_bool(root, "revoked", &a.revoked) < 0 ||
        wire_get_bool(root, "already", &a.already) < 0)
        return -EBADMSG;
    *ret = a;
    return 0;
}

/* ---- POST /v1/assignments ---- */

int proto_assignment_request_decode(const char *body, size_t len, struct proto_assignment *ret,
                                    struct proto_error *err)
{
    static const char *const keys[] = {"person_id", "user", "action", NULL};
    _cleanup_json_ cJSON *root = NULL;
    const char *action;
    int r;

    *ret = (struct proto_assignment){0};
    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_person(root, "person_id", true, ret->person_id, NULL, err);
    if (r >= 0)
        r = member_user(root, "user", ret->user, err);
    if (r >= 0)
        r = member_string(root, "action", true, 0, &action, err);
    if (r < 0)
        return r;
    if (!streq(action, "assign") && !streq(action, "unassign"))
        return fail(err, 400, "invalid_value", -1, "action", -1,
                    "action must be \"assign\" or \"unassign\"");
    memcpy(ret->action, action, strlen(action) + 1);
    return 0;
}

cJSON *proto_assignment_request_encode(const struct proto_assignment *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "person_id", q->person_id) < 0 ||
        wire_add_string(o, "user", q->user) < 0 || wire_add_string(o, "action", q->action) < 0)
        return NULL;
    return TAKE_PTR(o);
}

cJSON *proto_assignment_reply_encode(const struct proto_assignment *a)
{
    _cleanup_json_ cJSON *o = proto_assignment_request_encode(a);

    if (!o || add_bool(o, "changed", a->changed) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_assignment_reply_decode_json(const cJSON *root, struct proto_assignment *ret)
{
    struct proto_assignment a = {0};

    if (get_into(root, "person_id", a.person_id, sizeof(a.person_id)) < 0 ||
        get_into(root, "user", a.user, sizeof(a.user)) < 0 ||
        get_into(root, "action", a.action, sizeof(a.action)) < 0 ||
        wire_get_bool(root, "changed", &a.changed) < 0)
        return -EBADMSG;
    *ret = a;
    return 0;
}

/* ---- POST /v1/assignments/transfer ---- */

int proto_transfer_request_decode(const char *body, size_t len, struct proto_transfer_request *ret,
                                  struct proto_error *err)
{
    static const char *const keys[] = {"from", "to", "person_id", NULL};
    _cleanup_json_ cJSON *root = NULL;
    int r;

    *ret = (struct proto_transfer_request){0};
    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_user(root, "from", ret->from, err);
    if (r >= 0)
        r = member_user(root, "to", ret->to, err);
    if (r >= 0)
        r = member_person(root, "person_id", false, ret->person_id, &ret->has_person, err);
    return r;
}

cJSON *proto_transfer_request_encode(const struct proto_transfer_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "from", q->from) < 0 || wire_add_string(o, "to", q->to) < 0 ||
        (q->has_person && wire_add_string(o, "person_id", q->person_id) < 0))
        return NULL;
    return TAKE_PTR(o);
}

void proto_transfer_reply_done(struct proto_transfer_reply *a)
{
    free(a->moved);
    free(a->already);
    *a = (struct proto_transfer_reply){0};
}

int proto_transfer_reply_add(struct proto_transfer_reply *a, bool moved, const char *person_id)
{
    char(**v)[UUID_STR_MAX] = moved ? &a->moved : &a->already;
    size_t *n = moved ? &a->n_moved : &a->n_already;
    size_t *cap = moved ? &a->cap_moved : &a->cap_already;

    if (array_grow((void **)v, cap, *n, sizeof(**v), 16) < 0)
        return -ENOMEM;
    copy_text((*v)[(*n)++], UUID_STR_MAX, person_id);
    return 0;
}

/* An array of the @n ids of @v under @key. */
static int add_ids(cJSON *o, const char *key, const char (*v)[UUID_STR_MAX], size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    int r = arr ? 0 : -ENOMEM;

    for (size_t i = 0; r >= 0 && i < n; i++)
        r = push_item(arr, cJSON_CreateString(v[i]));
    return r;
}

cJSON *proto_transfer_reply_encode(const struct proto_transfer_reply *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "from", a->from) < 0 || wire_add_string(o, "to", a->to) < 0 ||
        add_ids(o, "moved", (const char(*)[UUID_STR_MAX])a->moved, a->n_moved) < 0 ||
        add_ids(o, "already", (const char(*)[UUID_STR_MAX])a->already, a->n_already) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_transfer_reply_decode_json(const cJSON *root, struct proto_transfer_reply *ret)
{
    _cleanup_(proto_transfer_reply_done) struct proto_transfer_reply a = {0};
    const char *from, *to;
    const cJSON *it;

    if (wire_get_string(root, "from", &from) < 0 || !access_user_valid(from) ||
        wire_get_string(root, "to", &to) < 0 || !access_user_valid(to))
        return -EBADMSG;
    copy_text(a.from, sizeof(a.from), from);
    copy_text(a.to, sizeof(a.to), to);
    for (int k = 0; k < 2; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, k ? "already" : "moved");

        if (!cJSON_IsArray(arr))
            return -EBADMSG;
        cJSON_ArrayForEach (it, arr) {
            if (!cJSON_IsString(it) || !uuid_valid(it->valuestring))
                return -EBADMSG;
            if (proto_transfer_reply_add(&a, k == 0, it->valuestring) < 0)
                return -ENOMEM;
        }
    }
    *ret = a;
    a = (struct proto_transfer_reply){0};
    return 0;
}

/* ---- POST /v1/people/{id}/named-coordinator ---- */

int proto_named_coordinator_request_decode(const char *body, size_t len,
                                           struct proto_named_coordinator_request *ret,
                                           struct proto_error *err)
{
    static const char *const keys[] = {"user", NULL};
    _cleanup_json_ cJSON *root = NULL;
    int r;

    *ret = (struct proto_named_coordinator_request){0};
    r = parse_request(body, len, keys, &root, err);
    if (r >= 0)
        r = member_user(root, "user", ret->user, err);
    return r;
}

cJSON *proto_named_coordinator_request_encode(const struct proto_named_coordinator_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "user", q->user) < 0)
        return NULL;
    return TAKE_PTR(o);
}

/* ---- GET /v1/people/{id}/team ---- */

static void member_done(struct proto_team_member *m)
{
    free(m->user);
    free(m->role);
    free(m->since);
    *m = (struct proto_team_member){0};
}

void proto_team_done(struct proto_team *a)
{
    for (size_t i = 0; a->team && i < a->n_team; i++)
        member_done(&a->team[i]);
    free(a->team);
    member_done(&a->named_coordinator);
    free(a->name);
    *a = (struct proto_team){0};
}

/* Copy @s (NULL stays NULL) into *ret. */
static int dup_or_null(const char *s, char **ret)
{
    *ret = s ? strdup(s) : NULL;
    return !s || *ret ? 0 : -ENOMEM;
}

static int member_copy(const struct proto_team_member *m, struct proto_team_member *ret)
{
    struct proto_team_member c = {0};

    if (dup_or_null(m->user, &c.user) < 0 || dup_or_null(m->role, &c.role) < 0 ||
        dup_or_null(m->since, &c.since) < 0) {
        member_done(&c);
        return -ENOMEM;
    }
    *ret = c;
    return 0;
}

int proto_team_add(struct proto_team *a, const struct proto_team_member *m)
{
    if (array_grow((void **)&a->team, &a->cap_team, a->n_team, sizeof(*a->team), 8) < 0 ||
        member_copy(m, &a->team[a->n_team]) < 0)
        return -ENOMEM;
    a->n_team++;
    return 0;
}

int proto_team_set_coordinator(struct proto_team *a, const struct proto_team_member *m)
{
    struct proto_team_member c;

    if (member_copy(m, &c) < 0)
        return -ENOMEM;
    member_done(&a->named_coordinator);
    a->named_coordinator = c;
    a->has_named_coordinator = true;
    return 0;
}

static cJSON *member_encode(const struct proto_team_member *m)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "user", m->user) < 0 || wire_add_string(o, "role", m->role) < 0 ||
        wire_add_string(o, "since", m->since) < 0)
        return NULL;
    return TAKE_PTR(o);
}

cJSON *proto_team_encode(const struct proto_team *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *arr;
    int r;

    if (!o || wire_add_string(o, "person_id", a->person_id) < 0 ||
        wire_add_string(o, "name", a->name) < 0)
        return NULL;
    if (a->has_named_coordinator)
        r = wire_add_item(o, "named_coordinator", member_encode(&a->named_coordinator));
    else
        r = wire_add_string(o, "named_coordinator", NULL);
    if (r < 0 || !(arr = cJSON_AddArrayToObject(o, "team")))
        return NULL;
    for (size_t i = 0; r >= 0 && i < a->n_team; i++)
        r = push_item(arr, member_encode(&a->team[i]));
    return r < 0 ? NULL : TAKE_PTR(o);
}

/* A member object: each of user, role and since a string or null. */
static int member_decode(const cJSON *o, struct proto_team_member *ret)
{
    struct proto_team_member m = {0};
    const char *user, *role, *since;

    if (!cJSON_IsObject(o) || wire_get_string_or_null(o, "user", &user) < 0 ||
        wire_get_string_or_null(o, "role", &role) < 0 ||
        wire_get_string_or_null(o, "since", &since) < 0)
        return -EBADMSG;
    m = (struct proto_team_member){(char *)user, (char *)role, (char *)since};
    return member_copy(&m, ret);
}

int proto_team_decode_json(const cJSON *root, struct proto_team *ret)
{
    _cleanup_(proto_team_done) struct proto_team a = {0};
    const cJSON *nc, *arr, *it;
    const char *id, *name;
    int r;

    if (wire_get_string(root, "person_id", &id) < 0 || !uuid_valid(id) ||
        wire_get_string_or_null(root, "name", &name) < 0)
        return -EBADMSG;
    memcpy(a.person_id, id, UUID_STR_MAX);
    if (dup_or_null(name, &a.name) < 0)
        return -ENOMEM;
    nc = cJSON_GetObjectItemCaseSensitive(root, "named_coordinator");
    if (!nc)
        return -EBADMSG;
    if (!cJSON_IsNull(nc)) {
        r = member_decode(nc, &a.named_coordinator);
        if (r < 0)
            return r;
        a.has_named_coordinator = true;
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "team");
    if (!cJSON_IsArray(arr))
        return -EBADMSG;
    cJSON_ArrayForEach (it, arr) {
        struct proto_team_member m;

        r = member_decode(it, &m);
        if (r >= 0 && array_grow((void **)&a.team, &a.cap_team, a.n_team, sizeof(*a.team), 8) < 0) {
            member_done(&m);
            r = -ENOMEM;
        }
        if (r < 0)
            return r;
        a.team[a.n_team++] = m;
    }
    *ret = a;
    a = (struct proto_team){0};
    return 0;
}

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice ---- */

void proto_lifecycle_request_done(struct proto_lifecycle_request *q)
{
    free(q->arg);
    q->arg = NULL;
}

int proto_lifecycle_request_decode(const char *body, size_t len, const char *key,
                                   struct proto_lifecycle_request *ret, struct proto_error *err)
{
    const char *keys[] = {key, NULL};
    _cleanup_json_ cJSON *root = NULL;
    int r;

    *ret = (struct proto_lifecycle_request){.key = key};
    r = parse_request(body, len, keys, &root, err);
    if (r >= 0 && key)
        r = member_dup(root, key, true, PROTO_ARG_MAX, &ret->arg, err);
    return r;
}

cJSON *proto_lifecycle_request_encode(const struct proto_lifecycle_request *q)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || (q->key && wire_add_string(o, q->key, q->arg ? q->arg : "") < 0))
        return NULL;
    return TAKE_PTR(o);
}

/* ---- the coordinators' listings: flat objects described by a table ---- */

/* One member of a flat reply object: where it lives in the struct and what it is. */
enum flat_kind {
    FLAT_STR,  /* char *, NULL = null */
    FLAT_INT,  /* int64_t; with a has_ flag, null when false */
    FLAT_BOOL, /* bool; with a has_ flag, null when false */
    FLAT_HLC,  /* uint64_t as "ms-counter"; with a has_ flag, null when false */
};

struct flat {
    const char *key;
    enum flat_kind kind;
    size_t off;
    ptrdiff_t has; /* offset of the has_ flag, or -1: always there */
};

#define FLAT(type, key, kind, member) {key, kind, offsetof(type, member), -1}
#define FLAT_OPT(type, key, kind, member, flag)                                                   \
    {key, kind, offsetof(type, member), (ptrdiff_t)offsetof(type, flag)}

#define AT(p, off, type) ((type *)(void *)((char *)(p) + (off)))

static void flat_done(const struct flat *t, size_t n, void *p)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].kind == FLAT_STR) {
            free(*AT(p, t[i].off, char *));
            *AT(p, t[i].off, char *) = NULL;
        }
}

static int flat_encode(cJSON *o, const struct flat *t, size_t n, const void *p)
{
    char buf[HLC_STR_MAX];
    int r = 0;

    for (size_t i = 0; i < n && r >= 0; i++) {
        bool null = t[i].has >= 0 && !*AT(p, (size_t)t[i].has, const bool);

        if (null && t[i].kind != FLAT_STR) {
            r = wire_add_string(o, t[i].key, NULL);
            continue;
        }
        switch (t[i].kind) {
        case FLAT_STR:
            r = wire_add_string(o, t[i].key, *AT(p, t[i].off, char *const));
            break;
        case FLAT_INT:
            r = cJSON_AddNumberToObject(o, t[i].key, (double)*AT(p, t[i].off, const int64_t))
                        ? 0
                        : -ENOMEM;
            break;
        case FLAT_BOOL:
            r = add_bool(o, t[i].key, *AT(p, t[i].off, const bool));
            break;
        case FLAT_HLC:
            r = wire_add_string(o, t[i].key, hlc_format(*AT(p, t[i].off, const uint64_t), buf));
            break;
        }
    }
    return r;
}

/* Read every member of @t from @o into *p (zeroed by the caller; on failure flat_done() it). */
static int flat_decode(const cJSON *o, const struct flat *t, size_t n, void *p)
{
    if (!cJSON_IsObject(o))
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, t[i].key);

        if (!v)
            return -EBADMSG;
        if (cJSON_IsNull(v) && (t[i].kind == FLAT_STR || t[i].has >= 0))
            continue;
        if (t[i].has >= 0)
            *AT(p, (size_t)t[i].has, bool) = true;
        switch (t[i].kind) {
        case FLAT_STR:
            if (!cJSON_IsString(v))
                return -EBADMSG;
            if (!(*AT(p, t[i].off, char *) = strdup(v->valuestring)))
                return -ENOMEM;
            break;
        case FLAT_INT:
            if (!cJSON_IsNumber(v) || v->valuedouble < -9e15 || v->valuedouble > 9e15 ||
                v->valuedouble != (double)(int64_t)v->valuedouble)
                return -EBADMSG;
            *AT(p, t[i].off, int64_t) = (int64_t)v->valuedouble;
            break;
        case FLAT_BOOL:
            if (!cJSON_IsBool(v))
                return -EBADMSG;
            *AT(p, t[i].off, bool) = cJSON_IsTrue(v);
            break;
        case FLAT_HLC:
            if (!cJSON_IsString(v) || hlc_parse(v->valuestring, AT(p, t[i].off, uint64_t)) < 0)
                return -EBADMSG;
            break;
        }
    }
    return 0;
}

/* Append a zeroed element to the array *@arr of *@n (room for *@cap) @size-byte elements. */
static void *flat_append(void **arr, size_t *n, size_t *cap, size_t size)
{
    void *e;

    if (array_grow(arr, cap, *n, size, 8) < 0)
        return NULL;
    e = (char *)*arr + *n * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

/* Encode each of @n elements of @arr with @enc into a new array member @key of @o. */
static int flat_encode_array(cJSON *o, const char *key, const void *arr, size_t n, size_t size,
                             cJSON *(*enc)(const void *e))
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    int r = a ? 0 : -ENOMEM;

    for (size_t i = 0; i < n && r >= 0; i++)
        r = push_item(a, enc((const char *)arr + i * size));
    return r;
}

/* Free the members of each of the @n @size-byte elements of @arr, then @arr. */
static void flat_list_done(const struct flat *t, size_t nt, void *arr, size_t n, size_t size)
{
    for (size_t i = 0; arr && i < n; i++)
        flat_done(t, nt, (char *)arr + i * size);
    free(arr);
}

/* Each element of array member @key of @root, decoded by @t, appended to *@arr (*@n of room
 * for *@cap). On failure the elements decoded so far stay for the caller to free. */
static int flat_list_decode(const cJSON *root, const char *key, const struct flat *t, size_t nt,
                            void **arr, size_t *n, size_t *cap, size_t size)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key), *it;

    if (!cJSON_IsArray(a))
        return -EBADMSG;
    cJSON_ArrayForEach (it, a) {
        void *e = flat_append(arr, n, cap, size);
        int r;

        if (!e)
            return -ENOMEM;
        r = flat_decode(it, t, nt, e);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- GET /v1/devices ---- */

static const struct flat device_flat[] = {
        FLAT(struct proto_device, "user", FLAT_STR, user),
        FLAT(struct proto_device, "role", FLAT_STR, role),
        FLAT(struct proto_device, "device_id", FLAT_STR, device_id),
        FLAT(struct proto_device, "name", FLAT_STR, name),
        FLAT(struct proto_device, "enrolled_at", FLAT_STR, enrolled_at),
        FLAT(struct proto_device, "last_sync_at", FLAT_STR, last_sync_at),
        FLAT_OPT(struct proto_device, "since_sync_ms", FLAT_INT, since_sync_ms, has_since_sync_ms),
        FLAT_OPT(struct proto_device, "pending", FLAT_INT, pending, has_pending),
        FLAT_OPT(struct proto_device, "oldest_pending_ms", FLAT_INT, oldest_pending_ms,
                 has_oldest_pending_ms),
        FLAT(struct proto_device, "last_error", FLAT_STR, last_error),
        FLAT(struct proto_device, "client_version", FLAT_STR, client_version),
        FLAT(struct proto_device, "device_time", FLAT_STR, device_time),
        FLAT_OPT(struct proto_device, "clock_skew_ms", FLAT_INT, clock_skew_ms, has_clock_skew_ms),
        FLAT(struct proto_device, "revoked_at", FLAT_STR, revoked_at),
        FLAT(struct proto_device, "revoked", FLAT_BOOL, revoked),
};

void proto_devices_done(struct proto_devices *a)
{
    flat_list_done(device_flat, ELEMENTSOF(device_flat), a->devices, a->n_devices,
                   sizeof(*a->devices));
    *a = (struct proto_devices){0};
}

struct proto_device *proto_devices_add(struct proto_devices *a)
{
    return flat_append((void **)&a->devices, &a->n_devices, &a->cap_devices,
                       sizeof(*a->devices));
}

static cJSON *device_encode(const void *d)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode(o, device_flat, ELEMENTSOF(device_flat), d) < 0)
        return NULL;
    return TAKE_PTR(o);
}

cJSON *proto_devices_encode(const struct proto_devices *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode_array(o, "devices", a->devices, a->n_devices, sizeof(*a->devices),
                                device_encode) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_devices_decode_json(const cJSON *root, struct proto_devices *ret)
{
    _cleanup_(proto_devices_done) struct proto_devices a = {0};
    int r = flat_list_decode(root, "devices", device_flat, ELEMENTSOF(device_flat),
                             (void **)&a.devices, &a.n_devices, &a.cap_devices,
                             sizeof(*a.devices));

    if (r < 0)
        return r;
    *ret = a;
    a = (struct proto_devices){0};
    return 0;
}

/* ---- GET /v1/conflicts, POST /v1/conflicts/{id}/resolve ---- */

#define CF(key, kind, member) FLAT(struct proto_conflict, key, kind, member)

/* Every conflict's members, in the order they are sent. */
static const struct flat conflict_flat[] = {
        CF("id", FLAT_INT, id),
        CF("kind", FLAT_STR, kind),
        CF("priority", FLAT_STR, priority),
        CF("review", FLAT_BOOL, review),
        CF("status", FLAT_STR, status),
        CF("table", FLAT_STR, table),
        CF("row_id", FLAT_STR, row_id),
        CF("person_id", FLAT_STR, person_id),
        CF("person_name", FLAT_STR, person_name),
        CF("field", FLAT_STR, field),
        CF("winner_value", FLAT_STR, winner_value),
        CF("winner_deleted", FLAT_BOOL, winner_deleted),
        FLAT_OPT(struct proto_conflict, "winner_hlc", FLAT_HLC, winner_hlc, has_winner_hlc),
        CF("winner_device", FLAT_STR, winner_device),
        CF("winner_user", FLAT_STR, winner_user),
        CF("loser_value", FLAT_STR, loser_value),
        CF("loser_hlc", FLAT_HLC, loser_hlc),
        CF("loser_device", FLAT_STR, loser_device),
        CF("loser_user", FLAT_STR, loser_user),
        CF("loser_change_id", FLAT_STR, loser_change_id),
        CF("current_value", FLAT_STR, current_value),
        FLAT_OPT(struct proto_conflict, "row_deleted", FLAT_BOOL, row_deleted, has_row_deleted),
        CF("description", FLAT_STR, description),
        CF("created_at", FLAT_STR, created_at),
};

/* A resolved conflict's members, after those; then "resolutions". */
static const struct flat resolved_flat[] = {
        CF("resolution", FLAT_STR, resolution),
        CF("resolved_value", FLAT_STR, resolved_value),
        CF("resolved_by", FLAT_STR, resolved_by),
        CF("resolved_at", FLAT_STR, resolved_at),
        CF("reason", FLAT_STR, reason),
};

static const struct flat resolution_flat[] = {
        FLAT(struct proto_resolution, "action", FLAT_STR, action),
        FLAT(struct proto_resolution, "value", FLAT_STR, value),
        FLAT(struct proto_resolution, "wrote", FLAT_BOOL, wrote),
        FLAT(struct proto_resolution, "reason", FLAT_STR, reason),
        FLAT(struct proto_resolution, "by", FLAT_STR, by),
        FLAT(struct proto_resolution, "at", FLAT_STR, at),
};

void proto_conflict_done(struct proto_conflict *a)
{
    flat_done(conflict_flat, ELEMENTSOF(conflict_flat), a);
    flat_done(resolved_flat, ELEMENTSOF(resolved_flat), a);
    for (size_t i = 0; a->resolutions && i < a->n_resolutions; i++)
        flat_done(resolution_flat, ELEMENTSOF(resolution_flat), &a->resolutions[i]);
    free(a->resolutions);
    *a = (struct proto_conflict){0};
}

struct proto_resolution *proto_conflict_add_resolution(struct proto_conflict *a)
{
    return flat_append((void **)&a->resolutions, &a->n_resolutions, &a->cap_resolutions,
                       sizeof(*a->resolutions));
}

static cJSON *resolution_encode(const void *h)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode(o, resolution_flat, ELEMENTSOF(resolution_flat), h) < 0)
        return NULL;
    return TAKE_PTR(o);
}

cJSON *proto_conflict_encode(const struct proto_conflict *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    int r;

    if (!o)
        return NULL;
    r = flat_encode(o, conflict_flat, ELEMENTSOF(conflict_flat), a);
    if (r >= 0 && a->resolved) {
        r = flat_encode(o, resolved_flat, ELEMENTSOF(resolved_flat), a);
        if (r >= 0)
            r = flat_encode_array(o, "resolutions", a->resolutions, a->n_resolutions,
                                  sizeof(*a->resolutions), resolution_encode);
    }
    if (r >= 0 && a->redacted)
        r = add_bool(o, "redacted", true);
    return r < 0 ? NULL : TAKE_PTR(o);
}

int proto_conflict_decode_json(const cJSON *root, struct proto_conflict *ret)
{
    _cleanup_(proto_conflict_done) struct proto_conflict a = {0};
    const cJSON *hist, *it;
    int r;

    r = flat_decode(root, conflict_flat, ELEMENTSOF(conflict_flat), &a);
    if (r < 0)
        return r;
    a.resolved = cJSON_HasObjectItem(root, "resolution");
    if (a.resolved) {
        r = flat_decode(root, resolved_flat, ELEMENTSOF(resolved_flat), &a);
        if (r < 0)
            return r;
        hist = cJSON_GetObjectItemCaseSensitive(root, "resolutions");
        if (!cJSON_IsArray(hist))
            return -EBADMSG;
        cJSON_ArrayForEach (it, hist) {
            struct proto_resolution *h = proto_conflict_add_resolution(&a);

            if (!h)
                return -ENOMEM;
            r = flat_decode(it, resolution_flat, ELEMENTSOF(resolution_flat), h);
            if (r < 0)
                return r;
        }
    }
    a.redacted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "redacted"));
    *ret = a;
    a = (struct proto_conflict){0};
    return 0;
}

void proto_conflicts_done(struct proto_conflicts *a)
{
    for (size_t i = 0; a->conflicts && i < a->n_conflicts; i++)
        proto_conflict_done(&a->conflicts[i]);
    free(a->conflicts);
    *a = (struct proto_conflicts){0};
}

struct proto_conflict *proto_conflicts_add(struct proto_conflicts *a)
{
    return flat_append((void **)&a->conflicts, &a->n_conflicts, &a->cap_conflicts,
                       sizeof(*a->conflicts));
}

static cJSON *conflict_encode_any(const void *c)
{
    return proto_conflict_encode(c);
}

cJSON *proto_conflicts_encode(const struct proto_conflicts *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode_array(o, "conflicts", a->conflicts, a->n_conflicts,
                                sizeof(*a->conflicts), conflict_encode_any) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_conflicts_decode_json(const cJSON *root, struct proto_conflicts *ret)
{
    _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0};
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "conflicts"), *it;

    if (!cJSON_IsArray(arr))
        return -EBADMSG;
    cJSON_ArrayForEach (it, arr) {
        struct proto_conflict c = {0};
        int r = proto_conflict_decode_json(it, &c);

        if (r < 0)
            return r;
        if (!proto_conflicts_add(&a)) {
            proto_conflict_done(&c);
            return -ENOMEM;
        }
        a.conflicts[a.n_conflicts - 1] = c;
    }
    *ret = a;
    a = (struct proto_conflicts){0};
    return 0;
}

cJSON *proto_resolve_reply_encode(const struct proto_conflict *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_item(o, "conflict", proto_conflict_encode(a)) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_resolve_reply_decode_json(const cJSON *root, struct proto_conflict *ret)
{
    return proto_conflict_decode_json(cJSON_GetObjectItemCaseSensitive(root, "conflict"), ret);
}

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice ---- */

#define PF(key, member) FLAT(struct proto_person, key, FLAT_STR, member)

static const struct flat person_flat[] = {
        PF("person_id", person_id),         PF("name", name),
        PF("birth_date", birth_date),       PF("status", status),
        PF("closed_reason", closed_reason), PF("closed_on", closed_on),
        PF("nhs_number", nhs_number),       PF("gp_practice", gp_practice),
        PF("assigned", assigned),
};

void proto_person_done(struct proto_person *a)
{
    flat_done(person_flat, ELEMENTSOF(person_flat), a);
}

cJSON *proto_person_encode(const struct proto_person *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode(o, person_flat, ELEMENTSOF(person_flat), a) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_person_decode_json(const cJSON *root, struct proto_person *ret)
{
    _cleanup_(proto_person_done) struct proto_person a = {0};
    int r = flat_decode(root, person_flat, ELEMENTSOF(person_flat), &a);

    if (r < 0)
        return r;
    *ret = a;
    a = (struct proto_person){0};
    return 0;
}

cJSON *proto_lifecycle_reply_encode(const struct proto_person *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_item(o, "person", proto_person_encode(a)) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_lifecycle_reply_decode_json(const cJSON *root, struct proto_person *ret)
{
    return proto_person_decode_json(cJSON_GetObjectItemCaseSensitive(root, "person"), ret);
}

void proto_people_done(struct proto_people *a)
{
    flat_list_done(person_flat, ELEMENTSOF(person_flat), a->people, a->n_people,
                   sizeof(*a->people));
    *a = (struct proto_people){0};
}

struct proto_person *proto_people_add(struct proto_people *a)
{
    return flat_append((void **)&a->people, &a->n_people, &a->cap_people, sizeof(*a->people));
}

static cJSON *person_encode_any(const void *p)
{
    return proto_person_encode(p);
}

cJSON *proto_people_encode(const struct proto_people *a)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || flat_encode_array(o, "people", a->people, a->n_people, sizeof(*a->people),
                                person_encode_any) < 0)
        return NULL;
    return TAKE_PTR(o);
}

int proto_people_decode_json(const cJSON *root, struct proto_people *ret)
{
    _cleanup_(proto_people_done) struct proto_people a = {0};
    int r = flat_list_decode(root, "people", person_flat, ELEMENTSOF(person_flat),
                             (void **)&a.people, &a.n_people, &a.cap_people, sizeof(*a.people));

    if (r < 0)
        return r;
    *ret = a;
    a = (struct proto_people){0};
    return 0;
}
