/* SPDX-License-Identifier: MIT */
/* metrics.c - the registry of caresyncd's metrics, their Prometheus text exposition, and the
 * plain-HTTP listener of /metrics, /healthz and /readyz (metrics.h). Counters are C11 atomics
 * updated with relaxed ordering: each is a number of its own, read whole at scrape time. */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "http.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "util.h"
#include "work.h"

/* Routes, as the label "route" shows them: a path's variable segments are "{id}". */
static const char *const metric_routes[] = {
        "/v1/enrol",
        "/v1/sync",
        "/v1/conflicts",
        "/v1/conflicts/{id}/resolve",
        "/v1/people/{id}/fhir",
        "/v1/people/{id}/team",
        "/v1/people/{id}/named-coordinator",
        "/v1/people/{id}/{action}",
        "/v1/devices",
        "/v1/devices/{id}/revoke",
        "/v1/assignments",
        "/v1/assignments/transfer",
        "/v1/rows/restore",
        "/healthz",
        "/readyz",
        "/metrics",
        "other",
};
#define N_ROUTES     ELEMENTSOF(metric_routes)
#define ROUTE_OTHER  (N_ROUTES - 1)
#define ROUTE_SYNC    1 /* metric_routes[] indexes */
#define ROUTE_RESOLVE 3

/* Statuses 100-599 counted one by one. */
#define STATUS_MIN 100
#define N_STATUS   500

/* Request latency latency_buckets, seconds (the last, +Inf, is the count). */
static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS ELEMENTSOF(latency_buckets)

/* Outcomes of pushed changes (docs/PROTOCOL.md "POST /v1/sync"); the last counts any other. */
static const char *const push_outcomes[] = {"applied", "lost", "out_of_scope", "other"};
#define N_OUTCOMES ELEMENTSOF(push_outcomes)

typedef _Atomic uint64_t counter;

static struct {
    counter requests[N_ROUTES][N_STATUS];
    counter latency_bucket[N_ROUTES][N_BUCKETS];
    counter latency_count[N_ROUTES];
    counter latency_sum_us[N_ROUTES];
    counter syncs;
    counter changes[N_OUTCOMES];
    counter changes_pulled;
    counter conflicts_opened;
    counter conflicts_resolved;
    counter pull_bytes;
    counter tls_handshake_failures;
} registry;

static void count_add(counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t count_get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Whether @path matches route @tmpl, where "{...}" stands for one non-empty segment. */
static bool route_match(const char *tmpl, const char *path)
{
    while (*tmpl && *path) {
        if (*tmpl == '{') {
            size_t n = strcspn(path, "/");

            if (n == 0)
                return false;
            path += n;
            tmpl = strchr(tmpl, '}') + 1;
        } else if (*tmpl++ != *path++) {
            return false;
        }
    }
    return !*tmpl && !*path;
}

/* The route of @path: the first template it matches (specific ones come first), or "other". */
static size_t route_of(const char *path)
{
    for (size_t i = 0; path && i < ROUTE_OTHER; i++)
        if (route_match(metric_routes[i], path))
            return i;
    return ROUTE_OTHER;
}

void metrics_request(const char *path, int status, size_t bytes, double seconds)
{
    size_t r = route_of(path);
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;

    if (status >= STATUS_MIN && status < STATUS_MIN + N_STATUS)
        count_add(&registry.requests[r][status - STATUS_MIN], 1);
    for (size_t b = 0; b < N_BUCKETS; b++)
        if (seconds <= latency_buckets[b])
            count_add(&registry.latency_bucket[r][b], 1);
    count_add(&registry.latency_count[r], 1);
    count_add(&registry.latency_sum_us[r], us);
    if (r == ROUTE_SYNC && status == 200)
        count_add(&registry.pull_bytes, bytes);
    if (r == ROUTE_RESOLVE && status >= 200 && status < 300)
        count_add(&registry.conflicts_resolved, 1);
}

void metrics_sync(const cJSON *resp)
{
    const cJSON *o, *changes = cJSON_GetObjectItemCaseSensitive(resp, "changes");

    count_add(&registry.syncs, 1);
    cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(resp, "outcomes")) {
        const char *what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "outcome"));
        size_t k = N_OUTCOMES - 1;

        for (size_t i = 0; what && i < N_OUTCOMES - 1; i++)
            if (streq(what, push_outcomes[i]))
                k = i;
        count_add(&registry.changes[k], 1);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "conflict")))
            count_add(&registry.conflicts_opened, 1);
    }
    if (cJSON_IsArray(changes))
        count_add(&registry.changes_pulled, (uint64_t)cJSON_GetArraySize(changes));
}

