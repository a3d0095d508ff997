/* SPDX-License-Identifier: MIT */
/* bench_load.c - item 4: many devices at once. 500 simulated devices (teams of 5 workers sharing
 * a caseload) sync concurrently against one real caresyncd over HTTPS on loopback, from one
 * process driving a libcurl multi handle: every device opens its own TLS connection (full
 * handshake, no session resumption), pushes a small day's work (a visit, a note and a few edits
 * made on the versions it last pulled) and pulls what its team-mates did. Reports syncs per
 * second, p50/p99 latency from "all start" to each device's last byte, errors, the daemon's
 * memory, and its fsyncs per sync (counted by the LD_PRELOAD module fsync_count.c, so any build of
 * caresyncd, older ones included, is measured the same way; with the commits and groups the
 * daemon itself logs at exit when it has a writer thread).
 *
 *   bench-load --data DIR [--devices 500] [--rounds 3] [--team 5] [--people 6] [--timeout 600]
 *              [--json FILE]
 *
 * --timeout is how long one request may take before the device gives up and it counts as an
 * error. It was 120 s: a round of 2,000 devices all at once on a small, shared machine takes
 * longer than that for the last of them, so the bench counted its own patience as the daemon's
 * errors (in every build alike). A device's sync that is answered late is answered.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "gen.h"
#include "hlc.h"
#include "store.h"

#ifndef BENCH_FSYNC_COUNT
#define BENCH_FSYNC_COUNT ""
#endif

#ifndef BENCH_CARESYNCD
#define BENCH_CARESYNCD "caresyncd"
#endif

#define TARGETS_MAX 32

/* A field a device edits, and the version of it the device holds. */
struct target {
    const char *table, *field;
    char row[UUID_STR_MAX], person[UUID_STR_MAX];
    uint64_t hlc;
    char device[UUID_STR_MAX];
};

struct device {
    char id[UUID_STR_MAX];
    char user[64];
    char token[STORE_TOKEN_MAX];
    char cursor[256]; /* opaque: SEQ:EPOCH:AUDIT_ID:HASH (PROTOCOL.md) */
    char (*people)[UUID_STR_MAX]; /* the team's people (shared) */
    unsigned n_people;
    struct target t[TARGETS_MAX];
    unsigned n_t;
    uint64_t hlc;
    /* the sync in flight */
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    char *reply;
    size_t reply_len, reply_cap;
    double started, finished;
    unsigned requests;
    bool failed, done;
    unsigned pulled, echoed; /* field states received; of which this device's own writes */
    struct gen g;
};

struct team_ctx {
    struct gen_batch *b;
    struct target t[TARGETS_MAX];
    unsigned n_t;
};

/* Remember each person's phone and each goal's achievement status as edit targets. */
static int team_row(void *userdata, struct gen_row *row)
{
    struct team_ctx *c = userdata;
    const char *field = streq(row->table, "person") ? "phone"
                        : streq(row->table, "goal") ? "achievement_status"
                                                    : NULL;

    if (field && c->n_t < TARGETS_MAX) {
        struct target *t = &c->t[c->n_t++];

        t->table = streq(row->table, "person") ? "person" : "goal";
        t->field = field;
        memcpy(t->row, row->id, UUID_STR_MAX);
        memcpy(t->person, row->person_id, UUID_STR_MAX);
    }
    return gen_batch_add_row(c->b, row);
}

static void push_store(struct store *s, const struct store_principal *p, struct gen_batch *b)
{
    _cleanup_json_ cJSON *resp = NULL;
    struct store_error err = {0};

    if (store_sync(s, p, b->v, b->n, "", false, 0, "bench", &resp, &err) < 0)
        bench_die("store_sync: %d %s: %s", proto_error_status(err.code), err.code ? err.code : "?", err.message);
    gen_batch_clear(b);
}

