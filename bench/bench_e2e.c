/* SPDX-License-Identifier: MIT */
/* bench_e2e.c - end to end over HTTPS on loopback: a real caresyncd process and real devices
 * (libcaresync in this process, or in a child process where its memory is measured).
 *
 *   bench-e2e day   --data DIR   item 2: a field worker's day (45-person caseload, push 300
 *                                changes and pull 300 a colleague made)
 *   bench-e2e first --data DIR   item 3: first sync of a new device with 200 people (full
 *                                plans, 90 days of visits) by the real caresync CLI; time, CPU,
 *                                the client's memory against the bare binary's, bytes (one more
 *                                sync through the library), and what gzip would save
 *   bench-e2e bulk  --data DIR   item 5: 10,000 new records pushed from one device
 *
 * DIR is a data directory made by 'caresyncd init' (possibly grown with 'bench-store fill');
 * each command adds its own users and people to the store before serving it. Options:
 * --runs N, --json FILE, --people N, --records N, --visits N. Figures are medians of the runs. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef BENCH_HAVE_ZLIB
#include <zlib.h>
#endif

#include "bench.h"
#include "caresync.h"
#include "gen.h"
#include "hlc.h"
#include "store.h"

#ifndef BENCH_CARESYNCD
#define BENCH_CARESYNCD "caresyncd"
#endif
#ifndef BENCH_CARESYNC
#define BENCH_CARESYNC "caresync"
#endif

struct opts {
    const char *data, *json, *caresyncd, *caresync;
    int runs;
    unsigned people, records, visits, changes;
};

static char *tmp_root;
static unsigned seq_no;

/* ---- the store, before and while serving ---- */

static struct store *open_store(const char *data)
{
    return bench_store_open(data, false);
}

static void unique_name(char *buf, size_t size, const char *prefix)
{
    snprintf(buf, size, "%s-%d-%u", prefix, (int)getpid(), seq_no++);
}

static void make_user(struct store *s, const char *name, const char *role)
{
    int r = store_user_add(s, name, role);

    if (r < 0)
        bench_die("store_user_add %s: %s", name, strerror(-r));
}

static void new_code(struct store *s, const char *name, char code[static STORE_CODE_MAX])
{
    int r = store_enrol_code_new(s, name, 6 * 3600, code);

    if (r < 0)
        bench_die("store_enrol_code_new %s: %s", name, strerror(-r));
}

/* A device of a generating user through which people are written (as registrations). */
static void gen_principal(struct store *s, struct store_principal *p, char token[STORE_TOKEN_MAX])
{
    char name[STORE_NAME_MAX + 1], code[STORE_CODE_MAX];
    struct store_enrolment e;
    int r;

    unique_name(name, sizeof(name), "gen");
    make_user(s, name, "nurse");
    new_code(s, name, code);
    r = store_enrol(s, code, "bench-gen", "bench", &e);
    if (r >= 0)
        r = store_authenticate(s, e.token, p);
    if (r < 0)
        bench_die("enrolling the generator: %s", strerror(-r));
    if (token)
        memcpy(token, e.token, STORE_TOKEN_MAX);
}

static void push(struct store *s, const struct store_principal *p, struct gen_batch *b)
{
    _cleanup_json_ cJSON *resp = NULL;
    struct store_error err = {0};
    int r = store_sync(s, p, b->v, b->n, "", false, 0, "bench", &resp, &err);

    if (r < 0)
        bench_die("store_sync refused %zu changes: %d %s: %s (index %ld)", b->n, proto_error_status(err.code),
                  err.code ? err.code : "?", err.message, err.index);
    gen_batch_clear(b);
}

/* @n people of the given shape, written to the store; their ids in @ids. Returns fields. */
static long make_people(struct store *s, struct gen *g, unsigned n,
                        const struct gen_person_opts *o, char (*ids)[UUID_STR_MAX])
{
    struct store_principal p;
    struct gen_batch b = {0};
    struct gen_person_opts own;
    long fields = 0;

    gen_principal(s, &p, NULL);
    /* Authorship fields must name the writing user. */
    own = *o;
    own.author = p.user;
    for (unsigned i = 0; i < n; i++) {
        long k;

        ids[i][0] = '\0';
        k = gen_person(g, ids[i], &own, gen_batch_add_row, &b);
        if (k < 0)
            bench_die("generating people: %s", strerror((int)-k));
        fields += k;
        if (b.n >= 20000)
            push(s, &p, &b);
    }
    if (b.n)
        push(s, &p, &b);
    gen_batch_done(&b);
    return fields;
}

static void assign(struct store *s, const char *person_id, const char *name)
{
    const char *which = NULL;
    int r = store_assign(s, person_id, name, &which);

    if (r < 0)
        bench_die("store_assign %s to %s: %s (%s)", person_id, name, strerror(-r),
                  which ? which : "?");
}

static void start_daemon(const struct opts *o, struct bench_daemon *d)
{
    if (bench_daemon_start(d, o->caresyncd, o->data) < 0)
        bench_die("caresyncd serve did not start (see %s.serve.log)", o->data);
    bench_log("caresyncd serving %s on %s (pid %d)", o->data, d->url, (int)d->pid);
}

