/* SPDX-License-Identifier: MIT */
/* gzip.c - gzip content coding on zlib: deflate a body, inflate one within a hard output limit,
 * and the Accept-Encoding grammar. */
#define ZLIB_CONST
#include "gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "macro.h"

#define GZIP_WINDOW_BITS  (15 + 16) /* 32 KiB window, gzip wrapper (not zlib's) */
#define GZIP_MEM_LEVEL    8         /* zlib's default */
#define GZIP_INFLATE_FROM (64 * 1024)

/* ---- deflate and inflate ---- */

static void deflate_endp(z_stream *z)
{
    /* Safe on a stream whose init failed or never ran: zlib checks its state first. */
    (void)deflateEnd(z);
}

static void inflate_endp(z_stream *z)
{
    (void)inflateEnd(z);
}

int gzip_compress(const void *data, size_t len, int level, void **ret, size_t *ret_len)
{
    _cleanup_(deflate_endp) z_stream z = {0};
    _cleanup_free_ unsigned char *out = NULL;
    uLong bound;
    int r;

    if (level < 1 || level > 9)
        return -EINVAL;
    if (len > UINT_MAX)
        return -E2BIG;
    r = deflateInit2(&z, level, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY);
    if (r != Z_OK)
        return r == Z_MEM_ERROR ? -ENOMEM : -EIO;
    /* deflateBound() counts the gzip header and trailer: one Z_FINISH call always completes. */
    bound = deflateBound(&z, (uLong)len);
    out = malloc(bound);
    if (!out)
        return -ENOMEM;
    z.next_in = data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)bound;
    r = deflate(&z, Z_FINISH);
    if (r != Z_STREAM_END)
        return -EIO;
    *ret_len = (size_t)z.total_out;
    *ret = TAKE_PTR(out);
    return 0;
}

/* Grow *buf (of *cap bytes) towards @limit bytes. Returns 0 or -ENOMEM. */
static int grow(unsigned char **buf, size_t *cap, size_t limit)
{
    size_t n = *cap < limit / 2 ? *cap * 2 : limit;
    unsigned char *p = realloc(*buf, n);

    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

int gzip_inflate(const void *data, size_t len, size_t max, void **ret, size_t *ret_len)
{
    _cleanup_(inflate_endp) z_stream z = {0};
    _cleanup_free_ unsigned char *out = NULL;
    /* One byte past @max: filling it is how an over-long output is noticed. */
    size_t limit = max < SIZE_MAX ? max + 1 : max, cap, n = 0;
    int r;

    if (len > UINT_MAX)
        return -EBADMSG; /* no body this is used for comes near it */
    r = inflateInit2(&z, GZIP_WINDOW_BITS);
    if (r != Z_OK)
        return r == Z_MEM_ERROR ? -ENOMEM : -EIO;
    /* JSON usually inflates 5-15 times; start there and double, never past the limit. */
    cap = len < GZIP_INFLATE_FROM / 8 ? GZIP_INFLATE_FROM : len * 8;
    cap = cap < limit ? cap : limit;
    out = malloc(cap);
    if (!out)
        return -ENOMEM;
    z.next_in = data;
    z.avail_in = (uInt)len;
    for (;;) {
        size_t room;

        if (n == cap) {
            if (cap == limit)
                return -E2BIG;
            if (grow(&out, &cap, limit) < 0)
                return -ENOMEM;
        }
        room = cap - n < UINT_MAX ? cap - n : UINT_MAX;
        z.next_out = out + n;
        z.avail_out = (uInt)room;
        r = inflate(&z, Z_NO_FLUSH);
        n += room - z.avail_out;
        if (r == Z_STREAM_END)
            break;
        if (r == Z_MEM_ERROR)
            return -ENOMEM;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -EBADMSG; /* Z_DATA_ERROR: bad header, data, CRC or length */
        if (z.avail_out > 0)
            return -EBADMSG; /* all input used up before the member ended: truncated */
    }
    if (n > max)
        return -E2BIG;
    if (z.avail_in > 0)
        return -EBADMSG; /* bytes after the member */
    *ret_len = n;
    *ret = TAKE_PTR(out);
    return 0;
}

/* ---- Accept-Encoding ---- */

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* RFC 9110 12.4.2 qvalue at *p, in thousandths, into *ret; moves *p past it. 0 or -EBADMSG. */
static int parse_qvalue(const char **p, int *ret)
{
    const char *s = *p;
    int q, scale = 100;

    if (*s != '0' && *s != '1')
        return -EBADMSG;
    q = (*s++ - '0') * 1000;
    if (*s == '.')
        for (s++; scale > 0 && *s >= '0' && *s <= '9'; s++, scale /= 10)
            q += (*s - '0') * scale;
    if (q > 1000)
        return -EBADMSG; /* "1.5" */
    *p = s;
    *ret = q;
    return 0;
}

/* Record q-value @q of a coding in *slot (-1: not named yet), keeping the lowest. */
static void note_q(int *slot, int q)
{
    if (*slot < 0 || q < *slot)
        *slot = q;
}

int gzip_accepted(const char *value)
{
    int gzip_q = -1, any_q = -1;
    const char *p = value;

    for (;;) {
        const char *coding;
        size_t n;
        int q = 1000;

        p = skip_ows(p);
        if (*p == ',') { /* empty list element */
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        for (coding = p; is_tchar(*p); p++)
            ;
        n = (size_t)(p - coding);
        if (n == 0)
            return -EBADMSG;
        p = skip_ows(p);
        if (*p == ';') {
            p = skip_ows(p + 1);
            if ((p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
                return -EBADMSG;
            p += 2;
            if (parse_qvalue(&p, &q) < 0)
                return -EBADMSG;
            p = skip_ows(p);
        }
        if (*p != ',' && *p != '\0')
            return -EBADMSG;
        if ((n == 4 && strncasecmp(coding, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(coding, "x-gzip", 6) == 0))
            note_q(&gzip_q, q);
        else if (n == 1 && coding[0] == '*')
            note_q(&any_q, q);
    }
    return (gzip_q >= 0 ? gzip_q : any_q) > 0;
}