static void setup(const char *data, struct device *dev, unsigned n_dev, unsigned team,
                  unsigned people)
{
    char code[STORE_CODE_MAX], name[64];
    struct store_principal gp;
    struct store_enrolment e;
    struct gen_batch b = {0};
    struct store *s;
    struct gen g;
    double t0 = bench_now_s();

    s = bench_store_open(data, false);
    gen_init(&g, 4);
    snprintf(name, sizeof(name), "load-gen-%d", (int)getpid());
    if (store_user_add(s, name, "nurse") < 0 || store_enrol_code_new(s, name, 3600, code) < 0 ||
        store_enrol(s, code, "gen", "bench", &e) < 0 || store_authenticate(s, e.token, &gp) < 0)
        bench_die("setting up the generator");
    for (unsigned first = 0; first < n_dev; first += team) {
        struct team_ctx tc = {.b = &b};
        char(*ids)[UUID_STR_MAX] = calloc(people, UUID_STR_MAX);

        for (unsigned i = 0; i < people; i++) {
            struct gen_person_opts o = {.visits = 0, .author = gp.user};

            if (gen_person(&g, ids[i], &o, team_row, &tc) < 0)
                bench_die("generating people");
        }
        if (b.n > 10000)
            push_store(s, &gp, &b);
        for (unsigned k = first; k < first + team && k < n_dev; k++) {
            struct device *d = &dev[k];
            const char *which;

            snprintf(name, sizeof(name), "load-%d-%u", (int)getpid(), k);
            snprintf(d->user, sizeof(d->user), "%s", name);
            if (store_user_add(s, name, "nurse") < 0)
                bench_die("store_user_add %s", name);
            d->people = ids;
            d->n_people = people;
            memcpy(d->t, tc.t, sizeof(tc.t));
            d->n_t = tc.n_t;
            gen_init(&d->g, 1000 + k);
            /* Assignments need the people in the store. */
            if (b.n)
                push_store(s, &gp, &b);
            for (unsigned i = 0; i < people; i++)
                if (store_assign(s, ids[i], name, &which) < 0)
                    bench_die("store_assign");
            if (store_enrol_code_new(s, name, 3600, code) < 0 ||
                store_enrol(s, code, "load", "bench", &e) < 0)
                bench_die("enrolling %s", name);
            memcpy(d->id, e.device_id, UUID_STR_MAX);
            memcpy(d->token, e.token, STORE_TOKEN_MAX);
        }
    }
    if (b.n)
        push_store(s, &gp, &b);
    gen_batch_done(&b);
    store_free(s);
    bench_log("load: %u devices in teams of %u sharing %u people each (%.1f s to set up)", n_dev,
              team, people, bench_now_s() - t0);
}

/* ---- one sync of one device ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct device *d = ud;
    size_t n = size * nmemb;

    if (d->reply_len + n + 1 > d->reply_cap) {
        size_t cap = (d->reply_len + n + 1) * 2;
        char *x = realloc(d->reply, cap);

        if (!x)
            return 0;
        d->reply = x;
        d->reply_cap = cap;
    }
    memcpy(d->reply + d->reply_len, p, n);
    d->reply_len += n;
    d->reply[d->reply_len] = '\0';
    return n;
}

static int add_change(cJSON *arr, struct device *d, const char *table, const char *row,
                      const char *person, const char *field, const char *value,
                      const struct target *base)
{
    cJSON *o = cJSON_CreateObject();
    char cid[UUID_STR_MAX], hb[HLC_STR_MAX];

    gen_uuid(cid);
    d->hlc = hlc_tick(&d->hlc, hlc_wall_ms());
    cJSON_AddStringToObject(o, "change_id", cid);
    cJSON_AddStringToObject(o, "table", table);
    cJSON_AddStringToObject(o, "row_id", row);
    cJSON_AddStringToObject(o, "person_id", person);
    cJSON_AddStringToObject(o, "field", field);
    cJSON_AddStringToObject(o, "value", value);
    cJSON_AddStringToObject(o, "hlc", hlc_format(d->hlc, hb));
    if (base && base->hlc) {
        cJSON_AddStringToObject(o, "base_hlc", hlc_format(base->hlc, hb));
        cJSON_AddStringToObject(o, "base_device", base->device);
    } else {
        cJSON_AddNullToObject(o, "base_hlc");
        cJSON_AddNullToObject(o, "base_device");
    }
    cJSON_AddItemToArray(arr, o);
    return 0;
}

struct json_rows {
    cJSON *arr;
    struct device *d;
};

static int json_row(void *userdata, struct gen_row *row)
{
    struct json_rows *j = userdata;

    for (size_t i = 0; i < row->n; i++)
        add_change(j->arr, j->d, row->table, row->id, row->person_id, row->fields[i],
                   row->values[i], NULL);
    return 0;
}

/* The request of a device's next sync: its small day's work when @work, else a plain pull. */
static char *build_request(struct device *d, bool work, unsigned edits)
{
    cJSON *req = cJSON_CreateObject(), *arr;
    char *text;

    cJSON_AddStringToObject(req, "cursor", d->cursor);
    arr = cJSON_AddArrayToObject(req, "changes");
    if (work) {
        struct json_rows j = {arr, d};
        char buf[256];

        gen_visit_with_note(&d->g, d->people[gen_rand(&d->g) % d->n_people], d->user, json_row,
                            &j);
        for (unsigned i = 0; i < edits && d->n_t; i++) {
            struct target *t = &d->t[gen_rand(&d->g) % d->n_t];

            add_change(arr, d, t->table, t->row, t->person, t->field,
                       gen_edit_value(&d->g, t->table, t->field, buf, sizeof(buf)), t);
        }
    }
    cJSON_AddBoolToObject(req, "pull", true);
    cJSON_AddStringToObject(req, "client_version", "bench-load");
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return text;
}