/* ---- devices ---- */

static char *new_home(const char *tag)
{
    char *h;

    if (asprintf(&h, "%s/%s-%u", tmp_root, tag, seq_no++) < 0)
        bench_die("out of memory");
    return h;
}

static struct caresync *device_open(const char *home)
{
    struct caresync *c = NULL;

    if (caresync_open(home, &c) != CARESYNC_OK)
        bench_die("caresync_open %s: %s", home, caresync_errmsg(c));
    return c;
}

static struct caresync *device_enrol(const char *home, const struct bench_daemon *d,
                                     const char *code)
{
    struct caresync *c = device_open(home);

    if (caresync_enrol(c, d->url, d->ca, code, "bench") != CARESYNC_OK)
        bench_die("caresync_enrol: %s", caresync_errmsg(c));
    return c;
}

/* One measured sync on a fresh handle (so a new TCP and TLS connection, as when an app starts). */
struct sync_result {
    double seconds;
    struct bench_traffic t;
    struct caresync_sync_stats st;
};

static struct caresync *timed_sync(struct caresync *c, const char *home, struct sync_result *ret)
{
    struct bench_traffic a, b;
    double t0;

    caresync_close(c);
    c = device_open(home);
    bench_traffic_get(&a);
    t0 = bench_now_s();
    if (caresync_sync(c, &ret->st) != CARESYNC_OK)
        bench_die("caresync_sync: %s", caresync_errmsg(c));
    ret->seconds = bench_now_s() - t0;
    bench_traffic_get(&b);
    bench_traffic_diff(&a, &b, &ret->t);
    return c;
}

static int device_row(void *userdata, struct gen_row *row)
{
    struct caresync *c = userdata;
    const char *values[GEN_FIELDS_MAX];
    char id[CARESYNC_ID_MAX];

    for (size_t i = 0; i < row->n; i++)
        values[i] = row->values[i];
    if (caresync_add(c, row->table, row->person_id, row->fields, values, row->n, id) !=
        CARESYNC_OK)
        bench_die("caresync_add %s: %s", row->table, caresync_errmsg(c));
    memcpy(row->id, id, CARESYNC_ID_MAX);
    return 0;
}

/* A field a worker edits on the device. */
struct target {
    const char *table, *field;
    char row[UUID_STR_MAX];
};

static size_t add_targets(const cJSON *arr, const char *table, const char *const *fields,
                          struct target **v, size_t *n, size_t *cap)
{
    const cJSON *o;
    size_t added = 0;

    cJSON_ArrayForEach (o, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");

        if (!cJSON_IsString(id))
            continue;
        for (const char *const *f = fields; *f; f++) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                *v = realloc(*v, *cap * sizeof(**v));
                if (!*v)
                    bench_die("out of memory");
            }
            (*v)[*n].table = table;
            (*v)[*n].field = *f;
            snprintf((*v)[*n].row, UUID_STR_MAX, "%s", id->valuestring);
            (*n)++;
            added++;
        }
    }
    return added;
}

static struct target *device_targets(struct caresync *c, char (*ids)[UUID_STR_MAX],
                                     unsigned n_people, size_t *ret_n)
{
    static const char *const person_f[] = {"phone", NULL};
    static const char *const goal_f[] = {"achievement_status", "description", NULL};
    static const char *const action_f[] = {"status", NULL};
    static const char *const plan_f[] = {"summary", NULL};
    struct target *v = NULL;
    size_t n = 0, cap = 0;

    for (unsigned i = 0; i < n_people; i++) {
        _cleanup_json_ cJSON *doc = NULL;
        cJSON *self;
        char *text = NULL;

        if (caresync_person_json(c, ids[i], &text) != CARESYNC_OK)
            bench_die("caresync_person_json: %s", caresync_errmsg(c));
        doc = cJSON_Parse(text);
        free(text);
        if (!doc)
            bench_die("caresync_person_json: not JSON");
        self = cJSON_CreateArray();
        cJSON_AddItemToArray(self, cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetArrayItem(self, 0), "id", ids[i]);
        add_targets(self, "person", person_f, &v, &n, &cap);
        cJSON_Delete(self);
        add_targets(cJSON_GetObjectItemCaseSensitive(doc, "goals"), "goal", goal_f, &v, &n, &cap);
        add_targets(cJSON_GetObjectItemCaseSensitive(doc, "actions"), "plan_action", action_f, &v,
                    &n, &cap);
        add_targets(cJSON_GetObjectItemCaseSensitive(doc, "care_plans"), "care_plan", plan_f, &v,
                    &n, &cap);
    }
    if (n == 0)
        bench_die("the replica holds nothing to edit");
    *ret_n = n;
    return v;
}

static unsigned long pending_changes(struct caresync *c)
{
    _cleanup_json_ cJSON *doc = NULL;
    const cJSON *p;
    char *text = NULL;

    if (caresync_status_json(c, &text) != CARESYNC_OK)
        bench_die("caresync_status_json: %s", caresync_errmsg(c));
    doc = cJSON_Parse(text);
    free(text);
    p = cJSON_GetObjectItemCaseSensitive(doc, "pending");
    if (!cJSON_IsNumber(p))
        bench_die("caresync_status_json: no pending count");
    return (unsigned long)p->valuedouble;
}

