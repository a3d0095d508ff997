/* SPDX-License-Identifier: MIT */
/* test-util.c - ids (UUIDv7 form and order), UTF-8 validation, number parsing, SHA-256, time
 * formatting and the date / date-time rules the catalogue's value types use. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "macro.h"
#include "util.h"

TEST(uuid_v7_form_and_order)
{
    char a[UUID_STR_MAX], b[UUID_STR_MAX], c[UUID_STR_MAX];

    ASSERT_OK(uuid_v7(UINT64_C(1763925429000), a));
    ASSERT_OK(uuid_v7(UINT64_C(1763925429000), b));
    ASSERT_OK(uuid_v7(UINT64_C(1763925429001), c));
    ASSERT_TRUE(uuid_valid(a));
    ASSERT_EQ(strlen(a), UUID_STR_LEN);
    ASSERT_EQ(a[14], '7');                             /* version 7 */
    ASSERT_TRUE(strchr("89ab", a[19]) != NULL);         /* RFC 9562 variant */
    ASSERT_TRUE(strncmp(a, "019ab226-0b08", 13) == 0); /* 48-bit ms prefix */
    ASSERT_TRUE(strcmp(a, b) != 0);                    /* random part */
    ASSERT_LT(strcmp(a, c), 0);                        /* later ms sorts later */
    ASSERT_LT(strcmp(b, c), 0);
}

TEST(uuid_valid_rules)
{
    ASSERT_TRUE(uuid_valid("0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f"));
    ASSERT_TRUE(uuid_valid("00000000-0000-0000-0000-000000000000"));
    ASSERT_FALSE(uuid_valid("0193C6B2-6A4E-7C4D-9B1E-3F2A1C0D9E8F"));
    ASSERT_FALSE(uuid_valid("0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8"));
    ASSERT_FALSE(uuid_valid("0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f0"));
    ASSERT_FALSE(uuid_valid("0193c6b26a4e-7c4d-9b1e-3f2a1c0d9e8f-"));
    ASSERT_FALSE(uuid_valid("0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8g"));
    ASSERT_FALSE(uuid_valid("{193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f"));
    ASSERT_FALSE(uuid_valid(""));
    ASSERT_FALSE(uuid_valid(NULL));
}

TEST(utf8)
{
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } t[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"caf\xc3\xa9", 5, true},
        {"\xe2\x82\xac", 3, true},               /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, true},           /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},           /* U+10FFFF, the last code point */
        {"\xef\xbf\xbf", 3, true},               /* U+FFFF */
        {"\xf4\x90\x80\x80", 4, false},          /* above U+10FFFF */
        {"\xed\xa0\x80", 3, false},              /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, false},              /* surrogate U+DFFF */
        {"\xc0\x80", 2, false},                  /* overlong NUL */
        {"\xc1\xbf", 2, false},                  /* overlong */
        {"\xe0\x9f\xbf", 3, false},              /* overlong */
        {"\xf0\x8f\xbf\xbf", 4, false},          /* overlong */
        {"\x80", 1, false},                      /* lone continuation */
        {"\xc3", 1, false},                      /* truncated */
        {"\xe2\x82", 2, false},                  /* truncated */
        {"\xf0\x9f\x98", 3, false},              /* truncated */
        {"\xc3\x28", 2, false},                  /* bad continuation */
        {"\xf8\x88\x80\x80\x80", 5, false},      /* 5-byte form */
        {"\xff", 1, false},
        {"a\0b", 3, false},                      /* NUL */
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (utf8_valid(t[i].s, t[i].len) != t[i].ok)
            fprintf(stderr, "case %zu\n", i);
        ASSERT_EQ(utf8_valid(t[i].s, t[i].len), t[i].ok);
    }
    /* a valid multibyte character cut by the length */
    ASSERT_FALSE(utf8_valid("caf\xc3\xa9", 4));

    /* Long ASCII runs go eight bytes at a time: a bad byte, a NUL, a good multibyte character
     * or a truncated one at every position of a 24-byte buffer. */
    for (size_t at = 0; at < 24; at++) {
        char buf[24];

        memset(buf, 'a', sizeof(buf));
        ASSERT_TRUE(utf8_valid(buf, sizeof(buf)));
        buf[at] = '\0';
        ASSERT_FALSE(utf8_valid(buf, sizeof(buf)));
        buf[at] = (char)0xff;
        ASSERT_FALSE(utf8_valid(buf, sizeof(buf)));
        buf[at] = (char)0x80;
        ASSERT_FALSE(utf8_valid(buf, sizeof(buf)));
        buf[at] = (char)0xc3; /* é when followed by 0xa9; truncated at the last byte */
        if (at + 1 < sizeof(buf)) {
            buf[at + 1] = (char)0xa9;
            ASSERT_TRUE(utf8_valid(buf, sizeof(buf)));
            buf[at + 1] = 'a';
        }
        ASSERT_FALSE(utf8_valid(buf, sizeof(buf)));
    }
}

