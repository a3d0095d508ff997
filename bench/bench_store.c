/* SPDX-License-Identifier: MIT */
/* bench_store.c - the server store in-process, no HTTP:
 *
 *   bench-store fill --store PATH --entries N
 *       grow a store to at least N change-log entries of background history (other workers'
 *       people with full plans and 90 days of visits), through store_sync() in big batches;
 *
 *   bench-store merge --store PATH [--runs R] [--batches B] [--batch 300] [--json FILE]
 *       item 1: a worker's pushed field changes applied by store_sync() (version checks,
 *       conflict detection, change log, one durable transaction per batch) against the same
 *       machine's raw SQLite rate for plain batched upserts into a similar table, one
 *       transaction per batch, same pragmas (WAL, synchronous=FULL). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "db.h"
#include "gen.h"
#include "hlc.h"
#include "store.h"


/* A user with one enrolled device, authenticated: what store_sync() needs. */
static void make_device(struct store *s, const char *name, const char *role,
                        struct store_principal *ret)
{
    char code[STORE_CODE_MAX];
    struct store_enrolment e;
    int r;

    r = store_user_add(s, name, role);
    if (r < 0 && r != -EEXIST)
        bench_die("store_user_add %s: %s", name, strerror(-r));
    r = store_enrol_code_new(s, name, 3600, code);
    if (r >= 0)
        r = store_enrol(s, code, "bench", "bench", &e);
    if (r >= 0)
        r = store_authenticate(s, e.token, ret);
    if (r < 0)
        bench_die("enrolling a device for %s: %s", name, strerror(-r));
}

/* Push @b through store_sync() as @p (no pull); dies on any refusal. Returns the response's
 * count of outcomes that were not "applied". */
static size_t push(struct store *s, const struct store_principal *p, struct gen_batch *b)
{
    _cleanup_json_ cJSON *resp = NULL;
    struct store_error err = {0};
    const cJSON *o, *outcomes;
    size_t not_applied = 0;
    int r;

    r = store_sync(s, p, b->v, b->n, "", false, 0, "bench", &resp, &err);
    if (r < 0)
        bench_die("store_sync refused a batch of %zu: %d %s: %s (index %ld)", b->n, proto_error_status(err.code),
                  err.code ? err.code : "?", err.message, err.index);
    outcomes = cJSON_GetObjectItemCaseSensitive(resp, "outcomes");
    cJSON_ArrayForEach (o, outcomes) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "outcome");

        if (!cJSON_IsString(v) || !streq(v->valuestring, "applied"))
            not_applied++;
    }
    return not_applied;
}

/* ---- fill ---- */

static int cmd_fill(const char *path, int64_t target)
{
    struct store *s = NULL;
    struct store_principal p;
    struct gen g;
    struct gen_batch b = {0};
    int64_t have = 0, start;
    unsigned people = 0, workers = 0;
    char name[64] = "";
    double t0;

    s = bench_store_open(path, true);
    have = start = bench_store_entries(path);
    gen_init(&g, (uint64_t)getpid() ^ (uint64_t)hlc_wall_ms());
    t0 = bench_now_s();
    while (have < target) {
        char pid[UUID_STR_MAX] = "";
        struct gen_person_opts o = {.visits = 35, .observations = true, .author = name};
        long n;

        /* A caseload of 45 per worker, as for a community nurse. Each worker pushes what they
         * wrote themselves (the server takes authorship from the device's user). */
        if (people % 45 == 0) {
            if (b.n) {
                push(s, &p, &b);
                gen_batch_clear(&b);
            }
            snprintf(name, sizeof(name), "filler-%08" PRIx64, gen_rand(&g) & 0xffffffffu);
            make_device(s, name, "nurse", &p);
            workers++;
        }
        n = gen_person(&g, pid, &o, gen_batch_add_row, &b);
        if (n < 0)
            bench_die("generating a person: %s", strerror((int)-n));
        people++;
        /* +1: registering a person met in the field journals its "referred" status too. */
        have += n + 1;
        if (b.n >= 20000 || have >= target) {
            push(s, &p, &b);
            gen_batch_clear(&b);
        }
    }
    if (b.n) {
        push(s, &p, &b);
        gen_batch_clear(&b);
    }
    gen_batch_done(&b);
    store_free(s);
    have = bench_store_entries(path);
    bench_log("fill: %s now holds %" PRId64 " change-log entries (+%" PRId64 " in %.1f s, %.0f/s,"
              " %u people, %u workers)",
              path, have, have - start, bench_now_s() - t0,
              (double)(have - start) / (bench_now_s() - t0), people, workers);
    printf("{\"entries\": %" PRId64 ", \"added\": %" PRId64 ", \"seconds\": %.3f}\n", have,
           have - start, bench_now_s() - t0);
    return 0;
}