/* A day's work recorded offline: visits with notes (17 fields each) for about two thirds of
 * @changes, edits for the rest, until the outbox holds @changes more changes (an edit to the
 * value a field already has, or a second edit of a field still in the outbox, adds none). */
static unsigned device_day(struct caresync *c, const char *user, struct gen *g,
                           char (*ids)[UUID_STR_MAX], unsigned n_people, const struct target *t,
                           size_t n_t, unsigned changes)
{
    unsigned long want = pending_changes(c) + changes, have;
    unsigned visits = changes * 2 / 3 / 17;
    char buf[512];

    for (unsigned i = 0; i < visits; i++)
        if (gen_visit_with_note(g, ids[gen_rand(g) % n_people], user, device_row, c) < 0)
            bench_die("recording a visit");
    while ((have = pending_changes(c)) < want) {
        for (unsigned long k = have; k < want; k++) {
            const struct target *x = &t[gen_rand(g) % n_t];
            const char *v = gen_edit_value(g, x->table, x->field, buf, sizeof(buf));
            int r = caresync_edit(c, x->table, x->row, x->field, v);

            if (r != CARESYNC_OK && r != CARESYNC_ENOTFOUND)
                bench_die("caresync_edit %s.%s: %s", x->table, x->field, caresync_errmsg(c));
        }
    }
    return changes;
}

/* ---- JSON helpers ---- */

static cJSON *traffic_json(const struct bench_traffic *t)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "requests", (double)t->requests);
    cJSON_AddNumberToObject(o, "connections", (double)t->connects);
    cJSON_AddNumberToObject(o, "http_bytes_up", (double)t->http_up);
    cJSON_AddNumberToObject(o, "http_bytes_down", (double)t->http_down);
    cJSON_AddNumberToObject(o, "wire_bytes_up", (double)t->tcp_up);
    cJSON_AddNumberToObject(o, "wire_bytes_down", (double)t->tcp_down);
    return o;
}

/* The median run by time, with its traffic and counts. */
static cJSON *runs_json(const struct sync_result *r, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    _cleanup_free_ double *secs = calloc(n, sizeof(double));
    size_t med = 0;
    double m;

    for (size_t i = 0; i < n; i++)
        secs[i] = r[i].seconds;
    m = bench_median(secs, n);
    for (size_t i = 1; i < n; i++)
        if (fabs(r[i].seconds - m) < fabs(r[med].seconds - m))
            med = i;
    cJSON_AddItemToObject(o, "seconds", bench_json_stats(secs, n));
    cJSON_AddItemToObject(o, "traffic", traffic_json(&r[med].t));
    cJSON_AddNumberToObject(o, "pushed", (double)r[med].st.pushed);
    cJSON_AddNumberToObject(o, "pulled", (double)r[med].st.pulled);
    return o;
}

static void store_size(cJSON *o, const struct opts *op)
{
    cJSON_AddNumberToObject(o, "store_entries", (double)bench_store_entries(op->data));
}

/* ---- item 2: a field worker's day ---- */

