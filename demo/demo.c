/* SPDX-License-Identifier: MIT */
/* demo.c - 'caresyncd demo': fill a fresh store with fictional staff, people, caseloads and 90
 * days of care records (plus 14 days of planned visits) shaped like the seed profiles of
 * reference/domain-model.md §5, deterministically for a seed, in one transaction. */
#include "demo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "demo_int.h"
#include "hlc.h"

/* ---- roles, staff and profiles ---- */

const struct demo_role demo_roles[R__MAX] = {
        [R_NURSE] = {"nurse", "community nurse", 75, 7},
        [R_OT] = {"occupational_therapist", "occupational therapist", 25, 7},
        [R_PHYSIO] = {"physiotherapist", "physiotherapist", 17, 7},
        [R_SW] = {"social_worker", "social worker", 30, 28},
        [R_LW] = {"link_worker", "link worker", 42, 14},
        [R_VOL] = {"volunteer", "volunteer befriender", 12, 7},
        [R_PA] = {"personal_assistant", "personal assistant", 3, 1},
        [R_COORD] = {"coordinator", "coordinator", 0, 0},
};

/* One neighbourhood, 9 staff (§5.1 "demo"). */
static const struct staff_def demo_staff[] = {
        {"nurse.amira", R_NURSE, 0}, {"nurse.ben", R_NURSE, 0}, {"ot.chloe", R_OT, 0},
        {"physio.dev", R_PHYSIO, 0}, {"sw.ella", R_SW, 0},      {"sw.farid", R_SW, 0},
        {"lw.grace", R_LW, 0},       {"vol.hari", R_VOL, -1},   {"coord.iona", R_COORD, 0},
};

/* Two neighbourhood teams of 8, a befriending charity (a volunteer coordinator and 5
 * volunteers) and 4 PAs: 26 staff (§5.2). */
static const struct staff_def load_staff[] = {
        {"nurse.amira", R_NURSE, 0}, {"nurse.ben", R_NURSE, 0},   {"ot.chloe", R_OT, 0},
        {"physio.dev", R_PHYSIO, 0}, {"sw.ella", R_SW, 0},        {"sw.farid", R_SW, 0},
        {"lw.grace", R_LW, 0},       {"coord.iona", R_COORD, 0},  {"nurse.jas", R_NURSE, 1},
        {"nurse.kofi", R_NURSE, 1},  {"ot.lena", R_OT, 1},        {"physio.mo", R_PHYSIO, 1},
        {"sw.nadia", R_SW, 1},       {"sw.owen", R_SW, 1},        {"lw.priya", R_LW, 1},
        {"coord.quinn", R_COORD, 1}, {"coord.rosa", R_COORD, -1}, {"vol.hari", R_VOL, -1},
        {"vol.sam", R_VOL, -1},      {"vol.tomasz", R_VOL, -1},   {"vol.una", R_VOL, -1},
        {"vol.viktor", R_VOL, -1},   {"pa.wren", R_PA, -1},       {"pa.xena", R_PA, -1},
        {"pa.yusuf", R_PA, -1},      {"pa.zara", R_PA, -1},
};

/* name, staff, teams, people (active, closed, referred), visits today (per nurse, per other
 * field worker), conflict rounds */
static const struct profile profiles[] = {
        {"demo", demo_staff, ELEMENTSOF(demo_staff), 1, 28, 1, 1, 4, 2, 1},
        {"load", load_staff, ELEMENTSOF(load_staff), 2, 240, 30, 12, 7, 3, 3},
};

const char *const demo_team_names[] = {"Northbrook North", "Northbrook South"};

_Static_assert(ELEMENTSOF(load_staff) <= DEMO_MAX_STAFF, "DEMO_MAX_STAFF is too small");

/* ---- people and caseloads ---- */

int demo_staff_with(const struct gen *g, enum role role, int team)
{
    for (size_t i = 0; i < g->n_staff; i++)
        if (g->staff[i].def->role == role &&
            (team < 0 || g->staff[i].def->team < 0 || g->staff[i].def->team == team))
            return (int)i;
    return -1;
}

