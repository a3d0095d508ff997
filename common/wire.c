/* SPDX-License-Identifier: MIT */
/* wire.c - strict JSON parsing with limits, and the change record codec. */
#include "wire.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"

void wire_change_done(struct change_record *c)
{
    if (!c)
        return;
    free(c->value);
    c->value = NULL;
}

/* Scan nesting depth outside strings, and refuse "\u0000" (cJSON would cut the string there). */
static int scan(const char *s, size_t len, const char **why)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\') {
                if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
                    *why = "strings must not contain \\u0000";
                    return -EBADMSG;
                }
                i++;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > WIRE_MAX_DEPTH) {
                *why = "JSON nesting is deeper than the limit of 16 levels";
                return -E2BIG;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

int wire_parse(const char *body, size_t len, cJSON **ret, const char **why)
{
    cJSON *root;
    const char *end = NULL;
    int r;

    if (len == 0) {
        *why = "request body is empty; send a JSON object";
        return -EBADMSG;
    }
    if (!utf8_valid(body, len)) {
        *why = "body is not valid UTF-8 (or contains a NUL byte)";
        return -EBADMSG;
    }
    r = scan(body, len, why);
    if (r < 0)
        return r;
    root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root) {
        *why = "body is not well-formed JSON";
        return -EBADMSG;
    }
    /* Only white space may follow the value. */
    while (end && (size_t)(end - body) < len &&
           (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (!end || (size_t)(end - body) != len) {
        cJSON_Delete(root);
        *why = "body has trailing data after the JSON value";
        return -EBADMSG;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *why = "body must be a JSON object";
        return -EBADMSG;
    }
    *ret = root;
    return 0;
}

/* wire_check_text() below @node, whose own path is the first @len bytes of @path. */
static int text_walk(const cJSON *node, char *path, size_t size, size_t len, unsigned *ret_char)
{
    const cJSON *it;
    long i = 0;

    cJSON_ArrayForEach(it, node) {
        bool member = cJSON_IsObject(node);
        size_t n = len;
        unsigned c = 0;
        int w;

        if (member)
            w = snprintf(path + len, size - len, "%s%s", len ? "." : "",
                         it->string ? it->string : "");
        else
            w = snprintf(path + len, size - len, "[%ld]", i);
        if (w > 0)
            n = len + (size_t)w < size ? len + (size_t)w : size - 1;
        if (member)
            c = text_control_char(it->string);
        if (!c && cJSON_IsString(it))
            c = text_control_char(it->valuestring);
        if (c) {
            *ret_char = c;
            return -EBADMSG;
        }
        if ((cJSON_IsArray(it) || cJSON_IsObject(it)) &&
            text_walk(it, path, size, n, ret_char) < 0)
            return -EBADMSG;
        path[len] = '\0';
        i++;
    }
    return 0;
}

int wire_check_text(const cJSON *root, char *ret_field, size_t size, unsigned *ret_char)
{
    if (size == 0)
        return -EINVAL;
    ret_field[0] = '\0';
    return text_walk(root, ret_field, size, 0, ret_char);
}

int wire_check_keys(const cJSON *obj, const char *const *allowed, const char **bad,
                    const char **why)
{
    const cJSON *it;
    unsigned seen = 0;

    cJSON_ArrayForEach(it, obj) {
        unsigned k = 0;
        bool found = false;

        for (const char *const *a = allowed; *a; a++, k++) {
            if (it->string && strcmp(it->string, *a) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            *bad = it->string ? it->string : "";
            *why = "unknown field";
            return -EBADMSG;
        }
        if (k < 32) {
            if (seen & (1u << k)) {
                *bad = it->string;
                *why = "duplicate field";
                return -EBADMSG;
            }
            seen |= 1u << k;
        }
    }
    return 0;
}

int wire_get_string(const cJSON *obj, const char *key, const char **ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v)
        return -ENOENT;
    if (!cJSON_IsString(v) || !v->valuestring)
        return -EBADMSG;
    *ret = v->valuestring;
    return 0;
}

int wire_get_string_or_null(const cJSON *obj, const char *key, const char **ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v)
        return -ENOENT;
    if (cJSON_IsNull(v)) {
        *ret = NULL;
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return -EBADMSG;
    *ret = v->valuestring;
    return 0;
}

int wire_get_bool(const cJSON *obj, const char *key, bool *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v)
        return -ENOENT;
    if (!cJSON_IsBool(v))
        return -EBADMSG;
    *ret = cJSON_IsTrue(v);
    return 0;
}

int wire_get_uint(const cJSON *obj, const char *key, uint64_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d;

    if (!v)
        return -ENOENT;
    if (!cJSON_IsNumber(v))
        return -EBADMSG;
    d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
        return -EBADMSG;
    *ret = (uint64_t)d;
    return 0;
}

static int get_id(const cJSON *obj, const char *key, char out[static UUID_STR_MAX],
                  const char **why, const char **where)
{
    const char *s;
    int r = wire_get_string(obj, key, &s);

    *where = key;
    if (r == -ENOENT) {
        *why = "missing field";
        return -EBADMSG;
    }
    if (r < 0) {
        *why = "expected a string";
        return -EBADMSG;
    }
    if (!uuid_valid(s)) {
        *why = "expected a lower-case UUID";
        return -EBADMSG;
    }
    memcpy(out, s, UUID_STR_MAX);
    return 0;
}

static int get_hlc(const cJSON *obj, const char *key, bool nullable, uint64_t *ret,
                   bool *is_null, const char **why, const char **where)
{
    const char *s;
    int r = wire_get_string_or_null(obj, key, &s);

    *where = key;
    if (r == -ENOENT) {
        *why = "missing field";
        return -EBADMSG;
    }
    if (r < 0 || (!s && !nullable)) {
        *why = "expected a clock string \"MMMMMMMMMMMMM.CCCCC\"";
        return -EBADMSG;
    }
    if (!s) {
        *is_null = true;
        *ret = 0;
        return 0;
    }
    if (is_null)
        *is_null = false;
    if (hlc_parse(s, ret) < 0 || *ret == 0) {
        *why = "expected a clock string \"MMMMMMMMMMMMM.CCCCC\"";
        return -EBADMSG;
    }
    return 0;
}

/* Table, field and value: shared by both directions. */
static int decode_common(const cJSON *obj, struct change_record *c, const char **why,
                         const char **where)
{
    const char *s, *value;
    int r;

    *where = "table";
    if (wire_get_string(obj, "table", &s) < 0) {
        *why = "missing field or not a string";
        return -EBADMSG;
    }
    c->table = catalogue_table(s);
    if (!c->table) {
        *why = "unknown table";
        return -EBADMSG;
    }
    *where = "field";
    if (wire_get_string(obj, "field", &s) < 0) {
        *why = "missing field or not a string";
        return -EBADMSG;
    }
    c->field = catalogue_field(c->table, s);
    if (!c->field) {
        *why = "unknown field for this table";
        return -EBADMSG;
    }
    r = get_id(obj, "row_id", c->row_id, why, where);
    if (r < 0)
        return r;
    r = get_id(obj, "person_id", c->person_id, why, where);
    if (r < 0)
        return r;
    if (strcmp(c->table->name, "person") == 0 && strcmp(c->row_id, c->person_id) != 0) {
        *where = "person_id";
        *why = "a person row's person_id must equal its row_id";
        return -EBADMSG;
    }
    *where = "value";
    r = wire_get_string_or_null(obj, "value", &value);
    if (r < 0) {
        *why = r == -ENOENT ? "missing field" : "expected a string or null";
        return -EBADMSG;
    }
    r = catalogue_check_value(c->field, value, why);
    if (r < 0)
        return r == -E2BIG ? r : -EBADMSG; /* the contract: -EBADMSG or -E2BIG, never -EINVAL */
    if (!value && c->field == &catalogue_deleted_field) {
        *why = "_deleted must be \"0\" or \"1\"";
        return -EBADMSG;
    }
    if (value) {
        c->value = strdup(value);
        if (!c->value) {
            *why = "out of memory";
            return -ENOMEM;
        }
    }
    return 0;
}

int wire_decode_push_change(const cJSON *obj, struct change_record *ret, const char **why,
                            const char **where)
{
    static const char *const keys[] = {"change_id", "table",    "row_id",    "person_id",
                                       "field",     "value",    "hlc",       "base_hlc",
                                       "base_device", NULL};
    struct change_record c = {0};
    const char *bad, *bdev;
    bool base_null = false;
    int r;

    if (!cJSON_IsObject(obj)) {
        *why = "each change must be a JSON object";
        *where = "changes";
        return -EBADMSG;
    }
    r = wire_check_keys(obj, keys, &bad, why);
    if (r < 0) {
        *where = bad;
        return r;
    }
    r = get_id(obj, "change_id", c.change_id, why, where);
    if (r < 0)
        return r;
    r = get_hlc(obj, "hlc", false, &c.hlc, NULL, why, where);
    if (r < 0)
        return r;
    r = get_hlc(obj, "base_hlc", true, &c.base_hlc, &base_null, why, where);
    if (r < 0)
        return r;
    *where = "base_device";
    r = wire_get_string_or_null(obj, "base_device", &bdev);
    if (r < 0) {
        *why = r == -ENOENT ? "missing field" : "expected a string or null";
        return -EBADMSG;
    }
    if ((bdev == NULL) != base_null) {
        *why = "base_hlc and base_device must both be null or both be set";
        return -EBADMSG;
    }
    if (bdev) {
        if (!uuid_valid(bdev)) {
            *why = "expected a lower-case UUID";
            return -EBADMSG;
        }
        memcpy(c.base_device, bdev, UUID_STR_MAX);
    }
    r = decode_common(obj, &c, why, where);
    if (r < 0) {
        wire_change_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

int wire_decode_pull_change(const cJSON *obj, struct change_record *ret, const char **why,
                            const char **where)
{
    static const char *const keys[] = {"table", "row_id", "person_id", "field",
                                       "value", "hlc",    "device",    NULL};
    struct change_record c = {0};
    const char *bad;
    int r;

    if (!cJSON_IsObject(obj)) {
        *why = "each change must be a JSON object";
        *where = "changes";
        return -EBADMSG;
    }
    r = wire_check_keys(obj, keys, &bad, why);
    if (r < 0) {
        *where = bad;
        return r;
    }
    r = get_hlc(obj, "hlc", false, &c.hlc, NULL, why, where);
    if (r < 0)
        return r;
    r = get_id(obj, "device", c.device, why, where);
    if (r < 0)
        return r;
    r = decode_common(obj, &c, why, where);
    if (r < 0) {
        wire_change_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

/* Add @v (NULL = null) under @key, copied unless @literal (then it must outlive @obj). */
static int add_string(cJSON *obj, const char *key, const char *v, bool literal)
{
    cJSON *item = v ? cJSON_CreateString(v) : cJSON_CreateNull();
    bool ok;

    if (!item)
        return -ENOMEM;
    ok = literal ? cJSON_AddItemToObjectCS(obj, key, item) : cJSON_AddItemToObject(obj, key, item);
    if (!ok) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

int wire_add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

int wire_add_string(cJSON *obj, const char *key, const char *v)
{
    return add_string(obj, key, v, false);
}

int wire_add_string_lit(cJSON *obj, const char *key, const char *v)
{
    return add_string(obj, key, v, true);
}

int wire_add_hlc_lit(cJSON *obj, const char *key, uint64_t h)
{
    char buf[HLC_STR_MAX];

    return wire_add_string_lit(obj, key, hlc_format(h, buf));
}

int wire_add_hlc(cJSON *obj, const char *key, uint64_t h)
{
    char buf[HLC_STR_MAX];

    return wire_add_string(obj, key, hlc_format(h, buf));
}

/* Literal keys (not copied): a pull page encodes these by the thousand. */
static int add_common(cJSON *o, const struct change_record *c)
{
    int r = 0;

    r |= wire_add_string_lit(o, "table", c->table->name);
    r |= wire_add_string_lit(o, "row_id", c->row_id);
    r |= wire_add_string_lit(o, "person_id", c->person_id);
    r |= wire_add_string_lit(o, "field", c->field->name);
    r |= wire_add_string_lit(o, "value", c->value);
    r |= wire_add_hlc_lit(o, "hlc", c->hlc);
    return r ? -ENOMEM : 0;
}

cJSON *wire_encode_push_change(const struct change_record *c)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    int r = 0;

    if (!o)
        return NULL;
    r |= wire_add_string(o, "change_id", c->change_id);
    r |= add_common(o, c);
    if (c->base_device[0]) {
        r |= wire_add_hlc(o, "base_hlc", c->base_hlc);
        r |= wire_add_string(o, "base_device", c->base_device);
    } else {
        r |= wire_add_string(o, "base_hlc", NULL);
        r |= wire_add_string(o, "base_device", NULL);
    }
    return r ? NULL : TAKE_PTR(o);
}

cJSON *wire_encode_pull_change(const struct change_record *c)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    int r = 0;

    if (!o)
        return NULL;
    r |= add_common(o, c);
    r |= wire_add_string_lit(o, "device", c->device);
    return r ? NULL : TAKE_PTR(o);
}
