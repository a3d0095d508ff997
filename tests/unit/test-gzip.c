/* SPDX-License-Identifier: MIT */
/* test-gzip.c - the gzip content coding: round trips, the output limit (a bomb costs at most
 * the limit), every way a member can be broken, and the Accept-Encoding grammar. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "gzip.h"
#include "harness.h"
#include "macro.h"

/* @n bytes of pull-page-like JSON (repetitive, as real pages are) into a new buffer. */
static char *json_text(size_t n)
{
    char *s = malloc(n + 64);
    size_t len = 0;

    if (!s)
        return NULL;
    for (unsigned i = 0; len < n; i++)
        len += (size_t)snprintf(s + len, 64, "{\"field\":\"phone\",\"value\":\"01632 96%04u\"},",
                                i % 10000);
    return s;
}

TEST(round_trip)
{
    static const size_t sizes[] = {0, 1, 1000, 300000};

    for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
        _cleanup_free_ char *text = json_text(sizes[i]);
        _cleanup_free_ unsigned char *gz = NULL;
        _cleanup_free_ char *back = NULL;
        size_t gz_len, back_len;

        ASSERT_NOT_NULL(text);
        ASSERT_OK(gzip_compress(text, sizes[i], GZIP_LEVEL, (void **)&gz, &gz_len));
        ASSERT_GE(gz_len, 18); /* header and trailer */
        ASSERT_TRUE(gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8);
        if (sizes[i] >= 1000)
            ASSERT_LT(gz_len * 5, sizes[i]);
        /* At the limit exactly: accepted. One byte under: refused. */
        ASSERT_OK(gzip_inflate(gz, gz_len, sizes[i], (void **)&back, &back_len));
        ASSERT_EQ(back_len, sizes[i]);
        ASSERT_TRUE(memcmp(back, text, sizes[i]) == 0);
        if (sizes[i] > 0)
            ASSERT_ERRNO(gzip_inflate(gz, gz_len, sizes[i] - 1, (void **)&back, &back_len),
                         -E2BIG);
    }
}

TEST(compress_bad_level)
{
    void *out = NULL;
    size_t n;

    ASSERT_ERRNO(gzip_compress("x", 1, 0, &out, &n), -EINVAL);
    ASSERT_ERRNO(gzip_compress("x", 1, 10, &out, &n), -EINVAL);
    ASSERT_NULL(out);
}

TEST(bomb_stops_at_the_limit)
{
    const size_t zeros = 64u << 20, max = 4u << 20;
    _cleanup_free_ char *plain = calloc(1, zeros);
    _cleanup_free_ void *gz = NULL;
    void *out = NULL;
    size_t gz_len, n = 12345;

    ASSERT_NOT_NULL(plain);
    ASSERT_OK(gzip_compress(plain, zeros, 9, &gz, &gz_len));
    ASSERT_LT(gz_len, 100 * 1024); /* deflate's best is about 1:1000 */
    ASSERT_ERRNO(gzip_inflate(gz, gz_len, max, &out, &n), -E2BIG);
    ASSERT_NULL(out);
    ASSERT_EQ(n, 12345); /* untouched on failure */
}

