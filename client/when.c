/* SPDX-License-Identifier: MIT */
/* when.c - wall-clock time for records and worklists: "now" as a UTC timestamp, today's local
 * date, the instant a catalogue date-time names (no zone = local time), and date arithmetic. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "caresync_int.h"
#include "hlc.h"

/* The wall clock in seconds (hlc_wall_ms(), so a test's clock offset applies here too). */
static time_t now_s(void)
{
    return (time_t)(hlc_wall_ms() / 1000);
}

char *when_now_iso(char buf[static WHEN_ISO_MAX])
{
    struct tm tm;
    time_t t = now_s();

    gmtime_r(&t, &tm);
    strftime(buf, WHEN_ISO_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

char *when_local_date(int64_t t, char buf[static WHEN_DATE_MAX])
{
    struct tm tm;
    time_t tt = (time_t)t;

    tzset(); /* localtime_r() need not read TZ itself */
    localtime_r(&tt, &tm);
    strftime(buf, WHEN_DATE_MAX, "%Y-%m-%d", &tm);
    return buf;
}

char *when_today(char buf[static WHEN_DATE_MAX])
{
    return when_local_date((int64_t)now_s(), buf);
}

static int num(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int when_parse(const char *s, int64_t *ret)
{
    struct tm tm = {0};
    const char *p;
    time_t t;

    if (!datetime_valid(s))
        return -EINVAL;
    /* datetime_valid() checked every digit and separator: positions are fixed. */
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    tm.tm_hour = num(s + 11, 2);
    tm.tm_min = num(s + 14, 2);
    p = s + 16;
    if (*p == ':') {
        tm.tm_sec = num(p + 1, 2);
        p += 3;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
    }
    if (*p == '\0') {
        /* No zone: a wall-clock time where the device is. */
        tzset();
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t == (time_t)-1)
            return -EINVAL; /* (one second before 1970 in some zones; never a real visit) */
        *ret = (int64_t)t;
        return 0;
    }
    t = timegm(&tm);
    if (*p == '+' || *p == '-') {
        int64_t off = (int64_t)num(p + 1, 2) * 3600 + (int64_t)num(p + 4, 2) * 60;

        *ret = (int64_t)t - (*p == '+' ? off : -off);
        return 0;
    }
    *ret = (int64_t)t; /* 'Z' */
    return 0;
}

int when_date_add(const char *date, int days, char buf[static WHEN_DATE_MAX])
{
    struct tm tm = {0};
    time_t t;

    if (!date_valid(date))
        return -EINVAL;
    tm.tm_year = num(date, 4) - 1900;
    tm.tm_mon = num(date + 5, 2) - 1;
    tm.tm_mday = num(date + 8, 2) + days;
    tm.tm_hour = 12;
    t = timegm(&tm); /* normalises the day of the month */
    gmtime_r(&t, &tm);
    strftime(buf, WHEN_DATE_MAX, "%Y-%m-%d", &tm);
    return 0;
}

const char *when_zone(const char *s, char buf[static WHEN_ZONED_MAX])
{
    struct tm tm;
    const char *p;
    int64_t t;
    time_t tt;
    long off;
    size_t n;

    if (!s || !datetime_valid(s))
        return s; /* the catalogue check refuses it with the right message */
    p = s + 16;
    if (*p == ':') {
        p += 3;
        if (*p == '.')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0' || when_parse(s, &t) < 0)
        return s; /* already has a zone */
    tt = (time_t)t;
    localtime_r(&tt, &tm);
    off = tm.tm_gmtoff / 60;
    n = strftime(buf, WHEN_ZONED_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n != 19)
        return s;
    off = off < 0 ? -off : off;
    snprintf(buf + n, WHEN_ZONED_MAX - n, "%c%02u:%02u", tm.tm_gmtoff < 0 ? '-' : '+',
             (unsigned)(off / 60 % 24), (unsigned)(off % 60));
    return buf;
}