/* The least loaded worker of @role serving neighbourhood @team, or -1 (none, or all full). */
static int least_loaded(const struct gen *g, enum role role, int team)
{
    int best = -1;

    for (size_t i = 0; i < g->n_staff; i++) {
        const struct staff *s = &g->staff[i];

        if (s->def->role != role || (s->def->team >= 0 && s->def->team != team))
            continue;
        /* A volunteer has 3-4 matches; a PA works for one person. */
        if ((role == R_VOL && s->people >= 4) || (role == R_PA && s->people >= 1))
            continue;
        if (best < 0 || s->people < g->staff[best].people)
            best = (int)i;
    }
    return best;
}

static bool has_worker(const struct person *p, int staff)
{
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i] == staff)
            return true;
    return false;
}

int demo_worker_of_role(const struct gen *g, const struct person *p, enum role role)
{
    for (int i = 0; i < p->n_workers; i++)
        if (g->staff[p->workers[i]].def->role == role)
            return p->workers[i];
    return -1;
}

static void add_worker(struct gen *g, struct person *p, int staff)
{
    if (staff < 0 || p->n_workers >= MAX_WORKERS || has_worker(p, staff))
        return;
    p->workers[p->n_workers++] = staff;
    if (p->status == P_ACTIVE)
        g->staff[staff].people++;
}

static bool name_taken(const struct gen *g, size_t n, const char *given, const char *surname)
{
    for (size_t i = 0; i < n; i++)
        if (streq(g->people[i].given, given) && streq(g->people[i].surname, surname))
            return true;
    return false;
}

/* Who the person is and who supports them (phase 1: nothing written yet). */
static void person_make(struct gen *g, size_t i, int status)
{
    struct person *p = &g->people[i];
    struct rng *r = &g->rng;
    static const enum role services[] = {R_NURSE, R_SW, R_LW, R_OT, R_PHYSIO, R_VOL, R_PA};

    p->status = status;
    p->lead = -1;
    p->example = i == 0;
    p->team = g->prof->teams > 1 ? (int)(i % 2) : 0;
    if (p->example) {
        /* reference/domain-model.md §5.6 */
        snprintf(p->given, sizeof(p->given), "Doreen");
        snprintf(p->surname, sizeof(p->surname), "Ashworth");
        snprintf(p->preferred, sizeof(p->preferred), "Dee");
        p->female = true;
        p->age = 84;
        p->wound = true;
    } else {
        for (int tries = 0; tries < 20; tries++) {
            p->female = rng_pct(r, 58);
            snprintf(p->given, sizeof(p->given), "%s",
                     pick(r, p->female ? &demo_given_f : &demo_given_m));
            snprintf(p->surname, sizeof(p->surname), "%s", pick(r, &demo_surnames));
            if (!name_taken(g, i, p->given, p->surname))
                break;
        }
        if (rng_pct(r, 40))
            snprintf(p->preferred, sizeof(p->preferred), "%s", p->given);
        p->age = 62 + rng_range(r, 0, 18) + rng_range(r, 0, 17);
        p->wound = rng_pct(r, 35);
    }
    snprintf(p->name, sizeof(p->name), "%s %s", p->given, p->surname);
    p->diabetic = rng_pct(r, 20);
    /* Half of them need a nurse to give their insulin: a visit every morning. */
    p->insulin = !p->example && p->diabetic && rng_pct(r, 50);
    p->breathless = rng_pct(r, 20);
    p->sys = rng_range(r, 112, 158);
    p->dia = rng_range(r, 64, 92);
    p->pulse = rng_range(r, 60, 92);
    p->spo2 = p->breathless ? rng_range(r, 91, 95) : rng_range(r, 95, 99);
    p->weight10 = rng_range(r, 450, 1050);
    p->glucose10 = rng_range(r, 55, 120);
    if (status == P_REFERRED)
        p->created = g->today - rng_range(r, 0, 20);
    else
        p->created = g->today - rng_range(r, 30, 700);
    if (status == P_CLOSED) {
        p->created = g->today - rng_range(r, 120, 700);
        p->closed = g->today - rng_range(r, 5, 80);
    }
    if (p->example)
        p->created = g->today - 88; /* 90 days of history; her 6-week review is in it */
    make_id(g, p->created, 540, p->id);

    if (status == P_REFERRED)
        return; /* waiting in the coordinator's queue */
    if (p->example) {
        add_worker(g, p, demo_staff_with(g, R_SW, 0));
        add_worker(g, p, demo_staff_with(g, R_NURSE, 0));
        add_worker(g, p, demo_staff_with(g, R_LW, 0));
        add_worker(g, p, demo_staff_with(g, R_VOL, 0));
        p->lead = p->workers[0];
        return;
    }
    for (size_t k = 0; k < ELEMENTSOF(services); k++)
        if (rng_pct(r, demo_roles[services[k]].pct))
            add_worker(g, p, least_loaded(g, services[k], p->team));
    if (p->n_workers == 0)
        add_worker(g, p, least_loaded(g, rng_pct(r, 60) ? R_NURSE : R_LW, p->team));
    {
        /* Named coordinator: social worker 40 %, nurse 30 %, link worker 20 %, therapist 10 %. */
        static const unsigned w[] = {40, 30, 20, 5, 5};
        static const enum role lead_roles[] = {R_SW, R_NURSE, R_LW, R_OT, R_PHYSIO};

        p->lead = demo_worker_of_role(g, p, lead_roles[rng_weighted(r, w, ELEMENTSOF(w))]);
        if (p->lead < 0)
            p->lead = p->workers[0];
    }
}

