/* SPDX-License-Identifier: MIT */
/* hlc.h - hybrid logical clock: 48-bit milliseconds + 16-bit counter, totally ordered with a
 * node id. See docs/internals/hlc.md for the rules, the text form and the far-future bound. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HLC_COUNTER_BITS 16
#define HLC_COUNTER_MAX  0xffffu
/* 13 decimal digits (year 2286); below 2^48. */
#define HLC_MS_MAX       UINT64_C(9999999999999)
/* Text form "MMMMMMMMMMMMM.CCCCC": 13 decimal digits of ms, a dot, 5 of counter. Sorts as text. */
#define HLC_STR_LEN      19
#define HLC_STR_MAX      (HLC_STR_LEN + 1)
/* Default bound on how far ahead of the receiver's wall clock a remote clock may be. */
#define HLC_MAX_FORWARD_MS (5 * 60 * 1000)

static inline uint64_t hlc_pack(uint64_t ms, unsigned counter)
{
    return (ms << HLC_COUNTER_BITS) | (counter & HLC_COUNTER_MAX);
}
static inline uint64_t hlc_ms(uint64_t h)
{
    return h >> HLC_COUNTER_BITS;
}
static inline unsigned hlc_counter(uint64_t h)
{
    return (unsigned)(h & HLC_COUNTER_MAX);
}

/*
 * hlc_wall_ms() - the wall clock in milliseconds since the epoch.
 *
 * Adds CARESYNC_CLOCK_OFFSET_MS (a signed integer, read from the environment on every call) so
 * tests can run a node whose clock is wrong. Never fails.
 */
uint64_t hlc_wall_ms(void);

/*
 * hlc_tick() - the clock for a local event: strictly greater than *state and than any earlier
 * result, and at least @wall_ms. Updates *state and returns the new value. When the counter is
 * exhausted within one millisecond the clock moves to the next millisecond.
 */
uint64_t hlc_tick(uint64_t *state, uint64_t wall_ms);

/*
 * hlc_recv() - merge a clock received from another node: the result is strictly greater than
 * both *state and @remote and at least @wall_ms. Updates *state and returns it. The caller must
 * have checked the remote clock with hlc_plausible() first; an implausible clock is never fed in.
 */
uint64_t hlc_recv(uint64_t *state, uint64_t remote, uint64_t wall_ms);

/*
 * hlc_plausible() - true when @remote is at most @max_forward_ms ahead of @wall_ms. The daemon
 * clamps changes that fail this (docs/internals/hlc.md, "far-future rule").
 */
bool hlc_plausible(uint64_t remote, uint64_t wall_ms, uint64_t max_forward_ms);

/* hlc_format() - write the text form of @h into @buf (HLC_STR_MAX bytes). Returns buf. */
char *hlc_format(uint64_t h, char buf[static HLC_STR_MAX]);

/*
 * hlc_parse() - parse the text form strictly (exactly 13 digits, '.', 5 digits, counter at most
 * 65535). Returns 0 and sets *ret, or -EBADMSG and leaves *ret untouched.
 */
int hlc_parse(const char *s, uint64_t *ret);

/*
 * hlc_version_cmp() - total order of field versions: by clock, then by node (device) id as
 * bytes. A NULL or empty device with clock 0 is "no version" and sorts below everything.
 * Returns <0, 0 or >0.
 */
int hlc_version_cmp(uint64_t a, const char *a_dev, uint64_t b, const char *b_dev);

/* The same order in SQL, over columns named hlc and device (text compares as bytes, as strcmp):
 * HLC_SQL_NEWEST orders the newest version first; HLC_SQL_AFTER(h, d) is true for a version
 * after (h, d), two SQL expressions such as parameters. */
#define HLC_SQL_NEWEST      "hlc DESC, device DESC"
#define HLC_SQL_AFTER(h, d) "(hlc, device) > (" h ", " d ")"
