/* SPDX-License-Identifier: MIT */
/* test-merge.c - the merge rules, table-driven: which version wins, when a lost value belongs in
 * the conflict log (concurrent vs sequential overwrite, equal and NULL values, ties broken by
 * device) and when an edit is hidden by a tombstone. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "hlc.h"
#include "merge.h"

#define DA "0193c6b2-6a4e-7c4d-9b1e-00000000000a"
#define DB "0193c6b2-6a4e-7c4d-9b1e-00000000000b"
#define DC "0193c6b2-6a4e-7c4d-9b1e-00000000000c"
#define V(ms, c, dev) ((struct merge_version){hlc_pack((uint64_t)(ms), (c)), (dev)})
#define NOV           ((struct merge_version){0, ""})

TEST(wins_table)
{
    struct {
        const char *what;
        struct merge_version in;
        bool has_cur;
        struct merge_version cur;
        bool want;
    } t[] = {
        {"no current version", V(1000, 0, DA), false, NOV, true},
        {"current is 'no version'", V(1000, 0, DA), true, NOV, true},
        {"newer clock", V(1000, 1, DA), true, V(1000, 0, DB), true},
        {"older clock", V(999, 65535, DB), true, V(1000, 0, DA), false},
        {"newer ms beats higher counter", V(1001, 0, DA), true, V(1000, 65535, DB), true},
        {"tie, higher device", V(1000, 0, DB), true, V(1000, 0, DA), true},
        {"tie, lower device", V(1000, 0, DA), true, V(1000, 0, DB), false},
        {"same version again", V(1000, 0, DA), true, V(1000, 0, DA), false},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool got = merge_wins(t[i].in, t[i].has_cur ? &t[i].cur : NULL);

        if (got != t[i].want)
            fprintf(stderr, "case '%s'\n", t[i].what);
        ASSERT_EQ(got, t[i].want);
    }
}

TEST(cmp_matches_hlc_version_cmp)
{
    struct merge_version v[] = {NOV, V(1, 0, DA), V(1, 0, DB), V(1, 1, DA), V(2, 0, "")};

    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 5; b++) {
            int m = merge_cmp(v[a], v[b]);
            int h = hlc_version_cmp(v[a].hlc, v[a].device, v[b].hlc, v[b].device);

            ASSERT_EQ(m < 0, h < 0);
            ASSERT_EQ(m > 0, h > 0);
            ASSERT_EQ(m == 0, a == b);
        }
}

TEST(unseen_table)
{
    ASSERT_TRUE(merge_unseen(NOV, V(1000, 0, DA)));
    ASSERT_TRUE(merge_unseen(V(999, 0, DB), V(1000, 0, DA)));
    ASSERT_TRUE(merge_unseen(V(1000, 0, DA), V(1000, 0, DB))); /* tie: device decides */
    ASSERT_FALSE(merge_unseen(V(1000, 0, DA), V(1000, 0, DA)));
    ASSERT_FALSE(merge_unseen(V(1000, 1, DA), V(1000, 0, DB)));
}

/*
 * merge_concurrent_loss(x, x_value, y, y_base, y_value): x's value is logged as lost to y.
 * v0 is the version both writers started from in the "concurrent" cases.
 */
TEST(concurrent_loss_table)
{
    struct {
        const char *what;
        struct merge_version x;
        const char *xv;
        struct merge_version y, ybase;
        const char *yv;
        bool want;
    } t[] = {
        {"concurrent overwrite, values differ", V(2000, 0, DA), "a", V(3000, 0, DB),
         V(1000, 0, DC), "b", true},
        {"sequential overwrite: y's base is x", V(2000, 0, DA), "a", V(3000, 0, DB),
         V(2000, 0, DA), "b", false},
        {"y saw something newer than x", V(2000, 0, DA), "a", V(3000, 0, DB), V(2500, 0, DC),
         "b", false},
        {"concurrent, equal values: not logged", V(2000, 0, DA), "same", V(3000, 0, DB),
         V(1000, 0, DC), "same", false},
        {"x is the newer one: x is no loser", V(3000, 0, DA), "a", V(2000, 0, DB),
         V(1000, 0, DC), "b", false},
        {"concurrent, x cleared the field", V(2000, 0, DA), NULL, V(3000, 0, DB),
         V(1000, 0, DC), "b", true},
        {"concurrent, y cleared the field", V(2000, 0, DA), "a", V(3000, 0, DB),
         V(1000, 0, DC), NULL, true},
        {"concurrent, both cleared", V(2000, 0, DA), NULL, V(3000, 0, DB), V(1000, 0, DC), NULL,
         false},
        {"empty string is not NULL", V(2000, 0, DA), "", V(3000, 0, DB), V(1000, 0, DC), NULL,
         true},
        {"y had no version at all", V(2000, 0, DA), "a", V(3000, 0, DB), NOV, "b", true},
        {"tie on clock, y's device higher", V(2000, 0, DA), "a", V(2000, 0, DB), NOV, "b", true},
        {"tie on clock, y's device lower", V(2000, 0, DB), "a", V(2000, 0, DA), NOV, "b", false},
        {"y's base ties x's clock on a lower device", V(2000, 0, DB), "a", V(3000, 0, DC),
         V(2000, 0, DA), "b", true},
        {"y's base ties x's clock on a higher device", V(2000, 0, DA), "a", V(3000, 0, DC),
         V(2000, 0, DB), "b", false},
        {"counter decides", V(2000, 1, DA), "a", V(2000, 2, DB), V(2000, 0, DC), "b", true},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool got = merge_concurrent_loss(t[i].x, t[i].xv, t[i].y, t[i].ybase, t[i].yv);

        if (got != t[i].want)
            fprintf(stderr, "case '%s'\n", t[i].what);
        ASSERT_EQ(got, t[i].want);
    }
}

