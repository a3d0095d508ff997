/* SPDX-License-Identifier: MIT */
/* bench_engine.c - the sync engine's rules alone, no database:
 *
 *   bench-engine [--runs R] [--batches B] [--batch 300] [--json FILE]
 *       item 7: engine_push() of a worker's batches over the in-memory backend of the unit tests
 *       (tests/unit/backend_mem.c): authorisation, scope, replays, the merge and its conflict
 *       rules, outcomes; changes/s. The store is fresh for each batch (the memory backend
 *       searches linearly: a growing one would measure its scans, not the rules), seeded with
 *       one version of each field the batch edits by another device, so every change is a
 *       sequential edit checked against history. Also counts backend calls per change. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_mem.h"
#include "bench.h"
#include "engine.h"
#include "hlc.h"

#define PERSON "01900000-0000-7000-8000-000000000001"
#define DEV_A  "01900000-0000-7000-8000-00000000000a"
#define DEV_B  "01900000-0000-7000-8000-00000000000b"

static const struct store_principal worker = {
    .user_id = 7, .user = "amira", .role = "nurse", .device_id = DEV_A};

/* The person fields a batch cycles over: plain last-writer-wins text. */
static const char *const fields[] = {"phone", "email", "address", "pronouns", "language",
                                     "preferred_name", "communication_needs",
                                     "access_instructions", "address_line1", "address_city"};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* One batch of @n changes over a fresh store; its time in *ret_s and backend calls in *ret_calls. */
static void one_batch(size_t n, double *ret_s, unsigned long *ret_calls)
{
    struct change_record *c = calloc(n, sizeof(*c));
    char (*values)[24] = calloc(n, sizeof(*values));
    uint64_t last[N_FIELDS], now = hlc_wall_ms();
    struct mem_backend *m = mem_new();
    struct proto_sync_reply reply = {0};
    struct store_error err = {0};
    const struct cat_table *t = catalogue_table("person");
    struct wrap_backend w;
    struct engine e;
    double t0;
    int r;

    if (!c || !values)
        bench_die("out of memory");
    mem_add_device(m, DEV_A);
    mem_add_person(m, PERSON, "Ada");
    mem_assign(m, PERSON, worker.user_id);
    for (size_t f = 0; f < N_FIELDS; f++) {
        last[f] = hlc_pack(now - 600000, (unsigned)f);
        mem_set_field(m, "person", PERSON, PERSON, fields[f], "seed", last[f], DEV_B);
    }
    for (size_t i = 0; i < n; i++) {
        size_t f = i % N_FIELDS;

        if (uuid_v7(now, c[i].change_id) < 0)
            bench_die("uuid");
        c[i].table = t;
        c[i].field = catalogue_field(t, fields[f]);
        copy_text(c[i].row_id, sizeof(c[i].row_id), PERSON);
        copy_text(c[i].person_id, sizeof(c[i].person_id), PERSON);
        snprintf(values[i], sizeof(values[i]), "v%zu", i);
        c[i].value = values[i];
        c[i].hlc = hlc_pack(now - 300000 + i, 0);
        c[i].base_hlc = last[f];
        copy_text(c[i].base_device, sizeof(c[i].base_device), i < N_FIELDS ? DEV_B : DEV_A);
        last[f] = c[i].hlc;
    }
    wrap_init(&w, mem_backend(m));
    e = (struct engine){.b = &w.be, .node_id = "bench", .max_forward_ms = STORE_MAX_FORWARD_MS,
                        .grace_ms = STORE_HANDOVER_GRACE_MS,
                        .max_device_conflicts = STORE_DEVICE_CONFLICTS_MAX};
    t0 = bench_now_s();
    r = w.be.ops->begin(&w.be, true);
    if (r >= 0)
        r = engine_push(&e, &worker, c, n, &reply, 0, "bench", &err);
    if (r >= 0)
        r = w.be.ops->commit(&w.be);
    *ret_s = bench_now_s() - t0;
    if (r < 0)
        bench_die("engine_push refused a batch: %s: %s", err.code ? err.code : "?", err.message);
    for (size_t i = 0; i < reply.n_outcomes; i++)
        if (!streq(reply.outcomes[i].outcome, "applied"))
            bench_die("change %zu was %s, not applied", i, reply.outcomes[i].outcome);
    *ret_calls = w.calls;
    proto_sync_reply_done(&reply);
    mem_free(m);
    free(values);
    free(c);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"runs", required_argument, NULL, 'r'},
                                         {"batches", required_argument, NULL, 'b'},
                                         {"batch", required_argument, NULL, 'n'},
                                         {"json", required_argument, NULL, 'j'},
                                         {0}};
    long runs = 5, batches = 20, batch = 300;
    const char *json = NULL;
    double *rates;
    unsigned long calls = 0;
    int o;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'r': runs = atol(optarg); break;
        case 'b': batches = atol(optarg); break;
        case 'n': batch = atol(optarg); break;
        case 'j': json = optarg; break;
        default:
            fprintf(stderr, "usage: bench-engine [--runs R] [--batches B] [--batch N] "
                            "[--json FILE]\n");
            return 2;
        }
    }
    if (runs < 1 || batches < 1 || batch < 1)
        bench_die("--runs, --batches and --batch must be at least 1");
    rates = calloc((size_t)runs, sizeof(*rates));
    if (!rates)
        bench_die("out of memory");
    for (long r = 0; r < runs; r++) {
        double total = 0, s;

        for (long b = 0; b < batches; b++) {
            one_batch((size_t)batch, &s, &calls);
            total += s;
        }
        rates[r] = (double)(batches * batch) / total;
    }
    printf("engine over the in-memory backend: %.0f changes/s (median of %ld runs of %ld "
           "batches of %ld); %.1f backend calls per change\n",
           bench_median(rates, (size_t)runs), runs, batches, batch, (double)calls / batch);
    if (json) {
        _cleanup_json_ cJSON *o2 = cJSON_CreateObject();

        if (!o2 || !cJSON_AddItemToObject(o2, "engine_changes_per_s",
                                          bench_json_stats(rates, (size_t)runs)) ||
            !cJSON_AddNumberToObject(o2, "batch", (double)batch) ||
            !cJSON_AddNumberToObject(o2, "backend_calls_per_change", (double)calls / batch) ||
            bench_json_write(o2, json) < 0)
            bench_die("cannot write %s", json);
    }
    free(rates);
    return 0;
}