/* Plan today's visits (so 'caresync today' has something): a few per nurse, fewer for the
 * other field workers, on people of their caseload. */
static void plan_today(struct gen *g)
{
    for (size_t s = 0; s < g->n_staff; s++) {
        struct staff *st = &g->staff[s];
        bool nurse = st->def->role == R_NURSE;
        int quota = nurse ? g->prof->today_nurse : g->prof->today_other;
        size_t start = rng_below(&g->rng, (unsigned)g->n_people);

        if (st->def->role == R_COORD)
            continue;
        /* The example person is the first of her nurse's day. */
        for (size_t k = 0; k <= g->n_people && st->today < quota; k++) {
            size_t i = k == 0 ? 0 : (start + k) % g->n_people;
            struct person *p = &g->people[i];

            if ((k > 0 && i == 0) || (k == 0 && !nurse))
                continue;
            if (p->status != P_ACTIVE || !has_worker(p, (int)s) || p->n_today >= MAX_TODAY)
                continue;
            p->today[p->n_today].staff = (int)s;
            p->today[p->n_today].minute = nurse ? 540 + st->today * 70 : 600 + st->today * 120;
            p->n_today++;
            st->today++;
        }
    }
}

/* ---- conflicts for the coordinator's queue (§5.5) ---- */

static bool version_of(struct gen *g, const char *tbl, const char *row, const char *field,
                       struct store_demo_version *ret)
{
    int r;

    if (g->r < 0)
        return false;
    r = store_demo_version(g->s, tbl, row, field, ret);
    if (r < 0) {
        g->r = r;
        snprintf(g->err, sizeof(g->err), "reading the version of %s.%s", tbl, field);
        return false;
    }
    return true;
}

/* An edit made on @by's phone on top of @base, through the real merge. */
static void edit(struct gen *g, const struct staff *by, const struct person *p, const char *tbl,
                 const char *row, const char *field, const char *value,
                 const struct store_demo_version *base)
{
    int r;

    if (g->r < 0)
        return;
    r = store_demo_edit(g->s, by->device, by->id, tbl, row, p->id, field, value, base);
    if (r < 0) {
        g->r = r;
        snprintf(g->err, sizeof(g->err), "seeding a conflict on %s.%s", tbl, field);
    }
}