/* ---- merge ---- */

/* A field the worker edits, and its current version on the server. */
struct editable {
    const char *table, *field;
    char row_id[UUID_STR_MAX], person_id[UUID_STR_MAX];
    uint64_t hlc, prev_hlc;
};

struct setup_ctx {
    struct gen_batch *b;
    struct editable *ed;
    size_t n_ed, cap_ed;
};

/* Collect the editable fields of the worker's rows while pushing them. */
static int setup_row(void *userdata, struct gen_row *row)
{
    static const struct {
        const char *table, *field;
    } edit[] = {
            {"person", "phone"},         {"goal", "achievement_status"},
            {"goal", "description"},     {"plan_action", "status"},
            {"about_me", "what_matters"}, {"care_plan", "summary"},
    };
    struct setup_ctx *c = userdata;
    int r;

    for (size_t i = 0; i < row->n; i++) {
        r = gen_batch_add(c->b, row->table, row->id, row->person_id, row->fields[i],
                          row->values[i], 0, NULL);
        if (r < 0)
            return r;
        for (size_t k = 0; k < ELEMENTSOF(edit); k++) {
            struct editable *e;

            if (!streq(edit[k].table, row->table) || !streq(edit[k].field, row->fields[i]))
                continue;
            if (c->n_ed == c->cap_ed) {
                c->cap_ed = c->cap_ed ? c->cap_ed * 2 : 256;
                c->ed = realloc(c->ed, c->cap_ed * sizeof(*c->ed));
                if (!c->ed)
                    return -ENOMEM;
            }
            e = &c->ed[c->n_ed++];
            e->table = edit[k].table;
            e->field = edit[k].field;
            memcpy(e->row_id, row->id, UUID_STR_MAX);
            memcpy(e->person_id, row->person_id, UUID_STR_MAX);
            e->hlc = c->b->v[c->b->n - 1].hlc;
            e->prev_hlc = 0;
        }
    }
    return 0;
}

/* The raw baseline: a table like field_state, primary key only, in its own file. */
static const char raw_ddl[] =
        "CREATE TABLE IF NOT EXISTS kv (tbl TEXT NOT NULL, row_id TEXT NOT NULL,"
        " field TEXT NOT NULL, person_id TEXT NOT NULL, value TEXT, hlc INTEGER NOT NULL,"
        " device TEXT NOT NULL, change_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " PRIMARY KEY (tbl, row_id, field)) STRICT, WITHOUT ROWID";
static const char raw_upsert[] =
        "INSERT INTO kv(tbl, row_id, field, person_id, value, hlc, device, change_id, seq)"
        " VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(tbl, row_id, field) DO UPDATE SET"
        " value = excluded.value, hlc = excluded.hlc, device = excluded.device,"
        " change_id = excluded.change_id, seq = excluded.seq";

