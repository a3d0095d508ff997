/* SPDX-License-Identifier: MIT */
/* test-hlc.c - hybrid logical clock: tick and receive rules, counter overflow, the total order
 * of versions, the text form, the far-future rule and monotonicity across restarts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "hlc.h"

#define P(ms, c) hlc_pack(UINT64_C(ms), (c))

TEST(tick_moves_with_wall_clock)
{
    uint64_t s = 0;

    ASSERT_EQ(hlc_tick(&s, 1000), P(1000, 0));
    ASSERT_EQ(s, P(1000, 0));
    ASSERT_EQ(hlc_tick(&s, 1500), P(1500, 0));
    ASSERT_EQ(hlc_tick(&s, 1501), P(1501, 0));
}

TEST(tick_strict_when_clock_stands_still_or_goes_back)
{
    uint64_t s = 0;

    ASSERT_EQ(hlc_tick(&s, 1000), P(1000, 0));
    ASSERT_EQ(hlc_tick(&s, 1000), P(1000, 1)); /* stands still */
    ASSERT_EQ(hlc_tick(&s, 1000), P(1000, 2));
    ASSERT_EQ(hlc_tick(&s, 400), P(1000, 3));  /* goes backwards */
    ASSERT_EQ(hlc_tick(&s, 0), P(1000, 4));
    ASSERT_EQ(hlc_tick(&s, 1001), P(1001, 0)); /* catches up */
}

TEST(tick_random_walk_is_strictly_increasing)
{
    uint64_t s = 0, prev = 0, wall = 1700000000000;

    srand(42);
    for (int i = 0; i < 200000; i++) {
        uint64_t h;

        /* Wall clock jumps back up to 1 s, stands still or moves on. */
        switch (rand() % 4) {
        case 0:
            wall -= (uint64_t)(rand() % 1000);
            break;
        case 1:
            wall += (uint64_t)(rand() % 3);
            break;
        default:
            break;
        }
        h = hlc_tick(&s, wall);
        ASSERT_GT(h, prev);
        ASSERT_GE(hlc_ms(h), wall);
        ASSERT_EQ(h, s);
        prev = h;
    }
}

TEST(tick_counter_overflow_moves_to_next_ms)
{
    uint64_t s = P(1000, 65534);

    ASSERT_EQ(hlc_tick(&s, 1000), P(1000, 65535));
    ASSERT_EQ(hlc_tick(&s, 1000), P(1001, 0));
    ASSERT_EQ(hlc_tick(&s, 1000), P(1001, 1));
}

TEST(tick_70000_events_in_one_ms)
{
    uint64_t s = 0, prev = 0;

    for (int i = 0; i < 70000; i++) {
        uint64_t h = hlc_tick(&s, 5000);

        ASSERT_GT(h, prev);
        ASSERT_LE(hlc_counter(h), HLC_COUNTER_MAX);
        prev = h;
    }
    /* 65536 in ms 5000 (counters 0..65535), the remaining 4464 in ms 5001. */
    ASSERT_EQ(prev, P(5001, 70000 - 65536 - 1));
}

TEST(recv_moves_past_remote_and_local)
{
    struct {
        uint64_t state, remote, wall, want;
    } cases[] = {
        /* remote ahead of local and wall: remote's ms, counter + 1 */
        {P(1000, 5), P(3000, 7), 2000, P(3000, 8)},
        /* local ahead of remote and wall */
        {P(2000, 0), P(1000, 9), 500, P(2000, 1)},
        /* same ms: the larger counter + 1 */
        {P(1000, 5), P(1000, 9), 500, P(1000, 10)},
        {P(1000, 9), P(1000, 5), 500, P(1000, 10)},
        /* wall ahead of both: wall, counter 0 */
        {P(1000, 5), P(3000, 7), 5000, P(5000, 0)},
        /* remote counter exhausted: next ms */
        {P(1000, 0), P(3000, 65535), 0, P(3001, 0)},
        {P(3000, 65535), P(1000, 0), 0, P(3001, 0)},
        /* equal clocks */
        {P(1000, 3), P(1000, 3), 1000, P(1000, 4)},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t s = cases[i].state;
        uint64_t h = hlc_recv(&s, cases[i].remote, cases[i].wall);

        if (h != cases[i].want)
            fprintf(stderr, "case %zu\n", i);
        ASSERT_EQ(h, cases[i].want);
        ASSERT_EQ(s, h);
        ASSERT_GT(h, cases[i].state);
        ASSERT_GT(h, cases[i].remote);
        ASSERT_GE(hlc_ms(h), cases[i].wall);
    }
}

TEST(recv_then_tick_stays_ahead)
{
    uint64_t s = 0, a, b;

    a = hlc_recv(&s, P(9000, 40), 1000);
    b = hlc_tick(&s, 1000);
    ASSERT_GT(b, a);
    ASSERT_EQ(b, P(9000, 42));
}

