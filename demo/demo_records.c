/* SPDX-License-Identifier: MIT */
/* demo_records.c - one person's records for 'caresyncd demo': who they are, their contacts,
 * About Me, care and support plan (goals, actions, progress, reviews), 90 days of visits with
 * notes and observations, visits planned ahead, consent and alerts, in the proportions of
 * reference/domain-model.md §5.4. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "demo_int.h"

/* ---- who they are, who matters to them, About Me ---- */

static const char *const person_status[] = {"active", "referred", "closed"};

static const char *contact_first_of(const char *name, char buf[static 24])
{
    const char *sp = strchr(name, ' ');

    snprintf(buf, 24, "%.*s", sp ? (int)(sp - name) : (int)strlen(name), name);
    return buf;
}

static void write_person(struct gen *g, struct person *p)
{
    static const char *const langs[] = {"English", "Punjabi", "Polish",
                                        "Urdu",    "Bengali", "British Sign Language"};
    static const unsigned lang_w[] = {86, 4, 3, 3, 2, 2};
    static const char *const contact_methods[] = {"Phone", "Letter", "Email", "Through family"};
    char buf[64], pc[16];
    const char *street;
    unsigned gp;
    int house;
    struct rng *r = &g->rng;
    struct row w;
    size_t lang = p->example ? 0 : rng_weighted(r, lang_w, ELEMENTSOF(lang_w));
    const char *letters = "ABDEFGHJLNPQRSTUWXYZ";
    int district = p->team * 2 + 1 + (int)rng_below(r, 2);

    row_new(&w, g, "person", p, p->created, 540);
    put(&w, "name", p->name);
    if (p->preferred[0])
        put(&w, "preferred_name", p->preferred);
    put_date(&w, "birth_date", g->today - p->age * 365 - rng_range(r, 0, 364));
    phone(g, !p->example && rng_pct(r, 25), buf);
    put(&w, "phone", buf);
    snprintf(pc, sizeof(pc), "NB%d %d%c%c", district, rng_range(r, 1, 9), letters[rng_below(r, 20)],
             letters[rng_below(r, 20)]);
    house = rng_range(r, 1, 140);
    street = demo_streets.v[(size_t)p->team * demo_streets.n / 2 +
                            rng_below(r, (unsigned)(demo_streets.n / 2))];
    putf(&w, "address", "%d %s, Northbrook %s", house, street, pc);
    /* The same, in parts (and the name), for matching and FHIR. */
    putf(&w, "address_line1", "%d %s", house, street);
    put(&w, "address_city", "Northbrook");
    put(&w, "address_postcode", pc);
    put(&w, "family_name", p->surname);
    put(&w, "given_names", p->given);
    put(&w, "name_prefix", p->female ? "Ms" : "Mr");
    if (rng_pct(r, 60))
        put(&w, "pronouns", p->female ? "she/her" : "he/him");
    put(&w, "gender", p->female ? "Female" : "Male");
    if (rng_pct(r, 10)) {
        char mail[96];

        snprintf(mail, sizeof(mail), "%s.%s@example.org", p->given, p->surname);
        for (char *c = mail; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        put(&w, "email", mail);
    }
    put(&w, "preferred_contact_method", contact_methods[rng_below(r, 4)]);
    put(&w, "language", langs[lang]);
    put_bool(&w, "interpreter_needed", lang > 0 && rng_pct(r, 70));
    if (lang == 5)
        put(&w, "communication_needs", demo_communication_needs.v[3]);
    else if (rng_pct(r, 20))
        put(&w, "communication_needs", pick(r, &demo_communication_needs));
    if (p->example)
        put(&w, "access_instructions", "Key safe by the back door; code held by Jo next door.");
    else if (rng_pct(r, 40))
        put(&w, "access_instructions", pick(r, &demo_access_instructions));
    nhs_number(g, buf);
    put(&w, "nhs_number", buf);
    gp = rng_below(r, (unsigned)demo_gp_practices.n);
    put(&w, "gp_practice", demo_gp_practices.v[gp]);
    /* Invented ODS codes (the ZZ range is not used by NHS England's directory). */
    putf(&w, "gp_ods_code", "ZZ9%03u", gp + 1);
    put(&w, "status", person_status[p->status]);
    put_date(&w, "created_on", p->created);
}

static void write_contacts(struct gen *g, struct person *p)
{
    static const unsigned n_w[] = {35, 50, 15};
    struct rng *r = &g->rng;
    size_t n = rng_weighted(r, n_w, ELEMENTSOF(n_w)) + 1;
    char name[48], tel[16];

    if (p->example)
        n = 2;
    for (size_t i = 0; i < n; i++) {
        const struct demo_relation *rel = &demo_relations[rng_below(r, (unsigned)demo_n_relations)];
        bool family;
        struct row w;

        if (p->example) {
            static const struct demo_relation jo = {"Neighbour", "NBOR", true},
                                              son = {"Son", "CHILD", false};

            rel = i == 0 ? &jo : &son;
            snprintf(name, sizeof(name), "%s", i == 0 ? "Jo Larkhollow" : "Martin Ashworth");
        }
        family = !streq(rel->code, "NBOR") && !streq(rel->code, "FRND");
        if (!p->example) {
            const char *given = pick(r, rel->female ? &demo_given_f : &demo_given_m);

            snprintf(name, sizeof(name), "%s %s", given,
                     family ? p->surname : pick(r, &demo_surnames));
        }
        if (i == 0) {
            snprintf(p->contact, sizeof(p->contact), "%s", name);
            contact_first_of(name, p->contact_first);
            snprintf(p->contact_rel, sizeof(p->contact_rel), "%s", rel->relationship);
            for (char *c = p->contact_rel; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
        }
        row_new(&w, g, "related_person", p, p->created, 600 + (int)i);
        put(&w, "name", name);
        put(&w, "relationship", rel->relationship);
        put(&w, "relationship_code", rel->code);
        phone(g, true, tel);
        put(&w, "phone", tel);
        if (p->example ? i == 1 : rng_pct(r, 20)) {
            char mail[96];

            /* example.org is reserved for documentation (RFC 2606). */
            snprintf(mail, sizeof(mail), "%s@example.org", name);
            for (char *c = mail; *c; c++)
                *c = *c == ' ' ? '.' : *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
            put(&w, "email", mail);
        }
        if (p->example)
            put(&w, "involvement_notes",
                i == 0 ? "Lives next door; has the key safe code and pops in most mornings."
                       : "Lives away and visits once a month; prefers email.");
        else
            put(&w, "involvement_notes", pick(r, &demo_involvement));
        put_bool(&w, "is_unpaid_carer", i == 0 && (p->example || rng_pct(r, 55)));
        put_bool(&w, "is_next_of_kin", family && (p->example || rng_pct(r, 70)));
        put_bool(&w, "is_emergency_contact", i == 0);
        put_bool(&w, "lpa_health_welfare", family && rng_pct(r, 10));
        put_bool(&w, "do_not_contact", i > 0 && rng_pct(r, 5));
    }
}

static void write_about_me(struct gen *g, struct person *p)
{
    static const struct {
        const char *field;
        const struct demo_list *list;
    } sections[] = {
            {"what_matters", &demo_about_what_matters},   {"people_important", &demo_about_people},
            {"communication", &demo_about_communication}, {"wellness", &demo_about_wellness},
            {"please_do", &demo_about_please_do},         {"how_to_support", &demo_about_support},
            {"worth_knowing", &demo_about_worth_knowing}, {"appreciate", &demo_about_appreciate},
    };
    struct rng *r = &g->rng;
    unsigned fill_pct = (unsigned)rng_range(r, 60, 95);
    struct row w;

    if (!p->example && (p->status == P_REFERRED || !rng_pct(r, 85)))
        return;
    p->has_about = true;
    row_new(&w, g, "about_me", p, p->created, 660);
    for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
        if (p->example) {
            /* Every section, the first of each list is hers. */
            if (i == 1)
                put(&w, sections[i].field, "Jo next door, and my son Martin.");
            else
                put_text(&w, sections[i].field, sections[i].list->v[0], NULL);
        } else if (i == 0 || rng_pct(r, fill_pct)) {
            put_text(&w, sections[i].field, pick(r, sections[i].list), NULL);
        }
    }
    if (p->example) {
        put(&w, "supported_to_write_by", "lw.grace (link worker)");
    } else {
        int who = p->n_workers ? p->workers[rng_below(r, (unsigned)p->n_workers)] : -1;

        if (who >= 0 && rng_pct(r, 70))
            putf(&w, "supported_to_write_by", "%s (%s)", g->staff[who].def->name,
                 demo_roles[g->staff[who].def->role].title);
        else
            putf(&w, "supported_to_write_by", "%s (%s)", p->contact, p->contact_rel);
    }
    put_bool(&w, "shareable_with_vcse", p->example || !rng_pct(r, 10));
}

/* ---- the care and support plan ---- */

/* When a plan is reviewed next (§5.4): 10 % overdue, 15 % within 14 days, the rest later;
 * a plan under 8 weeks old has its first review at 6-8 weeks. */
static int64_t review_due(struct gen *g, int64_t start)
{
    struct rng *r = &g->rng;
    unsigned x = rng_below(r, 100);

    if (g->today - start < 56)
        return start + rng_range(r, 42, 56);
    if (x < 10)
        return g->today - rng_range(r, 1, 30);
    if (x < 25)
        return g->today + rng_range(r, 0, 14);
    return g->today + rng_range(r, 15, 180);
}

static const char *lead_name(const struct gen *g, const struct person *p)
{
    int coord;

    if (p->lead >= 0)
        return g->staff[p->lead].def->name;
    coord = demo_staff_with(g, R_COORD, p->team);
    return coord >= 0 ? g->staff[coord].def->name : NULL;
}

static void write_plans(struct gen *g, struct person *p)
{
    struct rng *r = &g->rng;
    int64_t start = p->created + rng_range(r, 3, 21);
    const char *status;
    struct row w;

    if (start > g->today)
        start = g->today;
    if (p->status == P_REFERRED)
        start = g->today - rng_range(r, 0, (int)(g->today - p->created));
    if (p->status == P_CLOSED && start > p->closed)
        start = p->closed - 30;
    p->plan_start = start;
    p->review_due = p->status == P_CLOSED ? p->closed
                    : p->example          ? g->today + 40 /* after her 6-week review */
                                          : review_due(g, start);
    status = p->status == P_REFERRED ? "draft"
             : p->status == P_CLOSED ? "completed"
             : rng_pct(r, 95)        ? "active"
                                     : "draft";

    /* 15 %: an earlier plan, finished or replaced. */
    if (p->status != P_REFERRED && !p->example && rng_pct(r, 15) && start - p->created > 0) {
        row_new(&w, g, "care_plan", p, start - 200, 600);
        putf(&w, "title", "Earlier plan (%s)", p->given);
        put(&w, "status", rng_pct(r, 70) ? "completed" : "revoked");
        put(&w, "summary", pick(r, &demo_plan_summaries));
        put(&w, "kind", "pcsp");
        put_date(&w, "start_date", start - 200);
        put_date(&w, "review_due", start);
    }

    row_new(&w, g, "care_plan", p, start, 600);
    memcpy(p->plan_id, w.id, UUID_STR_MAX);
    putf(&w, "title", "%s's care and support plan", p->preferred[0] ? p->preferred : p->given);
    put(&w, "status", status);
    put(&w, "summary", p->example ? demo_plan_summaries.v[2] : pick(r, &demo_plan_summaries));
    put_date(&w, "review_due", p->review_due);
    put(&w, "kind", "pcsp");
    if (!streq(status, "draft")) {
        if (rng_pct(r, 60))
            put(&w, "agreed_with", p->preferred[0] ? p->preferred : p->given);
        else
            putf(&w, "agreed_with", "%s and %s (%s)", p->preferred[0] ? p->preferred : p->given,
                 p->contact_first, p->contact_rel);
        put_date(&w, "agreed_on", start);
    }
    put(&w, "review_by", lead_name(g, p));
    put(&w, "funding_source", pick(r, &demo_funding));
    put_date(&w, "start_date", start);

    /* 25 %: a contingency plan too. */
    if (p->status != P_REFERRED && (p->example || rng_pct(r, 25))) {
        row_new(&w, g, "care_plan", p, start, 610);
        put(&w, "title", "Contingency plan");
        put(&w, "status", p->status == P_CLOSED ? "completed" : "active");
        if (p->example)
            put(&w, "summary",
                "Trigger: not answering the phone for a day. Ring Jo first, then "
                "the social worker.");
        else
            put_text(&w, "summary", pick(r, &demo_contingency_summaries), NULL);
        put(&w, "kind", "contingency");
        put_date(&w, "review_due", p->review_due);
        put_date(&w, "start_date", start);
    }
}

/* The person's worker to name for an action owned by @role_name, or -1. */
static int action_owner(const struct gen *g, const struct person *p, const char *role_name)
{
    for (int k = 0; k < R__MAX; k++)
        if (streq(demo_roles[k].name, role_name))
            return demo_worker_of_role(g, p, (enum role)k);
    return -1;
}

static void write_action(struct gen *g, struct person *p, const char *goal_id,
                         const struct demo_action *a, int64_t start, bool draft)
{
    static const char *const statuses[] = {"not-started", "scheduled", "in-progress",
                                           "completed",   "on-hold",   "cancelled"};
    static const unsigned status_w[] = {15, 20, 40, 20, 3, 2};
    struct rng *r = &g->rng;
    const char *status = draft ? "not-started" : statuses[rng_weighted(r, status_w, 6)];
    struct row w;

    row_new(&w, g, "plan_action", p, start, 720);
    if (!p->action_id[0])
        memcpy(p->action_id, w.id, UUID_STR_MAX);
    put(&w, "goal_id", goal_id);
    put(&w, "what", a->what);
    if (streq(a->who, "person")) {
        put(&w, "who", p->preferred[0] ? p->preferred : p->given);
        put(&w, "who_kind", "person");
    } else if (streq(a->who, "carer")) {
        putf(&w, "who", "%s (%s)", p->contact, p->contact_rel);
        put(&w, "who_kind", "carer");
    } else if (streq(a->who, "team")) {
        putf(&w, "who", "%s neighbourhood team", demo_team_names[p->team]);
        put(&w, "who_kind", "team");
    } else {
        int s = action_owner(g, p, a->who);

        if (s >= 0) {
            enum role role = g->staff[s].def->role;

            put(&w, "who", g->staff[s].def->name);
            put(&w, "who_kind",
                role == R_VOL  ? "volunteer"
                : role == R_PA ? "personal_assistant"
                               : "worker");
        } else {
            /* Nobody of that role on the caseload yet: the role, for the coordinator to fill. */
            for (int k = 0; k < R__MAX; k++)
                if (streq(demo_roles[k].name, a->who))
                    putf(&w, "who", "%s (referral made)", demo_roles[k].title);
            put(&w, "who_kind", "role");
        }
    }
    put_date(&w, "due_date", start + rng_range(r, 14, 90));
    put(&w, "status", status);
    put(&w, "when_text", a->when);
    if (streq(status, "on-hold"))
        put(&w, "status_reason", "Waiting until after the hospital appointment.");
    else if (streq(status, "cancelled"))
        put(&w, "status_reason", "The person decided they don't want this any more.");
    if (rng_pct(r, 70))
        putf(&w, "confidence", "%d", rng_range(r, 3, 10));
    put_date(&w, "review_date", p->review_due);
}

static bool goal_fits(const struct gen *g, const struct person *p, const struct demo_goal *goal)
{
    for (int k = 0; k < 4 && goal->actions[k].what; k++) {
        const char *who = goal->actions[k].who;

        if (!streq(who, "person") && !streq(who, "carer") && !streq(who, "team") &&
            action_owner(g, p, who) >= 0)
            return true;
    }
    return false;
}

static void write_progress(struct gen *g, struct person *p, const char *goal_id,
                           const struct demo_goal *goal, const char *achievement, int64_t start)
{
    struct rng *r = &g->rng;
    int64_t from = start > g->today - HISTORY_DAYS ? start : g->today - HISTORY_DAYS;
    int64_t until = p->status == P_CLOSED ? p->closed : g->today - 1;
    int rating = rng_range(r, 2, 5), trend;
    int n = 0;

    if (p->n_workers == 0)
        return;
    trend = streq(achievement, "improving") || streq(achievement, "achieved")       ? 1
            : streq(achievement, "worsening") || streq(achievement, "not-achieved") ? -1
                                                                                    : 0;
    for (int64_t day = from + rng_range(r, 3, 14); day <= until; day += rng_range(r, 14, 28)) {
        const struct staff *by = &g->staff[p->workers[rng_below(r, (unsigned)p->n_workers)]];
        bool last = day + 14 > until;
        int minute = rng_range(r, 600, 960);
        struct row w;

        rating += trend > 0   ? rng_range(r, 0, 2)
                  : trend < 0 ? -rng_range(r, 0, 1)
                              : rng_range(r, -1, 1);
        rating = rating < 0 ? 0 : rating > 10 ? 10 : rating;
        row_new(&w, g, "goal_progress", p, day, minute);
        put(&w, "goal_id", goal_id);
        putf(&w, "rating", "%d", rating);
        put(&w, "in_own_words", goal->progress[rng_below(r, 3)]);
        put(&w, "achievement_status", last ? achievement : n == 0 ? "in-progress" : achievement);
        put(&w, "author", by->def->name);
        put_time(&w, "occurred_at", day, minute);
        put_time(&w, "recorded_at", day, minute + rng_range(r, 5, 240));
        put(&w, "status", "final");
        n++;
    }
}

static void write_goals(struct gen *g, struct person *p)
{
    static const unsigned n_w[] = {35, 35, 20, 10};
    static const char *const lifecycle[] = {"active", "completed", "on-hold", "proposed"};
    static const unsigned life_w[] = {80, 10, 5, 5};
    static const char *const achievement[] = {"in-progress", "improving", "no-change",
                                              "worsening",   "achieved",  "not-achieved"};
    static const unsigned ach_w[] = {40, 25, 15, 5, 10, 5};
    struct rng *r = &g->rng;
    size_t n = rng_weighted(r, n_w, ELEMENTSOF(n_w)) + 2;
    bool chosen[64] = {0}, draft = p->status == P_REFERRED;
    const char *pref = p->preferred[0] ? p->preferred : p->given;

    if (p->example)
        n = 3;
    for (size_t i = 0; i < n && g->r >= 0; i++) {
        size_t k = 0;
        const struct demo_goal *goal;
        const char *life, *ach;
        char goal_id[UUID_STR_MAX];
        int64_t start = p->plan_start + rng_range(r, 0, 14);
        struct row w;

        if (p->example) {
            k = i; /* walking, loneliness, her leg */
        } else {
            /* Prefer goals someone on the caseload can act on. */
            for (int tries = 0; tries < 40; tries++) {
                k = rng_below(r, (unsigned)demo_n_goals);
                if (!chosen[k] && (tries >= 30 || goal_fits(g, p, &demo_goals[k])))
                    break;
            }
            if (chosen[k])
                continue;
        }
        chosen[k] = true;
        goal = &demo_goals[k];
        if (start > g->today)
            start = g->today;
        life = draft                   ? "proposed"
               : p->status == P_CLOSED ? "completed"
                                       : lifecycle[rng_weighted(r, life_w, 4)];
        ach = streq(life, "completed") ? "achieved" : achievement[rng_weighted(r, ach_w, 6)];
        if (streq(life, "active") && streq(ach, "achieved"))
            ach = "sustaining";

        row_new(&w, g, "goal", p, start, 700 + (int)i);
        memcpy(goal_id, w.id, UUID_STR_MAX);
        if (!p->goal_id[0] && streq(life, "active"))
            memcpy(p->goal_id, w.id, UUID_STR_MAX);
        put(&w, "care_plan_id", p->plan_id);
        put(&w, "description", goal->text);
        put(&w, "lifecycle_status", life);
        put(&w, "achievement_status", ach);
        putf(&w, "importance", "%d", p->example ? 9 - (int)i : rng_range(r, 5, 10));
        put_date(&w, "target_date", start + rng_range(r, 60, 180));
        put(&w, "domain", goal->domain);
        if (rng_pct(r, 75))
            put(&w, "expressed_by", pref);
        else
            putf(&w, "expressed_by", "%s, with %s", pref, p->contact_first);
        put_date(&w, "start_date", start);

        /* 20 %: a stage goal on the way. */
        if (goal->stage && !draft && (p->example ? i == 0 : rng_pct(r, 20))) {
            row_new(&w, g, "goal", p, start, 705 + (int)i);
            put(&w, "care_plan_id", p->plan_id);
            put(&w, "description", goal->stage);
            put(&w, "lifecycle_status",
                streq(life, "active") && rng_pct(r, 50) ? "completed" : life);
            put(&w, "achievement_status", rng_pct(r, 50) ? "achieved" : "improving");
            put(&w, "parent_goal_id", goal_id);
            putf(&w, "importance", "%d", rng_range(r, 5, 9));
            put_date(&w, "target_date", start + rng_range(r, 30, 60));
            put(&w, "domain", goal->domain);
            put(&w, "expressed_by", pref);
            put_date(&w, "start_date", start);
        }

        /* 1-4 actions (mean about 2.2). */
        {
            int avail = 0, take;

            while (avail < 4 && goal->actions[avail].what)
                avail++;
            take = p->example ? avail : rng_range(r, 1, avail) + (rng_pct(r, 30) ? 1 : 0);
            if (take > avail)
                take = avail;
            for (int a = 0; a < take; a++)
                write_action(g, p, goal_id, &goal->actions[a], start, draft);
        }
        if (!draft && !streq(life, "proposed"))
            write_progress(g, p, goal_id, goal, ach, start);
    }
}

/* ---- visits, notes and observations ---- */

enum { V_PLANNED, V_COMPLETED, V_MISSED, V_CANCELLED };
static const char *const visit_status[] = {"planned", "completed", "missed", "cancelled"};

const struct demo_role_text *demo_role_text(enum role role)
{
    for (size_t i = 0; i < demo_n_role_texts; i++)
        if (streq(demo_role_texts[i].role, demo_roles[role].name))
            return &demo_role_texts[i];
    return &demo_role_texts[0];
}

static void obs(struct gen *g, struct person *p, const char *visit_id, const struct staff *by,
                int64_t day, int minute, const char *kind, const char *value, const char *unit)
{
    struct row w;

    row_new(&w, g, "observation", p, day, minute);
    put(&w, "visit_id", visit_id);
    put(&w, "kind", kind);
    put(&w, "value", value);
    put(&w, "unit", unit);
    put(&w, "author", by->def->name);
    put_time(&w, "occurred_at", day, minute);
    put_time(&w, "recorded_at", day, minute + 5);
    put(&w, "status", "final");
}

/* Observations taken at a completed visit: nursing 2-4 (vital signs, wound, glucose, weight),
 * therapy timed up-and-go and falls at the start and end of an episode, link workers' wellbeing
 * scores at the first contact and 8-12 weeks later. @nth counts this worker's visits. */
static void observations(struct gen *g, struct person *p, const char *visit_id,
                         const struct staff *by, int64_t day, int minute, int nth, bool last,
                         int64_t first_day)
{
    struct rng *r = &g->rng;
    char v[64];

    switch (by->def->role) {
    case R_NURSE: {
        int extra = 0;

        if (p->insulin && nth % 7 != 0) {
            /* The daily insulin visit: the sugar before the dose. */
            snprintf(v, sizeof(v), "%.1f", (p->glucose10 + rng_range(r, -15, 15)) / 10.0);
            obs(g, p, visit_id, by, day, minute, "blood-glucose", v, "mmol/L");
            break;
        }
        snprintf(v, sizeof(v), "%d/%d", p->sys + rng_range(r, -8, 8), p->dia + rng_range(r, -5, 5));
        obs(g, p, visit_id, by, day, minute, "blood-pressure", v, "mmHg");
        snprintf(v, sizeof(v), "%d", p->pulse + rng_range(r, -6, 6));
        obs(g, p, visit_id, by, day, minute, "pulse", v, "bpm");
        if (p->wound) {
            /* The ulcer heals slowly over the weeks. */
            int shrink = nth * 2 > 25 ? 25 : nth * 2;

            snprintf(v, sizeof(v), "%.1f x %.1f", (45 - shrink + rng_range(r, -2, 2)) / 10.0,
                     (30 - shrink * 2 / 3 + rng_range(r, -2, 2)) / 10.0);
            obs(g, p, visit_id, by, day, minute, "wound-size", v, "cm");
            extra++;
        }
        if (p->diabetic) {
            snprintf(v, sizeof(v), "%.1f", (p->glucose10 + rng_range(r, -15, 15)) / 10.0);
            obs(g, p, visit_id, by, day, minute, "blood-glucose", v, "mmol/L");
            extra++;
        }
        if (extra < 2 && (p->breathless || rng_pct(r, 40))) {
            int s = p->spo2 + rng_range(r, -1, 1);

            snprintf(v, sizeof(v), "%d", s > 100 ? 100 : s);
            obs(g, p, visit_id, by, day, minute, "spo2", v, "%");
            extra++;
        }
        if (extra < 2 && nth % 4 == 0) {
            snprintf(v, sizeof(v), "%.1f", (p->weight10 + rng_range(r, -8, 8)) / 10.0);
            obs(g, p, visit_id, by, day, minute, "weight", v, "kg");
        }
        break;
    }
    case R_PHYSIO:
    case R_OT:
        if (nth == 0 || last) {
            snprintf(v, sizeof(v), "%d", rng_range(r, 14, 28) - (last ? rng_range(r, 2, 6) : 0));
            if (by->def->role == R_PHYSIO)
                obs(g, p, visit_id, by, day, minute, "timed-up-and-go", v, "s");
            snprintf(v, sizeof(v), "%d", last ? rng_range(r, 0, 1) : rng_range(r, 0, 3));
            obs(g, p, visit_id, by, day, minute, "falls", v, "falls in 3 months");
        }
        break;
    case R_LW:
        if (nth == 0 || (day - first_day >= 56 && day - first_day <= 84 && nth % 2 == 0)) {
            int lift = nth == 0 ? 0 : rng_range(r, 0, 3);

            snprintf(v, sizeof(v), "%d,%d,%d,%d", rng_range(r, 3, 6) + lift,
                     rng_range(r, 4, 7) + lift, rng_range(r, 3, 6) + lift,
                     rng_range(r, 4, 8) - lift);
            obs(g, p, visit_id, by, day, minute, "ons4", v, "ONS4 0-10");
            snprintf(v, sizeof(v), "%d", rng_range(r, 17, 23) + lift * 2);
            obs(g, p, visit_id, by, day, minute, "swemwbs", v, "SWEMWBS 7-35");
        }
        break;
    default:
        break;
    }
}

static int visit_minute(struct gen *g, enum role role)
{
    return role == R_NURSE ? 510 + 15 * rng_range(&g->rng, 0, 30)
           : role == R_PA  ? 480 + 30 * rng_range(&g->rng, 0, 4)
                           : 570 + 15 * rng_range(&g->rng, 0, 26);
}

static int visit_length(struct gen *g, enum role role, const char *mode)
{
    struct rng *r = &g->rng;

    if (streq(mode, "phone"))
        return rng_range(r, 10, 30);
    switch (role) {
    case R_NURSE:
        return rng_range(r, 20, 45);
    case R_OT:
        return rng_range(r, 45, 75);
    case R_SW:
        return rng_range(r, 45, 90);
    case R_VOL:
    case R_PA:
        return rng_range(r, 60, 120);
    default:
        return rng_range(r, 30, 60);
    }
}

static const char *visit_mode(struct gen *g, enum role role)
{
    struct rng *r = &g->rng;

    switch (role) {
    case R_LW:
        return rng_pct(r, 30) ? "phone" : "home";
    case R_SW:
        return rng_pct(r, 10) ? "phone" : rng_pct(r, 5) ? "video" : "home";
    case R_VOL:
        return rng_pct(r, 30) ? "community" : "home";
    case R_PHYSIO:
        return rng_pct(r, 10) ? "clinic" : "home";
    default:
        return "home";
    }
}

/* One visit by staff @si on @day at @minute, and its note and observations. */
static void write_visit(struct gen *g, struct person *p, int si, int64_t day, int minute,
                        int status, int nth, bool last, int64_t first_day)
{
    static const unsigned missed_w[] = {60, 20, 15, 5};
    const struct staff *by = &g->staff[si];
    const struct demo_role_text *txt = demo_role_text(by->def->role);
    struct rng *r = &g->rng;
    const char *mode = visit_mode(g, by->def->role);
    int len = visit_length(g, by->def->role, mode);
    int late = rng_range(r, -10, 30), rec = rng_range(r, 5, 180);
    size_t reason = 0;
    const char *note = NULL, *category = "visit";
    bool insulin = by->def->role == R_NURSE && p->insulin;
    struct row w;
    char visit_id[UUID_STR_MAX];

    row_new(&w, g, "visit", p, day, minute);
    memcpy(visit_id, w.id, UUID_STR_MAX);
    put_time(&w, "planned_start", day, minute);
    put_time(&w, "planned_end", day, minute + len);
    put(&w, "status", visit_status[status]);
    put(&w, "visit_type", insulin ? "Insulin administration" : pick(r, &txt->types));
    put(&w, "mode", mode);
    put(&w, "assigned_to", by->def->name);
    g->visits++;
    if (status == V_PLANNED)
        return;
    if (status == V_COMPLETED) {
        put_time(&w, "actual_start", day, minute + late);
        put_time(&w, "actual_end", day, minute + late + len);
        put(&w, "outcome", pick(r, &txt->outcomes));
        put_bool(&w, "follow_up_needed", rng_pct(r, 10));
        put_time(&w, "recorded_at", day, minute + late + len + rec);
        note = insulin ? "Insulin given as prescribed after checking {p}'s blood sugar. {p} had "
                         "eaten breakfast; injection site rotated."
                       : pick(r, &txt->notes);
        category = streq(mode, "phone")       ? "phone"
                   : by->def->role == R_NURSE ? "clinical"
                   : by->def->role == R_SW    ? "social-care"
                                              : "visit";
    } else if (status == V_MISSED) {
        reason = rng_weighted(r, missed_w, ELEMENTSOF(missed_w));
        put(&w, "missed_reason", demo_missed_reasons[reason]);
        put_time(&w, "recorded_at", day, minute + rec);
        note = pick(r, &demo_missed_notes[reason]);
    } else {
        put_time(&w, "recorded_at", day - 1, minute);
        note = pick(r, &demo_cancelled_notes);
    }

    row_new(&w, g, "note", p, day, minute + len);
    put(&w, "visit_id", visit_id);
    put_text(&w, "text", note, by);
    put(&w, "category", category);
    put(&w, "author", by->def->name);
    put_time(&w, "occurred_at", day, minute + late + len);
    put_time(&w, "recorded_at", day, minute + late + len + rec);
    put(&w, "status", "final");
    if (status == V_COMPLETED)
        observations(g, p, visit_id, by, day, minute + late, nth, last, first_day);
}

/* Past visits for each worker at their role's cadence (§5.4), today's, and 1-3 planned in the
 * next 14 days. */
static void write_visits(struct gen *g, struct person *p)
{
    static const unsigned status_w[] = {88, 8, 4};
    struct rng *r = &g->rng;
    int64_t until = p->status == P_CLOSED ? p->closed : g->today - 1;
    int64_t from = p->created > g->today - HISTORY_DAYS ? p->created : g->today - HISTORY_DAYS;
    struct {
        int64_t day;
        int staff;
    } ahead[16];
    size_t n_ahead = 0;

    for (int k = 0; k < p->n_workers && g->r >= 0; k++) {
        int si = p->workers[k];
        enum role role = g->staff[si].def->role;
        int cadence = demo_roles[role].cadence_days;
        int64_t day = from, end = until, first;
        int nth = 0;

        if (role == R_NURSE && p->wound)
            cadence = 3; /* dressings twice a week: every 3 or 4 days */
        if (role == R_NURSE && p->insulin)
            cadence = 1; /* insulin every morning */
        if (role == R_OT || role == R_PHYSIO) {
            /* An episode of six to eight weekly visits somewhere in the window. */
            day = from + rng_range(r, 0, 60);
            end = day + 7 * rng_range(r, 5, 7);
            if (end > until)
                end = until;
        }
        day += rng_range(r, 0, cadence - 1);
        first = day;
        for (; day <= end && g->r >= 0; nth++) {
            int64_t next = day + cadence +
                           (cadence >= 7   ? rng_range(r, -1, 1)
                            : cadence == 3 ? nth % 2
                                           : 0);
            int status = V_COMPLETED + (int)rng_weighted(r, status_w, 3);

            if (role == R_PA) { /* weekdays only */
                struct tm tm;

                day_tm(day, 0, &tm);
                if (tm.tm_wday == 0 || tm.tm_wday == 6) {
                    day = next;
                    continue;
                }
            }
            write_visit(g, p, si, day,
                        cadence == 1 && role == R_NURSE ? 480 + 10 * rng_range(r, 0, 9)
                                                        : visit_minute(g, role),
                        status, nth, next > end, first);
            day = next;
        }
        /* Where this worker's cadence goes next. */
        if (p->status == P_ACTIVE && (role != R_OT && role != R_PHYSIO ? true : end >= until))
            for (; day <= g->today + AHEAD_DAYS && n_ahead<ELEMENTSOF(ahead); day += cadence> 1
                           ? cadence
                           : 1)
                if (day > g->today) {
                    ahead[n_ahead].day = day;
                    ahead[n_ahead].staff = si;
                    n_ahead++;
                }
    }
    if (p->status != P_ACTIVE)
        return;
    for (int k = 0; k < p->n_today; k++) {
        write_visit(g, p, p->today[k].staff, g->today, p->today[k].minute, V_PLANNED, 0, false,
                    g->today);
        g->today_visits++;
    }
    if (n_ahead == 0 && p->n_workers > 0) {
        ahead[0].day = g->today + rng_range(r, 1, AHEAD_DAYS);
        ahead[0].staff = p->workers[rng_below(r, (unsigned)p->n_workers)];
        n_ahead = 1;
    }
    for (int n = rng_range(r, 1, 3); n > 0 && n_ahead > 0; n--) {
        size_t k = rng_below(r, (unsigned)n_ahead);

        write_visit(g, p, ahead[k].staff, ahead[k].day,
                    visit_minute(g, g->staff[ahead[k].staff].def->role), V_PLANNED, 0, false,
                    ahead[k].day);
        ahead[k] = ahead[--n_ahead];
    }
}

/* Contacts that were not visits: phone calls (about 1 for every 10 visits), handovers, and the
 * occasional safeguarding concern (2 % of people). */
static void write_other_notes(struct gen *g, struct person *p, size_t visits)
{
    struct rng *r = &g->rng;
    int64_t until = p->status == P_CLOSED ? p->closed : g->today - 1;
    size_t n_phone = visits / 10 + (rng_below(r, 10) < visits % 10);

    if (p->n_workers == 0)
        return;
    for (size_t i = 0; i < n_phone + 2; i++) {
        const struct staff *by = &g->staff[p->workers[rng_below(r, (unsigned)p->n_workers)]];
        int64_t day = until - rng_range(r, 0, HISTORY_DAYS - 1);
        int minute = rng_range(r, 540, 1020);
        const char *category, *text;
        struct row w;

        if (i < n_phone) {
            category = "phone";
            text = pick(r, &demo_phone_notes);
        } else if (i == n_phone && rng_pct(r, 2)) {
            category = "safeguarding-concern";
            text = pick(r, &demo_safeguarding_notes);
        } else if (i == n_phone + 1 && rng_pct(r, 3)) {
            category = "handover";
            text = pick(r, &demo_handover_notes);
        } else {
            continue;
        }
        if (day < p->created)
            day = p->created;
        row_new(&w, g, "note", p, day, minute);
        put_text(&w, "text", text, by);
        put(&w, "category", category);
        put(&w, "author", by->def->name);
        put_time(&w, "occurred_at", day, minute);
        put_time(&w, "recorded_at", day, minute + rng_range(r, 1, 60));
        put(&w, "status", "final");
    }
}

/* ---- reviews, consent, alerts; the whole person ---- */

static void write_review(struct gen *g, struct person *p)
{
    static const char *const outcomes[] = {"continue", "revise", "close"};
    static const unsigned out_w[] = {60, 35, 5};
    struct rng *r = &g->rng;
    int64_t earliest = p->plan_start + 42,
            latest = p->status == P_CLOSED ? p->closed : g->today - 1;
    int64_t day;
    const char *outcome;
    struct row w;

    if (p->status == P_REFERRED || latest - earliest < 0 || (!p->example && !rng_pct(r, 55)))
        return;
    if (earliest < g->today - HISTORY_DAYS)
        earliest = g->today - HISTORY_DAYS;
    if (latest < earliest)
        return;
    day = p->example ? earliest : earliest + rng_range(r, 0, (int)(latest - earliest));
    outcome = p->example              ? "revise"
              : p->status == P_CLOSED ? "close"
                                      : outcomes[rng_weighted(r, out_w, 2)];
    row_new(&w, g, "plan_review", p, day, 840);
    put(&w, "care_plan_id", p->plan_id);
    put_date(&w, "review_date", day);
    put(&w, "outcome", outcome);
    if (p->example)
        put(&w, "summary",
            "Six-week review with Dee and Jo. Walking goal going well; added a "
            "stage goal (the garden gate). Evening goal changed: a befriender "
            "found. Revise.");
    else
        put_text(&w, "summary", pick(r, &demo_review_summaries), NULL);
    put_date(&w, "next_review_date", p->review_due > day ? p->review_due : day + 180);
    put(&w, "reviewed_by", lead_name(g, p));
    put_bool(&w, "with_person", p->example || rng_pct(r, 90));
    put(&w, "status", "final");
}

static void write_consent(struct gen *g, struct person *p)
{
    struct rng *r = &g->rng;
    unsigned x = p->example ? 5 : rng_below(r, 100);
    int recorder = p->n_workers ? p->workers[0] : demo_staff_with(g, R_COORD, p->team);
    const char *by = recorder >= 0 ? g->staff[recorder].def->name : NULL;
    int64_t day = p->created + 1 > g->today ? g->today : p->created + 1;
    struct row w;

    if (x < 2) {
        /* 2 %: consent withdrawn, and later given again on new terms. */
        row_new(&w, g, "consent", p, day, 630);
        put(&w, "sector", "all");
        put(&w, "decision", "permit");
        put(&w, "data_class", "all");
        put(&w, "basis", "explicit");
        put(&w, "recorded_by", by);
        put_time(&w, "recorded_at", day, 630);
        put(&w, "status", "inactive");
        put_time(&w, "withdrawn_at", day + 20 > g->today ? g->today : day + 20, 700);
        put(&w, "notes", "Withdrawn after a disagreement about a hospital discharge; replaced.");
        day = day + 21 > g->today ? g->today : day + 21;
    }
    row_new(&w, g, "consent", p, day, 640);
    put(&w, "sector", "all");
    put(&w, "decision", "permit");
    put(&w, "data_class", "all");
    /* 3 %: decided in the person's best interests, or by their attorney. */
    put(&w, "basis",
        x >= 9 && x < 12 ? (x == 11 ? "attorney" : "best-interests")
        : rng_pct(r, 80) ? "explicit"
                         : "implied");
    put(&w, "recorded_by", by);
    put_time(&w, "recorded_at", day, 640);
    put(&w, "status", "active");
    if (x >= 9 && x < 12)
        put(&w, "notes",
            x == 11 ? "Consent given by the attorney for health and welfare."
                    : "Best-interests decision recorded after a capacity assessment.");
    else
        putf(&w, "notes", "Agreed with %s to share the plan with everyone supporting them.",
             p->preferred[0] ? p->preferred : p->given);
    if (x >= 2 && x < 9) {
        /* 7 %: no clinical details to the voluntary sector. */
        row_new(&w, g, "consent", p, day, 645);
        put(&w, "sector", "vcse");
        put(&w, "decision", "deny");
        put(&w, "data_class", "clinical");
        put(&w, "basis", "explicit");
        put(&w, "recorded_by", by);
        put_time(&w, "recorded_at", day, 645);
        put(&w, "status", "active");
        put(&w, "notes", "Does not want health details shared with the befriending service.");
    }
}

static void write_alerts(struct gen *g, struct person *p)
{
    static const struct {
        const char *category;
        const struct demo_list *list;
        unsigned pct;
        const char *audience;
    } kinds[] = {
            {"animal", &demo_alert_animal, 10, "all"},
            {"access", &demo_alert_access, 10, "all"},
            {"lone-worker", &demo_alert_lone_worker, 4, "professionals"},
            {"infection", &demo_alert_infection, 3, "professionals"},
            {"communication", &demo_alert_communication, 5, "all"},
    };
    struct rng *r = &g->rng;

    if (p->n_workers == 0)
        return;
    for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
        const struct staff *by = &g->staff[p->workers[rng_below(r, (unsigned)p->n_workers)]];
        int64_t day = p->created + rng_range(r, 0, 30);
        struct row w;

        if (p->example ? k > 1 : !rng_pct(r, kinds[k].pct))
            continue;
        if (day > g->today)
            day = g->today;
        row_new(&w, g, "alert", p, day, 620);
        put(&w, "category", kinds[k].category);
        if (p->example)
            put(&w, "text",
                k == 0 ? "Cat (Bramble): keep the door shut."
                       : "Key safe by the back door; code held by Jo next door.");
        else
            put_text(&w, "text", pick(r, kinds[k].list), by);
        put(&w, "audience", kinds[k].audience);
        put(&w, "status", p->status == P_CLOSED ? "inactive" : "active");
        put_date(&w, "period_start", day);
        if (streq(kinds[k].category, "infection"))
            put_date(&w, "period_end", g->today + rng_range(r, 14, 60));
        put(&w, "raised_by", by->def->name);
    }
}