static void raw_apply(sqlite3 *db, sqlite3_stmt *st, const struct change_record *v, size_t n,
                      const char *device, int64_t *seq)
{
    int r = db_begin(db, true);

    if (r < 0)
        bench_die("raw: BEGIN: %s", strerror(-r));
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, v[i].table->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, v[i].row_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, v[i].field->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, v[i].person_id, -1, SQLITE_STATIC);
        if (v[i].value)
            sqlite3_bind_text(st, 5, v[i].value, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, (int64_t)v[i].hlc);
        sqlite3_bind_text(st, 7, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, v[i].change_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, ++*seq);
        if (sqlite3_step(st) != SQLITE_DONE)
            bench_die("raw: upsert: %s", sqlite3_errmsg(db));
    }
    sqlite3_reset(st);
    r = db_commit(db);
    if (r < 0)
        bench_die("raw: COMMIT: %s", strerror(-r));
}

/* One batch of the worker's day: new visits with notes, edits on top of the version held, and a
 * few edits on top of an older version (concurrent: they go to the conflict log). */
static void make_batch(struct gen *g, struct gen_batch *b, struct editable *ed, size_t n_ed,
                       size_t size, char person_ids[][UUID_STR_MAX], size_t n_people,
                       const char *device, const char *user, size_t *ret_stale)
{
    size_t new_fields = size / 3, stale = size / 50;
    char buf[512];

    *ret_stale = 0;
    while (b->n + 17 <= new_fields)
        if (gen_visit_with_note(g, person_ids[gen_rand(g) % n_people], user, gen_batch_add_row,
                                b) < 0)
            bench_die("out of memory");
    while (b->n < size) {
        struct editable *e = &ed[gen_rand(g) % n_ed];
        bool is_stale = *ret_stale < stale && e->prev_hlc != 0;
        const char *v = gen_edit_value(g, e->table, e->field, buf, sizeof(buf));

        if (gen_batch_add(b, e->table, e->row_id, e->person_id, e->field, v,
                          is_stale ? e->prev_hlc : e->hlc, device) < 0)
            bench_die("out of memory");
        if (!is_stale) {
            e->prev_hlc = e->hlc;
            e->hlc = b->v[b->n - 1].hlc;
        } else {
            (*ret_stale)++;
            /* The concurrent edit has the higher clock: it wins, and the overwritten value is
             * logged as its concurrent loser. */
            e->prev_hlc = e->hlc;
            e->hlc = b->v[b->n - 1].hlc;
        }
    }
}

