/* SPDX-License-Identifier: MIT */
/* test-wire.c - strict JSON parsing (UTF-8, NUL, depth, trailing data, top-level object), key
 * checks, typed getters, decoding pushed changes (each kind of bad change) and the
 * encode -> decode round trip of both change forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hlc.h"
#include "wire.h"

#define ROW   "0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f"
#define CID   "0193c6b2-6a4e-7c4d-9b1e-000000000c01"
#define DEV   "0193c6b2-6a4e-7c4d-9b1e-00000000d001"
#define OTHER "0193c6b2-6a4e-7c4d-9b1e-000000000002"

static int parse_str(const char *s, cJSON **ret, const char **why)
{
    return wire_parse(s, strlen(s), ret, why);
}

TEST(parse_accepts_objects)
{
    static const char *const good[] = {
        "{}", " {\"a\":1} ", "{}\n", "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"a\":\"\\\\u0000\"}", /* an escaped backslash followed by the text u0000 */
        "{\"a\":\"\\u00e9\"}",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        _cleanup_json_ cJSON *root = NULL;
        const char *why = NULL;
        int r = parse_str(good[i], &root, &why);

        if (r < 0)
            fprintf(stderr, "refused %s: %s\n", good[i], why);
        ASSERT_OK(r);
        ASSERT_TRUE(cJSON_IsObject(root));
    }
}

TEST(parse_rejects)
{
    static const struct {
        const char *body;
        size_t len; /* 0 = strlen */
    } bad[] = {
        {"", 0},
        {"{", 0},
        {"{\"a\":}", 0},
        {"{\"a\":\"\xff\"}", 0},               /* invalid byte */
        {"{\"a\":\"\xc0\xaf\"}", 0},           /* overlong encoding */
        {"{\"a\":\"\xed\xa0\x80\"}", 0},       /* UTF-16 surrogate */
        {"{\"a\":\"\xe2\x82\"}", 0},           /* truncated sequence */
        {"{\"a\":\"x\0y\"}", 10},              /* raw NUL byte */
        {"{\"a\":\"\\u0000\"}", 0},            /* escaped NUL */
        {"{\"a\":\"abc\\u0000def\"}", 0},
        {"{} x", 0},                          /* trailing data */
        {"{}{}", 0},
        {"{}\n{}", 0},
        {"[]", 0},                            /* not an object */
        {"[{}]", 0},
        {"1", 0},
        {"\"s\"", 0},
        {"null", 0},
        {"true", 0},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *root = NULL;
        const char *why = NULL;
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].body);
        int r = wire_parse(bad[i].body, len, &root, &why);

        if (r >= 0)
            fprintf(stderr, "accepted case %zu\n", i);
        ASSERT_ERRNO(r, -EBADMSG);
        ASSERT_NULL(root);
        ASSERT_NOT_NULL(why);
    }
}

static char *nested(int depth)
{
    /* {"a": [[[ ... ]]] } with depth levels in all */
    size_t n = (size_t)depth * 2 + 8;
    char *s = malloc(n), *p = s;

    if (!s)
        abort();
    memcpy(p, "{\"a\":", 5);
    p += 5;
    for (int i = 1; i < depth; i++)
        *p++ = '[';
    for (int i = 1; i < depth; i++)
        *p++ = ']';
    *p++ = '}';
    *p = '\0';
    return s;
}