static int cmd_day(const struct opts *o)
{
    char nurse[64], colleague[64], code_n[STORE_CODE_MAX], code_c[STORE_CODE_MAX];
    _cleanup_free_ char(*ids)[UUID_STR_MAX] = calloc(o->people, UUID_STR_MAX);
    _cleanup_free_ struct sync_result *res = calloc((size_t)o->runs, sizeof(*res));
    _cleanup_free_ struct sync_result *colres = calloc((size_t)o->runs, sizeof(*colres));
    _cleanup_free_ double *local = calloc((size_t)o->runs, sizeof(double));
    _cleanup_free_ char *home_n = new_home("day-nurse"), *home_c = new_home("day-colleague");
    _cleanup_free_ struct target *tn = NULL, *tc = NULL;
    struct gen_person_opts po = {.visits = o->visits, .observations = true, .author = "nurse"};
    struct sync_result first_n, first_c;
    struct bench_daemon d;
    struct caresync *cn, *cc;
    struct store *s;
    struct gen g;
    size_t n_tn, n_tc;
    long fields;
    double t0;

    gen_init(&g, 2);
    s = open_store(o->data);
    unique_name(nurse, sizeof(nurse), "day-nurse");
    unique_name(colleague, sizeof(colleague), "day-colleague");
    make_user(s, nurse, "nurse");
    make_user(s, colleague, "nurse");
    t0 = bench_now_s();
    fields = make_people(s, &g, o->people, &po, ids);
    for (unsigned i = 0; i < o->people; i++) {
        assign(s, ids[i], nurse);
        assign(s, ids[i], colleague);
    }
    new_code(s, nurse, code_n);
    new_code(s, colleague, code_c);
    store_free(s);
    bench_log("day: %u people (%ld fields) on the caseload of %s and %s (%.1f s)", o->people,
              fields, nurse, colleague, bench_now_s() - t0);

    start_daemon(o, &d);
    cn = device_enrol(home_n, &d, code_n);
    cc = device_enrol(home_c, &d, code_c);
    cn = timed_sync(cn, home_n, &first_n);
    cc = timed_sync(cc, home_c, &first_c);
    bench_log("day: first syncs %.2f s and %.2f s (%" PRIu64 " field states)", first_n.seconds,
              first_c.seconds, first_n.st.pulled);
    tn = device_targets(cn, ids, o->people, &n_tn);
    tc = device_targets(cc, ids, o->people, &n_tc);

    for (int run = 0; run < o->runs; run++) {
        double t;

        /* The colleague's day reaches the server first... */
        device_day(cc, colleague, &g, ids, o->people, tc, n_tc, o->changes);
        cc = timed_sync(cc, home_c, &colres[run]);
        /* ... then the nurse, who recorded as much offline, syncs at the end of the day. */
        t = bench_now_s();
        device_day(cn, nurse, &g, ids, o->people, tn, n_tn, o->changes);
        local[run] = bench_now_s() - t;
        cn = timed_sync(cn, home_n, &res[run]);
        bench_log("day run %d: %.1f ms, %" PRIu64 " requests, %" PRIu64 " B up / %" PRIu64
                  " B down on the wire; pushed %" PRIu64 ", pulled %" PRIu64
                  " (recording offline took %.0f ms)",
                  run, res[run].seconds * 1e3, res[run].t.requests, res[run].t.tcp_up,
                  res[run].t.tcp_down, res[run].st.pushed, res[run].st.pulled, local[run] * 1e3);
    }
    caresync_close(cn);
    caresync_close(cc);
    bench_daemon_stop(&d);
    {
        _cleanup_json_ cJSON *out = cJSON_CreateObject();
        cJSON *fs = cJSON_CreateObject();

        cJSON_AddNumberToObject(out, "people", o->people);
        cJSON_AddNumberToObject(out, "caseload_fields", (double)fields);
        cJSON_AddNumberToObject(out, "changes_each_way", o->changes);
        cJSON_AddItemToObject(out, "sync", runs_json(res, (size_t)o->runs));
        cJSON_AddItemToObject(out, "colleague_sync", runs_json(colres, (size_t)o->runs));
        cJSON_AddItemToObject(out, "record_offline_seconds",
                              bench_json_stats(local, (size_t)o->runs));
        cJSON_AddNumberToObject(fs, "seconds", first_n.seconds);
        cJSON_AddNumberToObject(fs, "pulled", (double)first_n.st.pulled);
        cJSON_AddItemToObject(fs, "traffic", traffic_json(&first_n.t));
        cJSON_AddItemToObject(out, "first_sync_45", fs);
        store_size(out, o);
        bench_json_write(out, o->json);
    }
    return 0;
}

/* ---- item 3: first sync of a large caseload ---- */

/* Samples the process's anonymous resident memory (heap, SQLite page cache, buffers: what the
 * sync itself allocates, without the shared libraries' pages) every 2 ms. */
static volatile bool sampling;
static long anon_peak_kib;

static void *anon_sampler(void *arg)
{
    (void)arg;
    while (sampling) {
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");

        if (f) {
            while (fgets(line, sizeof(line), f))
                if (strncmp(line, "RssAnon:", 8) == 0) {
                    long v = strtol(line + 8, NULL, 10);

                    if (v > anon_peak_kib)
                        anon_peak_kib = v;
                    break;
                }
            fclose(f);
        }
        usleep(2000);
    }
    return NULL;
}

/* The child of the in-library run: enrol a new device and time its first sync; one JSON line
 * on stdout. */
static int cmd_client_sync(const char *url, const char *ca, const char *code, const char *home)
{
    struct bench_daemon d = {0};
    struct sync_result r;
    struct caresync *c;
    pthread_t th;
    double cpu0;
    long rss0;

    snprintf(d.url, sizeof(d.url), "%s", url);
    snprintf(d.ca, sizeof(d.ca), "%s", ca);
    c = device_enrol(home, &d, code);
    rss0 = bench_hwm_kib(0);
    sampling = true;
    if (pthread_create(&th, NULL, anon_sampler, NULL) != 0)
        bench_die("pthread_create");
    cpu0 = bench_cpu_s(0);
    c = timed_sync(c, home, &r);
    cpu0 = bench_cpu_s(0) - cpu0;
    sampling = false;
    pthread_join(th, NULL);
    caresync_close(c);
    printf("{\"seconds\": %.6f, \"pulled\": %" PRIu64 ", \"requests\": %" PRIu64
           ", \"connections\": %" PRIu64 ", \"http_bytes_up\": %" PRIu64
           ", \"http_bytes_down\": %" PRIu64 ", \"wire_bytes_up\": %" PRIu64
           ", \"wire_bytes_down\": %" PRIu64 ", \"hwm_kib_before_sync\": %ld,"
           " \"hwm_kib\": %ld, \"anon_peak_kib\": %ld, \"client_cpu_s\": %.3f}\n",
           r.seconds, r.st.pulled, r.t.requests, r.t.connects, r.t.http_up, r.t.http_down,
           r.t.tcp_up, r.t.tcp_down, rss0, bench_hwm_kib(0), anon_peak_kib, cpu0);
    return 0;
}