void metrics_tls_handshake_failed(void)
{
    count_add(&registry.tls_handshake_failures, 1);
}

int metrics_ready_reply(int r, struct evbuffer *out)
{
    if (r == 0) {
        evbuffer_add_printf(out, "{\"status\": \"ok\"}\n");
        return 200;
    }
    log_warn("not ready: the store cannot be written (%s)", strerror(-r));
    evbuffer_add_printf(out,
                        "{\"status\": \"unavailable\", \"error\": \"store_unwritable\", "
                        "\"message\": \"the store cannot be written (%s); %s\"}\n",
                        strerror(-r),
                        r == -ENOSPC  ? "free space on its disk"
                        : r == -EBUSY ? "another process holds its write lock"
                                      : "see the daemon's log");
    return 503;
}

int metrics_healthz_reply(struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"status\": \"ok\"}\n");
    return 200;
}

/* ---- the exposition ---- */

struct metrics_server {
    struct evhttp *http;
    struct work *work;
    const char *db_path;
    const struct store_checkpointer *ckpt;
    unsigned lock_after_days;
};

static void expo_header(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void expo_one(struct evbuffer *b, const char *name, const char *type, const char *help,
                uint64_t v)
{
    expo_header(b, name, type, help);
    evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

static off_t metrics_file_size(const char *path, const char *suffix)
{
    char p[PATH_MAX];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &st) == 0 ? st.st_size : 0;
}

static void expose(struct metrics_server *m, struct evbuffer *b, bool dev_ok,
                   const struct store_device_counts *devp)
{
    struct store_checkpoint_stats ck;
    struct store_device_counts dev = *devp;
    struct work_stats ws;

    expo_header(b, "caresyncd_http_requests_total", "counter",
           "Requests answered, by route and HTTP status.");
    for (size_t r = 0; r < N_ROUTES; r++)
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = count_get(&registry.requests[r][s]);

            if (v)
                evbuffer_add_printf(b,
                                    "caresyncd_http_requests_total{route=\"%s\",status=\"%zu\"} "
                                    "%" PRIu64 "\n",
                                    metric_routes[r], s + STATUS_MIN, v);
        }
    expo_header(b, "caresyncd_http_request_duration_seconds", "histogram",
           "Time from a request's arrival to its reply, by route.");
    for (size_t r = 0; r < N_ROUTES; r++) {
        uint64_t n = count_get(&registry.latency_count[r]);

        if (!n)
            continue;
        for (size_t k = 0; k < N_BUCKETS; k++)
            evbuffer_add_printf(b,
                                "caresyncd_http_request_duration_seconds_bucket{route=\"%s\","
                                "le=\"%g\"} %" PRIu64 "\n",
                                metric_routes[r], latency_buckets[k], count_get(&registry.latency_bucket[r][k]));
        evbuffer_add_printf(b,
                            "caresyncd_http_request_duration_seconds_bucket{route=\"%s\","
                            "le=\"+Inf\"} %" PRIu64 "\n"
                            "caresyncd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                            "caresyncd_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64
                            "\n",
                            metric_routes[r], n, metric_routes[r], (double)count_get(&registry.latency_sum_us[r]) / 1e6,
                            metric_routes[r], n);
    }
    expo_one(b, "caresyncd_syncs_total", "counter", "Syncs answered 200.", count_get(&registry.syncs));
    expo_header(b, "caresyncd_changes_pushed_total", "counter",
           "Changes devices pushed, by outcome: applied, lost (an older version), out_of_scope "
           "(kept in the conflict log), other.");
    for (size_t i = 0; i < N_OUTCOMES; i++)
        evbuffer_add_printf(b, "caresyncd_changes_pushed_total{outcome=\"%s\"} %" PRIu64 "\n",
                            push_outcomes[i], count_get(&registry.changes[i]));
    expo_one(b, "caresyncd_changes_pulled_total", "counter", "Field values sent to devices in syncs.",
        count_get(&registry.changes_pulled));
    expo_one(b, "caresyncd_conflicts_opened_total", "counter",
        "Pushed changes that entered the conflict log.", count_get(&registry.conflicts_opened));
    expo_one(b, "caresyncd_conflicts_resolved_total", "counter",
        "Conflicts resolved through POST /v1/conflicts/{id}/resolve.",
        count_get(&registry.conflicts_resolved));
    expo_one(b, "caresyncd_pull_bytes_total", "counter",
        "Bytes of sync replies sent (as sent: compressed when gzip).", count_get(&registry.pull_bytes));
    expo_one(b, "caresyncd_tls_handshake_failures_total", "counter",
        "TLS handshakes that failed for a reason (not a peer that just went away).",
        count_get(&registry.tls_handshake_failures));
    if (dev_ok) {
        expo_header(b, "caresyncd_devices", "gauge",
               "Enrolled devices: active, locked (not synced within lock_after_days), revoked.");
        evbuffer_add_printf(b,
                            "caresyncd_devices{state=\"active\"} %" PRId64 "\n"
                            "caresyncd_devices{state=\"locked\"} %" PRId64 "\n"
                            "caresyncd_devices{state=\"revoked\"} %" PRId64 "\n",
                            dev.active, dev.locked, dev.revoked);
    }
    expo_one(b, "caresyncd_store_bytes", "gauge", "Size of the store file (store.db).",
        (uint64_t)metrics_file_size(m->db_path, ""));
    expo_one(b, "caresyncd_wal_bytes", "gauge", "Size of the store's write-ahead log (store.db-wal).",
        (uint64_t)metrics_file_size(m->db_path, "-wal"));
    store_checkpointer_stats(m->ckpt, &ck);
    expo_one(b, "caresyncd_checkpoints_total", "counter",
        "Background checkpoints that copied pages from the write-ahead log into the store.",
        ck.runs);
    expo_header(b, "caresyncd_checkpoint_seconds_total", "counter",
           "Time those checkpoints took, in all.");
    evbuffer_add_printf(b, "caresyncd_checkpoint_seconds_total %.6f\n", (double)ck.total_us / 1e6);
    expo_header(b, "caresyncd_checkpoint_last_seconds", "gauge", "Time the last checkpoint took.");
    evbuffer_add_printf(b, "caresyncd_checkpoint_last_seconds %.6f\n", (double)ck.last_us / 1e6);
    work_get_stats(m->work, &ws);
    expo_one(b, "caresyncd_store_queued", "gauge",
        "Requests waiting for the store's threads now (at most queue_depth).", ws.queued);
    expo_one(b, "caresyncd_store_write_jobs_total", "counter",
        "Store jobs run on the writer thread (a sync with a pull: two).", ws.write_jobs);
    expo_one(b, "caresyncd_store_read_jobs_total", "counter",
        "Store jobs run on a reader thread (a sync's page: one).", ws.read_jobs);
    expo_one(b, "caresyncd_store_groups_total", "counter",
        "Groups of write jobs the writer committed together (group commit).", ws.groups);
    expo_one(b, "caresyncd_store_commits_total", "counter",
        "COMMITs the writer made, each one fsync of the write-ahead log.", ws.commits);
    expo_one(b, "caresyncd_store_statements_total", "counter",
        "Statements the writer ran on the store's database (on PostgreSQL, one round trip each).",
        ws.statements);
    expo_one(b, "caresyncd_store_prepares_total", "counter",
        "Statements the writer prepared (on PostgreSQL, one round trip each, once per connection).",
        ws.prepares);
    expo_one(b, "caresyncd_store_largest_group", "gauge",
        "The most write jobs committed in one group since the start.", ws.largest_group);
    expo_header(b, "caresyncd_store_write_seconds_total", "counter",
           "Where write jobs' time went: waiting in the queue, running, from the end of their run "
           "to their group's COMMIT, and from there back to the event loop.");
    evbuffer_add_printf(b,
                        "caresyncd_store_write_seconds_total{stage=\"wait\"} %.6f\n"
                        "caresyncd_store_write_seconds_total{stage=\"run\"} %.6f\n"
                        "caresyncd_store_write_seconds_total{stage=\"commit\"} %.6f\n"
                        "caresyncd_store_write_seconds_total{stage=\"deliver\"} %.6f\n",
                        (double)ws.wait_us / 1e6, (double)ws.run_us / 1e6,
                        (double)ws.commit_us / 1e6, (double)ws.deliver_us / 1e6);
    expo_one(b, "caresyncd_store_queue_full_total", "counter",
        "Requests answered 503 queue_full: queue_depth requests were waiting already.",
        ws.refused);
    expo_one(b, "caresyncd_up", "gauge", "1 while the daemon serves.", 1);
}