TEST(parse_numbers)
{
    uint64_t u = 7;
    int64_t i = 7;

    ASSERT_OK(parse_u64("0", &u));
    ASSERT_EQ(u, 0);
    ASSERT_OK(parse_u64("18446744073709551615", &u));
    ASSERT_TRUE(u == UINT64_MAX);
    u = 7;
    ASSERT_ERRNO(parse_u64("18446744073709551616", &u), -ERANGE);
    ASSERT_ERRNO(parse_u64("", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64("-1", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64("+1", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64(" 1", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64("1 ", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64("0x10", &u), -EINVAL);
    ASSERT_ERRNO(parse_u64(NULL, &u), -EINVAL);
    ASSERT_EQ(u, 7); /* untouched on failure */

    ASSERT_OK(parse_i64("-9223372036854775808", &i));
    ASSERT_TRUE(i == INT64_MIN);
    ASSERT_OK(parse_i64("-3600000", &i));
    ASSERT_EQ(i, -3600000);
    i = 7;
    ASSERT_ERRNO(parse_i64("9223372036854775808", &i), -ERANGE);
    ASSERT_ERRNO(parse_i64("-", &i), -EINVAL);
    ASSERT_ERRNO(parse_i64("", &i), -EINVAL);
    ASSERT_ERRNO(parse_i64("--1", &i), -EINVAL);
    ASSERT_ERRNO(parse_i64("1.5", &i), -EINVAL);
    ASSERT_EQ(i, 7);
}

TEST(sha256_and_hex)
{
    char out[SHA256_HEX_MAX], hx[9];
    const unsigned char bytes[] = {0x00, 0x7f, 0xa5, 0xff};

    ASSERT_OK(sha256_hex("abc", 3, out));
    ASSERT_STREQ(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ASSERT_OK(sha256_hex("", 0, out));
    ASSERT_STREQ(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_encode(bytes, 4, hx);
    ASSERT_STREQ(hx, "007fa5ff");
}

TEST(copy_text_cuts_and_terminates)
{
    char small[4], fits[8];
    const unsigned char sqlite_text[] = "abc";

    memset(small, 'x', sizeof(small));
    copy_text(small, sizeof(small), "abcdef");
    ASSERT_TRUE(streq(small, "abc"));
    copy_text(fits, sizeof(fits), sqlite_text);
    ASSERT_TRUE(streq(fits, "abc"));
    copy_text(fits, sizeof(fits), NULL);
    ASSERT_TRUE(streq(fits, ""));
    copy_text(fits, sizeof(fits), "");
    ASSERT_TRUE(streq(fits, ""));
    copy_text(small, 0, "abc"); /* nothing written, no crash */
    ASSERT_TRUE(streq(small, "abc"));
}

TEST(array_grow_doubles)
{
    int *a = NULL;
    size_t cap = 0;

    ASSERT_OK(array_grow((void **)&a, &cap, 0, sizeof(*a), 4));
    ASSERT_EQ(cap, 4u);
    for (size_t n = 0; n < 9; n++) {
        ASSERT_OK(array_grow((void **)&a, &cap, n, sizeof(*a), 4));
        a[n] = (int)n;
    }
    ASSERT_EQ(cap, 16u);
    ASSERT_EQ(a[8], 8);
    ASSERT_OK(array_grow((void **)&a, &cap, 3, sizeof(*a), 4)); /* room already: unchanged */
    ASSERT_EQ(cap, 16u);
    free(a);
}

TEST(random_bytes_differ)
{
    unsigned char a[32] = {0}, b[32] = {0};

    ASSERT_OK(random_bytes(a, sizeof(a)));
    ASSERT_OK(random_bytes(b, sizeof(b)));
    ASSERT_TRUE(memcmp(a, b, sizeof(a)) != 0);
}

TEST(iso_time_format)
{
    char buf[ISO_TIME_MAX];

    ASSERT_STREQ(iso_time(0, buf), "1970-01-01T00:00:00.000Z");
    ASSERT_STREQ(iso_time(UINT64_C(1763925429007), buf), "2025-11-23T19:17:09.007Z");
    ASSERT_STREQ(iso_time(UINT64_C(951782400999), buf), "2000-02-29T00:00:00.999Z");
}

TEST(dates)
{
    static const char *const good[] = {"1944-02-29", "2000-02-29", "2024-12-31", "1900-01-01",
                                       "2026-04-30"};
    static const char *const bad[] = {"1900-02-29", "2023-02-29", "2026-04-31", "2026-13-01",
                                      "2026-00-10", "2026-01-00", "2026-1-01",  "26-01-01",
                                      "2026/01/01", "2026-01-01T00:00", "2026-01-01 ", "",
                                      "2026-01-3a", "１９９０-01-01"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!date_valid(good[i]))
            fprintf(stderr, "refused %s\n", good[i]);
        ASSERT_TRUE(date_valid(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (date_valid(bad[i]))
            fprintf(stderr, "accepted %s\n", bad[i]);
        ASSERT_FALSE(date_valid(bad[i]));
    }
    ASSERT_FALSE(date_valid(NULL));
}

TEST(datetimes)
{
    static const char *const good[] = {
        "2026-01-05T09:00",          "2026-01-05T09:00:30",       "2026-01-05T09:00:30.5",
        "2026-01-05T09:00:30.123Z",  "2026-01-05T23:59:59+01:00", "2026-01-05T00:00-05:30",
        "2026-01-05T09:00Z",         "2024-02-29T12:00:00.000000001Z",
    };
    static const char *const bad[] = {
        "2026-01-05",        "2026-01-05T9:00",         "2026-01-05T24:00",
        "2026-01-05T09:60",  "2026-01-05 09:00",        "2026-01-05T09:00:3",
        "2026-01-05T09:00:", "2026-01-05T09:00:30.",    "2026-01-05T09:00:30Z ",
        "2026-01-05T09:00+1", "2026-01-05T09:00+01:00Z", "2026-02-30T09:00",
        "2026-01-05T09:00z", "2026-01-05T09:00+15:00",  "",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!datetime_valid(good[i]))
            fprintf(stderr, "refused %s\n", good[i]);
        ASSERT_TRUE(datetime_valid(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (datetime_valid(bad[i]))
            fprintf(stderr, "accepted %s\n", bad[i]);
        ASSERT_FALSE(datetime_valid(bad[i]));
    }
    ASSERT_FALSE(datetime_valid(NULL));
}

static int slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return (int)n;
}

TEST(file_write_atomic_replaces_whole)
{
    char path[4200], tmp[4300], link[4200], buf[64];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/token", test_tmpdir());
    snprintf(tmp, sizeof(tmp), "%s/.token.tmp", test_tmpdir());
    ASSERT_OK(file_write_atomic(path, "first", 5, 0600));
    ASSERT_EQ(slurp(path, buf, sizeof(buf)), 5);
    ASSERT_STREQ(buf, "first");
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0600);
    /* Replaced whole, with the new mode whatever the umask; no temporary file left. */
    umask(0);
    ASSERT_OK(file_write_atomic(path, "second\n", 7, 0640));
    umask(022);
    ASSERT_EQ(slurp(path, buf, sizeof(buf)), 7);
    ASSERT_STREQ(buf, "second\n");
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0640);
    ASSERT_TRUE(access(tmp, F_OK) < 0);
    /* A stale temporary file (a crash mid-write) is replaced, not followed or appended to. */
    ASSERT_OK(file_write_atomic(tmp, "stale", 5, 0600));
    ASSERT_OK(file_write_atomic(path, "", 0, 0600));
    ASSERT_EQ(slurp(path, buf, sizeof(buf)), 0);
    /* A planted symbolic link at the temporary name is not written through. */
    snprintf(link, sizeof(link), "%s/victim", test_tmpdir());
    ASSERT_OK(file_write_atomic(link, "keep", 4, 0600));
    ASSERT_EQ(symlink(link, tmp), 0);
    ASSERT_OK(file_write_atomic(path, "new", 3, 0600));
    ASSERT_EQ(slurp(link, buf, sizeof(buf)), 4);
    ASSERT_STREQ(buf, "keep");
    /* Failures: a missing directory; the old content stays. */
    snprintf(buf, sizeof(buf), "/nonexistent-dir-%d/x", (int)getpid());
    ASSERT_ERRNO(file_write_atomic(buf, "x", 1, 0600), -ENOENT);
    ASSERT_EQ(slurp(path, buf, sizeof(buf)), 3);
}

TEST(fnv1a_vectors)
{
    /* The FNV-1a 64 test vectors of draft-eastlake-fnv. */
    ASSERT_EQ(fnv1a(""), UINT64_C(0xcbf29ce484222325));
    ASSERT_EQ(fnv1a("a"), UINT64_C(0xaf63dc4c8601ec8c));
    ASSERT_EQ(fnv1a("foobar"), UINT64_C(0x85944171f73967e8));
}

TEST(iso_time_parts)
{
    struct iso_parts t;
    int64_t ms;
    bool zoned;

    ASSERT_OK(iso_time_split("2026-12-03T10:30", &t));
    ASSERT_EQ(t.year, 2026);
    ASSERT_EQ(t.month, 12);
    ASSERT_EQ(t.day, 3);
    ASSERT_EQ(t.hour, 10);
    ASSERT_EQ(t.minute, 30);
    ASSERT_EQ(t.second, 0);
    ASSERT_FALSE(t.zoned);
    ASSERT_OK(iso_time_split("2026-03-29T01:02:03.45+05:30", &t));
    ASSERT_EQ(t.second, 3);
    ASSERT_EQ(t.ms, 450);
    ASSERT_TRUE(t.zoned);
    ASSERT_EQ(t.offset_s, 5 * 3600 + 30 * 60);
    ASSERT_OK(iso_time_split("2026-03-29T01:02:03-01:00", &t));
    ASSERT_EQ(t.offset_s, -3600);
    ASSERT_OK(iso_time_split("2026-03-29T01:02Z", &t));
    ASSERT_TRUE(t.zoned);
    ASSERT_EQ(t.offset_s, 0);
    ASSERT_ERRNO(iso_time_split("2026-02-30T01:02Z", &t), -EINVAL);
    ASSERT_ERRNO(iso_time_split(NULL, &t), -EINVAL);
    /* The same instant written three ways. */
    ASSERT_OK(iso_time_parse("2026-03-29T01:02:03-01:00", &ms, &zoned));
    {
        int64_t a, b;

        ASSERT_OK(iso_time_parse("2026-03-29T02:02:03Z", &a, &zoned));
        ASSERT_OK(iso_time_parse("2026-03-29T07:32:03+05:30", &b, &zoned));
        ASSERT_EQ(ms, a);
        ASSERT_EQ(ms, b);
    }
}