TEST(broken_members)
{
    static const char text[] = "{\"cursor\":\"\",\"changes\":[],\"pull\":true}";
    _cleanup_free_ unsigned char *gz = NULL, *bad = NULL;
    unsigned char zl[128];
    uLongf zl_len = sizeof(zl);
    void *out = NULL;
    size_t len, n;

    ASSERT_OK(gzip_compress(text, strlen(text), GZIP_LEVEL, (void **)&gz, &len));
    bad = malloc(2 * len + 1);
    ASSERT_NOT_NULL(bad);

    /* Nothing, or the JSON itself without compression. */
    ASSERT_ERRNO(gzip_inflate("", 0, 1024, &out, &n), -EBADMSG);
    ASSERT_ERRNO(gzip_inflate(text, strlen(text), 1024, &out, &n), -EBADMSG);
    /* Truncated anywhere, down to the header alone. */
    for (size_t cut = 1; cut < len; cut++)
        ASSERT_ERRNO(gzip_inflate(gz, len - cut, 1024, &out, &n), -EBADMSG);
    /* A changed byte in the data, the CRC or the length. */
    for (size_t at = 10; at < len; at++) {
        int r;

        memcpy(bad, gz, len);
        bad[at] ^= 0x55;
        r = gzip_inflate(bad, len, 1024, &out, &n);
        if (r != -EBADMSG)
            fprintf(stderr, "byte %zu of %zu changed: %d\n", at, len, r);
        ASSERT_ERRNO(r, -EBADMSG);
    }
    /* Not gzip's magic. */
    memcpy(bad, gz, len);
    bad[1] = 0x8c;
    ASSERT_ERRNO(gzip_inflate(bad, len, 1024, &out, &n), -EBADMSG);
    /* Anything after the member, a second member included. */
    memcpy(bad, gz, len);
    bad[len] = '\n';
    ASSERT_ERRNO(gzip_inflate(bad, len + 1, 1024, &out, &n), -EBADMSG);
    memcpy(bad + len, gz, len);
    ASSERT_ERRNO(gzip_inflate(bad, 2 * len, 1024, &out, &n), -EBADMSG);
    /* zlib's own wrapper is "deflate", not gzip. */
    ASSERT_EQ(compress(zl, &zl_len, (const Bytef *)text, strlen(text)), Z_OK);
    ASSERT_ERRNO(gzip_inflate(zl, zl_len, 1024, &out, &n), -EBADMSG);
    ASSERT_NULL(out);
}

TEST(accept_encoding)
{
    static const struct {
        const char *value;
        int want;
    } t[] = {
        {"gzip", 1},
        {"GZip", 1},
        {"x-gzip", 1},
        {"gzip, deflate, br, zstd", 1}, /* what libcurl sends */
        {"deflate, gzip;q=1.0, *;q=0.5", 1},
        {"br;q=1, gzip;q=0.001", 1},
        {"gzip ; q=0.5", 1},
        {"gzip;Q=1", 1},
        {"*", 1},
        {"identity;q=0.5, *;q=0.1", 1},
        {" , gzip ,, ", 1},
        {"gzip;q=1.", 1},
        {"", 0},
        {"identity", 0},
        {"deflate, br", 0},
        {"gzip;q=0", 0},
        {"gzip;q=0.000", 0},
        {"gzip;q=0, *", 0},   /* named: "*" does not revive it */
        {"*, gzip;q=0", 0},
        {"*;q=0", 0},
        {"gzip, gzip;q=0", 0}, /* named twice: the lower counts */
        {"gzipx", 0},
        {"gzip;q=1.5", -EBADMSG},
        {"gzip;q=2", -EBADMSG},
        {"gzip;q=0.1234", -EBADMSG},
        {"gzip;q=.5", -EBADMSG},
        {"gzip;q=", -EBADMSG},
        {"gzip;level=1", -EBADMSG},
        {"gzip;q=1;q=0", -EBADMSG},
        {"gzip q=1", -EBADMSG},
        {"gzip;", -EBADMSG},
        {";q=1", -EBADMSG},
        {"gzip/1", -EBADMSG},
        {"\"gzip\"", -EBADMSG},
        {"gzip\x01", -EBADMSG},
        {"gz\xc3\xa9p", -EBADMSG},
    };

    for (size_t i = 0; i < ELEMENTSOF(t); i++) {
        int r = gzip_accepted(t[i].value);

        if (r != t[i].want)
            fprintf(stderr, "Accept-Encoding: %s -> %d, want %d\n", t[i].value, r, t[i].want);
        ASSERT_EQ(r, t[i].want);
    }
}