/* Who is likeliest to edit a plan: nurses, then other professionals, then volunteers and PAs. */
static int editor_rank(const struct gen *g, int staff)
{
    enum role role = g->staff[staff].def->role;

    return role == R_NURSE ? 0 : role == R_VOL || role == R_PA ? 2 : 1;
}

/*
 * Each round seeds, on five different people, the scenarios a coordinator meets: two workers (a
 * nurse first, where there is one) setting a goal's achievement concurrently; two rewriting the
 * same About Me section offline; a visit marked completed (with a start time) on one phone and
 * missed on the coordinator's; an action's owner changed on two phones; and an alert edited on a
 * phone that had not seen the coordinator delete it.
 */
static void seed_conflicts(struct gen *g)
{
    size_t cand[512], n = 0, used = 0;

    for (size_t i = 1; i < g->n_people && n < ELEMENTSOF(cand); i++) {
        const struct person *p = &g->people[i];

        if (p->status == P_ACTIVE && p->n_workers >= 2 && p->goal_id[0] && p->action_id[0] &&
            p->has_about)
            cand[n++] = i;
    }
    for (int round = 0; round < g->prof->conflict_rounds && g->r >= 0; round++) {
        for (int scenario = 0; scenario < 5 && used < n && g->r >= 0; scenario++) {
            struct person *p = &g->people[cand[(used++ * 7 + (size_t)round) % n]];
            int coord = demo_staff_with(g, R_COORD, p->team), ia = -1, ib = -1;
            const struct staff *a, *b, *c;
            struct store_demo_version v, v2;
            struct row w;

            /* Two professionals where there are (a nurse first), not a volunteer or PA. */
            for (int k = 0; k < p->n_workers; k++) {
                int rank = editor_rank(g, p->workers[k]);

                if (ia < 0 || rank < editor_rank(g, p->workers[ia])) {
                    ib = ia;
                    ia = k;
                } else if (ib < 0 || rank < editor_rank(g, p->workers[ib])) {
                    ib = k;
                }
            }
            a = &g->staff[p->workers[ia]];
            b = &g->staff[p->workers[ib]];
            c = coord >= 0 ? &g->staff[coord] : b;
            switch (scenario) {
            case 0:
                if (version_of(g, "goal", p->goal_id, "achievement_status", &v)) {
                    edit(g, a, p, "goal", p->goal_id, "achievement_status", "improving", &v);
                    edit(g, b, p, "goal", p->goal_id, "achievement_status", "no-change", &v);
                }
                break;
            case 1:
                if (version_of(g, "about_me", p->id, "what_matters", &v)) {
                    edit(g, a, p, "about_me", p->id, "what_matters",
                         "My garden, and seeing my grandchildren at the weekend.", &v);
                    edit(g, b, p, "about_me", p->id, "what_matters",
                         "Staying in my own home and getting out to the luncheon club.", &v);
                }
                break;
            case 2:
                row_new(&w, g, "visit", p, g->today - 1, 600);
                put_time(&w, "planned_start", g->today - 1, 600);
                put_time(&w, "planned_end", g->today - 1, 645);
                put(&w, "status", "planned");
                put(&w, "visit_type", pick(&g->rng, &demo_role_text(a->def->role)->types));
                put(&w, "mode", "home");
                put(&w, "assigned_to", a->def->name);
                g->visits++;
                if (version_of(g, "visit", w.id, "status", &v)) {
                    char ts[24];

                    edit(g, a, p, "visit", w.id, "actual_start", fmt_time(g->today - 1, 605, ts),
                         NULL);
                    edit(g, a, p, "visit", w.id, "status", "completed", &v);
                    edit(g, c, p, "visit", w.id, "status", "missed", &v);
                }
                break;
            case 3:
                if (version_of(g, "plan_action", p->action_id, "who", &v)) {
                    edit(g, a, p, "plan_action", p->action_id, "who", a->def->name, &v);
                    edit(g, b, p, "plan_action", p->action_id, "who", b->def->name, &v);
                }
                break;
            case 4:
                row_new(&w, g, "alert", p, g->today - 3, 600);
                put(&w, "category", "other");
                put(&w, "text", "Road works outside the house; park on the next street.");
                put(&w, "audience", "all");
                put(&w, "status", "active");
                put_date(&w, "period_start", g->today - 3);
                put(&w, "raised_by", a->def->name);
                if (version_of(g, "alert", w.id, "text", &v) &&
                    version_of(g, "alert", w.id, "raised_by", &v2)) {
                    edit(g, c, p, "alert", w.id, "_deleted", "1", &v2);
                    edit(g, b, p, "alert", w.id, "text",
                         "Road works outside the house until the end of the month; park on the "
                         "next street and allow extra time.",
                         &v);
                }
                break;
            }
        }
    }
}