TEST(parse_depth_limit)
{
    _cleanup_free_ char *ok = nested(WIRE_MAX_DEPTH);
    _cleanup_free_ char *deep = nested(WIRE_MAX_DEPTH + 1);
    _cleanup_free_ char *very = nested(5000);
    _cleanup_json_ cJSON *root = NULL;
    cJSON *none = NULL;
    const char *why = NULL;

    ASSERT_EQ(WIRE_MAX_DEPTH, 16);
    ASSERT_OK(parse_str(ok, &root, &why));
    ASSERT_ERRNO(parse_str(deep, &none, &why), -E2BIG);
    ASSERT_NULL(none);
    ASSERT_NOT_NULL(strstr(why, "16"));
    ASSERT_ERRNO(parse_str(very, &none, &why), -E2BIG);
    /* brackets inside strings do not count */
    {
        _cleanup_json_ cJSON *r2 = NULL;

        ASSERT_OK(parse_str("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &r2, &why));
    }
}

TEST(check_keys)
{
    static const char *const allowed[] = {"a", "b", NULL};
    struct {
        const char *body;
        int want;
        const char *bad, *why;
    } t[] = {
        {"{}", 0, NULL, NULL},
        {"{\"a\":1}", 0, NULL, NULL},
        {"{\"b\":1,\"a\":2}", 0, NULL, NULL},
        {"{\"a\":1,\"c\":2}", -EBADMSG, "c", "unknown field"},
        {"{\"A\":1}", -EBADMSG, "A", "unknown field"},
        {"{\"a\":1,\"a\":2}", -EBADMSG, "a", "duplicate field"},
        {"{\"a\":1,\"b\":2,\"b\":3}", -EBADMSG, "b", "duplicate field"},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        _cleanup_json_ cJSON *root = NULL;
        const char *why = NULL, *bad = NULL;

        ASSERT_OK(parse_str(t[i].body, &root, &why));
        ASSERT_ERRNO(wire_check_keys(root, allowed, &bad, &why), t[i].want);
        if (t[i].want < 0) {
            ASSERT_STREQ(bad, t[i].bad);
            ASSERT_STREQ(why, t[i].why);
        }
    }
}

TEST(getters)
{
    _cleanup_json_ cJSON *root = NULL;
    const char *why, *s = "untouched";
    bool b = false;
    uint64_t u = 0;

    ASSERT_OK(parse_str("{\"s\":\"x\",\"n\":null,\"t\":true,\"i\":42,\"big\":9007199254740992,"
                        "\"over\":9007199254740994,\"neg\":-1,\"frac\":1.5,\"str1\":\"1\"}",
                        &root, &why));
    ASSERT_OK(wire_get_string(root, "s", &s));
    ASSERT_STREQ(s, "x");
    ASSERT_ERRNO(wire_get_string(root, "missing", &s), -ENOENT);
    ASSERT_ERRNO(wire_get_string(root, "n", &s), -EBADMSG);
    ASSERT_ERRNO(wire_get_string(root, "i", &s), -EBADMSG);
    ASSERT_OK(wire_get_string_or_null(root, "n", &s));
    ASSERT_NULL(s);
    ASSERT_ERRNO(wire_get_string_or_null(root, "t", &s), -EBADMSG);
    ASSERT_OK(wire_get_bool(root, "t", &b));
    ASSERT_TRUE(b);
    ASSERT_ERRNO(wire_get_bool(root, "i", &b), -EBADMSG);
    ASSERT_OK(wire_get_uint(root, "i", &u));
    ASSERT_EQ(u, 42);
    ASSERT_OK(wire_get_uint(root, "big", &u));
    ASSERT_EQ(u, INT64_C(9007199254740992));
    ASSERT_ERRNO(wire_get_uint(root, "over", &u), -EBADMSG);
    ASSERT_ERRNO(wire_get_uint(root, "neg", &u), -EBADMSG);
    ASSERT_ERRNO(wire_get_uint(root, "frac", &u), -EBADMSG);
    ASSERT_ERRNO(wire_get_uint(root, "str1", &u), -EBADMSG);
    ASSERT_ERRNO(wire_get_uint(root, "missing", &u), -ENOENT);
}

/* A valid pushed change to person.phone; "%s" slots are replaced per case by edit(). */
#define GOOD_CHANGE                                                                                \
    "{\"change_id\":\"" CID "\",\"table\":\"person\",\"row_id\":\"" ROW "\","                      \
    "\"person_id\":\"" ROW "\",\"field\":\"phone\",\"value\":\"0131 496 0000\","                   \
    "\"hlc\":\"1763925429000.00003\",\"base_hlc\":\"1763920000000.00000\","                        \
    "\"base_device\":\"" DEV "\"}"

/* Decode one change from text. *where may borrow from the parsed tree, so it is copied into
 * a static buffer before the tree is freed. */
static int decode(const char *json, struct change_record *c, const char **why, const char **where)
{
    static char where_buf[128];
    _cleanup_json_ cJSON *root = NULL;
    const char *w = NULL;
    int r = parse_str(json, &root, why);

    if (r < 0) {
        *where = "(parse)";
        return r;
    }
    r = wire_decode_push_change(root, c, why, &w);
    if (r < 0) {
        snprintf(where_buf, sizeof(where_buf), "%s", w ? w : "(null)");
        *where = where_buf;
    }
    return r;
}

TEST(decode_push_good)
{
    struct change_record c = {0};
    const char *why = NULL, *where = NULL;

    ASSERT_OK(decode(GOOD_CHANGE, &c, &why, &where));
    ASSERT_STREQ(c.change_id, CID);
    ASSERT_STREQ(c.table->name, "person");
    ASSERT_STREQ(c.field->name, "phone");
    ASSERT_STREQ(c.row_id, ROW);
    ASSERT_STREQ(c.person_id, ROW);
    ASSERT_STREQ(c.value, "0131 496 0000");
    ASSERT_EQ(c.hlc, hlc_pack(UINT64_C(1763925429000), 3));
    ASSERT_EQ(c.base_hlc, hlc_pack(UINT64_C(1763920000000), 0));
    ASSERT_STREQ(c.base_device, DEV);
    wire_change_done(&c);
    ASSERT_NULL(c.value);
}

/* Replace the first occurrence of @from in GOOD_CHANGE by @to. */
static char *edit(const char *from, const char *to)
{
    const char *base = GOOD_CHANGE, *p = strstr(base, from);
    char *out;

    if (!p)
        abort();
    size_t n = strlen(base) - strlen(from) + strlen(to) + 1;

    out = malloc(n);
    if (!out)
        abort();
    snprintf(out, n, "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
    return out;
}

TEST(decode_push_variants_accepted)
{
    static const char *const ok[][2] = {
        {"\"value\":\"0131 496 0000\"", "\"value\":null"},
        {"\"base_hlc\":\"1763920000000.00000\",\"base_device\":\"" DEV "\"",
         "\"base_hlc\":null,\"base_device\":null"},
        {"\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"birth_date\",\"value\":\"1944-02-29\""},
        {"\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"_deleted\",\"value\":\"1\""},
        {"\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"_deleted\",\"value\":\"0\""},
        {"\"value\":\"0131 496 0000\"",
         "\"value\":\"1234567890123456789012345678901234567890123456789012345678901234\""},
        {"\"table\":\"person\",\"row_id\":\"" ROW "\"",
         "\"table\":\"goal\",\"row_id\":\"" OTHER "\""},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        _cleanup_free_ char *json = NULL;
        struct change_record c = {0};
        const char *why = NULL, *where = NULL;
        int r;

        /* the goal case needs a goal field */
        if (i == 6) {
            _cleanup_free_ char *tmp = edit(ok[i][0], ok[i][1]);
            const char *f = "\"field\":\"phone\"";
            char *p = strstr(tmp, f);

            json = malloc(strlen(tmp) + 32);
            ASSERT_NOT_NULL(json);
            snprintf(json, strlen(tmp) + 32, "%.*s\"field\":\"description\"%s", (int)(p - tmp), tmp,
                    p + strlen(f));
        } else {
            json = edit(ok[i][0], ok[i][1]);
        }
        r = decode(json, &c, &why, &where);
        if (r < 0)
            fprintf(stderr, "refused %s: %s: %s\n", json, where, why);
        ASSERT_OK(r);
        wire_change_done(&c);
    }
}

TEST(decode_push_rejects)
{
    static const struct {
        const char *what, *from, *to;
        int want;
        const char *where;
    } t[] = {
        {"upper-case uuid", "\"change_id\":\"" CID,
         "\"change_id\":\"0193C6B2-6A4E-7C4D-9B1E-000000000C01", -EBADMSG, "change_id"},
        {"short uuid", "\"row_id\":\"" ROW, "\"row_id\":\"0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8",
         -EBADMSG, "row_id"},
        {"uuid without dashes", "\"change_id\":\"" CID,
         "\"change_id\":\"0193c6b26a4e7c4d9b1e000000000c01", -EBADMSG, "change_id"},
        {"unknown table", "\"table\":\"person\"", "\"table\":\"patients\"", -EBADMSG, "table"},
        {"sql in table name", "\"table\":\"person\"", "\"table\":\"person; DROP TABLE x\"",
         -EBADMSG, "table"},
        {"unknown field", "\"field\":\"phone\"", "\"field\":\"shoe_size\"", -EBADMSG, "field"},
        {"field of another table", "\"field\":\"phone\"", "\"field\":\"description\"", -EBADMSG,
         "field"},
        {"impossible date", "\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"birth_date\",\"value\":\"1990-02-30\"", -EBADMSG, "value"},
        {"date without padding", "\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"birth_date\",\"value\":\"1990-1-01\"", -EBADMSG, "value"},
        {"date that is a date-time", "\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"birth_date\",\"value\":\"1990-01-01T00:00\"", -EBADMSG, "value"},
        {"too-long value (65 bytes for a 64-byte phone)", "\"value\":\"0131 496 0000\"",
         "\"value\":\"12345678901234567890123456789012345678901234567890123456789012345\"",
         -E2BIG, "value"},
        {"value is a number", "\"value\":\"0131 496 0000\"", "\"value\":1314960000", -EBADMSG,
         "value"},
        {"_deleted null", "\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"_deleted\",\"value\":null", -EBADMSG, "value"},
        {"_deleted 2", "\"field\":\"phone\",\"value\":\"0131 496 0000\"",
         "\"field\":\"_deleted\",\"value\":\"2\"", -EBADMSG, "value"},
        {"base_hlc without base_device", "\"base_device\":\"" DEV "\"", "\"base_device\":null",
         -EBADMSG, "base_device"},
        {"base_device without base_hlc", "\"base_hlc\":\"1763920000000.00000\"",
         "\"base_hlc\":null", -EBADMSG, "base_device"},
        {"base_device not a uuid", "\"base_device\":\"" DEV "\"", "\"base_device\":\"dev-1\"",
         -EBADMSG, "base_device"},
        {"person row with person_id != row_id", "\"person_id\":\"" ROW,
         "\"person_id\":\"" OTHER, -EBADMSG, "person_id"},
        {"bad clock", "\"hlc\":\"1763925429000.00003\"", "\"hlc\":\"1763925429000.3\"",
         -EBADMSG, "hlc"},
        {"clock counter too big", "\"hlc\":\"1763925429000.00003\"",
         "\"hlc\":\"1763925429000.65536\"", -EBADMSG, "hlc"},
        {"zero clock", "\"hlc\":\"1763925429000.00003\"", "\"hlc\":\"0000000000000.00000\"",
         -EBADMSG, "hlc"},
        {"null clock", "\"hlc\":\"1763925429000.00003\"", "\"hlc\":null", -EBADMSG, "hlc"},
        {"clock as a number", "\"hlc\":\"1763925429000.00003\"", "\"hlc\":1763925429000",
         -EBADMSG, "hlc"},
        {"unknown key", "\"value\":", "\"author\":\"bob\",\"value\":", -EBADMSG, "author"},
        {"duplicate key", "\"value\":", "\"value\":\"x\",\"value\":", -EBADMSG, "value"},
        {"missing key", "\"field\":\"phone\",", "", -EBADMSG, "field"},
        {"missing change_id", "\"change_id\":\"" CID "\",", "", -EBADMSG, "change_id"},
        {"missing base_hlc", "\"base_hlc\":\"1763920000000.00000\",", "", -EBADMSG, "base_hlc"},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        _cleanup_free_ char *json = edit(t[i].from, t[i].to);
        struct change_record c = {0}, sentinel;
        const char *why = NULL, *where = NULL;
        int r;

        memset(&c, 0x5a, sizeof(c));
        sentinel = c;
        r = decode(json, &c, &why, &where);
        if (r != t[i].want || (where && strcmp(where, t[i].where) != 0))
            fprintf(stderr, "case '%s': r=%d where=%s why=%s\n", t[i].what, r,
                    where ? where : "(null)", why ? why : "(null)");
        ASSERT_ERRNO(r, t[i].want);
        ASSERT_NOT_NULL(why);
        ASSERT_STREQ(where, t[i].where);
        ASSERT_TRUE(memcmp(&c, &sentinel, sizeof(c)) == 0); /* untouched on failure */
    }
}

TEST(decode_push_rejects_non_object)
{
    _cleanup_json_ cJSON *root = NULL;
    struct change_record c = {0};
    const char *why = NULL, *where = NULL;

    ASSERT_OK(parse_str("{\"changes\":[\"x\",1,null,[]]}", &root, &why));
    for (int i = 0; i < 4; i++) {
        const cJSON *el = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "changes"), i);

        ASSERT_ERRNO(wire_decode_push_change(el, &c, &why, &where), -EBADMSG);
    }
}

static struct change_record sample(const char *value, bool with_base)
{
    struct change_record c = {0};

    memcpy(c.change_id, CID, UUID_STR_MAX);
    c.table = catalogue_table("goal");
    c.field = catalogue_field(c.table, "description");
    memcpy(c.row_id, OTHER, UUID_STR_MAX);
    memcpy(c.person_id, ROW, UUID_STR_MAX);
    c.value = value ? strdup(value) : NULL;
    c.hlc = hlc_pack(UINT64_C(1763925429123), 65535);
    memcpy(c.device, DEV, UUID_STR_MAX);
    if (with_base) {
        c.base_hlc = hlc_pack(UINT64_C(1763925420000), 1);
        memcpy(c.base_device, DEV, UUID_STR_MAX);
    }
    return c;
}

static void round_trip(const char *value, bool with_base, bool pull)
{
    struct change_record in = sample(value, with_base), out = {0};
    _cleanup_json_ cJSON *enc = NULL, *back = NULL;
    _cleanup_free_ char *text = NULL;
    const char *why = NULL, *where = NULL;
    int r;

    enc = pull ? wire_encode_pull_change(&in) : wire_encode_push_change(&in);
    ASSERT_NOT_NULL(enc);
    text = cJSON_PrintUnformatted(enc);
    ASSERT_NOT_NULL(text);
    ASSERT_OK(parse_str(text, &back, &why));
    r = pull ? wire_decode_pull_change(back, &out, &why, &where)
             : wire_decode_push_change(back, &out, &why, &where);
    if (r < 0)
        fprintf(stderr, "%s: %s: %s\n", text, where, why);
    ASSERT_OK(r);
    ASSERT_TRUE(out.table == in.table);
    ASSERT_TRUE(out.field == in.field);
    ASSERT_STREQ(out.row_id, in.row_id);
    ASSERT_STREQ(out.person_id, in.person_id);
    ASSERT_STREQ(out.value, in.value);
    ASSERT_EQ(out.hlc, in.hlc);
    if (pull) {
        ASSERT_STREQ(out.device, in.device);
    } else {
        ASSERT_STREQ(out.change_id, in.change_id);
        ASSERT_EQ(out.base_hlc, in.base_hlc);
        ASSERT_STREQ(out.base_device, in.base_device);
    }
    wire_change_done(&in);
    wire_change_done(&out);
}

TEST(round_trip_push)
{
    round_trip("Walk to the post office \xe2\x80\x94 \"quotes\" \\ and\nnewline", true, false);
    CHECK_PASSING();
    round_trip(NULL, true, false);
    CHECK_PASSING();
    round_trip("x", false, false);
}

TEST(round_trip_pull)
{
    round_trip("Walk to the post office", false, true);
    CHECK_PASSING();
    round_trip(NULL, false, true);
}

TEST(pull_decode_rejects_push_keys)
{
    struct change_record c = {0};
    _cleanup_json_ cJSON *root = NULL;
    const char *why = NULL, *where = NULL;

    ASSERT_OK(parse_str(GOOD_CHANGE, &root, &why));
    ASSERT_ERRNO(wire_decode_pull_change(root, &c, &why, &where), -EBADMSG);
}