/* How long one request may take before the device gives up (--timeout). */
static long request_timeout_s = 600;

static void start_request(CURLM *m, struct device *d, const char *url, const char *ca)
{
    char authz[STORE_TOKEN_MAX + 32];

    if (!d->h)
        d->h = curl_easy_init();
    curl_easy_reset(d->h);
    curl_slist_free_all(d->hdrs);
    snprintf(authz, sizeof(authz), "Authorization: Bearer %s", d->token);
    d->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    d->hdrs = curl_slist_append(d->hdrs, "Expect:");
    d->hdrs = curl_slist_append(d->hdrs, authz);
    d->reply_len = 0;
    curl_easy_setopt(d->h, CURLOPT_URL, url);
    curl_easy_setopt(d->h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, d->hdrs);
    curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
    curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->h, CURLOPT_TIMEOUT, request_timeout_s);
    /* Every device is its own phone: a new connection and a full TLS handshake. */
    curl_easy_setopt(d->h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(d->h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(d->h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_multi_add_handle(m, d->h);
    d->requests++;
}

static void note_version(struct device *d, const char *table, const char *row, const char *field,
                         const char *hlc, const char *device)
{
    for (unsigned i = 0; i < d->n_t; i++) {
        struct target *t = &d->t[i];
        uint64_t h;

        if (!streq(t->row, row) || !streq(t->field, field) || !streq(t->table, table))
            continue;
        if (hlc_parse(hlc, &h) == 0 && h >= t->hlc) {
            t->hlc = h;
            snprintf(t->device, sizeof(t->device), "%s", device);
        }
        return;
    }
}

/* Apply a reply: the cursor, the versions of our edit targets. Returns 1 for "more", 0, -1. */
static int handle_reply(struct device *d, const char *sent)
{
    _cleanup_json_ cJSON *resp = cJSON_Parse(d->reply ? d->reply : "");
    _cleanup_json_ cJSON *req = cJSON_Parse(sent);
    const cJSON *c, *x, *outs, *chs, *sh;
    size_t i = 0;

    if (!resp)
        return -1;
    c = cJSON_GetObjectItemCaseSensitive(resp, "cursor");
    if (!cJSON_IsString(c))
        return -1;
    snprintf(d->cursor, sizeof(d->cursor), "%s", c->valuestring);
    /* Our own edits: the outcome's clock is the version now held. */
    outs = cJSON_GetObjectItemCaseSensitive(resp, "outcomes");
    chs = cJSON_GetObjectItemCaseSensitive(req, "changes");
    cJSON_ArrayForEach (x, outs) {
        const cJSON *sentc = cJSON_GetArrayItem(chs, (int)i++);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(x, "hlc");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(x, "outcome");

        if (!sentc || !cJSON_IsString(h) || !cJSON_IsString(out))
            return -1;
        if (streq(out->valuestring, "applied"))
            note_version(d, cJSON_GetObjectItemCaseSensitive(sentc, "table")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(sentc, "row_id")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(sentc, "field")->valuestring,
                         h->valuestring, d->id);
    }
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(resp, "changes")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, "table");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "row_id");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(x, "field");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(x, "hlc");
        const cJSON *dv = cJSON_GetObjectItemCaseSensitive(x, "device");

        d->pulled++;
        if (cJSON_IsString(dv) && streq(dv->valuestring, d->id))
            d->echoed++;
        if (cJSON_IsString(t) && cJSON_IsString(r) && cJSON_IsString(f) && cJSON_IsString(h) &&
            cJSON_IsString(dv))
            note_version(d, t->valuestring, r->valuestring, f->valuestring, h->valuestring,
                         dv->valuestring);
    }
    sh = cJSON_GetObjectItemCaseSensitive(resp, "server_hlc");
    if (cJSON_IsString(sh)) {
        uint64_t h;

        if (hlc_parse(sh->valuestring, &h) == 0)
            (void)hlc_recv(&d->hlc, h, hlc_wall_ms());
    }
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "more")) ? 1 : 0;
}