/* Run the child; its JSON line, with its peak RSS from wait4(). */
static cJSON *child_sync(const struct bench_daemon *d, const char *code, const char *home)
{
    char buf[4096];
    struct rusage ru;
    int pfd[2], status;
    ssize_t n, len = 0;
    cJSON *o;
    pid_t pid;

    if (pipe(pfd) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        char *argv[8], self[4096];
        ssize_t len_self = readlink("/proc/self/exe", self, sizeof(self) - 1);
        int k = 0;

        if (len_self <= 0)
            _exit(127);
        self[len_self] = '\0';
        argv[k++] = self;
        argv[k++] = (char *)"client-sync";
        argv[k++] = (char *)d->url;
        argv[k++] = (char *)d->ca;
        argv[k++] = (char *)code;
        argv[k++] = (char *)home;
        argv[k] = NULL;
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
        len += n;
    close(pfd[0]);
    buf[len] = '\0';
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("the client process failed");
    o = cJSON_Parse(buf);
    if (!o)
        bench_die("the client process said: %s", buf);
    cJSON_AddNumberToObject(o, "maxrss_kib", (double)ru.ru_maxrss);
    return o;
}

#ifdef BENCH_HAVE_ZLIB
struct reply {
    char *data;
    size_t len, cap;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct reply *b = ud;
    size_t n = size * nmemb;

    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data)
            return 0;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* What compressing the first sync's responses would save: pull the same pages raw with a new
 * device, and deflate each body (gzip adds 18 bytes of framing per response). */
static cJSON *gzip_estimate(const struct bench_daemon *d, const char *token)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char authz[128], url[128], cursor[256] = "";
    uint64_t raw = 0, z1 = 0, z6 = 0, pages = 0;
    double t1 = 0, t6 = 0, inflate_s = 0;
    bool more = true;
    cJSON *o;

    snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
    snprintf(url, sizeof(url), "%s/v1/sync", d->url);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, authz);
    hdrs = curl_slist_append(hdrs, "Expect:");
    while (more) {
        struct reply b = {0};
        char body[512];
        cJSON *resp, *c, *m;
        long status = 0;

        snprintf(body, sizeof(body), "{\"cursor\": \"%s\", \"changes\": []}", cursor);
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, d->ca);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        if (curl_easy_perform(h) != CURLE_OK)
            bench_die("raw pull failed");
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !b.data)
            bench_die("raw pull: HTTP %ld", status);
        pages++;
        raw += b.len;
        for (int level = 1; level <= 6; level += 5) {
            uLongf zl = compressBound(b.len);
            _cleanup_free_ Bytef *z = malloc(zl);
            double t = bench_now_s();

            if (!z || compress2(z, &zl, (const Bytef *)b.data, b.len, level) != Z_OK)
                bench_die("compress2 failed");
            if (level == 1) {
                t1 += bench_now_s() - t;
                z1 += zl + 18;
            } else {
                uLongf ol = b.len;
                _cleanup_free_ Bytef *out = malloc(b.len);

                t6 += bench_now_s() - t;
                z6 += zl + 18;
                t = bench_now_s();
                if (!out || uncompress(out, &ol, z, zl) != Z_OK)
                    bench_die("uncompress failed");
                inflate_s += bench_now_s() - t;
            }
        }
        resp = cJSON_Parse(b.data);
        free(b.data);
        c = cJSON_GetObjectItemCaseSensitive(resp, "cursor");
        m = cJSON_GetObjectItemCaseSensitive(resp, "more");
        if (!cJSON_IsString(c))
            bench_die("raw pull: no cursor");
        snprintf(cursor, sizeof(cursor), "%s", c->valuestring);
        more = cJSON_IsTrue(m);
        cJSON_Delete(resp);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "responses", (double)pages);
    cJSON_AddNumberToObject(o, "body_bytes", (double)raw);
    cJSON_AddNumberToObject(o, "gzip1_bytes", (double)z1);
    cJSON_AddNumberToObject(o, "gzip6_bytes", (double)z6);
    cJSON_AddNumberToObject(o, "gzip1_seconds", t1);
    cJSON_AddNumberToObject(o, "gzip6_seconds", t6);
    cJSON_AddNumberToObject(o, "gunzip_seconds", inflate_s);
    bench_log("first: %" PRIu64 " responses, %" PRIu64 " B of JSON; deflate level 1: %" PRIu64
              " B (%.1fx, %.0f ms), level 6: %" PRIu64 " B (%.1fx, %.0f ms); inflate %.0f ms",
              pages, raw, z1, (double)raw / (double)z1, t1 * 1e3, z6, (double)raw / (double)z6,
              t6 * 1e3, inflate_s * 1e3);
    return o;
}
#endif

/* The real caresync CLI as the device: `caresync --home @home @args...` run to its end. With
 * @profiled, BENCH_CLIENT_PREFIX goes in front (a profiler). Its stdout goes into @out. */
