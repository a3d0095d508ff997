/* SPDX-License-Identifier: MIT */
/* demo_int.h - private to demo/demo*.c: the generator's state (roles, staff, people, the seeded
 * random source), dates and ids, and the row writer, shared by demo.c (staff, caseloads,
 * conflicts, the command) and demo_records.c (one person's records). */
#pragma once

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "demo.h"
#include "store.h"
#include "store_demo.h"
#include "util.h"

#define HISTORY_DAYS   90
#define AHEAD_DAYS     14
#define MAX_WORKERS    4
#define MAX_TODAY      4
#define TEXT_MAX       2048
#define DEMO_MAX_STAFF 32

/* ---- roles, staff and profiles ---- */

enum role { R_NURSE, R_OT, R_PHYSIO, R_SW, R_LW, R_VOL, R_PA, R_COORD, R__MAX };

struct demo_role {
    const char *name;  /* store role */
    const char *title; /* for people to read */
    unsigned pct;      /* share of people who have this service (§5.3) */
    int cadence_days;  /* how often they visit */
};
extern const struct demo_role demo_roles[R__MAX];

struct staff_def {
    const char *name;
    enum role role;
    int team; /* neighbourhood, or -1 for both (VCSE volunteers, PAs) */
};

struct profile {
    const char *name;
    const struct staff_def *staff;
    size_t n_staff;
    int teams;
    int active, closed, referred;
    int today_nurse, today_other; /* visits planned today per nurse, per other field worker */
    int conflict_rounds;          /* each round seeds one of each conflict scenario */
};

extern const char *const demo_team_names[];

/* ---- deterministic randomness (splitmix64) ---- */

struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A whole number from 0 to @n - 1 (0 when @n is 0). */
static inline unsigned rng_below(struct rng *r, unsigned n)
{
    return (unsigned)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* A whole number from @lo to @hi inclusive. */
static inline int rng_range(struct rng *r, int lo, int hi)
{
    return lo + (int)rng_below(r, (unsigned)(hi - lo + 1));
}

static inline bool rng_pct(struct rng *r, unsigned pct)
{
    return rng_below(r, 100) < pct;
}

/* An index into @w (weights summing to 100). */
static inline size_t rng_weighted(struct rng *r, const unsigned *w, size_t n)
{
    unsigned x = rng_below(r, 100);

    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

static inline const char *pick(struct rng *r, const struct demo_list *l)
{
    return l->v[rng_below(r, (unsigned)l->n)];
}

/* ---- the generator's state ---- */

enum { P_ACTIVE, P_REFERRED, P_CLOSED };

struct staff {
    const struct staff_def *def;
    char first[24]; /* "Amira" */
    int64_t id;
    char device[UUID_STR_MAX]; /* the phone their seeded conflicting edits came from */
    int people;                /* active people on their caseload */
    int today;                 /* visits planned for them today */
};

struct person {
    char id[UUID_STR_MAX];
    char given[24], surname[24], name[64], preferred[24];
    bool female, example, wound, diabetic, insulin, breathless;
    int team, status, age;
    int64_t created, closed;  /* days since the epoch */
    int workers[MAX_WORKERS]; /* staff indexes */
    int n_workers;
    int lead; /* staff index of the named coordinator (reviews the plan), or -1 */
    struct {
        int staff, minute;
    } today[MAX_TODAY];
    int n_today;
    /* the first contact, for templates */
    char contact[48], contact_first[24], contact_rel[24];
    /* rows the conflict scenarios edit */
    char plan_id[UUID_STR_MAX], goal_id[UUID_STR_MAX], action_id[UUID_STR_MAX];
    bool has_about;
    int64_t plan_start, review_due;
    /* observation baselines */
    int sys, dia, pulse, spo2, weight10, glucose10;
};

struct gen {
    struct store *s;
    struct rng rng;
    const struct profile *prof;
    int64_t today;
    struct staff staff[DEMO_MAX_STAFF];
    size_t n_staff;
    struct person *people;
    size_t n_people;
    uint64_t nhs_next;
    unsigned landline_next, mobile_next;
    size_t today_visits, visits, rows;
    uint64_t seed;
    int r;         /* the first error; every write is skipped after one */
    char err[160]; /* what was being written when it happened */
};

/* ---- dates, ids, text ---- */

/* Day @day (since the epoch) plus @minute (may exceed a day) as a struct tm, UTC. */
static inline void day_tm(int64_t day, int64_t minute, struct tm *tm)
{
    time_t t = (time_t)(day * 86400 + minute * 60);

    gmtime_r(&t, tm);
}

static inline const char *fmt_date(int64_t day, char buf[static 16])
{
    struct tm tm;

    day_tm(day, 0, &tm);
    strftime(buf, 16, "%Y-%m-%d", &tm);
    return buf;
}

static inline const char *fmt_time(int64_t day, int64_t minute, char buf[static 24])
{
    struct tm tm;

    day_tm(day, minute, &tm);
    strftime(buf, 24, "%Y-%m-%dT%H:%M:00Z", &tm);
    return buf;
}

/* A UUIDv7 for a row created at @day/@minute, its random bits from the seeded generator, so the
 * same seed on the same day makes the same ids. */
static inline void make_id(struct gen *g, int64_t day, int minute, char out[static UUID_STR_MAX])
{
    uint64_t ms = (uint64_t)(day * 1440 + minute) * 60000 + rng_below(&g->rng, 60000);
    uint64_t hi = (ms << 16) | 0x7000 | (rng_next(&g->rng) & 0xfff);
    uint64_t lo = (rng_next(&g->rng) & UINT64_C(0x3fffffffffffffff)) | UINT64_C(0x8000000000000000);

    snprintf(out, UUID_STR_MAX,
             "%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
             (uint32_t)(hi >> 32), (uint32_t)(hi >> 16) & 0xffff, (uint32_t)hi & 0xffff,
             (uint32_t)(lo >> 48), lo & UINT64_C(0xffffffffffff));
}

/* An NHS number from the range NHS England reserves for testing (999 ...) with a valid
 * Modulus 11 check digit; numbers whose check digit would be 10 are skipped, as the rule says. */
static inline void nhs_number(struct gen *g, char out[static 16])
{
    for (;;) {
        uint64_t n = g->nhs_next++;
        unsigned sum = 0, check;
        char digits[10];

        snprintf(digits, sizeof(digits), "%09" PRIu64, n);
        for (int i = 0; i < 9; i++)
            sum += (unsigned)(digits[i] - '0') * (unsigned)(10 - i);
        check = 11 - sum % 11;
        if (check == 11)
            check = 0;
        if (check == 10)
            continue;
        snprintf(out, 16, "%s%u", digits, check);
        return;
    }
}

/* Ofcom's numbers for drama: 01632 960000-960999 and 07700 900000-900999 are never assigned. */
static inline void phone(struct gen *g, bool mobile, char out[static 16])
{
    if (mobile)
        snprintf(out, 16, "07700 900%03u", g->mobile_next++ % 1000);
    else
        snprintf(out, 16, "01632 960%03u", g->landline_next++ % 1000);
}

/* Expand {p}, {c}, {r} and {w} in @tmpl for person @p and worker @w (may be NULL). */
static inline const char *fill(char *out, size_t n, const char *tmpl, const struct person *p,
                               const struct staff *w)
{
    size_t len = 0;

    for (const char *t = tmpl; *t && len + 1 < n; t++) {
        const char *sub = NULL;

        if (t[0] == '{' && t[1] && t[2] == '}') {
            switch (t[1]) {
            case 'p':
                sub = p->preferred[0] ? p->preferred : p->given;
                break;
            case 'c':
                sub = p->contact_first;
                break;
            case 'r':
                sub = p->contact_rel;
                break;
            case 'w':
                sub = w ? w->first : "the worker";
                break;
            }
        }
        if (sub) {
            for (; *sub && len + 1 < n; sub++)
                out[len++] = *sub;
            t += 2;
            continue;
        }
        out[len++] = *t;
    }
    out[len] = '\0';
    return out;
}

/* ---- writing rows ---- */

struct row {
    struct gen *g;
    const char *tbl;
    const struct person *p;
    char id[UUID_STR_MAX];
};

static inline void row_new(struct row *w, struct gen *g, const char *tbl, const struct person *p,
                           int64_t day, int minute)
{
    w->g = g;
    w->tbl = tbl;
    w->p = p;
    g->rows++;
    if (streq(tbl, "person") || streq(tbl, "about_me"))
        memcpy(w->id, p->id, UUID_STR_MAX);
    else
        make_id(g, day, minute, w->id);
}

static inline void put(struct row *w, const char *field, const char *value)
{
    struct gen *g = w->g;
    int r;

    if (g->r < 0 || !value)
        return;
    r = store_demo_field(g->s, w->tbl, w->id, w->p->id, field, value);
    if (r < 0) {
        g->r = r;
        snprintf(g->err, sizeof(g->err), "%s.%s = '%.60s'", w->tbl, field, value);
    }
}

_printf_(3, 4) static inline void putf(struct row *w, const char *field, const char *fmt, ...)
{
    char buf[TEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(w, field, buf);
}

static inline void put_text(struct row *w, const char *field, const char *tmpl,
                            const struct staff *by)
{
    char buf[TEXT_MAX];

    if (tmpl)
        put(w, field, fill(buf, sizeof(buf), tmpl, w->p, by));
}

static inline void put_date(struct row *w, const char *field, int64_t day)
{
    char buf[16];

    put(w, field, fmt_date(day, buf));
}

static inline void put_time(struct row *w, const char *field, int64_t day, int64_t minute)
{
    char buf[24];

    put(w, field, fmt_time(day, minute, buf));
}

static inline void put_bool(struct row *w, const char *field, bool v)
{
    put(w, field, v ? "1" : "0");
}

/* ---- shared between demo.c and demo_records.c ---- */

/* demo_staff_with() - the first member of staff with @role serving neighbourhood @team (-1:
 * any), or -1. */
int demo_staff_with(const struct gen *g, enum role role, int team);
/* demo_worker_of_role() - the worker of @role on @p's caseload, or -1. */
int demo_worker_of_role(const struct gen *g, const struct person *p, enum role role);
/* demo_role_text() - the visit types, outcomes and notes of a visiting role. */
const struct demo_role_text *demo_role_text(enum role role);
/* demo_write_records() - every record of person @p, then the audit event and their
 * assignments; the first failure is left in g->r and g->err. */
void demo_write_records(struct gen *g, struct person *p);