static void metrics_reply(struct evhttp_request *req, const char *path, int status,
                          const struct timespec *t0)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_request(path, status, evbuffer_get_length(out),
                    (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
    evhttp_send_reply(req, status, status == 200 ? "OK" : status == 503 ? "Service Unavailable"
                                   : status == 405 ? "Method Not Allowed" : "Not Found", NULL);
}

/*
 * GET /metrics (the devices by state, read on a reader thread) and GET /readyz (a probe write,
 * committed by the writer thread): the store is never touched on the event loop.
 */
struct metrics_job {
    struct work_job job;
    struct metrics_server *m;
    struct evhttp_request *req;
    const char *path; /* static: "/metrics" or "/readyz" */
    struct timespec t0;
    struct store_device_counts dev;
    bool gone, detached; /* the connection closed while the job was out (http.c's job_done()) */
};

static void metrics_job_closed(struct evhttp_connection *evcon, void *arg)
{
    struct metrics_job *mj = arg;

    mj->gone = true;
    mj->detached = evhttp_request_get_connection(mj->req) == NULL;
}

static void metrics_counts_run(struct store *s, struct work_job *j)
{
    struct metrics_job *mj = (struct metrics_job *)j;

    j->r = store_device_counts(s, mj->m->lock_after_days, &mj->dev);
}

static void metrics_probe_run(struct store *s, struct work_job *j)
{
    j->r = store_probe_write(s);
}

static void metrics_job_done(struct work_job *j)
{
    struct metrics_job *mj = (struct metrics_job *)j;
    struct evhttp_connection *evcon;
    struct evbuffer *out;
    int status;

    if (mj->gone) {
        if (mj->detached)
            evhttp_request_free(mj->req);
        free(mj);
        return;
    }
    evcon = evhttp_request_get_connection(mj->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (j->discard) {
        free(mj);
        return;
    }
    out = evhttp_request_get_output_buffer(mj->req);
    if (streq(mj->path, "/metrics")) {
        (void)evhttp_add_header(evhttp_request_get_output_headers(mj->req), "Content-Type",
                                "text/plain; version=0.0.4; charset=utf-8");
        expose(mj->m, out, j->r == 0, &mj->dev);
        status = 200;
    } else {
        (void)evhttp_add_header(evhttp_request_get_output_headers(mj->req), "Content-Type",
                                "application/json");
        status = metrics_ready_reply(j->group_err ? j->group_err : j->r, out);
    }
    metrics_reply(mj->req, mj->path, status, &mj->t0);
    free(mj);
}

/* Hand @path's store work to a thread; false when it could not be (then answer at once). */
static bool metrics_submit(struct metrics_server *m, struct evhttp_request *req,
                           const char *path, const struct timespec *t0)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct metrics_job *mj = calloc(1, sizeof(*mj));

    if (!mj)
        return false;
    mj->m = m;
    mj->req = req;
    mj->t0 = *t0;
    mj->path = streq(path, "/metrics") ? "/metrics" : "/readyz";
    mj->job.kind = streq(path, "/metrics") ? WORK_READ : WORK_WRITE;
    mj->job.run = streq(path, "/metrics") ? metrics_counts_run : metrics_probe_run;
    mj->job.done = metrics_job_done;
    if (evcon)
        evhttp_connection_set_closecb(evcon, metrics_job_closed, mj);
    if (work_submit(m->work, &mj->job) == 0)
        return true;
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    free(mj);
    return false;
}

static void metrics_dispatch(struct evhttp_request *req, void *arg)
{
    struct metrics_server *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    struct timespec t0;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    (void)evhttp_add_header(h, "Cache-Control", "no-store");
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        (void)evhttp_add_header(h, "Allow", "GET, HEAD");
        (void)evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
        evbuffer_add_printf(out, "only GET and HEAD here\n");
        status = 405;
    } else if (path && (streq(path, "/metrics") || streq(path, "/readyz"))) {
        if (metrics_submit(m, req, path, &t0))
            return; /* answered by metrics_job_done() */
        /* The queue is full or the daemon stopping: not ready, and no figures now. */
        (void)evhttp_add_header(h, "Content-Type", "application/json");
        (void)evhttp_add_header(h, "Retry-After", "1");
        status = metrics_ready_reply(-EBUSY, out);
    } else if (path && streq(path, "/healthz")) {
        (void)evhttp_add_header(h, "Content-Type", "application/json");
        status = metrics_healthz_reply(out);
    } else {
        (void)evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
        evbuffer_add_printf(out, "no such page here: /metrics, /healthz and /readyz are\n");
        status = 404;
    }
    metrics_reply(req, path, status, &t0);
}