/* Whichever of two concurrent writes arrives second, exactly one of them is the loser. */
TEST(concurrent_loss_is_order_independent)
{
    static const char *const devs[] = {DA, DB, DC};
    static const char *const vals[] = {"a", "b", NULL};

    srand(1234);
    for (int i = 0; i < 100000; i++) {
        struct merge_version base = V((uint64_t)(rand() % 5), (unsigned)rand() % 2,
                                      devs[rand() % 3]);
        struct merge_version x = V((uint64_t)(5 + rand() % 3), (unsigned)rand() % 2,
                                   devs[rand() % 3]);
        struct merge_version y = V((uint64_t)(5 + rand() % 3), (unsigned)rand() % 2,
                                   devs[rand() % 3]);
        const char *xv = vals[rand() % 3], *yv = vals[rand() % 3];
        bool x_lost = merge_concurrent_loss(x, xv, y, base, yv);
        bool y_lost = merge_concurrent_loss(y, yv, x, base, xv);
        bool differ = (xv == NULL) != (yv == NULL) || (xv && yv && xv != yv);

        /* both wrote on top of base, neither saw the other */
        if (merge_cmp(x, y) == 0)
            continue;
        ASSERT_FALSE(x_lost && y_lost);
        ASSERT_EQ(x_lost || y_lost, differ);
        if (x_lost)
            ASSERT_TRUE(merge_wins(y, &x));
        if (y_lost)
            ASSERT_TRUE(merge_wins(x, &y));
    }
}

TEST(hidden_by_delete_table)
{
    struct {
        const char *what;
        struct merge_version x, tbase;
        bool want;
    } t[] = {
        {"deleter had not seen the edit", V(2000, 0, DA), V(1000, 0, DB), true},
        {"deleter's base is the edit", V(2000, 0, DA), V(2000, 0, DA), false},
        {"deleter saw a newer version", V(2000, 0, DA), V(3000, 0, DB), false},
        {"deleter held no version", V(2000, 0, DA), NOV, true},
        {"tie on clock, deleter's base device lower", V(2000, 0, DB), V(2000, 0, DA), true},
        {"tie on clock, deleter's base device higher", V(2000, 0, DA), V(2000, 0, DB), false},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool got = merge_hidden_by_delete(t[i].x, t[i].tbase);

        if (got != t[i].want)
            fprintf(stderr, "case '%s'\n", t[i].what);
        ASSERT_EQ(got, t[i].want);
    }
}

/* merge_same_writer(p, p_base, p_restamped, q, q_base, q_restamped): one device's successive
 * edits, never a conflict. */
TEST(same_writer_table)
{
    struct {
        const char *what;
        struct merge_version p, pbase;
        bool prs;
        struct merge_version q, qbase;
        bool qrs;
        bool want;
    } t[] = {
        {"two devices", V(2000, 0, DA), NOV, false, V(3000, 0, DB), NOV, false, false},
        {"one device, later on its own clock", V(2000, 0, DA), NOV, false, V(3000, 0, DA),
         NOV, false, true},
        {"one device, either order", V(3000, 0, DA), NOV, false, V(2000, 0, DA), NOV, false,
         true},
        {"later re-stamped, base older", V(2000, 0, DA), NOV, false, V(3000, 0, DA),
         V(1000, 0, DB), true, false},
        {"later re-stamped, based on the earlier", V(2000, 0, DA), NOV, false, V(3000, 0, DA),
         V(2000, 0, DA), true, true},
        {"earlier re-stamped does not matter", V(2000, 0, DA), NOV, true, V(3000, 0, DA), NOV,
         false, true},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool got = merge_same_writer(t[i].p, t[i].pbase, t[i].prs, t[i].q, t[i].qbase,
                                     t[i].qrs);

        if (got != t[i].want)
            fprintf(stderr, "case '%s'\n", t[i].what);
        ASSERT_EQ(got, t[i].want);
    }
}

/* The winner of a set of versions does not depend on the order they are folded in. */
TEST(wins_fold_is_order_independent)
{
    static const char *const devs[] = {DA, DB, DC};

    srand(99);
    for (int round = 0; round < 2000; round++) {
        struct merge_version v[6];
        struct merge_version best_fwd, best_back;

        for (int i = 0; i < 6; i++)
            v[i] = V((uint64_t)(1 + rand() % 3), (unsigned)rand() % 2, devs[rand() % 3]);
        best_fwd = v[0];
        for (int i = 1; i < 6; i++)
            if (merge_wins(v[i], &best_fwd))
                best_fwd = v[i];
        best_back = v[5];
        for (int i = 4; i >= 0; i--)
            if (merge_wins(v[i], &best_back))
                best_back = v[i];
        ASSERT_EQ(merge_cmp(best_fwd, best_back), 0);
        for (int i = 0; i < 6; i++)
            ASSERT_FALSE(merge_wins(v[i], &best_fwd));
    }
}
