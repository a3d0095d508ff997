/* SPDX-License-Identifier: MIT */
/* harness.h - the unit-test harness: TEST() registration, ASSERT_* checks, TESTFUNCS selection
 * and a per-binary temporary directory. Include it once, from the test's .c file; it defines
 * main().
 *
 * A failed ASSERT prints file:line and both values, marks the test failed and returns from the
 * function it is in, so _cleanup_ handlers still run. Use the ASSERTs in TEST bodies and in
 * void helpers; after calling such a helper, CHECK_PASSING() returns early when it failed.
 * TESTFUNCS="a,b" (or space separated) runs only the named tests. KEEP_TMP=1 keeps the
 * temporary directory for a post-mortem. The last line is "N passed, N failed". */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_MAX 256

struct test_case {
    const char *name;
    void (*fn)(void);
};

static struct test_case test_cases[TEST_MAX];
static size_t test_n_cases;
static bool test_current_failed;
static char test_tmp[4096];

static inline void test_register(const char *name, void (*fn)(void))
{
    if (test_n_cases >= TEST_MAX) {
        fprintf(stderr, "harness: more than %d tests; raise TEST_MAX\n", TEST_MAX);
        abort();
    }
    test_cases[test_n_cases++] = (struct test_case){name, fn};
}

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_register_##name(void)                            \
    {                                                                                              \
        test_register(#name, test_##name);                                                         \
    }                                                                                              \
    static void test_##name(void)

#define TEST_FAIL_(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        test_current_failed = true;                                                                \
        return;                                                                                    \
    } while (0)

#define ASSERT_TRUE(e)                                                                             \
    do {                                                                                           \
        if (!(e))                                                                                  \
            TEST_FAIL_("ASSERT_TRUE(%s) failed", #e);                                              \
    } while (0)
#define ASSERT_FALSE(e) ASSERT_TRUE(!(e))

#define ASSERT_CMP_(a, op, b)                                                                      \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (!(a_ op b_))                                                                           \
            TEST_FAIL_("ASSERT(%s %s %s) failed: %jd vs %jd", #a, #op, #b, a_, b_);                \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)

/* An int-returning call that must succeed (0 or positive). */
#define ASSERT_OK(e)                                                                               \
    do {                                                                                           \
        intmax_t r_ = (intmax_t)(e);                                                               \
        if (r_ < 0)                                                                                \
            TEST_FAIL_("ASSERT_OK(%s) failed: %jd (%s)", #e, r_, strerror((int)-r_));              \
    } while (0)

/* A call that must fail with exactly this negative errno, e.g. ASSERT_ERRNO(f(), -EBADMSG). */
#define ASSERT_ERRNO(e, want)                                                                      \
    do {                                                                                           \
        intmax_t r_ = (intmax_t)(e), w_ = (intmax_t)(want);                                        \
        if (r_ != w_)                                                                              \
            TEST_FAIL_("ASSERT_ERRNO(%s) failed: got %jd (%s), want %jd (%s)", #e, r_,             \
                       r_ < 0 ? strerror((int)-r_) : "success", w_, strerror((int)-w_));           \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ ? a_ != b_ : strcmp(a_, b_) != 0)                                           \
            TEST_FAIL_("ASSERT_STREQ(%s, %s) failed: \"%s\" vs \"%s\"", #a, #b,                    \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                    \
    } while (0)
#define ASSERT_NULL(p)     ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

/* After calling a void helper that uses ASSERTs: stop this test too if the helper failed. */
#define CHECK_PASSING()                                                                            \
    do {                                                                                           \
        if (test_current_failed)                                                                   \
            return;                                                                                \
    } while (0)

static inline int test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    (void)remove(p);
    return 0;
}

static inline void test_tmp_cleanup(void)
{
    const char *keep = getenv("KEEP_TMP");

    if (!test_tmp[0])
        return;
    if (keep && *keep && strcmp(keep, "0") != 0)
        fprintf(stderr, "harness: kept %s\n", test_tmp);
    else
        (void)nftw(test_tmp, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* test_tmpdir() - a private directory, made on first use and removed at exit. Never NULL. */
static inline const char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    if (test_tmp[0])
        return test_tmp;
    snprintf(test_tmp, sizeof(test_tmp), "%s/caresync-unit-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(test_tmp)) {
        perror("harness: mkdtemp");
        abort();
    }
    atexit(test_tmp_cleanup);
    return test_tmp;
}

static inline bool test_selected(const char *name, const char *list)
{
    size_t n = strlen(name);

    for (const char *p = list; (p = strstr(p, name)); p += n) {
        bool start = p == list || p[-1] == ',' || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ',' || p[n] == ' ';

        if (start && end)
            return true;
    }
    return false;
}

int main(void)
{
    const char *only = getenv("TESTFUNCS");
    unsigned passed = 0, failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < test_n_cases; i++) {
        if (only && *only && !test_selected(test_cases[i].name, only))
            continue;
        test_current_failed = false;
        printf("-- %s\n", test_cases[i].name);
        fflush(stdout);
        test_cases[i].fn();
        fflush(stderr);
        printf("%s %s\n", test_current_failed ? "FAIL" : "ok  ", test_cases[i].name);
        if (test_current_failed)
            failed++;
        else
            passed++;
    }
    if (passed + failed == 0)
        fprintf(stderr, "harness: no test matches TESTFUNCS=\"%s\"\n", only ? only : "");
    printf("%u passed, %u failed\n", passed, failed);
    return failed || passed + failed == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
