/* SPDX-License-Identifier: MIT */
/* when.h - wall-clock time for records, worklists and people (when.c). Storage and the wire are
 * UTC ("YYYY-MM-DDTHH:MM:SSZ"); what a person types or reads is in the device's local time
 * zone (the TZ environment, else the system zone). Used by libcaresync and by the CLI. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define WHEN_ISO_MAX   21 /* "YYYY-MM-DDTHH:MM:SSZ" */
#define WHEN_DATE_MAX  11 /* "YYYY-MM-DD" */
#define WHEN_ZONED_MAX 32 /* "YYYY-MM-DDTHH:MM:SS+HH:MM" */
#define WHEN_LOCAL_MAX 48 /* "YYYY-MM-DD HH:MM BST" and any zone abbreviation */

/* when_now_iso() - now (hlc_wall_ms()) in UTC as "YYYY-MM-DDTHH:MM:SSZ". Returns buf. */
char *when_now_iso(char buf[static WHEN_ISO_MAX]);

/* when_today() - today's date in local time (the TZ environment). Returns buf. */
char *when_today(char buf[static WHEN_DATE_MAX]);

/* when_local_date() - the local date of Unix time @t. Returns buf. */
char *when_local_date(int64_t t, char buf[static WHEN_DATE_MAX]);

/*
 * when_parse() - the Unix time a catalogue date-time names: with Z or an offset exactly that,
 * without a zone a local wall-clock time (a time in a spring-forward gap is moved forward by
 * the gap, an ambiguous autumn time is the earlier one; when_typed() refuses the gap instead).
 * Returns 0, or -EINVAL when @s is not a date-time.
 */
int when_parse(const char *s, int64_t *ret);

/* when_date_add() - @date ("YYYY-MM-DD") plus @days (may be negative). 0 or -EINVAL. */
int when_date_add(const char *date, int days, char buf[static WHEN_DATE_MAX]);

/*
 * when_typed() - a date-time a person typed, as the UTC text that is stored and sent
 * ("2027-07-02T10:30" in London -> "2027-07-02T09:30:00Z", into @buf): without a zone it is
 * local to this device; with Z or an offset it is exactly that instant. A local time that
 * occurs twice (the hour before clocks go back) is the earlier one. Returns 0 with *ret_ambiguous
 * (may be NULL) set when it occurred twice; -EINVAL when @s is not a date-time; -ENOENT when
 * it names a local time that does not exist (clocks went forward over it).
 */
int when_typed(const char *s, char buf[static WHEN_ISO_MAX], bool *ret_ambiguous);

/*
 * when_zone() - when_typed() for the library's callers that take a date-time as text: the UTC
 * form in @buf, or, when @s is not a date-time (left for the catalogue check to refuse), @s
 * itself. A time in a spring-forward gap is moved forward by the gap (as mktime() does); the
 * CLI refuses it before it gets here.
 */
const char *when_zone(const char *s, char buf[static WHEN_ZONED_MAX]);

/*
 * when_date_arg() - a day a person typed: "today", "tomorrow", "yesterday", "+N" or "-N" days
 * from today (N up to 36500), or "YYYY-MM-DD"; the date into @buf. 0 or -EINVAL.
 */
int when_date_arg(const char *s, char buf[static WHEN_DATE_MAX]);

/* Forms of when_local_text(). */
enum {
    WHEN_TEXT_ZONE = 1 << 0, /* append the zone's abbreviation: "2027-07-02 10:30 BST" */
    WHEN_TEXT_TIME = 1 << 1, /* the time of day only: "10:30" */
    WHEN_TEXT_MS = 1 << 2,   /* to the millisecond: "2027-07-02 10:30:05.123" */
};

/*
 * when_local_text() - a stored date-time as a person reads it, in local time: "2027-07-02
 * 10:30" (see WHEN_TEXT_*). Anything that is not a date-time (a date, free text, NULL) is
 * returned as it is.
 */
const char *when_local_text(const char *s, unsigned flags, char buf[static WHEN_LOCAL_MAX]);

/* when_local_ms() - Unix time @unix_ms as when_local_text() prints it. Returns buf. */
char *when_local_ms(uint64_t unix_ms, unsigned flags, char buf[static WHEN_LOCAL_MAX]);