TEST(version_order_by_clock_then_device)
{
    const char *d1 = "0193c6b2-6a4e-7c4d-9b1e-000000000001";
    const char *d2 = "0193c6b2-6a4e-7c4d-9b1e-000000000002";

    ASSERT_LT(hlc_version_cmp(P(1000, 0), d2, P(1000, 1), d1), 0);
    ASSERT_GT(hlc_version_cmp(P(1001, 0), d1, P(1000, 65535), d2), 0);
    /* ties on the clock are broken by device id */
    ASSERT_LT(hlc_version_cmp(P(1000, 0), d1, P(1000, 0), d2), 0);
    ASSERT_GT(hlc_version_cmp(P(1000, 0), d2, P(1000, 0), d1), 0);
    ASSERT_EQ(hlc_version_cmp(P(1000, 0), d1, P(1000, 0), d1), 0);
    /* "no version" sorts below everything */
    ASSERT_LT(hlc_version_cmp(0, NULL, P(0, 1), ""), 0);
    ASSERT_LT(hlc_version_cmp(0, "", P(1, 0), d1), 0);
    ASSERT_EQ(hlc_version_cmp(0, NULL, 0, ""), 0);
}

TEST(version_order_is_total)
{
    static const char *const devs[] = {"", "a", "b", "ab"};
    uint64_t clocks[] = {0, P(1, 0), P(1, 1), P(2, 0)};
    struct {
        uint64_t h;
        const char *d;
    } v[16];
    size_t n = 0;

    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++)
            v[n].h = clocks[i], v[n++].d = devs[j];
    for (size_t a = 0; a < n; a++) {
        for (size_t b = 0; b < n; b++) {
            int ab = hlc_version_cmp(v[a].h, v[a].d, v[b].h, v[b].d);
            int ba = hlc_version_cmp(v[b].h, v[b].d, v[a].h, v[a].d);

            ASSERT_EQ(ab, -ba);                      /* antisymmetric */
            ASSERT_EQ(ab == 0, a == b);              /* distinct versions never tie */
            for (size_t c = 0; c < n; c++) {
                int bc = hlc_version_cmp(v[b].h, v[b].d, v[c].h, v[c].d);
                int ac = hlc_version_cmp(v[a].h, v[a].d, v[c].h, v[c].d);

                if (ab < 0 && bc < 0)
                    ASSERT_LT(ac, 0);               /* transitive */
            }
        }
    }
}

TEST(text_form)
{
    char buf[HLC_STR_MAX];
    uint64_t h = 0;

    ASSERT_STREQ(hlc_format(P(1763925429000, 3), buf), "1763925429000.00003");
    ASSERT_STREQ(hlc_format(0, buf), "0000000000000.00000");
    ASSERT_STREQ(hlc_format(P(9999999999999, 65535), buf), "9999999999999.65535");
    ASSERT_OK(hlc_parse("1763925429000.00003", &h));
    ASSERT_EQ(h, P(1763925429000, 3));
    ASSERT_OK(hlc_parse("0000000000001.65535", &h));
    ASSERT_EQ(h, P(1, 65535));
}

TEST(text_form_round_trip_and_sorts_as_text)
{
    char a[HLC_STR_MAX], b[HLC_STR_MAX];
    uint64_t prev = 0;

    srand(7);
    hlc_format(prev, a);
    for (int i = 0; i < 100000; i++) {
        uint64_t h = P(0, 0), back = 0;
        uint64_t ms = ((uint64_t)rand() << 20 ^ (uint64_t)rand()) % (HLC_MS_MAX + 1);

        h = hlc_pack(ms, (unsigned)rand() % 65536);
        hlc_format(h, b);
        ASSERT_EQ(strlen(b), HLC_STR_LEN);
        ASSERT_OK(hlc_parse(b, &back));
        ASSERT_EQ(back, h);
        /* text order == numeric order */
        ASSERT_EQ(strcmp(a, b) < 0, prev < h);
        ASSERT_EQ(strcmp(a, b) == 0, prev == h);
        prev = h;
        memcpy(a, b, sizeof(a));
    }
}

