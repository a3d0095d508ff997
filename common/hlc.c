/* SPDX-License-Identifier: MIT */
/* hlc.c - hybrid logical clock: local tick, merge with remote, total ordering, text form. */
#include "hlc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t hlc_wall_ms(void)
{
    struct timespec ts;
    int64_t ms, off = 0;
    const char *e;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    e = getenv("CARESYNC_CLOCK_OFFSET_MS");
    if (e && *e) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(e, &end, 10);
        if (errno == 0 && *end == '\0')
            off = v;
    }
    ms += off;
    return ms < 0 ? 0 : (uint64_t)ms;
}

static uint64_t next_after(uint64_t l, unsigned c)
{
    if (c >= HLC_COUNTER_MAX)
        return hlc_pack(l + 1, 0);
    return hlc_pack(l, c + 1);
}

uint64_t hlc_tick(uint64_t *state, uint64_t wall_ms)
{
    uint64_t l = hlc_ms(*state);

    if (wall_ms > HLC_MS_MAX)
        wall_ms = HLC_MS_MAX;
    if (wall_ms > l)
        *state = hlc_pack(wall_ms, 0);
    else
        *state = next_after(l, hlc_counter(*state));
    return *state;
}

uint64_t hlc_recv(uint64_t *state, uint64_t remote, uint64_t wall_ms)
{
    uint64_t l = hlc_ms(*state), rl = hlc_ms(remote);
    uint64_t m;

    if (wall_ms > HLC_MS_MAX)
        wall_ms = HLC_MS_MAX;
    m = l > rl ? l : rl;
    if (wall_ms > m) {
        *state = hlc_pack(wall_ms, 0);
    } else {
        /* The larger of the two clocks at the same millisecond, plus one. */
        uint64_t top = *state > remote ? *state : remote;

        *state = next_after(hlc_ms(top), hlc_counter(top));
    }
    return *state;
}

bool hlc_plausible(uint64_t remote, uint64_t wall_ms, uint64_t max_forward_ms)
{
    return hlc_ms(remote) <= wall_ms + max_forward_ms;
}

char *hlc_format(uint64_t h, char buf[static HLC_STR_MAX])
{
    uint64_t ms = hlc_ms(h);
    unsigned c = hlc_counter(h);

    if (ms > HLC_MS_MAX)
        ms = HLC_MS_MAX;
    for (int i = 12; i >= 0; i--, ms /= 10)
        buf[i] = (char)('0' + ms % 10);
    buf[13] = '.';
    for (int i = 18; i >= 14; i--, c /= 10)
        buf[i] = (char)('0' + c % 10);
    buf[HLC_STR_LEN] = '\0';
    return buf;
}

int hlc_parse(const char *s, uint64_t *ret)
{
    uint64_t ms = 0;
    unsigned c = 0;

    if (!s || strlen(s) != HLC_STR_LEN || s[13] != '.')
        return -EBADMSG;
    for (int i = 0; i < 13; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EBADMSG;
        ms = ms * 10 + (uint64_t)(s[i] - '0');
    }
    for (int i = 14; i < HLC_STR_LEN; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EBADMSG;
        c = c * 10 + (unsigned)(s[i] - '0');
    }
    if (c > HLC_COUNTER_MAX || ms > HLC_MS_MAX)
        return -EBADMSG;
    *ret = hlc_pack(ms, c);
    return 0;
}

int hlc_version_cmp(uint64_t a, const char *a_dev, uint64_t b, const char *b_dev)
{
    int r;

    if (a != b)
        return a < b ? -1 : 1;
    r = strcmp(a_dev ? a_dev : "", b_dev ? b_dev : "");
    return r < 0 ? -1 : r > 0;
}