/* CPU seconds of the daemon's threads by name (pthread_setname_np in daemon/work.c: the event
 * loop keeps the program's name), and of this process: on a machine where the load generator
 * and the daemon share the cores, the round's length follows the CPU per sync, and CPU seconds
 * are steadier than wall time while other work runs beside. */
struct cpu_split {
    double loop, writer, readers, other, self;
};

static void cpu_split_read(pid_t pid, struct cpu_split *ret)
{
    char path[64];
    DIR *dir;
    struct dirent *e;

    *ret = (struct cpu_split){.self = bench_cpu_s(0)};
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    dir = opendir(path);
    if (!dir)
        return;
    while ((e = readdir(dir))) {
        char p2[128], comm[64] = "";
        FILE *f;
        double s;
        pid_t tid = (pid_t)atoi(e->d_name);

        if (tid <= 0)
            continue;
        snprintf(p2, sizeof(p2), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
        f = fopen(p2, "re");
        if (f) {
            if (!fgets(comm, sizeof(comm), f))
                comm[0] = '\0';
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        /* A thread's own stat has the same layout as the process's. */
        snprintf(p2, sizeof(p2), "%d/task/%d", (int)pid, (int)tid);
        s = bench_cpu_s_path(p2);
        if (s < 0)
            continue;
        if (streq(comm, "store-writer"))
            ret->writer += s;
        else if (streq(comm, "store-reader"))
            ret->readers += s;
        else if (tid == pid)
            ret->loop += s;
        else
            ret->other += s;
    }
    closedir(dir);
}

struct round_result {
    double seconds, syncs_per_s, min_ms, p10_ms, p50_ms, p99_ms, max_ms;
    unsigned errors, requests, pulled, echoed;
    long daemon_rss_kib;
    struct cpu_split cpu; /* over the round, every daemon's threads summed */
    double db_cpu_s;      /* the PostgreSQL server's processes over the round (0: SQLite) */
};

#define LOAD_DAEMONS_MAX 8

/* The daemons a round spreads its requests over (--daemons: several on one PostgreSQL). */
struct daemons {
    struct bench_daemon d[LOAD_DAEMONS_MAX];
    char url[LOAD_DAEMONS_MAX][128];
    unsigned n;
};

/* Each request of a device goes to the next daemon in turn, starting from the device's own: a
 * device reaches a different daemon on every request, as behind a load balancer. */
static const struct bench_daemon *daemon_for(const struct daemons *ds, const struct device *dev,
                                             const struct device *d, const char **ret_url)
{
    unsigned k = (unsigned)((size_t)(d - dev) + d->requests) % ds->n;

    *ret_url = ds->url[k];
    return &ds->d[k];
}

static void cpu_read_all(const struct daemons *ds, struct cpu_split *ret)
{
    *ret = (struct cpu_split){0};
    for (unsigned k = 0; k < ds->n; k++) {
        struct cpu_split c;

        cpu_split_read(ds->d[k].pid, &c);
        ret->loop += c.loop;
        ret->writer += c.writer;
        ret->readers += c.readers;
        ret->other += c.other;
        ret->self = c.self;
    }
}

static void run_round(CURLM *m, struct device *dev, unsigned n, const struct daemons *ds,
                      bool work, unsigned edits, struct round_result *ret)
{
    _cleanup_free_ double *lat = calloc(n, sizeof(double));
    unsigned active = 0, errors = 0, requests = 0;
    long rss_max = 0;
    double t0, last_sample = 0, db0;
    const struct bench_daemon *dm;
    const char *url;

    struct cpu_split c0, c1;

    cpu_read_all(ds, &c0);
    db0 = bench_postgres_cpu_s();
    t0 = bench_now_s();
    for (unsigned i = 0; i < n; i++) {
        struct device *d = &dev[i];

        d->failed = d->done = false;
        d->requests = 0;
        d->pulled = d->echoed = 0;
        d->started = t0;
        free(d->body);
        d->body = build_request(d, work, edits);
        dm = daemon_for(ds, dev, d, &url);
        start_request(m, d, url, dm->ca);
        active++;
    }
    while (active > 0) {
        CURLMsg *msg;
        int running, left;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct device *d;
            long status = 0;
            int more;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, msg->easy_handle);
            requests++;
            more = msg->data.result == CURLE_OK && status == 200 ? handle_reply(d, d->body) : -1;
            if (more < 0) {
                if (errors < 5)
                    bench_log("load: device %s: %s, HTTP %ld: %.200s", d->id,
                              curl_easy_strerror(msg->data.result), status,
                              d->reply_len ? d->reply : "");
                errors++;
                d->failed = true;
            }
            if (more == 1) {
                free(d->body);
                d->body = build_request(d, false, 0);
                dm = daemon_for(ds, dev, d, &url);
                start_request(m, d, url, dm->ca);
                continue;
            }
            d->finished = bench_now_s();
            d->done = true;
            active--;
        }
        if (bench_now_s() - last_sample > 0.05) {
            long rss = bench_rss_kib(ds->d[0].pid);

            if (rss > rss_max)
                rss_max = rss;
            last_sample = bench_now_s();
        }
        if (active > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    ret->seconds = bench_now_s() - t0;
    cpu_read_all(ds, &c1);
    ret->db_cpu_s = bench_postgres_cpu_s() - db0;
    ret->cpu = (struct cpu_split){c1.loop - c0.loop, c1.writer - c0.writer,
                                  c1.readers - c0.readers, c1.other - c0.other,
                                  c1.self - c0.self};
    ret->pulled = ret->echoed = 0;
    for (unsigned i = 0; i < n; i++) {
        lat[i] = (dev[i].finished - dev[i].started) * 1e3;
        ret->pulled += dev[i].pulled;
        ret->echoed += dev[i].echoed;
    }
    ret->syncs_per_s = (double)n / ret->seconds;
    ret->min_ms = bench_percentile(lat, n, 0);
    ret->p10_ms = bench_percentile(lat, n, 10);
    ret->p50_ms = bench_percentile(lat, n, 50);
    ret->p99_ms = bench_percentile(lat, n, 99);
    ret->max_ms = bench_percentile(lat, n, 100);
    ret->errors = errors;
    ret->requests = requests;
    ret->daemon_rss_kib = rss_max;
}

/* What the daemon's log says at its exit: fsync calls (fsync_count.c) and, from a daemon with a
 * writer thread, its write jobs, groups and commits; -1 where absent. */
struct daemon_counts {
    long long fsyncs, jobs, groups, commits;
};

static void read_daemon_counts(const char *log, struct daemon_counts *ret)
{
    FILE *f = fopen(log, "re");
    char line[1024];

    *ret = (struct daemon_counts){-1, -1, -1, -1};
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        const char *p;

        if ((p = strstr(line, "bench-fsync-count: ")))
            ret->fsyncs = atoll(p + strlen("bench-fsync-count: "));
        if ((p = strstr(line, "store work: ")))
            (void)sscanf(p, "store work: %lld write jobs in %lld groups, %lld commits",
                         &ret->jobs, &ret->groups, &ret->commits);
    }
    fclose(f);
}

static cJSON *round_json(const struct round_result *r)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "syncs_per_s", r->syncs_per_s);
    cJSON_AddNumberToObject(o, "min_ms", r->min_ms);
    cJSON_AddNumberToObject(o, "p10_ms", r->p10_ms);
    cJSON_AddNumberToObject(o, "p50_ms", r->p50_ms);
    cJSON_AddNumberToObject(o, "p99_ms", r->p99_ms);
    cJSON_AddNumberToObject(o, "max_ms", r->max_ms);
    cJSON_AddNumberToObject(o, "errors", r->errors);
    cJSON_AddNumberToObject(o, "requests", r->requests);
    cJSON_AddNumberToObject(o, "pulled_field_states", r->pulled);
    cJSON_AddNumberToObject(o, "of_which_own_writes_echoed", r->echoed);
    cJSON_AddNumberToObject(o, "daemon_rss_kib", (double)r->daemon_rss_kib);
    cJSON_AddNumberToObject(o, "daemon_cpu_s", r->cpu.loop + r->cpu.writer + r->cpu.readers +
                                                       r->cpu.other);
    cJSON_AddNumberToObject(o, "daemon_loop_cpu_s", r->cpu.loop);
    cJSON_AddNumberToObject(o, "daemon_writer_cpu_s", r->cpu.writer);
    cJSON_AddNumberToObject(o, "daemon_readers_cpu_s", r->cpu.readers);
    cJSON_AddNumberToObject(o, "bench_load_cpu_s", r->cpu.self);
    cJSON_AddNumberToObject(o, "database_cpu_s", r->db_cpu_s);
    return o;
}

