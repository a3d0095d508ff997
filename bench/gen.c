/* SPDX-License-Identifier: MIT */
/* gen.c - deterministic synthetic care records for the benchmarks (see gen.h). */
#include "gen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hlc.h"

#define DAY_MS (24ULL * 3600 * 1000)

static const char *const words[] = {
        "walk",     "garden",  "kitchen", "daughter", "morning", "tea",      "bus",     "shop",
        "church",   "friend",  "stairs",  "rail",     "dressing", "shower",  "wound",   "dressed",
        "pain",     "sleep",   "appetite", "weight",  "knitting", "radio",   "dog",     "cat",
        "neighbour", "club",   "lunch",   "medication", "pharmacy", "sister", "carer",  "visit",
        "confident", "steady", "tired",   "cheerful", "quiet",   "worried", "better",   "slowly",
        "with",     "and",     "the",     "to",       "her",     "his",      "their",   "after",
        "before",   "every",   "today",   "week",     "home",    "back",     "door",    "key",
        "safe",     "frame",   "stick",   "chair",    "bed",     "window",   "letter",  "phone",
};
static const char *const given[] = {"Ada",   "Bill",  "Carys", "Dev",  "Elsie", "Frank",
                                    "Gwen",  "Hamid", "Iris",  "Joan", "Kit",   "Len",
                                    "Maud",  "Nia",   "Owen",  "Pat",  "Rhoda", "Stan"};
static const char *const surnames[] = {"Abbott", "Baines", "Cole",   "Dunn",  "Evans", "Fox",
                                       "Grant",  "Hughes", "Irving", "Jones", "Khan",  "Lloyd",
                                       "Moss",   "Nash",   "Okafor", "Price", "Reid",  "Shaw"};
static const char *const achievement[] = {"in-progress", "improving", "no-change", "worsening",
                                          "achieved", "sustaining"};
static const char *const obs_kind[] = {"blood-pressure", "pulse", "spo2", "weight",
                                       "wound-size"};
static const char *const obs_unit[] = {"mmHg", "/min", "%", "kg", "cm"};
static const char *const domains[] = {"mobility", "social", "self-care", "health", "home"};

void gen_init(struct gen *g, uint64_t seed)
{
    g->rng = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
    g->now_ms = hlc_wall_ms();
}