TEST(parse_rejects)
{
    static const char *const bad[] = {
        "",
        "1763925429000",
        "176392542900.00003",   /* 12 digits of ms */
        "17639254290000.00003", /* 14 digits */
        "1763925429000.0003",   /* 4 digits of counter */
        "1763925429000.000003", /* 6 digits */
        "1763925429000x00003",
        "1763925429000,00003",
        "176392542900a.00003",
        "1763925429000.0000b",
        "abcdefghijklm.nopqr",
        "-763925429000.00003",
        "+763925429000.00003",
        " 763925429000.00003",
        "1763925429000.00003 ",
        "1763925429000.65536", /* counter > 65535 */
        "1763925429000.99999",
        "1763925429000.-0001",
        "１763925429000.00003", /* full-width digit */
    };
    const uint64_t sentinel = UINT64_C(0xdeadbeef);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t h = sentinel;

        if (hlc_parse(bad[i], &h) != -EBADMSG)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        ASSERT_ERRNO(hlc_parse(bad[i], &h), -EBADMSG);
        ASSERT_EQ(h, sentinel); /* untouched on failure */
    }
    {
        uint64_t h = sentinel;

        ASSERT_ERRNO(hlc_parse(NULL, &h), -EBADMSG);
        ASSERT_EQ(h, sentinel);
    }
}

TEST(plausible_far_future_rule)
{
    const uint64_t wall = 1763925429000, max = HLC_MAX_FORWARD_MS;

    ASSERT_EQ(HLC_MAX_FORWARD_MS, 300000);
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall, 0), wall, max));
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall - 86400000, 0), wall, max)); /* past: fine */
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall + max, 0), wall, max));      /* exactly at bound */
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall + max, 65535), wall, max));  /* counter irrelevant */
    ASSERT_FALSE(hlc_plausible(hlc_pack(wall + max + 1, 0), wall, max)); /* 1 ms over */
    ASSERT_FALSE(hlc_plausible(hlc_pack(wall + 3600000, 0), wall, max));
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall + 10, 0), wall, 10));
    ASSERT_FALSE(hlc_plausible(hlc_pack(wall + 11, 0), wall, 10));
    ASSERT_TRUE(hlc_plausible(hlc_pack(wall, 1), wall, 0));
}

TEST(wall_clock_offset)
{
    uint64_t real, behind;

    unsetenv("CARESYNC_CLOCK_OFFSET_MS");
    real = hlc_wall_ms();
    ASSERT_GT(real, UINT64_C(1600000000000));
    setenv("CARESYNC_CLOCK_OFFSET_MS", "-3600000", 1);
    behind = hlc_wall_ms();
    unsetenv("CARESYNC_CLOCK_OFFSET_MS");
    ASSERT_GE(behind + 3600000, real);
    ASSERT_LT(behind + 3600000, real + 5000);
    setenv("CARESYNC_CLOCK_OFFSET_MS", "3600000", 1);
    ASSERT_GE(hlc_wall_ms(), real + 3600000);
    unsetenv("CARESYNC_CLOCK_OFFSET_MS");
}

static void tick_persisted(const char *path, uint64_t *ret)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    uint64_t h = 0, got = 0;

    ASSERT_OK(db_open(path, DB_OPEN_CREATE, &db));
    ASSERT_OK(db_exec(db, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)"));
    ASSERT_OK(db_begin(db, true));
    ASSERT_OK(db_hlc_tick(db, &h));
    ASSERT_OK(db_commit(db));
    ASSERT_OK(db_hlc_get(db, &got));
    ASSERT_EQ(got, h);
    *ret = h;
}

TEST(monotonic_across_restart)
{
    char path[4200];
    uint64_t first = 0, second = 0, third = 0;

    snprintf(path, sizeof(path), "%s/hlc-restart.db", test_tmpdir());
    unsetenv("CARESYNC_CLOCK_OFFSET_MS");
    tick_persisted(path, &first);
    CHECK_PASSING();
    ASSERT_GT(first, 0);

    /* "Restart" with the wall clock an hour behind. */
    setenv("CARESYNC_CLOCK_OFFSET_MS", "-3600000", 1);
    tick_persisted(path, &second);
    CHECK_PASSING();
    ASSERT_GT(second, first);
    ASSERT_EQ(hlc_ms(second), hlc_ms(first)); /* the persisted clock, not the wall clock */

    tick_persisted(path, &third);
    unsetenv("CARESYNC_CLOCK_OFFSET_MS");
    CHECK_PASSING();
    ASSERT_GT(third, second);
}

TEST(persisted_recv_moves_past_remote)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    char path[4200];
    uint64_t remote = hlc_pack(hlc_wall_ms() + 60000, 17), h = 0, t = 0;

    snprintf(path, sizeof(path), "%s/hlc-recv.db", test_tmpdir());
    ASSERT_OK(db_open(path, DB_OPEN_CREATE, &db));
    ASSERT_OK(db_exec(db, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)"));
    ASSERT_OK(db_hlc_get(db, &h));
    ASSERT_EQ(h, 0);
    ASSERT_OK(db_hlc_recv(db, remote, &h));
    ASSERT_GT(h, remote);
    ASSERT_OK(db_hlc_tick(db, &t));
    ASSERT_GT(t, h);
}