/* ---- the command ---- */

static inline void store_freep(struct store **p)
{
    store_free(*p);
}

_printf_(2, 3) static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("caresyncd demo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Build the summary object: the profile, counts, staff and the example person. */
static int summary_json(struct gen *g, const char *data, uint64_t seed, double secs, cJSON *counts,
                        cJSON *users, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    const struct person *ex = &g->people[0];
    cJSON *people, *staff, *u, *exo, *workers;
    int bad = 0;

    if (!o)
        return -ENOMEM;
    bad |= !cJSON_AddStringToObject(o, "profile", g->prof->name);
    bad |= !cJSON_AddNumberToObject(o, "seed", (double)seed);
    bad |= !cJSON_AddStringToObject(o, "data", data);
    bad |= !cJSON_AddNumberToObject(o, "seconds", secs);
    people = cJSON_AddObjectToObject(o, "people");
    bad |= !people || !cJSON_AddNumberToObject(people, "active", g->prof->active) ||
           !cJSON_AddNumberToObject(people, "referred", g->prof->referred) ||
           !cJSON_AddNumberToObject(people, "closed", g->prof->closed);
    bad |= !cJSON_AddNumberToObject(o, "visits_today", (double)g->today_visits);
    for (cJSON *c = counts ? counts->child : NULL; c; c = c->next) {
        cJSON *dup = cJSON_Duplicate(c, true);

        if (!dup || !cJSON_AddItemToObject(o, c->string, dup)) {
            cJSON_Delete(dup);
            bad = 1;
        }
    }
    staff = cJSON_AddArrayToObject(o, "staff");
    bad |= !staff;
    cJSON_ArrayForEach (u, users) {
        cJSON *so = cJSON_CreateObject();
        char cmd[512];

        if (!so || !cJSON_AddItemToArray(staff, so)) {
            cJSON_Delete(so);
            return -ENOMEM;
        }
        snprintf(cmd, sizeof(cmd), "caresyncd enrol --data %s %s", data, json_str(u, "name"));
        bad |= !cJSON_AddStringToObject(so, "name", json_str(u, "name"));
        bad |= !cJSON_AddStringToObject(so, "role", json_str(u, "role"));
        bad |= !cJSON_AddNumberToObject(so, "people", json_num(u, "people"));
        bad |= !cJSON_AddStringToObject(so, "enrol", cmd);
    }
    exo = cJSON_AddObjectToObject(o, "example_person");
    bad |= !exo || !cJSON_AddStringToObject(exo, "id", ex->id) ||
           !cJSON_AddStringToObject(exo, "name", ex->name) ||
           !cJSON_AddStringToObject(exo, "preferred_name", ex->preferred);
    workers = exo ? cJSON_AddArrayToObject(exo, "workers") : NULL;
    bad |= !workers;
    for (int k = 0; workers && k < ex->n_workers; k++) {
        cJSON *s = cJSON_CreateString(g->staff[ex->workers[k]].def->name);

        if (!s || !cJSON_AddItemToArray(workers, s)) {
            cJSON_Delete(s);
            bad = 1;
        }
    }
    if (bad)
        return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

static void summary_print(const cJSON *sum, const struct gen *g)
{
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(sum, "tables"), *t, *u;
    const cJSON *staff = cJSON_GetObjectItemCaseSensitive(sum, "staff");
    const struct person *ex = &g->people[0];
    const char *data = json_str(sum, "data");

    printf("caresyncd: wrote the '%s' demo data (seed %d) to %s in %.1f s\n", g->prof->name,
           json_num(sum, "seed"), data,
           cJSON_GetObjectItemCaseSensitive(sum, "seconds")->valuedouble);
    printf("Everything is invented: names from fixed lists, NHS numbers from the 999 test\n"
           "range, phone numbers from Ofcom's drama ranges, addresses in the fictional\n"
           "Northbrook (NB1-4).\n");
    printf("\nrecords\n");
    cJSON_ArrayForEach (t, tables) {
        printf("  %-16s %6d", t->string, (int)t->valuedouble);
        if (streq(t->string, "person"))
            printf("  (%d active, %d referred, %d closed)", g->prof->active, g->prof->referred,
                   g->prof->closed);
        if (streq(t->string, "visit"))
            printf("  (90 days back, 14 ahead; %zu planned for today)", g->today_visits);
        putchar('\n');
    }
    printf("  %-16s %6d  (people on workers' caseloads)\n", "assignments",
           json_num(sum, "assignments"));
    printf("  %-16s %6d  (open, for a coordinator: caresync conflicts)\n", "conflicts",
           json_num(sum, "conflicts"));
    printf("  %-16s %6d  (journal entries %d)\n", "field values", json_num(sum, "fields"),
           json_num(sum, "changes"));

    printf("\nstaff\n  %-13s %-23s %6s  %s\n", "NAME", "ROLE", "PEOPLE", "ENROLMENT CODE");
    cJSON_ArrayForEach (u, staff)
        printf("  %-13s %-23s %6d  %s\n", json_str(u, "name"), json_str(u, "role"),
               json_num(u, "people"), json_str(u, "enrol"));
    printf("\nexample person (domain model §5.6): %s (\"%s\") %s\n  on the caseloads of", ex->name,
           ex->preferred, ex->id);
    for (int k = 0; k < ex->n_workers; k++)
        printf("%s %s", k ? "," : "", g->staff[ex->workers[k]].def->name);
    printf("\nnext: caresyncd serve --data %s --listen 127.0.0.1:8443, then on a device\n"
           "  caresync enrol --server https://127.0.0.1:8443 --ca %s/ca.pem --code CODE\n",
           data, data);
}

int demo_run(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_freep) struct store *s = NULL;
    _cleanup_json_ cJSON *counts = NULL, *users = NULL, *sum = NULL;
    _cleanup_free_ struct gen *g = NULL;
    _cleanup_free_ struct person *people = NULL;
    const struct profile *prof = NULL;
    const char *pname = o->profile ? o->profile : "demo";
    uint64_t seed = 1;
    double t0 = now_s();
    int r;

    for (size_t i = 0; i < ELEMENTSOF(profiles); i++)
        if (streq(profiles[i].name, pname))
            prof = &profiles[i];
    if (!prof)
        return admin_usage(cmd, "--profile takes demo or load, not '%s'", pname);
    if (o->seed && parse_u64(o->seed, &seed) < 0)
        return admin_usage(cmd, "--seed takes a whole number, not '%s'", o->seed);
    g = calloc(1, sizeof(*g));
    people = calloc((size_t)(prof->active + prof->referred + prof->closed), sizeof(*people));
    if (!g || !people)
        return fail(ADMIN_EXIT_FAILURE, "out of memory");
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;

    g->s = s;
    g->prof = prof;
    g->people = people;
    g->n_people = (size_t)(prof->active + prof->referred + prof->closed);
    g->today = (int64_t)(hlc_wall_ms() / 86400000);
    g->rng.s = seed;
    g->seed = seed;
    g->nhs_next = 999000000 + rng_below(&g->rng, 900000);
    g->landline_next = rng_below(&g->rng, 1000);
    g->mobile_next = rng_below(&g->rng, 1000);

    r = store_demo_begin(s);
    if (r == -EEXIST)
        return fail(ADMIN_EXIT_EXISTS,
                    "%s already has staff or records, and demo data only goes into a fresh "
                    "store; run 'caresyncd init --data NEWDIR' and 'caresyncd demo --data NEWDIR'",
                    o->data);
    if (r == -EBUSY)
        return fail(ADMIN_EXIT_FAILURE, "the store is busy; nothing was changed; try again");
    if (r < 0)
        return fail(ADMIN_EXIT_FAILURE, "cannot write to the store: %s", strerror(-r));

    for (size_t i = 0; i < prof->n_staff && r >= 0; i++) {
        struct staff *st = &g->staff[g->n_staff++];
        char display[64], reg[16];
        const char *dot = strchr(prof->staff[i].name, '.');

        st->def = &prof->staff[i];
        snprintf(st->first, sizeof(st->first), "%s", dot ? dot + 1 : st->def->name);
        if (st->first[0] >= 'a' && st->first[0] <= 'z')
            st->first[0] = (char)(st->first[0] - 'a' + 'A');
        make_id(g, g->today, 0, st->device);
        /* Invented: a surname from the list by position (no draw, so the records stay as
         * they were), and registrations shaped like real ones but outside use (00X..., 99...). */
        snprintf(display, sizeof(display), "%s %s", st->first,
                 demo_surnames.v[(i * 7 + 3) % demo_surnames.n]);
        snprintf(reg, sizeof(reg), st->def->role == R_NURSE    ? "00X%04zuZ"
                                   : st->def->role == R_OT     ? "OT99%04zu"
                                   : st->def->role == R_PHYSIO ? "PH99%04zu"
                                                               : "SW99%04zu",
                 i);
        r = store_demo_user_add(
                s, st->def->name, demo_roles[st->def->role].name,
                &(struct store_user_profile){
                        .display_name = display,
                        .nmc_pin = st->def->role == R_NURSE ? reg : NULL,
                        .hcpc_number =
                                st->def->role == R_OT || st->def->role == R_PHYSIO ? reg : NULL,
                        .swe_number = st->def->role == R_SW ? reg : NULL,
                },
                &st->id);
        if (r < 0)
            snprintf(g->err, sizeof(g->err), "adding user %s", st->def->name);
    }
    g->r = r;
    for (size_t i = 0; i < g->n_people && g->r >= 0; i++)
        person_make(g, i,
                    i < (size_t)prof->active                      ? P_ACTIVE
                    : i < (size_t)(prof->active + prof->referred) ? P_REFERRED
                                                                  : P_CLOSED);
    plan_today(g);
    for (size_t i = 0; i < g->n_people && g->r >= 0; i++)
        demo_write_records(g, &g->people[i]);
    seed_conflicts(g);
    if (g->r < 0) {
        store_demo_rollback(s);
        return fail(ADMIN_EXIT_FAILURE,
                    "could not write the demo data (%s): %s; nothing was "
                    "written",
                    g->err, strerror(-g->r));
    }
    r = store_demo_commit(s);
    if (r < 0)
        return fail(ADMIN_EXIT_FAILURE, "could not commit the demo data: %s; nothing was written",
                    strerror(-r));

    r = store_demo_counts(s, &counts);
    if (r >= 0)
        r = store_user_list(s, &users);
    if (r >= 0)
        r = summary_json(g, o->data, seed, now_s() - t0, counts, users, &sum);
    if (r < 0)
        return fail(ADMIN_EXIT_FAILURE, "the demo data was written, but the summary failed: %s",
                    strerror(-r));
    if (o->json) {
        char *text = cJSON_Print(sum);

        if (!text)
            return fail(ADMIN_EXIT_FAILURE, "out of memory formatting the summary");
        puts(text);
        cJSON_free(text);
    } else {
        summary_print(sum, g);
    }
    return ADMIN_EXIT_OK;
}
