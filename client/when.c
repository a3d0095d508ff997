/* SPDX-License-Identifier: MIT */
/* when.c - wall-clock time for records, worklists and people: "now" as a UTC timestamp, today's
 * local date, what a typed date-time or day names (no zone = local time), stored UTC times as
 * local text, and date arithmetic. Stored and sent times are UTC; people read and type local. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "caresync_int.h"
#include "hlc.h"
#include "when.h"

/* The wall clock in seconds (hlc_wall_ms(), so a test's clock offset applies here too). */
static time_t now_s(void)
{
    return (time_t)(hlc_wall_ms() / 1000);
}

static char *utc_iso(int64_t t, char buf[static WHEN_ISO_MAX])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (!gmtime_r(&tt, &tm) || strftime(buf, WHEN_ISO_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, WHEN_ISO_MAX, "1970-01-01T00:00:00Z"); /* out of range: never a real time */
    return buf;
}

char *when_now_iso(char buf[static WHEN_ISO_MAX])
{
    return utc_iso((int64_t)now_s(), buf);
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

/* A date-time's wall-clock fields, whether it had no zone (local time), and its offset in
 * seconds east of UTC. */
static int split(const char *s, struct tm *tm, bool *local, int64_t *off_s)
{
    struct iso_parts t;

    if (iso_time_split(s, &t) < 0)
        return -EINVAL;
    *tm = (struct tm){.tm_year = t.year - 1900, .tm_mon = t.month - 1, .tm_mday = t.day,
                      .tm_hour = t.hour, .tm_min = t.minute, .tm_sec = t.second};
    *local = !t.zoned;
    *off_s = t.offset_s;
    return 0;
}

/*
 * The instant local wall-clock time @wall names, found by trying every UTC offset in force
 * within a day either side (the offsets before and after any change): each offset whose
 * instant local time maps back to @wall is a reading. None: the time fell in a spring-forward
 * gap (-ENOENT). Two: it occurs twice as clocks go back; the earlier is taken, *ret_ambiguous
 * set. Unlike mktime() with tm_isdst = -1, which moves a gap time on silently and picks either
 * reading of an ambiguous one as the C library sees fit, this tells the caller both facts.
 */
static int local_instant(const struct tm *wall, int64_t *ret, bool *ret_ambiguous)
{
    struct tm w = *wall, lt;
    long offs[3];
    int64_t best = 0;
    time_t t0;
    int n = 0;

    tzset();
    t0 = timegm(&w);
    if (t0 == (time_t)-1 && (w.tm_year != 69 || w.tm_mon != 11 || w.tm_mday != 31))
        return -EINVAL;
    for (int k = -1; k <= 1; k++) {
        time_t at = t0 + (time_t)k * 86400;

        if (!localtime_r(&at, &lt))
            return -EINVAL;
        offs[k + 1] = lt.tm_gmtoff;
    }
    for (int i = 0; i < 3; i++) {
        time_t t = t0 - (time_t)offs[i];
        bool seen = false;

        for (int j = 0; j < i; j++)
            seen = seen || offs[j] == offs[i];
        if (seen || !localtime_r(&t, &lt) || lt.tm_gmtoff != offs[i])
            continue;
        if (n == 0 || (int64_t)t < best)
            best = (int64_t)t;
        n++;
    }
    if (n == 0)
        return -ENOENT;
    *ret = best;
    if (ret_ambiguous)
        *ret_ambiguous = n > 1;
    return 0;
}

int when_parse(const char *s, int64_t *ret)
{
    bool local;
    struct tm tm;
    int64_t off;
    time_t t;
    int r;

    r = split(s, &tm, &local, &off);
    if (r < 0)
        return r;
    if (local) {
        r = local_instant(&tm, ret, NULL);
        if (r != -ENOENT)
            return r;
        /* A gap time written by an older client or another program: as mktime() reads it. */
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t == (time_t)-1)
            return -EINVAL;
        *ret = (int64_t)t;
        return 0;
    }
    t = timegm(&tm);
    *ret = (int64_t)t - off;
    return 0;
}

int when_typed(const char *s, char buf[static WHEN_ISO_MAX], bool *ret_ambiguous)
{
    bool ambiguous = false;
    bool local;
    struct tm tm;
    int64_t off, t;
    int r;

    r = split(s, &tm, &local, &off);
    if (r < 0)
        return r;
    if (local) {
        r = local_instant(&tm, &t, &ambiguous);
        if (r < 0)
            return r;
    } else {
        t = (int64_t)timegm(&tm) - off;
    }
    utc_iso(t, buf);
    if (ret_ambiguous)
        *ret_ambiguous = ambiguous;
    return 0;
}

const char *when_zone(const char *s, char buf[static WHEN_ZONED_MAX])
{
    int64_t t;

    if (when_typed(s, buf, NULL) == 0)
        return buf;
    if (when_parse(s, &t) < 0)
        return s; /* the catalogue check refuses it with the right message */
    return utc_iso(t, buf);
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

int when_date_arg(const char *s, char buf[static WHEN_DATE_MAX])
{
    char today[WHEN_DATE_MAX];
    int days = 0;

    if (!s)
        return -EINVAL;
    if (date_valid(s)) {
        memcpy(buf, s, WHEN_DATE_MAX);
        return 0;
    }
    if (streq(s, "tomorrow"))
        days = 1;
    else if (streq(s, "yesterday"))
        days = -1;
    else if (s[0] == '+' || s[0] == '-') {
        size_t n = strspn(s + 1, "0123456789");

        if (n == 0 || n > 5 || s[1 + n] != '\0' || num(s + 1, (int)n) > 36500)
            return -EINVAL;
        days = num(s + 1, (int)n) * (s[0] == '-' ? -1 : 1);
    } else if (!streq(s, "today"))
        return -EINVAL;
    return when_date_add(when_today(today), days, buf);
}

char *when_local_ms(uint64_t unix_ms, unsigned flags, char buf[static WHEN_LOCAL_MAX])
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    size_t n;

    tzset();
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, WHEN_LOCAL_MAX, "-");
        return buf;
    }
    if (flags & WHEN_TEXT_TIME)
        n = strftime(buf, WHEN_LOCAL_MAX, "%H:%M", &tm);
    else
        n = strftime(buf, WHEN_LOCAL_MAX, "%Y-%m-%d %H:%M", &tm);
    if (n > 0 && (flags & WHEN_TEXT_MS))
        n += (size_t)snprintf(buf + n, WHEN_LOCAL_MAX - n, ":%02d.%03u", tm.tm_sec,
                              (unsigned)(unix_ms % 1000));
    if (n > 0 && (flags & WHEN_TEXT_ZONE) && tm.tm_zone)
        snprintf(buf + n, WHEN_LOCAL_MAX - n, " %s", tm.tm_zone);
    return buf;
}

const char *when_local_text(const char *s, unsigned flags, char buf[static WHEN_LOCAL_MAX])
{
    int64_t t;

    if (!s || when_parse(s, &t) < 0 || t < 0)
        return s;
    return when_local_ms((uint64_t)t * 1000, flags, buf);
}