static int cmd_merge(const char *path, int runs, int batches, size_t batch, const char *json_path)
{
    _cleanup_free_ double *merge_rate = calloc((size_t)runs, sizeof(double));
    _cleanup_free_ double *raw_rate = calloc((size_t)runs, sizeof(double));
    _cleanup_free_ double *merge_cpu = calloc((size_t)runs, sizeof(double));
    _cleanup_free_ double *raw_cpu = calloc((size_t)runs, sizeof(double));
    _cleanup_free_ char *raw_dir = bench_mkdtemp("raw");
    char raw_path[600], person_ids[45][UUID_STR_MAX];
    struct store *s = NULL;
    struct store_principal p;
    struct setup_ctx sc = {0};
    struct gen_batch b = {0};
    struct gen g;
    sqlite3 *raw = NULL;
    sqlite3_stmt *raw_st = NULL;
    int64_t raw_seq = 0, entries0, states;
    size_t conflicts = 0, lost = 0, total = 0;
    char name[64];
    int r;

    if (!merge_rate || !raw_rate || !merge_cpu || !raw_cpu)
        bench_die("out of memory");
    gen_init(&g, 42);
    s = bench_store_open(path, true);
    snprintf(name, sizeof(name), "merge-%08" PRIx64, (uint64_t)hlc_wall_ms() & 0xffffffffu);
    make_device(s, name, "nurse", &p);

    /* The worker's caseload: 45 people they registered, each with a plan (the light shape). */
    sc.b = &b;
    for (size_t i = 0; i < ELEMENTSOF(person_ids); i++) {
        struct gen_person_opts o = {.visits = 0, .author = name};

        person_ids[i][0] = '\0';
        if (gen_person(&g, person_ids[i], &o, setup_row, &sc) < 0)
            bench_die("generating the caseload");
    }
    push(s, &p, &b);
    gen_batch_clear(&b);
    store_free(s);
    s = NULL;
    entries0 = bench_store_entries(path);
    states = bench_count_rows(path, "SELECT count(*) FROM field_state");

    /* The raw table starts with as many rows as the store's field state. */
    snprintf(raw_path, sizeof(raw_path), "%s/raw.db", raw_dir);
    r = db_open(raw_path, DB_OPEN_CREATE, &raw);
    if (r >= 0)
        r = db_exec(raw, raw_ddl);
    if (r < 0)
        bench_die("raw database: %s", strerror(-r));
    if (db_prepare(raw, raw_upsert, &raw_st) < 0)
        bench_die("raw: prepare: %s", sqlite3_errmsg(raw));
    for (int64_t done = 0; done < states;) {
        int64_t k = states - done < 20000 ? states - done : 20000;

        for (int64_t i = 0; i < k; i++) {
            char row[UUID_STR_MAX];

            gen_uuid(row);
            if (gen_batch_add(&b, "visit", row, person_ids[i % 45], "outcome", "seen", 0, NULL) <
                0)
                bench_die("out of memory");
        }
        raw_apply(raw, raw_st, b.v, b.n, p.device_id, &raw_seq);
        gen_batch_clear(&b);
        done += k;
    }
    /* The raw side's own copy of the worker's rows (same keys as the merge's edits). */
    for (size_t i = 0; i < sc.n_ed; i++) {
        char buf[512];

        if (gen_batch_add(&b, sc.ed[i].table, sc.ed[i].row_id, sc.ed[i].person_id,
                          sc.ed[i].field,
                          gen_edit_value(&g, sc.ed[i].table, sc.ed[i].field, buf, sizeof(buf)),
                          0, NULL) < 0)
            bench_die("out of memory");
    }
    raw_apply(raw, raw_st, b.v, b.n, p.device_id, &raw_seq);
    gen_batch_clear(&b);

    s = bench_store_open(path, false);
    bench_log("merge: store %s has %" PRId64 " change-log entries, %" PRId64 " field states;"
              " %d runs of %d batches of %zu",
              path, entries0, states, runs, batches, batch);

    /* Warm-up batch for both, not counted. */
    for (int run = -1; run < runs; run++) {
        double t_merge = 0, t_raw = 0, c_merge = 0, c_raw = 0;
        int nb = run < 0 ? 1 : batches;

        for (int i = 0; i < nb; i++) {
            size_t stale;
            double t, c;

            make_batch(&g, &b, sc.ed, sc.n_ed, batch, person_ids, ELEMENTSOF(person_ids),
                       p.device_id, p.user, &stale);
            /* Alternate which goes first so neither always meets a warmer cache. */
            if (i % 2) {
                t = bench_now_s();
                c = bench_cpu_s(0);
                raw_apply(raw, raw_st, b.v, b.n, p.device_id, &raw_seq);
                t_raw += bench_now_s() - t;
                c_raw += bench_cpu_s(0) - c;
            }
            t = bench_now_s();
            c = bench_cpu_s(0);
            lost += push(s, &p, &b);
            t_merge += bench_now_s() - t;
            c_merge += bench_cpu_s(0) - c;
            if (i % 2 == 0) {
                t = bench_now_s();
                c = bench_cpu_s(0);
                raw_apply(raw, raw_st, b.v, b.n, p.device_id, &raw_seq);
                t_raw += bench_now_s() - t;
                c_raw += bench_cpu_s(0) - c;
            }
            conflicts += stale;
            total += b.n;
            gen_batch_clear(&b);
        }
        if (run >= 0) {
            merge_rate[run] = (double)(batches * (int)batch) / t_merge;
            raw_rate[run] = (double)(batches * (int)batch) / t_raw;
            merge_cpu[run] = c_merge * 1e6 / (double)(batches * (int)batch);
            raw_cpu[run] = c_raw * 1e6 / (double)(batches * (int)batch);
            bench_log("merge run %d: store %.0f changes/s (%.1f us CPU each), raw SQLite %.0f/s"
                      " (%.1f us CPU each), ratio %.2f",
                      run, merge_rate[run], merge_cpu[run], raw_rate[run], raw_cpu[run],
                      merge_rate[run] / raw_rate[run]);
        }
    }
    store_free(s);
    sqlite3_finalize(raw_st);
    sqlite3_close_v2(raw);
    bench_rm_rf(raw_dir);
    gen_batch_done(&b);
    free(sc.ed);

    {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        double m = bench_median(merge_rate, (size_t)runs), rw = bench_median(raw_rate, (size_t)runs);

        cJSON_AddNumberToObject(o, "entries", (double)entries0);
        cJSON_AddNumberToObject(o, "entries_after", (double)bench_store_entries(path));
        cJSON_AddNumberToObject(o, "field_states", (double)states);
        cJSON_AddNumberToObject(o, "batch", (double)batch);
        cJSON_AddNumberToObject(o, "batches_per_run", batches);
        cJSON_AddItemToObject(o, "merge_changes_per_s", bench_json_stats(merge_rate, (size_t)runs));
        cJSON_AddItemToObject(o, "raw_upserts_per_s", bench_json_stats(raw_rate, (size_t)runs));
        cJSON_AddNumberToObject(o, "ratio", m / rw);
        cJSON_AddItemToObject(o, "merge_cpu_us_per_change",
                              bench_json_stats(merge_cpu, (size_t)runs));
        cJSON_AddItemToObject(o, "raw_cpu_us_per_change", bench_json_stats(raw_cpu, (size_t)runs));
        cJSON_AddNumberToObject(o, "cpu_ratio", bench_median(raw_cpu, (size_t)runs) /
                                                        bench_median(merge_cpu, (size_t)runs));
        cJSON_AddNumberToObject(o, "concurrent_edits_sent", (double)conflicts);
        cJSON_AddNumberToObject(o, "not_applied", (double)lost);
        cJSON_AddNumberToObject(o, "changes_sent", (double)total);
        bench_log("merge: median %.0f changes/s vs raw %.0f upserts/s: ratio %.2f (target >= 0.5)",
                  m, rw, m / rw);
        bench_json_write(o, json_path);
    }
    return 0;
}

static _noreturn_ void usage(void)
{
    fprintf(stderr,
            "usage: bench-store fill --store PATH --entries N\n"
            "       bench-store merge --store PATH [--runs R] [--batches B] [--batch N]"
            " [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"store", required_argument, NULL, 's'},   {"entries", required_argument, NULL, 'e'},
            {"runs", required_argument, NULL, 'r'},    {"batches", required_argument, NULL, 'b'},
            {"batch", required_argument, NULL, 'n'},   {"json", required_argument, NULL, 'j'},
            {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *json = NULL;
    int64_t entries = 0;
    int runs = 5, batches = 20, c;
    size_t batch = 300;

    if (argc < 2)
        usage();
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'e': entries = strtoll(optarg, NULL, 10); break;
        case 'r': runs = atoi(optarg); break;
        case 'b': batches = atoi(optarg); break;
        case 'n': batch = (size_t)atol(optarg); break;
        case 'j': json = optarg; break;
        default: usage();
        }
    }
    if (!store || runs < 1 || batches < 1 || batch < 60)
        usage();
    if (streq(argv[1], "fill"))
        return cmd_fill(store, entries);
    if (streq(argv[1], "merge"))
        return cmd_merge(store, runs, batches, batch, json);
    usage();
}