void demo_write_records(struct gen *g, struct person *p)
{
    _cleanup_json_ cJSON *d = NULL;
    size_t before = g->visits, rows = g->rows;
    char ts[24];
    int r;

    write_person(g, p);
    write_contacts(g, p);
    write_about_me(g, p);
    write_plans(g, p);
    write_goals(g, p);
    write_visits(g, p);
    write_other_notes(g, p, g->visits - before);
    write_review(g, p);
    write_consent(g, p);
    write_alerts(g, p);
    if (g->r < 0)
        return;
    /* The audit log gets one event for all of this person's generated rows. */
    d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "profile", g->prof->name) ||
        !cJSON_AddNumberToObject(d, "seed", (double)g->seed) ||
        !cJSON_AddNumberToObject(d, "rows", (double)(g->rows - rows)))
        r = -ENOMEM;
    else
        r = store_demo_audit(g->s, p->id, d);
    if (r < 0) {
        g->r = r;
        snprintf(g->err, sizeof(g->err), "auditing the import of %s", p->name);
        return;
    }
    for (int k = 0; k < p->n_workers && p->status == P_ACTIVE && g->r >= 0; k++) {
        const struct staff *st = &g->staff[p->workers[k]];

        r = store_demo_assign(g->s, p->id, st->id, st->def->name, fmt_time(p->created, 540, ts));
        if (r < 0) {
            g->r = r;
            snprintf(g->err, sizeof(g->err), "assigning %s to %s", p->name, st->def->name);
        }
    }
}
