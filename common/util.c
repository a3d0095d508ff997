/* SPDX-License-Identifier: MIT */
/* util.c - ids, randomness, hashing, UTF-8 and number parsing, time formatting, durable file
 * writes. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int array_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t ncap;
    void *t;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || ncap > SIZE_MAX / size)
        return -ENOMEM;
    t = realloc(*arr, ncap * size);
    if (!t)
        return -ENOMEM;
    *arr = t;
    *cap = ncap;
    return 0;
}

void copy_text(char *dst, size_t size, const void *src)
{
    size_t n;

    if (size == 0)
        return;
    n = src ? strnlen(src, size - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void hex_encode(const void *data, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = data;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int uuid_v7(uint64_t unix_ms, char buf[static UUID_STR_MAX])
{
    unsigned char b[16];
    char hx[33];
    int r;

    r = random_bytes(b + 6, 10);
    if (r < 0)
        return r;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(unix_ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    hex_encode(b, 16, hx);
    snprintf(buf, UUID_STR_MAX, "%.8s-%.4s-%.4s-%.4s-%.12s", hx, hx + 8, hx + 12, hx + 16,
             hx + 20);
    return 0;
}

bool uuid_valid(const char *s)
{
    if (!s || strlen(s) != UUID_STR_LEN)
        return false;
    for (int i = 0; i < UUID_STR_LEN; i++) {
        char c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

int sha256_hex(const void *data, size_t len, char out[static SHA256_HEX_MAX])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -EIO;
    hex_encode(md, 32, out);
    return 0;
}

unsigned text_control_char(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
            return *p;
    return 0;
}

bool utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c;
        uint32_t cp;
        int n;

        /* Eight ASCII bytes at a time (no high bit, no zero byte): JSON is mostly ASCII. */
        while (i + 8 <= len) {
            uint64_t v;

            memcpy(&v, s + i, 8);
            if ((v & UINT64_C(0x8080808080808080)) ||
                ((v - UINT64_C(0x0101010101010101)) & ~v & UINT64_C(0x8080808080808080)))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + (size_t)n >= len)
            return false;
        for (int k = 1; k <= n; k++) {
            if ((s[i + (size_t)k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + (size_t)k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += (size_t)n + 1;
    }
    return true;
}

int parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (errno || *end != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

int parse_i64(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (errno || *end != '\0' || end == s)
        return -EINVAL;
    *ret = v;
    return 0;
}

char *iso_time(uint64_t unix_ms, char buf[static ISO_TIME_MAX])
{
    struct tm tm;
    time_t t = (time_t)(unix_ms / 1000);
    char tmp[24];

    gmtime_r(&t, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, ISO_TIME_MAX, "%s.%03uZ", tmp, (unsigned)(unix_ms % 1000));
    return buf;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool date_prefix_valid(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
        return false;
    y = num(s, 4);
    m = num(s + 5, 2);
    d = num(s + 8, 2);
    if (y < 1800 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

bool date_valid(const char *s)
{
    return s && strlen(s) == 10 && date_prefix_valid(s);
}

bool datetime_valid(const char *s)
{
    size_t n;
    const char *p;

    if (!s || strlen(s) < 16 || !date_prefix_valid(s) || s[10] != 'T')
        return false;
    if (!digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2))
        return false;
    if (num(s + 11, 2) > 23 || num(s + 14, 2) > 59)
        return false;
    p = s + 16;
    if (*p == ':') {
        if (!digits(p + 1, 2) || num(p + 1, 2) > 60)
            return false;
        p += 3;
        if (*p == '.') {
            p++;
            n = 0;
            while (*p >= '0' && *p <= '9' && n < 9) {
                p++;
                n++;
            }
            if (n == 0)
                return false;
        }
    }
    if (*p == '\0' || (*p == 'Z' && p[1] == '\0'))
        return true;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
        p[6] == '\0')
        return num(p + 1, 2) <= 14 && num(p + 4, 2) <= 59;
    return false;
}

int iso_time_split(const char *s, struct iso_parts *ret)
{
    const char *p;

    if (!s || !datetime_valid(s))
        return -EINVAL;
    /* datetime_valid() checked every digit and separator: the positions are fixed. */
    *ret = (struct iso_parts){.year = (int)num(s, 4), .month = (int)num(s + 5, 2),
                              .day = (int)num(s + 8, 2), .hour = (int)num(s + 11, 2),
                              .minute = (int)num(s + 14, 2)};
    p = s + 16;
    if (*p == ':') {
        ret->second = (int)num(p + 1, 2);
        p += 3;
        if (*p == '.') {
            int scale = 100;

            for (p++; *p >= '0' && *p <= '9'; p++) {
                ret->ms += (*p - '0') * scale;
                scale /= 10;
            }
        }
    }
    ret->zoned = *p != '\0';
    if (*p == '+' || *p == '-')
        ret->offset_s = (*p == '+' ? 1 : -1) * (int)(num(p + 1, 2) * 60 + num(p + 4, 2)) * 60;
    return 0;
}

int iso_time_parse(const char *s, int64_t *ret_ms, bool *ret_zoned)
{
    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    struct iso_parts t;
    int64_t y, days;

    if (iso_time_split(s, &t) < 0)
        return -EINVAL;
    y = t.year;
    if (y < 1970)
        return -ERANGE;
    /* Days since 1970-01-01 in the proleptic Gregorian calendar (datetime_valid checked it). */
    days = (y - 1970) * 365 + (y - 1969) / 4 - (y - 1901) / 100 + (y - 1601) / 400;
    days += cum[t.month - 1] + t.day - 1;
    if (t.month > 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        days++;
    *ret_ms = ((days * 24 + t.hour) * 60 + t.minute) * 60000 + (int64_t)t.second * 1000 + t.ms -
              (int64_t)t.offset_s * 1000;
    *ret_zoned = t.zoned;
    return 0;
}

/* Write all of @data to @fd and fsync it. 0 or -errno. */
static int write_all_sync(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, p, len);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        len -= (size_t)k;
    }
    /* A pipe or a terminal (-o /dev/stdout) holds nothing to sync. */
    if (fsync(fd) < 0 && errno != EINVAL)
        return -errno;
    return 0;
}

int file_write_sync(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int r;

    if (fd < 0)
        return -errno;
    r = write_all_sync(fd, data, len);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    int fd, r = 0;

    if (dl >= sizeof(dir) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%.*s%s.%s.tmp", (int)dl, path, slash ? "/" : "",
                         slash ? slash + 1 : path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(dl ? dl : 1), path);
    else
        snprintf(dir, sizeof(dir), ".");
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0) /* the umask does not decide who may read it */
        r = -errno;
    if (r == 0)
        r = write_all_sync(fd, data, len);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return r;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    (void)close(fd);
    return r;
}