int metrics_server_new(struct event_base *base, const char *addr, struct work *work,
                       const char *db_path, const struct store_checkpointer *ckpt,
                       unsigned lock_after_days, char *ret_bound, size_t bound_size,
                       struct metrics_server **ret)
{
    char host[HTTP_HOST_MAX + 1], port[8];
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct metrics_server *m;
    uint64_t p;

    if (http_split_listen(addr, host, sizeof(host), port, sizeof(port)) < 0)
        return -EINVAL;
    (void)parse_u64(port, &p);
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->work = work;
    m->db_path = db_path;
    m->ckpt = ckpt;
    m->lock_after_days = lock_after_days;
    m->http = evhttp_new(base);
    if (!m->http) {
        free(m);
        return -ENOMEM;
    }
    evhttp_set_timeout(m->http, 10);
    evhttp_set_max_headers_size(m->http, 8192);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(m->http, metrics_dispatch, m);
    errno = 0;
    bound = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)p);
    if (!bound) {
        int e = errno ? errno : EADDRNOTAVAIL;

        metrics_server_free(m);
        return -e;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) == 0)
        http_sockaddr_text(&ss, ret_bound, bound_size);
    else
        copy_text(ret_bound, bound_size, addr);
    *ret = m;
    return 0;
}

struct metrics_server *metrics_server_free(struct metrics_server *m)
{
    if (!m)
        return NULL;
    if (m->http)
        evhttp_free(m->http);
    free(m);
    return NULL;
}