/*
 * Start @n daemons: the first on @data; with several, the others on data directories made
 * beside it (DATA.d1, ...) by 'caresyncd init --store' on the same PostgreSQL database, with the
 * first's CA and server certificate, so that every device trusts every daemon.
 */
static void start_daemons(struct daemons *ds, unsigned n, const char *data)
{
    const char *caresyncd = bench_path("CARESYNCD", BENCH_CARESYNCD);
    char where[1024];

    bench_store_where(data, where, sizeof(where));
    if (n > 1 && !bench_store_is_url(where))
        bench_die("--daemons %u needs a data directory on PostgreSQL (caresyncd init --store)", n);
    ds->n = n;
    for (unsigned k = 0; k < n; k++) {
        char dir[560], log[600];

        snprintf(dir, sizeof(dir), k ? "%s.d%u" : "%s", data, k);
        if (k) {
            char *argv[] = {(char *)caresyncd, (char *)"init", (char *)"--data", dir,
                            (char *)"--store", where, (char *)"--no-dev-ca", NULL};
            static const char *const files[] = {"ca.pem", "server.pem", "server.key"};

            bench_rm_rf(dir);
            snprintf(log, sizeof(log), "%s.init.log", dir);
            if (bench_run(argv, log) != 0)
                bench_die("caresyncd init --store for daemon %u failed (see %s)", k, log);
            for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char from[700], to[700];

                snprintf(from, sizeof(from), "%s/%s", data, files[i]);
                snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
                if (bench_copy_file(from, to) < 0)
                    bench_die("copying %s to %s failed", from, to);
            }
        }
        if (bench_daemon_start(&ds->d[k], caresyncd, dir) < 0)
            bench_die("caresyncd serve did not start (see %s.serve.log)", dir);
        snprintf(ds->url[k], sizeof(ds->url[k]), "%s/v1/sync", ds->d[k].url);
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
            {"data", required_argument, NULL, 'd'},   {"devices", required_argument, NULL, 'n'},
            {"rounds", required_argument, NULL, 'r'}, {"team", required_argument, NULL, 't'},
            {"people", required_argument, NULL, 'p'}, {"edits", required_argument, NULL, 'e'},
            {"json", required_argument, NULL, 'j'},   {"timeout", required_argument, NULL, 'T'},
            {"daemons", required_argument, NULL, 'D'}, {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *json = NULL;
    unsigned n = 500, rounds = 3, team = 5, people = 6, edits = 3;
    struct sigaction sa = {.sa_handler = SIG_IGN};
    _cleanup_free_ struct round_result *res = NULL;
    _cleanup_free_ double *sps = NULL, *p50 = NULL, *p99 = NULL;
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    struct round_result storm;
    static struct daemons ds;
    unsigned n_daemons = 1;
    struct device *dev;
    struct rlimit rl;
    unsigned errors = 0, syncs = 0;
    struct daemon_counts counts;
    const char *fsync_module;
    long rss_max = 0;
    CURLM *m;
    int c;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'n': n = (unsigned)atoi(optarg); break;
        case 'r': rounds = (unsigned)atoi(optarg); break;
        case 't': team = (unsigned)atoi(optarg); break;
        case 'p': people = (unsigned)atoi(optarg); break;
        case 'e': edits = (unsigned)atoi(optarg); break;
        case 'j': json = optarg; break;
        case 'T': request_timeout_s = atol(optarg); break;
        case 'D': n_daemons = (unsigned)atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench-load --data DIR [--devices N] [--rounds N] [--team N]"
                            " [--people N] [--edits N] [--timeout S] [--daemons N] [--json FILE]\n");
            return 2;
        }
    }
    if (!data || n == 0 || rounds == 0 || team == 0 || people == 0)
        bench_die("--data DIR is required; counts must be positive");
    if (n_daemons == 0 || n_daemons > LOAD_DAEMONS_MAX)
        bench_die("--daemons must be 1 to %d", LOAD_DAEMONS_MAX);
    sigaction(SIGPIPE, &sa, NULL);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dev = calloc(n, sizeof(*dev));
    res = calloc(rounds, sizeof(*res));
    sps = calloc(rounds, sizeof(double));
    p50 = calloc(rounds, sizeof(double));
    p99 = calloc(rounds, sizeof(double));
    setup(data, dev, n, team, people);
    fsync_module = bench_path("BENCH_FSYNC_COUNT", BENCH_FSYNC_COUNT);
    if (fsync_module[0] && access(fsync_module, R_OK) == 0)
        setenv("LD_PRELOAD", fsync_module, 1);
    start_daemons(&ds, n_daemons, data);
    unsetenv("LD_PRELOAD");
    for (unsigned k = 0; k < ds.n; k++)
        bench_log("load: caresyncd on %s (pid %d), RSS %ld KiB", ds.d[k].url, (int)ds.d[k].pid,
                  bench_rss_kib(ds.d[k].pid));
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)n);

    /* Every device's first sync at once: its team's caseload, whole. */
    run_round(m, dev, n, &ds, false, 0, &storm);
    errors += storm.errors;
    syncs = storm.requests;
    rss_max = storm.daemon_rss_kib;
    bench_log("load: first syncs of %u devices at once: %.2f s, %.0f syncs/s, p50 %.0f ms, p99 %.0f"
              " ms, %u errors",
              n, storm.seconds, storm.syncs_per_s, storm.p50_ms, storm.p99_ms, storm.errors);
    for (unsigned r = 0; r < rounds; r++) {
        run_round(m, dev, n, &ds, true, edits, &res[r]);
        sps[r] = res[r].syncs_per_s;
        p50[r] = res[r].p50_ms;
        p99[r] = res[r].p99_ms;
        errors += res[r].errors;
        syncs += res[r].requests;
        if (res[r].daemon_rss_kib > rss_max)
            rss_max = res[r].daemon_rss_kib;
        bench_log("load round %u: %u syncs in %.2f s: %.0f syncs/s, first done after %.0f ms,"
                  " p10 %.0f ms, p50 %.0f ms, p99 %.0f ms,"
                  " max %.0f ms, %u errors, daemon RSS %.1f MiB; %u field states pulled, %u of"
                  " them the device's own writes sent back",
                  r, n, res[r].seconds, res[r].syncs_per_s, res[r].min_ms, res[r].p10_ms,
                  res[r].p50_ms, res[r].p99_ms,
                  res[r].max_ms, res[r].errors, (double)res[r].daemon_rss_kib / 1024.0,
                  res[r].pulled, res[r].echoed);
        bench_log("load round %u: CPU ms per sync: daemon %.2f (loop %.2f, writer %.2f, readers"
                  " %.2f, other %.2f), bench-load %.2f", r,
                  (res[r].cpu.loop + res[r].cpu.writer + res[r].cpu.readers + res[r].cpu.other) *
                          1e3 / n,
                  res[r].cpu.loop * 1e3 / n, res[r].cpu.writer * 1e3 / n,
                  res[r].cpu.readers * 1e3 / n, res[r].cpu.other * 1e3 / n,
                  res[r].cpu.self * 1e3 / n);
        if (res[r].db_cpu_s > 0)
            bench_log("load round %u: the database's CPU ms per sync: %.2f", r,
                      res[r].db_cpu_s * 1e3 / n);
    }
    {
        long hwm = bench_hwm_kib(ds.d[0].pid);
        cJSON *rs = cJSON_AddArrayToObject(out, "rounds");

        cJSON_AddNumberToObject(out, "devices", n);
        cJSON_AddNumberToObject(out, "daemons", ds.n);
        cJSON_AddNumberToObject(out, "team", team);
        cJSON_AddNumberToObject(out, "people_per_team", people);
        cJSON_AddNumberToObject(out, "changes_per_sync", 17 + edits);
        cJSON_AddItemToObject(out, "first_sync_storm", round_json(&storm));
        for (unsigned r = 0; r < rounds; r++)
            cJSON_AddItemToArray(rs, round_json(&res[r]));
        cJSON_AddItemToObject(out, "syncs_per_s", bench_json_stats(sps, rounds));
        cJSON_AddItemToObject(out, "p50_ms", bench_json_stats(p50, rounds));
        cJSON_AddItemToObject(out, "p99_ms", bench_json_stats(p99, rounds));
        cJSON_AddNumberToObject(out, "errors", errors);
        cJSON_AddNumberToObject(out, "daemon_rss_kib_max_sampled", (double)rss_max);
        cJSON_AddNumberToObject(out, "daemon_hwm_kib", (double)hwm);
        bench_log("load: median %.0f syncs/s, p50 %.0f ms, p99 %.0f ms, %u errors, daemon peak RSS"
                  " %.1f MiB",
                  bench_median(sps, rounds), bench_median(p50, rounds), bench_median(p99, rounds),
                  errors, (double)hwm / 1024.0);
    }
    counts = (struct daemon_counts){-1, -1, -1, -1};
    for (unsigned k = 0; k < ds.n; k++) {
        struct daemon_counts dc;

        bench_daemon_stop(&ds.d[k]);
        read_daemon_counts(ds.d[k].log, &dc);
        if (k == 0)
            counts = dc;
        else if (dc.fsyncs >= 0 && counts.fsyncs >= 0)
            counts = (struct daemon_counts){counts.fsyncs + dc.fsyncs, counts.jobs + dc.jobs,
                                            counts.groups + dc.groups,
                                            counts.commits + dc.commits};
    }
    cJSON_AddNumberToObject(out, "sync_requests", syncs);
    if (counts.fsyncs >= 0) {
        cJSON_AddNumberToObject(out, "daemon_fsyncs", (double)counts.fsyncs);
        cJSON_AddNumberToObject(out, "fsyncs_per_sync", syncs ? (double)counts.fsyncs / syncs : 0);
    }
    if (counts.commits >= 0) {
        cJSON_AddNumberToObject(out, "write_jobs", (double)counts.jobs);
        cJSON_AddNumberToObject(out, "groups", (double)counts.groups);
        cJSON_AddNumberToObject(out, "commits", (double)counts.commits);
    }
    bench_log("load: %u sync requests; daemon fsyncs %lld (%.2f per sync); writer: %lld jobs in"
              " %lld groups, %lld commits (-1: not reported by this caresyncd)",
              syncs, counts.fsyncs, syncs && counts.fsyncs >= 0 ? (double)counts.fsyncs / syncs : -1.0,
              counts.jobs, counts.groups, counts.commits);
    for (unsigned i = 0; i < n; i++) {
        if (dev[i].h)
            curl_easy_cleanup(dev[i].h);
        curl_slist_free_all(dev[i].hdrs);
        free(dev[i].body);
        free(dev[i].reply);
        if (i % team == 0)
            free(dev[i].people);
    }
    free(dev);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    bench_json_write(out, json);
    return 0;
}