static void cli_run(const struct opts *o, const char *home, const char *const *args, bool profiled,
                    char *out, size_t out_size, struct bench_child *ret)
{
    const char *prefix = profiled ? getenv("BENCH_CLIENT_PREFIX") : NULL;
    _cleanup_free_ char *words = prefix ? strdup(prefix) : NULL;
    const char *verb = args[0];
    char *argv[48], *save = NULL;
    int k = 0;

    for (char *w = words ? strtok_r(words, " ", &save) : NULL; w && k < 24;
         w = strtok_r(NULL, " ", &save))
        argv[k++] = w;
    argv[k++] = (char *)o->caresync;
    if (home) {
        argv[k++] = (char *)"--home";
        argv[k++] = (char *)home;
    }
    for (; *args && k < 47; args++)
        argv[k++] = (char *)*args;
    argv[k] = NULL;
    bench_watch(argv, out, out_size, ret);
    if (ret->status != 0)
        bench_die("'caresync %s' failed with exit code %d", verb, ret->status);
}

/* One first sync by the CLI, with the bare binary's memory for comparison. */
static cJSON *cli_first_sync(const struct opts *o, const struct bench_daemon *d, const char *code,
                             const char *home)
{
    const char *enrol[] = {"enrol", "--server", d->url, "--ca", d->ca, "--code", code,
                           "--name", "bench", NULL};
    const char *help[] = {"--help", NULL}, *status[] = {"status", NULL};
    const char *sync[] = {"sync", "--json", NULL};
    struct bench_child help_c, status_c, sync_c, enrol_c;
    _cleanup_json_ cJSON *stats = NULL;
    char out[4096];
    const cJSON *pulled;
    double cpu0;
    cJSON *x;

    cli_run(o, NULL, help, false, NULL, 0, &help_c);
    cli_run(o, home, enrol, false, NULL, 0, &enrol_c);
    cli_run(o, home, status, false, NULL, 0, &status_c);
    cpu0 = bench_cpu_s(d->pid);
    cli_run(o, home, sync, true, out, sizeof(out), &sync_c);
    x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "daemon_cpu_s", bench_cpu_s(d->pid) - cpu0);
    stats = cJSON_Parse(out);
    pulled = cJSON_GetObjectItemCaseSensitive(stats, "pulled");
    if (!cJSON_IsNumber(pulled))
        bench_die("'caresync sync --json' said: %s", out);
    cJSON_AddNumberToObject(x, "seconds", sync_c.seconds);
    cJSON_AddNumberToObject(x, "pulled", pulled->valuedouble);
    cJSON_AddNumberToObject(x, "client_cpu_s", sync_c.cpu_s);
    cJSON_AddNumberToObject(x, "maxrss_kib", (double)sync_c.maxrss_kib);
    cJSON_AddNumberToObject(x, "anon_peak_kib", (double)sync_c.anon_peak_kib);
    cJSON_AddNumberToObject(x, "file_peak_kib", (double)sync_c.file_peak_kib);
    cJSON_AddNumberToObject(x, "rss_peak_kib", (double)sync_c.rss_peak_kib);
    cJSON_AddNumberToObject(x, "help_maxrss_kib", (double)help_c.maxrss_kib);
    cJSON_AddNumberToObject(x, "status_maxrss_kib", (double)status_c.maxrss_kib);
    cJSON_AddNumberToObject(x, "status_anon_peak_kib", (double)status_c.anon_peak_kib);
    /* For report.py: what the process held before syncing is what the bare binary holds. */
    cJSON_AddNumberToObject(x, "hwm_kib_before_sync", (double)status_c.maxrss_kib);
    return x;
}