uint64_t gen_rand(struct gen *g)
{
    /* splitmix64 */
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned pick(struct gen *g, unsigned n)
{
    return (unsigned)(gen_rand(g) % n);
}

void gen_uuid(char out[static UUID_STR_MAX])
{
    if (uuid_v7(hlc_wall_ms(), out) < 0)
        abort();
}

void gen_text(struct gen *g, char *buf, size_t n)
{
    size_t len = 0;

    buf[0] = '\0';
    while (len + 12 < n) {
        const char *w = words[pick(g, ELEMENTSOF(words))];
        int k = snprintf(buf + len, n - len, "%s%s", len ? " " : "", w);

        if (k < 0)
            break;
        len += (size_t)k;
    }
    if (len > 0)
        buf[0] = (char)(buf[0] >= 'a' && buf[0] <= 'z' ? buf[0] - 32 : buf[0]);
    if (len + 1 < n) {
        buf[len++] = '.';
        buf[len] = '\0';
    }
}

static void fmt_date(uint64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

static void fmt_datetime(uint64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:00Z", &tm);
}

/* ---- rows ---- */

static void row_start(struct gen_row *r, const char *table, const char *id, const char *person)
{
    r->table = table;
    if (id)
        snprintf(r->id, sizeof(r->id), "%s", id);
    else
        gen_uuid(r->id);
    snprintf(r->person_id, sizeof(r->person_id), "%s", person);
    r->n = 0;
}

_printf_(3, 4) static void put(struct gen_row *r, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (r->n >= GEN_FIELDS_MAX)
        abort();
    r->fields[r->n] = field;
    va_start(ap, fmt);
    vsnprintf(r->values[r->n], sizeof(r->values[r->n]), fmt, ap);
    va_end(ap);
    r->n++;
}

static void put_text(struct gen *g, struct gen_row *r, const char *field, size_t n)
{
    char buf[512];

    gen_text(g, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
    put(r, field, "%s", buf);
}

static void put_date(struct gen_row *r, const char *field, uint64_t ms)
{
    char buf[16];

    fmt_date(ms, buf, sizeof(buf));
    put(r, field, "%s", buf);
}

static void put_datetime(struct gen_row *r, const char *field, uint64_t ms)
{
    char buf[32];

    fmt_datetime(ms, buf, sizeof(buf));
    put(r, field, "%s", buf);
}

#define EMIT(r)                                \
    do {                                       \
        int _k = fn(ud, (r));                  \
        if (_k < 0)                            \
            return _k;                         \
        fields += (long)(r)->n;                \
    } while (0)

long gen_visit_with_note(struct gen *g, const char *person_id, const char *author, gen_row_fn fn,
                         void *ud)
{
    struct gen_row r;
    uint64_t start = g->now_ms - (uint64_t)pick(g, 6) * 3600 * 1000;
    char visit_id[UUID_STR_MAX];
    long fields = 0;

    row_start(&r, "visit", NULL, person_id);
    put_datetime(&r, "planned_start", start);
    put_datetime(&r, "planned_end", start + 45 * 60 * 1000);
    put_datetime(&r, "actual_start", start + 5 * 60 * 1000);
    put_datetime(&r, "actual_end", start + 50 * 60 * 1000);
    put(&r, "status", "completed");
    put_text(g, &r, "outcome", 60);
    put(&r, "visit_type", "nursing review");
    put(&r, "mode", "home");
    put(&r, "assigned_to", "%s", author);
    put_datetime(&r, "recorded_at", start + 55 * 60 * 1000);
    EMIT(&r);
    snprintf(visit_id, sizeof(visit_id), "%s", r.id);
    row_start(&r, "note", NULL, person_id);
    put(&r, "visit_id", "%s", visit_id);
    put_text(g, &r, "text", 300);
    put(&r, "category", "visit");
    put(&r, "author", "%s", author);
    put_datetime(&r, "occurred_at", start + 5 * 60 * 1000);
    put_datetime(&r, "recorded_at", start + 55 * 60 * 1000);
    put(&r, "status", "final");
    EMIT(&r);
    return fields;
}

long gen_person(struct gen *g, char person_id[static UUID_STR_MAX],
                const struct gen_person_opts *o, gen_row_fn fn, void *ud)
{
    const char *author = o->author ? o->author : "nurse";
    char plan_id[UUID_STR_MAX], goal_ids[3][UUID_STR_MAX];
    struct gen_row r;
    long fields = 0;
    unsigned gi = pick(g, ELEMENTSOF(given)), si = pick(g, ELEMENTSOF(surnames));

    if (!person_id[0])
        gen_uuid(person_id);

    row_start(&r, "person", person_id, person_id);
    put(&r, "name", "%s %s", given[gi], surnames[si]);
    put(&r, "preferred_name", "%s", given[gi]);
    put(&r, "birth_date", "%u-%02u-%02u", 1930 + pick(g, 30), 1 + pick(g, 12), 1 + pick(g, 28));
    put(&r, "phone", "0131 496 %04u", pick(g, 10000));
    put(&r, "address", "%u %s Road, Northbrook NB%u %uAB", 1 + pick(g, 200),
        surnames[pick(g, ELEMENTSOF(surnames))], 1 + pick(g, 9), 1 + pick(g, 9));
    put(&r, "pronouns", "%s", gi % 2 ? "he/him" : "she/her");
    put(&r, "language", "English");
    put_text(g, &r, "communication_needs", 80);
    put_text(g, &r, "access_instructions", 80);
    EMIT(&r);

    row_start(&r, "about_me", person_id, person_id);
    put_text(g, &r, "what_matters", 200);
    put_text(g, &r, "people_important", 120);
    put_text(g, &r, "communication", 120);
    put_text(g, &r, "wellness", 150);
    put_text(g, &r, "please_do", 150);
    put_text(g, &r, "how_to_support", 200);
    put(&r, "shareable_with_vcse", "1");
    EMIT(&r);

    for (int i = 0; i < 2; i++) {
        row_start(&r, "related_person", NULL, person_id);
        put(&r, "name", "%s %s", given[pick(g, ELEMENTSOF(given))], surnames[si]);
        put(&r, "relationship", "%s", i == 0 ? "Daughter" : "Neighbour");
        put(&r, "relationship_code", "%s", i == 0 ? "CHILD" : "NBOR");
        put(&r, "phone", "07700 900%03u", pick(g, 1000));
        put(&r, "is_next_of_kin", "%s", i == 0 ? "1" : "0");
        put(&r, "is_unpaid_carer", "%s", i == 0 ? "1" : "0");
        EMIT(&r);
    }

    row_start(&r, "care_plan", NULL, person_id);
    put(&r, "title", "Personalised care and support plan");
    put(&r, "status", "active");
    put_text(g, &r, "summary", 300);
    put_date(&r, "review_due", g->now_ms + (uint64_t)pick(g, 120) * DAY_MS);
    put(&r, "kind", "pcsp");
    put(&r, "agreed_with", "%s and %s", given[gi], "daughter");
    put_date(&r, "agreed_on", g->now_ms - 100 * DAY_MS);
    put_date(&r, "start_date", g->now_ms - 100 * DAY_MS);
    EMIT(&r);
    snprintf(plan_id, sizeof(plan_id), "%s", r.id);

    for (int i = 0; i < 3; i++) {
        row_start(&r, "goal", NULL, person_id);
        put(&r, "care_plan_id", "%s", plan_id);
        put_text(g, &r, "description", 90);
        put(&r, "lifecycle_status", "active");
        put(&r, "achievement_status", "%s", achievement[pick(g, ELEMENTSOF(achievement))]);
        put(&r, "importance", "%u", 1 + pick(g, 10));
        put_date(&r, "target_date", g->now_ms + (uint64_t)(30 + pick(g, 90)) * DAY_MS);
        put(&r, "domain", "%s", domains[pick(g, ELEMENTSOF(domains))]);
        put(&r, "expressed_by", "%s", given[gi]);
        EMIT(&r);
        snprintf(goal_ids[i], sizeof(goal_ids[i]), "%s", r.id);
        for (int k = 0; k < 2; k++) {
            row_start(&r, "plan_action", NULL, person_id);
            put(&r, "goal_id", "%s", goal_ids[i]);
            put_text(g, &r, "what", 80);
            put(&r, "who", "%s", k ? "person" : author);
            put(&r, "who_kind", "%s", k ? "person" : "worker");
            put_date(&r, "due_date", g->now_ms + (uint64_t)pick(g, 60) * DAY_MS);
            put(&r, "status", "in-progress");
            put(&r, "when_text", "every %s", k ? "morning" : "week");
            EMIT(&r);
        }
    }

    row_start(&r, "consent", NULL, person_id);
    put(&r, "sector", "all");
    put(&r, "decision", "permit");
    put(&r, "data_class", "direct care");
    put(&r, "basis", "explicit");
    put(&r, "recorded_by", "%s", author);
    put_datetime(&r, "recorded_at", g->now_ms - 100 * DAY_MS);
    put(&r, "status", "active");
    EMIT(&r);

    if (pick(g, 4) == 0) {
        row_start(&r, "alert", NULL, person_id);
        put(&r, "category", "animal");
        put(&r, "text", "Large friendly dog; ask for it to be shut in the kitchen");
        put(&r, "audience", "all");
        put(&r, "status", "active");
        put_date(&r, "period_start", g->now_ms - 90 * DAY_MS);
        put(&r, "raised_by", "%s", author);
        EMIT(&r);
    }

    if (o->visits == 0)
        return fields;

    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            uint64_t at = g->now_ms - (uint64_t)(80 - 30 * k - 10 * i) * DAY_MS;

            row_start(&r, "goal_progress", NULL, person_id);
            put(&r, "goal_id", "%s", goal_ids[i]);
            put(&r, "rating", "%u", pick(g, 11));
            put_text(g, &r, "in_own_words", 100);
            put(&r, "achievement_status", "%s", achievement[pick(g, ELEMENTSOF(achievement))]);
            put(&r, "author", "%s", author);
            put_datetime(&r, "occurred_at", at);
            put(&r, "status", "final");
            EMIT(&r);
        }

    for (unsigned v = 0; v < o->visits + 2; v++) {
        bool future = v >= o->visits;
        uint64_t day = future ? g->now_ms + (uint64_t)(1 + 7 * (v - o->visits)) * DAY_MS
                              : g->now_ms - 90 * DAY_MS + (uint64_t)v * 90 * DAY_MS / o->visits;
        uint64_t start = day - day % DAY_MS + (uint64_t)(8 + pick(g, 9)) * 3600 * 1000;
        unsigned roll = pick(g, 100);
        const char *status = future ? "planned" : roll < 88 ? "completed"
                                               : roll < 96 ? "missed"
                                                           : "cancelled";
        char visit_id[UUID_STR_MAX];

        row_start(&r, "visit", NULL, person_id);
        put_datetime(&r, "planned_start", start);
        put_datetime(&r, "planned_end", start + 45 * 60 * 1000);
        put(&r, "status", "%s", status);
        put(&r, "visit_type", "%s", v % 3 ? "nursing review" : "wound care");
        put(&r, "mode", "home");
        put(&r, "assigned_to", "%s", author);
        if (streq(status, "completed")) {
            put_datetime(&r, "actual_start", start + 5 * 60 * 1000);
            put_datetime(&r, "actual_end", start + 50 * 60 * 1000);
            put_text(g, &r, "outcome", 60);
            put_datetime(&r, "recorded_at", start + 55 * 60 * 1000);
        } else if (streq(status, "missed")) {
            put(&r, "missed_reason", "no-answer");
            put_datetime(&r, "recorded_at", start + 30 * 60 * 1000);
        }
        EMIT(&r);
        snprintf(visit_id, sizeof(visit_id), "%s", r.id);
        if (!streq(status, "completed"))
            continue;

        row_start(&r, "note", NULL, person_id);
        put(&r, "visit_id", "%s", visit_id);
        put_text(g, &r, "text", 100 + pick(g, 300));
        put(&r, "category", "visit");
        put(&r, "author", "%s", author);
        put_datetime(&r, "occurred_at", start + 5 * 60 * 1000);
        put_datetime(&r, "recorded_at", start + 55 * 60 * 1000);
        put(&r, "status", "final");
        EMIT(&r);

        if (!o->observations || v % 3 != 0)
            continue;
        for (int k = 0; k < 2; k++) {
            unsigned kind = pick(g, ELEMENTSOF(obs_kind));

            row_start(&r, "observation", NULL, person_id);
            put(&r, "visit_id", "%s", visit_id);
            put(&r, "kind", "%s", obs_kind[kind]);
            if (kind == 0)
                put(&r, "value", "%u/%u", 110 + pick(g, 50), 60 + pick(g, 30));
            else
                put(&r, "value", "%u", 20 + pick(g, 80));
            put(&r, "unit", "%s", obs_unit[kind]);
            put(&r, "author", "%s", author);
            put_datetime(&r, "occurred_at", start + 20 * 60 * 1000);
            put_datetime(&r, "recorded_at", start + 55 * 60 * 1000);
            put(&r, "status", "final");
            EMIT(&r);
        }
    }
    return fields;
}

const char *gen_edit_value(struct gen *g, const char *table, const char *field, char *buf,
                           size_t size)
{
    if (streq(table, "person") && streq(field, "phone"))
        snprintf(buf, size, "0131 496 %04u", pick(g, 10000));
    else if (streq(table, "goal") && streq(field, "achievement_status"))
        snprintf(buf, size, "%s", achievement[pick(g, ELEMENTSOF(achievement))]);
    else if (streq(table, "plan_action") && streq(field, "status"))
        snprintf(buf, size, "%s", pick(g, 2) ? "in-progress" : "completed");
    else if ((streq(table, "goal") && streq(field, "description")) ||
             (streq(table, "about_me") && streq(field, "what_matters")) ||
             (streq(table, "care_plan") && streq(field, "summary")))
        gen_text(g, buf, size < 120 ? size : 120);
    else
        return NULL;
    return buf;
}

/* ---- batches of change records ---- */

int gen_batch_add(struct gen_batch *b, const char *table, const char *row_id, const char *person_id,
                  const char *field, const char *value, uint64_t base_hlc, const char *base_device)
{
    const struct cat_table *t = catalogue_table(table);
    const struct cat_field *f = catalogue_field(t, field);
    struct change_record *c;

    const char *why = NULL;

    /* store_sync() takes changes already validated by the wire decoder: check them here. */
    if (!f || (value && catalogue_check_value(f, value, &why) < 0)) {
        fprintf(stderr, "gen: bad value for %s.%s: %s (%s)\n", table, field, value ? value : "",
                why ? why : "unknown field");
        return -EINVAL;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct change_record *v = realloc(b->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    c = &b->v[b->n];
    memset(c, 0, sizeof(*c));
    gen_uuid(c->change_id);
    c->table = t;
    c->field = f;
    snprintf(c->row_id, sizeof(c->row_id), "%s", row_id);
    snprintf(c->person_id, sizeof(c->person_id), "%s", person_id);
    c->value = value ? strdup(value) : NULL;
    if (value && !c->value)
        return -ENOMEM;
    c->hlc = hlc_tick(&b->hlc, hlc_wall_ms());
    c->base_hlc = base_hlc;
    snprintf(c->base_device, sizeof(c->base_device), "%s", base_device ? base_device : "");
    b->n++;
    return 0;
}

int gen_batch_add_row(void *batch, struct gen_row *row)
{
    for (size_t i = 0; i < row->n; i++) {
        int r = gen_batch_add(batch, row->table, row->id, row->person_id, row->fields[i],
                              row->values[i], 0, NULL);

        if (r < 0)
            return r;
    }
    return 0;
}

void gen_batch_clear(struct gen_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        wire_change_done(&b->v[i]);
    b->n = 0;
}

void gen_batch_done(struct gen_batch *b)
{
    gen_batch_clear(b);
    free(b->v);
    b->v = NULL;
    b->cap = 0;
}