static double run_number(const cJSON *run, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The median of @key over the objects of @runs. */
static cJSON *runs_stats(const cJSON *runs, const char *key)
{
    size_t n = (size_t)cJSON_GetArraySize(runs), i = 0;
    _cleanup_free_ double *v = calloc(n ? n : 1, sizeof(double));
    const cJSON *r;

    if (!v)
        bench_die("out of memory");
    cJSON_ArrayForEach (r, runs)
        v[i++] = run_number(r, key);
    return bench_json_stats(v, n);
}

static int cmd_first(const struct opts *o)
{
    _cleanup_free_ char(*ids)[UUID_STR_MAX] = calloc(o->people, UUID_STR_MAX);
    _cleanup_free_ char(*codes)[STORE_CODE_MAX] = calloc((size_t)o->runs + 1, STORE_CODE_MAX);
    struct gen_person_opts po = {.visits = o->visits, .observations = true, .author = "nurse"};
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    cJSON *runs = cJSON_AddArrayToObject(out, "runs"), *lib, *x;
    char worker[64], token[STORE_TOKEN_MAX], code_raw[STORE_CODE_MAX];
    struct store_enrolment e;
    struct bench_daemon d;
    struct store *s;
    struct gen g;
    long fields;
    double t0;
    int r;

    gen_init(&g, 3);
    s = open_store(o->data);
    unique_name(worker, sizeof(worker), "first-nurse");
    make_user(s, worker, "nurse");
    t0 = bench_now_s();
    fields = make_people(s, &g, o->people, &po, ids);
    for (unsigned i = 0; i < o->people; i++)
        assign(s, ids[i], worker);
    for (int i = 0; i <= o->runs; i++)
        new_code(s, worker, codes[i]);
    new_code(s, worker, code_raw);
    r = store_enrol(s, code_raw, "bench-raw", "bench", &e);
    if (r < 0)
        bench_die("store_enrol: %s", strerror(-r));
    memcpy(token, e.token, sizeof(token));
    store_free(s);
    bench_log("first: %u people, %ld fields, on %s's caseload (%.1f s to generate)", o->people,
              fields, worker, bench_now_s() - t0);

    start_daemon(o, &d);
    for (int i = 0; i < o->runs; i++) {
        _cleanup_free_ char *home = new_home("first");

        x = cli_first_sync(o, &d, codes[i], home);
        bench_log("first run %d (caresync CLI): %.2f s, client CPU %.2f s, daemon CPU %.2f s,"
                  " %.0f field states; client ru_maxrss %.1f MiB, RssAnon peak %.1f MiB, RssFile"
                  " peak %.1f MiB; the bare binary: --help %.1f MiB, status %.1f MiB",
                  i, run_number(x, "seconds"), run_number(x, "client_cpu_s"),
                  run_number(x, "daemon_cpu_s"), run_number(x, "pulled"),
                  run_number(x, "maxrss_kib") / 1024.0, run_number(x, "anon_peak_kib") / 1024.0,
                  run_number(x, "file_peak_kib") / 1024.0,
                  run_number(x, "help_maxrss_kib") / 1024.0,
                  run_number(x, "status_maxrss_kib") / 1024.0);
        cJSON_AddItemToArray(runs, x);
        bench_rm_rf(home);
    }
    /* Once more through the library in this program: the only way to count requests and bytes
     * (bench_wrap.c), and what an app embedding libcaresync holds. */
    {
        _cleanup_free_ char *home = new_home("first-lib");
        double cpu0 = bench_cpu_s(d.pid);

        lib = child_sync(&d, codes[o->runs], home);
        cJSON_AddNumberToObject(lib, "daemon_cpu_s", bench_cpu_s(d.pid) - cpu0);
        bench_log("first, in-library: %.2f s (client CPU %.2f s, daemon CPU %.2f s), %.0f"
                  " requests, %.1f MiB down on the wire, peak RSS %.1f MiB (%.1f MiB before the"
                  " sync), RssAnon peak %.1f MiB",
                  run_number(lib, "seconds"), run_number(lib, "client_cpu_s"),
                  run_number(lib, "daemon_cpu_s"), run_number(lib, "requests"),
                  run_number(lib, "wire_bytes_down") / 1048576.0,
                  run_number(lib, "maxrss_kib") / 1024.0,
                  run_number(lib, "hwm_kib_before_sync") / 1024.0,
                  run_number(lib, "anon_peak_kib") / 1024.0);
        cJSON_ArrayForEach (x, runs) {
            cJSON_AddNumberToObject(x, "requests", run_number(lib, "requests"));
            cJSON_AddNumberToObject(x, "wire_bytes_down", run_number(lib, "wire_bytes_down"));
        }
        cJSON_AddItemToObject(out, "library", lib);
        bench_rm_rf(home);
    }
#ifdef BENCH_HAVE_ZLIB
    cJSON_AddItemToObject(out, "gzip", gzip_estimate(&d, token));
#else
    (void)token;
#endif
    bench_daemon_stop(&d);
    cJSON_AddNumberToObject(out, "people", o->people);
    cJSON_AddNumberToObject(out, "fields", (double)fields);
    cJSON_AddItemToObject(out, "seconds", runs_stats(runs, "seconds"));
    cJSON_AddItemToObject(out, "client_cpu_s", runs_stats(runs, "client_cpu_s"));
    cJSON_AddItemToObject(out, "maxrss_kib", runs_stats(runs, "maxrss_kib"));
    cJSON_AddItemToObject(out, "anon_peak_kib", runs_stats(runs, "anon_peak_kib"));
    cJSON_AddItemToObject(out, "help_maxrss_kib", runs_stats(runs, "help_maxrss_kib"));
    cJSON_AddItemToObject(out, "status_maxrss_kib", runs_stats(runs, "status_maxrss_kib"));
    store_size(out, o);
    bench_json_write(out, o->json);
    return 0;
}

/* ---- item 5: bulk push ---- */

static int cmd_bulk(const struct opts *o)
{
    _cleanup_free_ struct sync_result *res = calloc((size_t)o->runs, sizeof(*res));
    _cleanup_free_ double *local = calloc((size_t)o->runs, sizeof(double));
    _cleanup_free_ double *rate = calloc((size_t)o->runs, sizeof(double));
    _cleanup_free_ char(*ids)[UUID_STR_MAX] = calloc((size_t)o->runs, UUID_STR_MAX);
    _cleanup_free_ char(*codes)[STORE_CODE_MAX] = calloc((size_t)o->runs, STORE_CODE_MAX);
    struct gen_person_opts po = {.visits = 0, .author = "nurse"};
    char worker[64];
    struct bench_daemon d;
    struct store *s;
    struct gen g;
    unsigned fields_per_record = 5;

    gen_init(&g, 5);
    s = open_store(o->data);
    unique_name(worker, sizeof(worker), "bulk-nurse");
    make_user(s, worker, "nurse");
    /* One person per run, so every run starts from the same state. */
    make_people(s, &g, (unsigned)o->runs, &po, ids);
    for (int i = 0; i < o->runs; i++) {
        assign(s, ids[i], worker);
        new_code(s, worker, codes[i]);
    }
    store_free(s);
    start_daemon(o, &d);
    for (int run = 0; run < o->runs; run++) {
        _cleanup_free_ char *home = new_home("bulk");
        struct caresync *c = device_enrol(home, &d, codes[run]);
        struct caresync_sync_stats st;
        double t;

        if (caresync_sync(c, &st) != CARESYNC_OK)
            bench_die("caresync_sync: %s", caresync_errmsg(c));
        /* The records: small notes of about 100 bytes of text, 5 fields. */
        t = bench_now_s();
        for (unsigned i = 0; i < o->records; i++) {
            static const char *const fields[] = {"text", "category", "author", "occurred_at",
                                                 "status"};
            char text[128], when[32];
            const char *values[] = {text, "phone", worker, when, "final"};
            char id[CARESYNC_ID_MAX];
            uint64_t ms = g.now_ms - (uint64_t)i * 60000;
            time_t tt = (time_t)(ms / 1000);
            struct tm tm;

            gmtime_r(&tt, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:00Z", &tm);
            gen_text(&g, text, 100);
            if (caresync_add(c, "note", ids[run], fields, values, fields_per_record, id) !=
                CARESYNC_OK)
                bench_die("caresync_add: %s", caresync_errmsg(c));
        }
        local[run] = bench_now_s() - t;
        c = timed_sync(c, home, &res[run]);
        rate[run] = (double)o->records / res[run].seconds;
        bench_log("bulk run %d: %u records (%" PRIu64 " changes) in %.2f s: %.0f records/s,"
                  " %.0f changes/s; %" PRIu64 " requests, %.1f MiB up, %.1f MiB down on the wire"
                  " (recording offline took %.1f s)",
                  run, o->records, res[run].st.pushed, res[run].seconds, rate[run],
                  (double)res[run].st.pushed / res[run].seconds, res[run].t.requests,
                  (double)res[run].t.tcp_up / 1048576.0, (double)res[run].t.tcp_down / 1048576.0,
                  local[run]);
        caresync_close(c);
        bench_rm_rf(home);
    }
    bench_daemon_stop(&d);
    {
        _cleanup_json_ cJSON *out = cJSON_CreateObject();

        cJSON_AddNumberToObject(out, "records", o->records);
        cJSON_AddNumberToObject(out, "fields_per_record", fields_per_record);
        cJSON_AddItemToObject(out, "sync", runs_json(res, (size_t)o->runs));
        cJSON_AddItemToObject(out, "records_per_s", bench_json_stats(rate, (size_t)o->runs));
        cJSON_AddItemToObject(out, "record_offline_seconds",
                              bench_json_stats(local, (size_t)o->runs));
        store_size(out, o);
        bench_json_write(out, o->json);
    }
    return 0;
}

static _noreturn_ void usage(void)
{
    fprintf(stderr, "usage: bench-e2e day|first|bulk --data DIR [--runs N] [--json FILE]"
                    " [--people N] [--visits N] [--changes N] [--records N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
            {"data", required_argument, NULL, 'd'},    {"json", required_argument, NULL, 'j'},
            {"runs", required_argument, NULL, 'r'},    {"people", required_argument, NULL, 'p'},
            {"records", required_argument, NULL, 'n'}, {"visits", required_argument, NULL, 'v'},
            {"changes", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    struct opts o = {.runs = 5, .people = 0, .records = 10000, .visits = 35, .changes = 300};
    struct sigaction sa = {.sa_handler = SIG_IGN};
    int c, r;

    if (argc < 2)
        usage();
    sigaction(SIGPIPE, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (streq(argv[1], "client-sync")) {
        if (argc != 6)
            usage();
        return cmd_client_sync(argv[2], argv[3], argv[4], argv[5]);
    }
    while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.data = optarg; break;
        case 'j': o.json = optarg; break;
        case 'r': o.runs = atoi(optarg); break;
        case 'p': o.people = (unsigned)atoi(optarg); break;
        case 'n': o.records = (unsigned)atoi(optarg); break;
        case 'v': o.visits = (unsigned)atoi(optarg); break;
        case 'c': o.changes = (unsigned)atoi(optarg); break;
        default: usage();
        }
    }
    if (!o.data || o.runs < 1)
        usage();
    o.caresyncd = bench_path("CARESYNCD", BENCH_CARESYNCD);
    o.caresync = bench_path("CARESYNC", BENCH_CARESYNC);
    tmp_root = bench_mkdtemp("e2e");
    if (streq(argv[1], "day")) {
        if (!o.people)
            o.people = 45;
        r = cmd_day(&o);
    } else if (streq(argv[1], "first")) {
        if (!o.people)
            o.people = 200;
        r = cmd_first(&o);
    } else if (streq(argv[1], "bulk")) {
        r = cmd_bulk(&o);
    } else {
        usage();
    }
    bench_rm_rf(tmp_root);
    free(tmp_root);
    curl_global_cleanup();
    return r;
}
