/* SPDX-License-Identifier: MIT */
/* http.c - evhttp over TLS: the /v1/ routes of docs/PROTOCOL.md, strict request parsing, JSON
 * errors, the access log and graceful shutdown. A handler decodes and checks its request on the
 * event loop, hands the store call to a worker thread as a job (work.h), and encodes and sends
 * the answer when the job comes back (docs/ARCHITECTURE.md "Threads"); shutdown waits for the
 * jobs queued. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* the request's HTTP version: 2.1 has no getter */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "catalogue.h"
#include "conn.h"
#include "console.h"
#include "fhir.h"
#include "gzip.h"
#include "hlc.h"
#include "log.h"
#include "proto.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "work.h"

#define HTTP_LOG_URI_MAX  200 /* request target shown in the access log */
#define HTTP_ECHO_MAX     PROTO_ECHO_MAX /* longest client-supplied name echoed in an error */
#define HTTP_CODE_ARG_MAX 64  /* an enrolment code longer than this cannot be valid */
#define HTTP_ALL_METHODS                                                                       \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/* A token bucket of failures allowed (PROTOCOL.md "Enrolment throttling"); refilled when used. */
struct bucket {
    double tokens;
    int64_t at_ms; /* CLOCK_MONOTONIC of the last refill; 0: never used */
};

/* A client address's failed-enrolment bucket; addr "" = free slot. */
struct enrol_slot {
    char addr[INET6_ADDRSTRLEN + 1];
    struct bucket b;
};

struct caresyncd {
    struct event_base *base; /* borrowed */
    struct store *store;     /* borrowed: the writer's, used only through work */
    /* The loop's own read handle for authentication (work started: store_open_reader()),
     * else the store itself. */
    struct store *auth_store;
    struct work *work;
    SSL_CTX *ssl_ctx;        /* borrowed */
    struct evhttp *http;
    struct conn_server *conns; /* the connection layer under evhttp (conn.h) */
    struct evhttp_bound_socket *bound[HTTP_LISTEN_MAX];
    size_t n_bound;
    unsigned inflight; /* replies queued but not yet fully written */
    bool draining;     /* shutdown requested: leave the loop once inflight is 0 */
    bool quiet;        /* no access log */
    unsigned lock_after_days; /* told to devices in every sync ("policy") */
    unsigned idle_timeout_s;  /* evhttp's, while no job is out (--idle-timeout) */
    unsigned enrol_addr_fails, enrol_addr_window_s, enrol_all_fails, enrol_all_window_s;
    struct bucket enrol_all;         /* failed enrolments, all addresses */
    struct enrol_slot *enrol_addrs;  /* HTTP_ENROL_ADDRS of them */
    struct console *console;         /* the web console under /console (console.h); NULL: off */
};

/* One request being handled; lives on the dispatcher's stack. */
struct http_req {
    struct caresyncd *sd;
    struct evhttp_request *req;
    struct conn *conn; /* the connection it came on */
    struct timespec start;
    struct store_principal who; /* valid once authenticated */
    const char *device;         /* device id for the access log, or NULL */
    const char *content_type;   /* of a successful reply; NULL = application/json */
    bool any_status_type;       /* content_type is for every status (the console's pages) */
    int status;                 /* of the reply, once replied */
    bool replied;
    bool deferred; /* answered later, by a job (http_job) */
    /* While @hold: the reply is kept here, not sent (release_held() sends it). */
    bool hold;
    int held_status;
    char *held_text;
    size_t held_len;
};

/* ---- replies ---- */

static const char *status_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
            {200, "OK"},        {400, "Bad Request"},       {401, "Unauthorized"},
            {403, "Forbidden"}, {404, "Not Found"},         {405, "Method Not Allowed"},
            {409, "Conflict"},  {413, "Payload Too Large"}, {415, "Unsupported Media Type"},
            {429, "Too Many Requests"}, {503, "Service Unavailable"},
    };

    for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Internal Server Error";
}

static const char *method_name(enum evhttp_cmd_type m)
{
    static const char *const names[] = {"GET",     "POST",  "HEAD",    "PUT",  "DELETE",
                                        "OPTIONS", "TRACE", "CONNECT", "PATCH"};

    /* evhttp_cmd_type is one bit per method, in this order. */
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if ((unsigned)m == 1u << i)
            return names[i];
    return "?";
}

/* Client text for the log or an error message (a request target, a header value): printable
 * ASCII only, quotes and backslashes (and spaces, unless @spaces) replaced, at most
 * HTTP_LOG_URI_MAX bytes. */
static const char *printable(const char *text, bool spaces,
                             char buf[static HTTP_LOG_URI_MAX + 1])
{
    size_t i = 0;

    for (; text && text[i] && i < HTTP_LOG_URI_MAX; i++) {
        unsigned char c = (unsigned char)text[i];

        buf[i] = (c < (spaces ? 0x20 : 0x21) || c > 0x7e || c == '"' || c == '\\') ? '?'
                                                                                  : (char)c;
    }
    buf[i] = '\0';
    return buf;
}

static void access_log(struct http_req *hr, int status, size_t bytes)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    char peer[INET6_ADDRSTRLEN + 16] = "-", uri[HTTP_LOG_URI_MAX + 1];
    char path[HTTP_LOG_URI_MAX + 1];
    const char *target, *query;
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct timespec now;
    int64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(now.tv_sec - hr->start.tv_sec) * 1000 +
         (now.tv_nsec - hr->start.tv_nsec) / 1000000;
    {
        const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(hr->req);

        metrics_request(u ? evhttp_uri_get_path(u) : NULL, status, bytes,
                        (double)(now.tv_sec - hr->start.tv_sec) +
                                (double)(now.tv_nsec - hr->start.tv_nsec) / 1e9);
    }
    if (hr->sd->quiet)
        return;
    /* The path only: a query may carry a secret (a token pasted into a URL), and the log is
     * read by more people than the store. "?<redacted>" says there was one. */
    target = evhttp_request_get_uri(hr->req);
    query = target ? strpbrk(target, "?#") : NULL;
    if (query) {
        size_t n = (size_t)(query - target) < sizeof(path) ? (size_t)(query - target)
                                                           : sizeof(path) - 1;

        memcpy(path, target, n);
        path[n] = '\0';
        target = path;
    }
    if (evcon)
        evhttp_connection_get_peer(evcon, &addr, &port);
    if (addr)
        snprintf(peer, sizeof(peer), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
    log_info("access %s \"%s %s%s\" %d %zu %" PRId64 "ms device=%s", peer,
             method_name(evhttp_request_get_command(hr->req)), printable(target, false, uri),
             query ? "?<redacted>" : "", status, bytes, ms, hr->device ? hr->device : "-");
}

/* A queued reply has been written out, or its connection went away first. */
static void reply_finished(struct caresyncd *sd)
{
    if (sd->inflight > 0)
        sd->inflight--;
    if (sd->draining && sd->inflight == 0 && work_pending(sd->work) == 0)
        (void)event_base_loopexit(sd->base, NULL);
}

/* The last job out has come back: when draining with no reply left to write, stop. */
static void work_idle(void *arg)
{
    struct caresyncd *sd = arg;

    if (sd->draining && sd->inflight == 0)
        (void)event_base_loopexit(sd->base, NULL);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    reply_finished(arg);
}

static void reply_drained(void *arg)
{
    reply_finished(arg);
}

/* Whether @headers hold "Connection: close" (one token, as evhttp reads it). */
static bool says_close(struct evkeyvalq *headers)
{
    const char *v = evhttp_find_header(headers, "Connection");

    return v && strcasecmp(v, "close") == 0;
}

/*
 * evhttp has handed the reply to the connection layer. When the connection is to close after
 * it, evhttp would shut the socket down at once, before TLS has written the reply (conn.h):
 * so the close is taken from evhttp here (it then waits for a next request) and the
 * connection layer closes once everything is written. reply_finished() runs then too.
 */
static void reply_written(struct evhttp_request *req, void *arg)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct caresyncd *sd = arg;
    struct conn *c = conn_of_request(sd->conns, req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    bool close;

    /* Written: the connection closing later is no longer about this reply. */
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (!c) {
        reply_finished(sd);
        return;
    }
    close = says_close(in) || says_close(out) ||
            (req->major == 1 && req->minor == 0 &&
             !(evhttp_find_header(in, "Connection") &&
               strcasecmp(evhttp_find_header(in, "Connection"), "keep-alive") == 0));
    if (close) {
        while (evhttp_remove_header(in, "Connection") == 0)
            ;
        while (evhttp_remove_header(out, "Connection") == 0)
            ;
        (void)evhttp_add_header(in, "Connection", "keep-alive");
    }
    conn_reply_done(c, close);
}

/* The value of the request's one @name header; NULL when it has none or more than one. */
static const char *request_header(struct http_req *hr, const char *name, bool *ret_repeated)
{
    const struct evkeyval *kv;
    const char *value = NULL;

    *ret_repeated = false;
    TAILQ_FOREACH (kv, evhttp_request_get_input_headers(hr->req), next) {
        if (strcasecmp(kv->key, name) != 0)
            continue;
        if (value) {
            *ret_repeated = true;
            return NULL;
        }
        value = kv->value;
    }
    return value;
}

/*
 * Whether a reply of @len bytes with @status goes out gzip-encoded (PROTOCOL.md "Compression"):
 * a success of at least HTTP_GZIP_MIN bytes to a request whose Accept-Encoding allows gzip.
 * Errors stay identity, so that anything can read them. A malformed or repeated Accept-Encoding
 * gets identity, which every client accepts.
 */
static bool reply_gzip(struct http_req *hr, int status, size_t len)
{
    const char *accept;
    bool repeated;

    if (status >= 300 || len < HTTP_GZIP_MIN)
        return false;
    accept = request_header(hr, "Accept-Encoding", &repeated);
    return accept && gzip_accepted(accept) > 0;
}

/*
 * Gzip-encode the reply of @status in *text (*len bytes) when reply_gzip(): *text and *len then
 * describe the encoded bytes, which *ret_owned holds (the caller frees). Should deflating fail,
 * the reply goes as it is: identity is always acceptable.
 */
static void reply_encode(struct http_req *hr, int status, const char **text, size_t *len,
                         void **ret_owned)
{
    size_t n;
    int r;

    if (!reply_gzip(hr, status, *len))
        return;
    r = gzip_compress(*text, *len, GZIP_LEVEL, ret_owned, &n);
    if (r < 0) {
        log_warn("compressing a reply of %zu bytes failed (%s); sending it uncompressed", *len,
                 strerror(-r));
        return;
    }
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Content-Encoding",
                            "gzip");
    *text = *ret_owned;
    *len = n;
}

static void free_sent(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Queue @len bytes of JSON as the response with @status, gzip-encoded when reply_gzip().
 * @owned: NULL (@text is borrowed and copied), or the malloc'd block @text is, taken: the
 * output buffer then holds it, or its gzip, by reference until it is written (a sync's page is
 * a few hundred KB, which a copy would move once more). */
static void send_body_(struct http_req *hr, int status, const char *text, size_t len,
                       void *owned)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr->req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    _cleanup_free_ void *own = owned;
    _cleanup_free_ void *gz = NULL;
    struct evbuffer *out;

    if (hr->replied) {
        log_error("a second reply (%d) to one request was dropped", status);
        return;
    }
    if (hr->hold) {
        hr->held_text = malloc(len ? len : 1);
        if (hr->held_text)
            memcpy(hr->held_text, text, len);
        hr->held_len = len;
        hr->held_status = status;
        hr->replied = true;
        hr->status = status;
        return;
    }
    (void)evhttp_add_header(h, "Content-Type",
                            (status < 300 || hr->any_status_type) && hr->content_type
                                    ? hr->content_type
                                    : "application/json");
    (void)evhttp_add_header(h, "Cache-Control", "no-store");
    if (status < 300)
        (void)evhttp_add_header(h, "Vary", "Accept-Encoding");
    reply_encode(hr, status, &text, &len, &gz);
    if (hr->sd->draining)
        (void)evhttp_add_header(h, "Connection", "close");
    out = evhttp_request_get_output_buffer(hr->req);
    if (gz && text == gz) {
        if (evbuffer_add_reference(out, text, len, free_sent, NULL) == 0)
            gz = NULL;
        else
            (void)evbuffer_add(out, text, len);
    } else if (own && text == own && len > 0) {
        if (evbuffer_add_reference(out, text, len, free_sent, NULL) == 0)
            own = NULL;
        else
            (void)evbuffer_add(out, text, len);
    } else {
        (void)evbuffer_add(out, text, len);
    }
    /* At most one reply per connection is outstanding (evhttp reads the next request only
     * after the previous reply is written), so the close callback can stand for it. */
    hr->sd->inflight++;
    evhttp_request_set_on_complete_cb(hr->req, reply_written, hr->sd);
    if (evcon)
        evhttp_connection_set_closecb(evcon, conn_closed, hr->sd);
    access_log(hr, status, len);
    hr->replied = true;
    hr->status = status;
    evhttp_send_reply(hr->req, status, status_reason(status), NULL);
}

static void send_body(struct http_req *hr, int status, const char *text, size_t len)
{
    send_body_(hr, status, text, len, NULL);
}

static void send_oom(struct http_req *hr)
{
    /* Not "nothing was written": a sync may have committed before its reply failed. Retrying
     * is safe either way (change ids make a push idempotent). */
    static const char body[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server "
                               "ran out of memory; retry later\"}}";

    log_error("out of memory answering a request");
    send_body(hr, 500, body, sizeof(body) - 1);
}

/* Send the reply kept while hr->hold (the oom reply if it could not be kept). */
static void release_held(struct http_req *hr)
{
    _cleanup_free_ char *text = TAKE_PTR(hr->held_text);

    hr->hold = false;
    hr->replied = false;
    if (text)
        send_body(hr, hr->held_status, text, hr->held_len);
    else
        send_oom(hr);
}

/* Send @body (borrowed) with @status. */
static void reply_json(struct http_req *hr, int status, const cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    if (!text) {
        send_oom(hr);
        return;
    }
    send_body_(hr, status, text, strlen(text), text);
}

/* Send the error body of @e (PROTOCOL.md "Errors") with its status. */
static void reply_proto_error(struct http_req *hr, const struct proto_error *e)
{
    _cleanup_json_ cJSON *root = proto_error_encode(e);

    if (!root) {
        send_oom(hr);
        return;
    }
    reply_json(hr, e->status, root);
}

/*
 * Send {"error": {"code", "message", "limit"?, "field"?, "index"?}} (PROTOCOL.md "Errors").
 * @limit < 0, @field NULL and @index < 0 leave those members out.
 */
_printf_(7, 8) static void reply_error(struct http_req *hr, int status, const char *code,
                                       int64_t limit, const char *field, long index,
                                       const char *fmt, ...)
{
    struct proto_error e = {.status = status, .limit = limit, .index = index};
    va_list ap;

    copy_text(e.code, sizeof(e.code), code);
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    e.has_field = field != NULL;
    if (field)
        proto_clip(field, e.field, sizeof(e.field));
    reply_proto_error(hr, &e);
}

/* A body a proto_*_decode() refused with @r: 500 for out of memory, else the error *e. */
static void reply_refused_body(struct http_req *hr, int r, const struct proto_error *e)
{
    if (r == -ENOMEM)
        send_oom(hr);
    else
        reply_proto_error(hr, e);
}

/* A store call failed for a reason that is not the client's: 503 busy or 500. */
/* A full disk: one line for IT (at most once a minute), 503 for the device. */
static void reply_storage_full(struct http_req *hr, const char *what)
{
    static time_t logged;
    time_t now = time(NULL);

    if (now - logged >= 60) {
        log_error("%s failed: the data directory's disk is full; free space there (nothing was "
                  "written; devices retry)", what);
        logged = now;
    }
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After",
                            STORE_FULL_RETRY_S);
    reply_error(hr, 503, "storage_full", -1, NULL, -1, "%s", STORE_FULL_MESSAGE);
}

static void reply_store_failure(struct http_req *hr, int r, const char *what)
{
    if (r == -ENOSPC) {
        reply_storage_full(hr, what);
        return;
    }
    if (r == -EBUSY) {
        (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After", "1");
        reply_error(hr, 503, "busy", -1, NULL, -1,
                    "the store is busy; nothing was written; retry in a few seconds");
        return;
    }
    /* A PostgreSQL store away (pg_sql.c logged it once) or a transaction chosen to fail. */
    if (r == -ENOTCONN || r == -EAGAIN) {
        (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After", "1");
        reply_error(hr, 503, "busy", -1, NULL, -1,
                    "the store's database is unavailable; nothing was written; retry in a few "
                    "seconds");
        return;
    }
    log_error("%s failed: %s", what, strerror(-r));
    reply_error(hr, 500, "internal_error", -1, NULL, -1,
                "the server failed; nothing was written; retry later");
}

/* ---- store work off the loop (work.h) ---- */

/*
 * A request whose store call runs on a worker thread: the request (copied off the dispatcher's
 * stack), its decoded body and what the handler's functions share. job.run makes the store
 * call on the worker and touches no libevent object (nor anything of the request that evhttp
 * owns: what a job reads is copied into it on the loop); @finish answers on the loop. Each
 * handler's job struct begins with this one.
 */
struct http_job {
    struct work_job job;
    struct http_req hr;
    const char *what; /* for reply_store_failure() */
    cJSON *resp;      /* built on the worker (owned) */
    void (*finish)(struct http_job *hj);
    void (*cleanup)(struct http_job *hj);
    /* The connection closed while the job was out; evhttp then freed the request, or (when
     * @detached) left it for us to free. */
    bool gone;
    bool detached;
};

static void job_free(struct http_job *hj)
{
    if (hj->cleanup)
        hj->cleanup(hj);
    cJSON_Delete(hj->resp);
    free(hj->hr.held_text);
    free(hj);
}

/* The connection of a request whose job is out closes: called before evhttp frees anything. */
static void job_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct http_job *hj = arg;

    hj->gone = true;
    hj->detached = evhttp_request_get_connection(hj->hr.req) == NULL;
}

/* On the loop: the job is over (and its group committed, or failed). Answer, then free it. */
static void job_done(struct work_job *j)
{
    struct http_job *hj = (struct http_job *)j;
    struct http_req *hr = &hj->hr;
    struct evhttp_connection *evcon;

    if (hj->gone) {
        /* Nobody to answer; what the job wrote stays written (a retry is idempotent). */
        log_debug("a client went away before its reply (%s)", hj->what);
        if (hj->detached)
            evhttp_request_free(hr->req);
        job_free(hj);
        return;
    }
    evcon = evhttp_request_get_connection(hr->req);
    if (evcon) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        evhttp_connection_set_timeout(evcon, (int)hr->sd->idle_timeout_s);
    }
    if (j->discard) {
        /* Shutting down with the loop gone: evhttp frees the request with its connection. */
        job_free(hj);
        return;
    }
    hr->conn = conn_of_request(hr->sd->conns, hr->req);
    if (hr->held_text)
        release_held(hr); /* the answer was decided before the job (a refused sync's report) */
    else if (j->group_err)
        reply_store_failure(hr, j->group_err, hj->what);
    else
        hj->finish(hj);
    if (!hr->replied) {
        log_error("no reply was made for a request; answering 500");
        reply_error(hr, 500, "internal_error", -1, NULL, -1,
                    "the server failed; nothing was written; retry later");
    }
    job_free(hj);
}

/* 503 queue_full: more requests wait for the store than --queue-depth. */
static void reply_queue_full(struct http_req *hr)
{
    static time_t logged;
    time_t now = time(NULL);

    if (now - logged >= 60) {
        log_warn("requests are waiting for the store faster than it answers: the queue is "
                 "full, so new ones get 503 queue_full; raise --queue-depth if this persists");
        logged = now;
    }
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After",
                            WORK_RETRY_AFTER);
    reply_error(hr, 503, "queue_full", -1, NULL, -1,
                "the server has too many requests waiting; nothing was written; retry in %s "
                "second%s", WORK_RETRY_AFTER, streq(WORK_RETRY_AFTER, "1") ? "" : "s");
}

/*
 * Hand @hj (allocated by the handler, with its functions set) to a worker: @run on a thread of
 * @kind. From here @hj is not the caller's: it is answered by job_done(), or, when the queue is
 * full or the server stopping, freed here with the 503 answered (or a held reply sent).
 */
static void job_submit(struct http_req *hr, struct http_job *hj, enum work_kind kind,
                       void (*run)(struct store *s, struct work_job *j))
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    int r;

    hj->hr = *hr;
    if (hr->device == hr->who.device_id)
        hj->hr.device = hj->hr.who.device_id; /* not the dispatcher's stack */
    hr->held_text = NULL; /* the job's now */
    hj->job.kind = kind;
    hj->job.run = run;
    hj->job.done = job_done;
    if (evcon) {
        evhttp_connection_set_closecb(evcon, job_conn_closed, hj);
        /* The device is waiting for us now, not we for it: evhttp's idle timeout must not hang
         * up on it while its job waits in a long queue (job_done() puts it back). */
        evhttp_connection_set_timeout(evcon, HTTP_JOB_TIMEOUT_S);
    }
    hr->deferred = true;
    r = work_submit(hr->sd->work, &hj->job);
    if (r == 0)
        return;
    hr->deferred = false;
    if (evcon) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        evhttp_connection_set_timeout(evcon, (int)hr->sd->idle_timeout_s);
    }
    hr->held_text = TAKE_PTR(hj->hr.held_text);
    job_free(hj);
    if (hr->held_text) {
        release_held(hr);
    } else if (r == -EAGAIN) {
        reply_queue_full(hr);
    } else {
        (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After", "1");
        reply_error(hr, 503, "busy", -1, NULL, -1,
                    "the server is stopping; nothing was written; retry in a few seconds");
    }
}

/* A new job of @type (a struct beginning with struct http_job) answered by @finish. */
#define JOB_NEW(type, fin, what_) job_new(sizeof(type), (fin), (what_))
static void *job_new(size_t size, void (*finish)(struct http_job *hj), const char *what)
{
    struct http_job *hj = calloc(1, size);

    if (hj) {
        hj->finish = finish;
        hj->what = what;
    }
    return hj;
}

/* The common ending of a job that returns hj.resp or fails only for the store's reasons. */
static void finish_resp(struct http_job *hj)
{
    if (hj->job.r < 0) {
        reply_store_failure(&hj->hr, hj->job.r, hj->what);
        return;
    }
    reply_json(&hj->hr, 200, hj->resp);
}


/* ---- request parsing ---- */

/* 413 body_too_large; @what: "is larger" or "inflates to more". */
static void reply_body_too_large(struct http_req *hr, const char *what)
{
    reply_error(hr, 413, "body_too_large", HTTP_BODY_MAX, NULL, -1,
                "request body %s than the limit of %u bytes; push fewer changes per request",
                what, HTTP_BODY_MAX);
}

/*
 * The request's Content-Encoding (PROTOCOL.md "Compression"): 0 and *ret_gzip, or replies 415
 * unsupported_encoding and returns -EOPNOTSUPP for anything but none, identity or gzip.
 */
static int request_encoding(struct http_req *hr, bool *ret_gzip)
{
    char shown[HTTP_LOG_URI_MAX + 1];
    const char *v;
    bool repeated;

    /* evhttp has trimmed the value's surrounding white space. One coding or none: a list
     * ("gzip, identity") is not worth the code paths it would open. */
    v = request_header(hr, "Content-Encoding", &repeated);
    if (!repeated && (!v || strcasecmp(v, "identity") == 0)) {
        *ret_gzip = false;
        return 0;
    }
    if (v && (strcasecmp(v, "gzip") == 0 || strcasecmp(v, "x-gzip") == 0)) {
        *ret_gzip = true;
        return 0;
    }
    /* RFC 7694: a 415 names the codings the server does accept. */
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Accept-Encoding",
                            "gzip");
    reply_error(hr, 415, "unsupported_encoding", -1, NULL, -1,
                "Content-Encoding '%s' is not supported; send the body uncompressed or as gzip, "
                "with one Content-Encoding header",
                repeated ? "(repeated)" : printable(v, true, shown));
    return -EOPNOTSUPP;
}

/*
 * The request body, decoded (PROTOCOL.md "Limits", "Compression"): 0 with *ret and *ret_len,
 * which point into the request or into *ret_owned (the caller frees it), or replies 413, 415 or
 * 400 and returns a negative errno. Neither the body as sent nor the body decoded may exceed
 * HTTP_BODY_MAX; inflating stops at the limit.
 */
static int request_body(struct http_req *hr, const char **ret, size_t *ret_len, void **ret_owned)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(hr->req);
    size_t len = evbuffer_get_length(in), n;
    const char *body = "";
    void *out = NULL;
    bool gzip;
    int r;

    if (len > HTTP_BODY_MAX) {
        reply_body_too_large(hr, "is larger");
        return -E2BIG;
    }
    r = request_encoding(hr, &gzip);
    if (r < 0)
        return r;
    if (len > 0) {
        body = (const char *)evbuffer_pullup(in, -1);
        if (!body) {
            send_oom(hr);
            return -ENOMEM;
        }
    }
    if (!gzip) {
        *ret = body;
        *ret_len = len;
        return 0;
    }
    r = gzip_inflate(body, len, HTTP_BODY_MAX, &out, &n);
    if (r == -E2BIG) {
        reply_body_too_large(hr, "inflates (Content-Encoding: gzip) to more");
        return r;
    }
    if (r == -ENOMEM) {
        send_oom(hr);
        return r;
    }
    if (r < 0) {
        reply_error(hr, 400, "malformed_json", -1, NULL, -1,
                    "the request body is not one complete gzip stream (Content-Encoding: gzip); "
                    "send it again, or uncompressed");
        return r;
    }
    *ret = out;
    *ret_len = n;
    *ret_owned = out;
    return 0;
}

/* ---- authentication ---- */

/* Authenticate the bearer token into hr->who. Returns 0, or replies and returns -errno. */
static int authenticate(struct http_req *hr)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr->req);
    const char *auth, *token;
    int r;

    auth = evhttp_find_header(evhttp_request_get_input_headers(hr->req), "Authorization");
    if (!auth) {
        (void)evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"caresync\"");
        reply_error(hr, 401, "missing_token", -1, NULL, -1,
                    "this request needs 'Authorization: Bearer <device token>'; enrol the "
                    "device first");
        return -EACCES;
    }
    token = auth;
    if (strncasecmp(token, "Bearer ", 7) == 0)
        token += 7;
    else
        token = "";
    while (*token == ' ')
        token++;
    r = *token && strlen(token) < STORE_TOKEN_MAX
                ? store_authenticate(hr->sd->auth_store, token, &hr->who)
                : -EACCES;
    if (r == -EACCES) {
        (void)evhttp_add_header(h, "WWW-Authenticate",
                                "Bearer realm=\"caresync\", error=\"invalid_token\"");
        reply_error(hr, 401, "invalid_token", -1, NULL, -1,
                    "the device token is not valid; enrol the device again");
        return r;
    }
    if (r == -EKEYREVOKED) {
        reply_error(hr, 401, "device_revoked", -1, NULL, -1,
                    "this device has been revoked; wipe its replica and enrol again");
        return r;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "authentication");
        return r;
    }
    hr->device = hr->who.device_id;
    conn_authenticated(hr->conn);
    return 0;
}

/* @what: "see the conflict log" or "resolve conflicts". */
static int require_coordinator(struct http_req *hr, const char *what)
{
    if (store_role_is_coordinator(hr->who.role))
        return 0;
    reply_error(hr, 403, "forbidden", -1, NULL, -1, "only coordinators can %s; ask a coordinator",
                what);
    return -EPERM;
}

/* ---- POST /v1/enrol ---- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Refill @b (@fails per @window_s seconds) to @now_ms. A new bucket starts full. */
static void bucket_refill(struct bucket *b, unsigned fails, unsigned window_s, int64_t now_ms)
{
    if (b->at_ms == 0)
        b->tokens = fails;
    else
        b->tokens += (double)(now_ms - b->at_ms) * fails / (window_s * 1000.0);
    if (b->tokens > fails)
        b->tokens = fails;
    b->at_ms = now_ms;
}

/* Whole seconds until @b (refilled) holds one token again; 0 when it holds one now. */
static unsigned bucket_wait_s(const struct bucket *b, unsigned fails, unsigned window_s)
{
    double ms;

    if (b->tokens >= 1.0)
        return 0;
    ms = (1.0 - b->tokens) * window_s * 1000.0 / fails;
    return (unsigned)(ms / 1000.0) + 1;
}

/*
 * The failed-enrolment bucket of client address @addr, refilled to @now_ms. An address not
 * remembered takes a free slot, else one whose bucket is full again (it tells nothing), else
 * the one used longest ago: the table is bounded, and the all-addresses bucket still holds
 * when an attacker has more addresses than it.
 */
static struct bucket *enrol_bucket(struct caresyncd *sd, const char *addr, int64_t now_ms)
{
    struct enrol_slot *pick = NULL;

    for (size_t i = 0; i < HTTP_ENROL_ADDRS; i++) {
        struct enrol_slot *e = &sd->enrol_addrs[i];

        if (streq(e->addr, addr)) {
            pick = e;
            break;
        }
        if (pick && !pick->addr[0])
            continue;
        if (!e->addr[0]) {
            pick = e;
            continue;
        }
        bucket_refill(&e->b, sd->enrol_addr_fails, sd->enrol_addr_window_s, now_ms);
        if (!pick || e->b.tokens >= sd->enrol_addr_fails ||
            (pick->b.tokens < sd->enrol_addr_fails && e->b.at_ms < pick->b.at_ms))
            pick = e;
    }
    if (!streq(pick->addr, addr)) {
        copy_text(pick->addr, sizeof(pick->addr), addr);
        pick->b = (struct bucket){0};
    }
    bucket_refill(&pick->b, sd->enrol_addr_fails, sd->enrol_addr_window_s, now_ms);
    return &pick->b;
}

/*
 * Before a code is looked at: 0, or replies 429 too_many_attempts with Retry-After and returns
 * -EBUSY when this address, or all of them together, have used up their failed attempts.
 * *ret_addr is the address's bucket, to charge a failure to.
 */
static int enrol_throttle(struct http_req *hr, struct bucket **ret_addr)
{
    struct caresyncd *sd = hr->sd;
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    int64_t now = monotonic_ms();
    char *addr = NULL, after[16];
    ev_uint16_t port;
    unsigned wait_addr, wait_all;

    if (evcon)
        evhttp_connection_get_peer(evcon, &addr, &port);
    *ret_addr = enrol_bucket(sd, addr ? addr : "-", now);
    bucket_refill(&sd->enrol_all, sd->enrol_all_fails, sd->enrol_all_window_s, now);
    wait_addr = bucket_wait_s(*ret_addr, sd->enrol_addr_fails, sd->enrol_addr_window_s);
    wait_all = bucket_wait_s(&sd->enrol_all, sd->enrol_all_fails, sd->enrol_all_window_s);
    if (wait_addr == 0 && wait_all == 0)
        return 0;
    snprintf(after, sizeof(after), "%u", wait_addr > wait_all ? wait_addr : wait_all);
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After", after);
    reply_error(hr, 429, "too_many_attempts", -1, NULL, -1,
                "too many wrong enrolment codes %s; wait %s seconds, then enrol with the code "
                "you were given",
                wait_addr ? "from this address" : "on this server", after);
    return -EBUSY;
}

/* A wrong code: charge one failure to the address and to the server. */
static void enrol_failed(struct caresyncd *sd, struct bucket *addr)
{
    addr->tokens = addr->tokens >= 1.0 ? addr->tokens - 1.0 : 0.0;
    sd->enrol_all.tokens = sd->enrol_all.tokens >= 1.0 ? sd->enrol_all.tokens - 1.0 : 0.0;
}

struct enrol_job {
    struct http_job hj;
    struct proto_enrol_request q;
    struct bucket *tries;
    double took_addr, took_all; /* failures charged in advance, refunded unless it was one */
    struct store_enrolment e;
};

static void enrol_run(struct store *s, struct work_job *j)
{
    struct enrol_job *ej = (struct enrol_job *)j;

    j->r = strlen(ej->q.code) <= HTTP_CODE_ARG_MAX
                   ? store_enrol(s, ej->q.code, ej->q.device_name, ej->q.client_version, &ej->e)
                   : -EACCES;
}

static void enrol_finish(struct http_job *hj)
{
    struct enrol_job *ej = (struct enrol_job *)hj;
    _cleanup_(proto_enrol_reply_done) struct proto_enrol_reply a = {0};
    _cleanup_json_ cJSON *resp = NULL;
    struct http_req *hr = &hj->hr;
    struct store_enrolment *e = &ej->e;
    int r = hj->job.r;

    if (r == -EACCES) {
        reply_error(hr, 401, "invalid_code", -1, NULL, -1,
                    "the enrolment code is unknown, already used or expired; ask for a new one "
                    "('caresyncd enrol')");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "enrolment");
        return;
    }
    hr->device = e->device_id;
    memcpy(a.device_id, e->device_id, UUID_STR_MAX);
    a.token = strdup(e->token);
    a.user = strdup(e->user);
    a.role = strdup(e->role);
    a.server_hlc = e->server_hlc;
    resp = a.token && a.user && a.role ? proto_enrol_reply_encode(&a) : NULL;
    if (a.token)
        explicit_bzero(a.token, strlen(a.token));
    if (!resp) {
        /* The device exists but its token is lost with this reply; it is never usable. */
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

/* A wrong code keeps the failure charged at submission; anything else gives it back. */
static void enrol_cleanup(struct http_job *hj)
{
    struct enrol_job *ej = (struct enrol_job *)hj;
    struct caresyncd *sd = hj->hr.sd;

    if (ej->tries && !(hj->job.r == -EACCES && !hj->job.group_err)) {
        ej->tries->tokens += ej->took_addr;
        sd->enrol_all.tokens += ej->took_all;
    }
    explicit_bzero(ej->e.token, sizeof(ej->e.token));
    proto_enrol_request_done(&ej->q);
}

static void handle_enrol(struct http_req *hr)
{
    _cleanup_free_ void *raw = NULL;
    struct proto_error err;
    struct enrol_job *ej;
    struct bucket *tries;
    const char *text;
    size_t len;
    int r;

    if (enrol_throttle(hr, &tries) < 0 || request_body(hr, &text, &len, &raw) < 0)
        return;
    ej = JOB_NEW(struct enrol_job, enrol_finish, "enrolment");
    if (!ej) {
        send_oom(hr);
        return;
    }
    ej->hj.cleanup = enrol_cleanup;
    r = proto_enrol_request_decode(text, len, &ej->q, &err);
    if (r < 0) {
        job_free(&ej->hj);
        reply_refused_body(hr, r, &err);
        return;
    }
    /* Charged now, so that guesses in flight together cannot outrun the throttle; given back
     * by enrol_cleanup() unless the code was wrong. The bucket outlives the job: slots are
     * only ever reused, never freed while the daemon runs. */
    ej->tries = tries;
    ej->took_addr = tries->tokens >= 1.0 ? 1.0 : tries->tokens;
    ej->took_all = hr->sd->enrol_all.tokens >= 1.0 ? 1.0 : hr->sd->enrol_all.tokens;
    enrol_failed(hr->sd, tries);
    job_submit(hr, &ej->hj, WORK_WRITE, enrol_run);
}

/* ---- POST /v1/sync ---- */

/* A POST /v1/sync: the decoded request, and what the store said. */
struct sync_job {
    struct http_job hj;
    struct proto_sync_request q;
    struct store_export_event *exports; /* strings in q */
    int64_t pending;
    struct store_device_report rep; /* strings in q */
    bool report_only;               /* refused on the loop: only record the report */
    struct proto_sync_reply reply;
    struct store_error err;
    int r_exports;
    struct store_sync_later *later; /* between the push and the page's end */
};

static void sync_cleanup(struct http_job *hj)
{
    struct sync_job *sj = (struct sync_job *)hj;

    store_sync_later_free(sj->later);

    proto_sync_reply_done(&sj->reply);
    proto_sync_request_done(&sj->q);
    free(sj->exports);
}

/* On a reader, once the push has committed: the page, from a snapshot that holds it. */
static void sync_page_run(struct store *s, struct work_job *j)
{
    struct sync_job *sj = (struct sync_job *)j;

    j->r = store_sync_page(s, &sj->hj.hr.who, sj->later, &sj->reply, &sj->err);
    if (j->r < 0)
        j->then = NULL; /* no cursor was given: nothing to record */
}

/* On the writer again: the page's audit, the device's report and notices, the sealed cursor
 * and what the device was given, committed with the reply. */
static void sync_end_run(struct store *s, struct work_job *j)
{
    struct sync_job *sj = (struct sync_job *)j;

    j->r = store_sync_end(s, &sj->hj.hr.who, sj->later, &sj->rep, sj->pending, &sj->reply,
                          &sj->err);
}

/*
 * On the writer: the sync's push (and the device's offline exports), committed; then, for a
 * pull, its page on a reader (sync_page_run()) and its end on the writer (sync_end_run()), so
 * that the writer thread does not spend its time reading pages while pushes wait
 * (docs/ARCHITECTURE.md "Threads"). A batch the store refuses (4xx) is what sync health is for:
 * the device's report is recorded then, in its own transaction. Not for 5xx, when the store
 * itself is in trouble.
 */
static void sync_run(struct store *s, struct work_job *j)
{
    struct sync_job *sj = (struct sync_job *)j;
    const struct store_principal *who = &sj->hj.hr.who;
    bool refused;
    int r, status;

    if (sj->report_only) {
        r = store_device_report(s, who, &sj->rep, false, NULL);
        if (r < 0)
            log_warn("recording the sync report of device %s failed: %s", who->device_id,
                     strerror(-r));
        return;
    }
    j->r = store_sync_push(s, who, sj->q.changes, sj->q.n_changes, sj->q.cursor, sj->q.pull,
                           sj->pending, sj->q.client_version, &sj->rep, &sj->reply, &sj->err,
                           &sj->later);
    if (j->r >= 0) {
        /* After the sync: refused, the device sends them again; repeated, none is doubled. */
        sj->r_exports = store_audit_device_exports(s, who, sj->exports, sj->q.n_exports);
        if (sj->later && sj->r_exports >= 0) {
            j->after = sync_page_run;
            j->then = sync_end_run;
        }
        return;
    }
    status = proto_error_status(sj->err.code);
    refused = j->r != -ENOSPC && sj->err.code && status >= 400 && status < 500;
    if (refused && !store_group_lost(s)) {
        r = store_device_report(s, who, &sj->rep, false, NULL);
        if (r < 0)
            log_warn("recording the sync report of device %s failed: %s", who->device_id,
                     strerror(-r));
    }
}

static void sync_finish(struct http_job *hj)
{
    struct sync_job *sj = (struct sync_job *)hj;
    struct http_req *hr = &hj->hr;
    struct store_error *err = &sj->err;
    _cleanup_json_ cJSON *resp = NULL;
    int r = hj->job.r, status;

    if (r < 0) {
        if (!err->code) {
            reply_store_failure(hr, r, "sync");
            return;
        }
        status = proto_error_status(err->code);
        if (r == -ENOSPC) {
            reply_storage_full(hr, "sync");
            return;
        }
        if (status >= 500)
            log_error("sync for device %s failed: %s: %s", hr->who.device_id, err->code,
                      err->message);
        if (status == 503 || status == 429)
            (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After",
                                    status == 503 ? "1" : "3600");
        reply_error(hr, status, err->code, -1, NULL, err->index, "%s", err->message);
        return;
    }
    if (sj->r_exports < 0) {
        reply_store_failure(hr, sj->r_exports, "recording the device's exports");
        return;
    }
    /* What every successful sync reply also carries: the device policy. */
    sj->reply.has_policy = true;
    sj->reply.lock_after_days = hr->sd->lock_after_days;
    resp = proto_sync_reply_encode(&sj->reply);
    if (!resp) {
        send_oom(hr);
        return;
    }
    metrics_sync(resp);
    reply_json(hr, 200, resp);
}

/*
 * Decode POST /v1/sync into @sj. sj->rep receives the device's sync-health report once the
 * body is parsed (*ret_parsed set), so that a refused sync can still be recorded; its strings
 * point into sj->q. Returns 0, or replies and returns -errno.
 */
static int sync_decode(struct http_req *hr, struct sync_job *sj, bool *ret_parsed)
{
    struct proto_sync_request *q = &sj->q;
    struct store_device_report *rep = &sj->rep;
    _cleanup_free_ void *raw = NULL;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    if (authenticate(hr) < 0 || request_body(hr, &text, &len, &raw) < 0)
        return -EBADMSG;
    r = proto_sync_request_decode(text, len, q, &bad);
    if (q->report_decoded) {
        *ret_parsed = true;
        if (q->has_oldest_pending_ms)
            rep->oldest_pending_ms = (int64_t)q->oldest_pending_ms;
        rep->last_error = q->last_error;
        rep->has_last_error = q->has_last_error;
        rep->device_time = q->device_time;
        rep->device_ms = q->device_ms;
    }
    sj->pending = q->has_pending ? (int64_t)q->pending : -1;
    /* What waits on the device, should this batch be refused: the batch and the rest. */
    if (q->batch_size >= 0)
        rep->pending = (sj->pending >= 0 ? sj->pending : 0) + q->batch_size;
    if (r < 0) {
        reply_refused_body(hr, r, &bad);
        return r;
    }
    sj->exports = calloc(q->n_exports + 1, sizeof(*sj->exports));
    if (!sj->exports) {
        send_oom(hr);
        return -ENOMEM;
    }
    for (size_t i = 0; i < q->n_exports; i++)
        sj->exports[i] = (struct store_export_event){q->exports[i].person_id, q->exports[i].at};
    return 0;
}

static void handle_sync(struct http_req *hr)
{
    struct sync_job *sj = JOB_NEW(struct sync_job, sync_finish, "sync");
    bool parsed = false;

    if (!sj) {
        send_oom(hr);
        return;
    }
    sj->rep = (struct store_device_report){.oldest_pending_ms = -1, .pending = -1};
    sj->err.index = -1;
    sj->hj.cleanup = sync_cleanup;
    /* A refusal made here is kept until the device's report is recorded (below). */
    hr->hold = true;
    if (sync_decode(hr, sj, &parsed) == 0) {
        hr->hold = false;
        job_submit(hr, &sj->hj, WORK_WRITE, sync_run);
        return;
    }
    hr->hold = false;
    /* A refused batch (4xx) is what sync health is for: record what the device said, then
     * answer. Not for 5xx, when the store itself is in trouble, nor for a success (recorded
     * in the sync's own transaction). */
    if (parsed && hr->status >= 400 && hr->status < 500) {
        sj->report_only = true;
        job_submit(hr, &sj->hj, WORK_WRITE, sync_run);
        return;
    }
    job_free(&sj->hj);
    release_held(hr);
}

/* ---- GET /v1/conflicts ---- */

/*
 * Parse the query of GET /v1/conflicts into *f and *mine. @params is the parsed query; the
 * values stay borrowed from it. Returns 0, or replies 400 and returns -EBADMSG.
 */
static int conflict_filter(struct http_req *hr, const struct evkeyvalq *params,
                           struct store_conflict_filter *f, bool *mine)
{
    static const char *const names[] = {"status", "person", "worker", "table",
                                        "kind",   "priority", "mine"};
    const char **slots[] = {&f->status, &f->person_id, &f->worker, &f->table,
                            &f->kind,   &f->priority,  NULL};
    const char *mine_s = NULL;
    const struct evkeyval *kv;
    char echo[HTTP_ECHO_MAX];

    TAILQ_FOREACH (kv, params, next) {
        size_t k = 0;
        const char **slot;

        while (k < ELEMENTSOF(names) && !streq(kv->key, names[k]))
            k++;
        if (k == ELEMENTSOF(names)) {
            reply_error(hr, 400, "unknown_field", -1, kv->key, -1,
                        "unknown query parameter '%s'; use status, person, worker, table, kind,"
                        " priority or mine",
                        proto_clip(kv->key, echo, sizeof(echo)));
            return -EBADMSG;
        }
        slot = slots[k] ? slots[k] : &mine_s;
        if (*slot) {
            reply_error(hr, 400, "invalid_value", -1, kv->key, -1,
                        "query parameter '%s' is given twice; give it once", names[k]);
            return -EBADMSG;
        }
        *slot = kv->value;
    }
    if (f->status && !streq(f->status, "open") && !streq(f->status, "resolved") &&
        !streq(f->status, "all")) {
        reply_error(hr, 400, "invalid_value", -1, "status", -1,
                    "status must be 'open', 'resolved' or 'all'");
        return -EBADMSG;
    }
    if (f->person_id && !uuid_valid(f->person_id)) {
        reply_error(hr, 400, "invalid_value", -1, "person", -1,
                    "person must be a person's id (a lower-case UUID)");
        return -EBADMSG;
    }
    if (f->worker && !access_user_valid(f->worker)) {
        reply_error(hr, 400, "invalid_value", -1, "worker", -1,
                    "worker must be a user name (letters, digits, '.', '_' and '-')");
        return -EBADMSG;
    }
    if (f->table && !catalogue_table(f->table)) {
        reply_error(hr, 400, "invalid_value", -1, "table", -1,
                    "table must be a synced table, such as person, goal or alert");
        return -EBADMSG;
    }
    if (f->kind && !store_conflict_kind_valid(f->kind)) {
        reply_error(hr, 400, "invalid_value", -1, "kind", -1,
                    "kind must be concurrent_edit, edit_after_delete, out_of_scope,"
                    " missed_vs_completed or append_only");
        return -EBADMSG;
    }
    if (f->priority && !streq(f->priority, "high") && !streq(f->priority, "normal")) {
        reply_error(hr, 400, "invalid_value", -1, "priority", -1,
                    "priority must be 'high' or 'normal'");
        return -EBADMSG;
    }
    if (mine_s && !streq(mine_s, "1") && !streq(mine_s, "0")) {
        reply_error(hr, 400, "invalid_value", -1, "mine", -1, "mine must be 1 or 0");
        return -EBADMSG;
    }
    *mine = mine_s && streq(mine_s, "1");
    return 0;
}

struct conflicts_job {
    struct http_job hj;
    struct evkeyvalq params; /* the filter's strings */
    struct store_conflict_filter f;
};

static void conflicts_cleanup(struct http_job *hj)
{
    evhttp_clear_headers(&((struct conflicts_job *)hj)->params);
}

static void conflicts_run(struct store *s, struct work_job *j)
{
    struct conflicts_job *cj = (struct conflicts_job *)j;

    _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0};

    j->r = store_conflicts_query(s, &cj->f, &a);
    if (j->r >= 0 && !(cj->hj.resp = proto_conflicts_encode(&a)))
        j->r = -ENOMEM;
}

static void handle_conflicts(struct http_req *hr)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(hr->req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct conflicts_job *cj;
    bool mine = false;
    int r;

    if (authenticate(hr) < 0)
        return;
    cj = JOB_NEW(struct conflicts_job, finish_resp, "listing conflicts");
    if (!cj) {
        send_oom(hr);
        return;
    }
    TAILQ_INIT(&cj->params);
    cj->hj.cleanup = conflicts_cleanup;
    if (query && evhttp_parse_query_str(query, &cj->params) < 0) {
        job_free(&cj->hj);
        reply_error(hr, 400, "invalid_value", -1, NULL, -1,
                    "the query string does not parse; use e.g. ?status=open&kind=concurrent_edit");
        return;
    }
    r = conflict_filter(hr, &cj->params, &cj->f, &mine);
    /* Every worker may see the conflicts their own values lost; the log is the coordinators'. */
    if (r >= 0 && !mine)
        r = require_coordinator(hr, "see the whole conflict log (anyone may list their own"
                                        " lost values with ?mine=1)");
    if (r < 0) {
        job_free(&cj->hj);
        return;
    }
    if (mine)
        cj->f.loser_user_id = hr->who.user_id;
    cj->f.viewer = &cj->hj.hr.who; /* the job's copy of the request */
    job_submit(hr, &cj->hj, WORK_READ, conflicts_run);
}

/*
 * The start every coordinator's POST with a body shares: authenticate, check the role (for
 * @to_do), read the body (*text, *len; *raw owns it when it had to be inflated), and a new job
 * of @size answered by @finish. NULL when the request was answered already (refused, or out of
 * memory).
 */
static void *coordinator_job_new(struct http_req *hr, const char *to_do, size_t size,
                                 void (*finish)(struct http_job *hj), const char *what,
                                 const char **text, size_t *len, void **raw)
{
    struct http_job *hj;

    if (authenticate(hr) < 0 || require_coordinator(hr, to_do) < 0 ||
        request_body(hr, text, len, raw) < 0)
        return NULL;
    hj = job_new(size, finish, what);
    if (!hj)
        send_oom(hr);
    return hj;
}

/* ---- POST /v1/conflicts/{id}/resolve ---- */

struct resolve_job {
    struct http_job hj;
    int64_t id;
    struct proto_resolve_request q;
    const char *why; /* static */
};

static void resolve_cleanup(struct http_job *hj)
{
    proto_resolve_request_done(&((struct resolve_job *)hj)->q);
}

static void resolve_run(struct store *s, struct work_job *j)
{
    struct resolve_job *rj = (struct resolve_job *)j;

    _cleanup_(proto_conflict_done) struct proto_conflict a = {0};

    j->r = store_conflict_resolve(s, &rj->hj.hr.who, rj->id, rj->q.action, rj->q.value,
                                  rj->q.reason, &a, &rj->why);
    if (j->r >= 0 && !(rj->hj.resp = proto_resolve_reply_encode(&a)))
        j->r = -ENOMEM;
}

static void resolve_finish(struct http_job *hj)
{
    struct resolve_job *rj = (struct resolve_job *)hj;
    struct http_req *hr = &hj->hr;
    const char *why = rj->why;
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no conflict with id %" PRId64 "; list them with GET /v1/conflicts?status=all",
                    rj->id);
        return;
    }
    if (r == -EINVAL || r == -E2BIG) {
        bool about_reason = why && strstr(why, "reason");

        reply_error(hr, 400, r == -E2BIG ? "value_too_long" : "invalid_value", -1,
                    about_reason                    ? "reason"
                    : streq(rj->q.action, "value") ? "value"
                                                    : "action",
                    -1, "%s; nothing was written",
                    why ? why : "the resolution is not valid for this conflict");
        return;
    }
    finish_resp(hj);
}

static void handle_resolve(struct http_req *hr, int64_t id)
{
    _cleanup_free_ void *raw = NULL;
    struct resolve_job *rj;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    rj = coordinator_job_new(hr, "resolve conflicts", sizeof(*rj), resolve_finish, "resolving a conflict", &text, &len, &raw);
    if (!rj)
        return;
    rj->hj.cleanup = resolve_cleanup;
    rj->id = id;
    r = proto_resolve_request_decode(text, len, &rj->q, &bad);
    if (r < 0) {
        job_free(&rj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    job_submit(hr, &rj->hj, WORK_WRITE, resolve_run);
}

/* ---- POST /v1/rows/restore ---- */

struct restore_job {
    struct http_job hj;
    struct proto_restore_request q;
    struct proto_restore_reply a;
    const char *why; /* static */
};

static void restore_cleanup(struct http_job *hj)
{
    proto_restore_request_done(&((struct restore_job *)hj)->q);
}

static void restore_run(struct store *s, struct work_job *j)
{
    struct restore_job *rj = (struct restore_job *)j;

    j->r = store_row_restore(s, &rj->hj.hr.who, rj->q.table, rj->q.row_id, rj->q.reason, &rj->a,
                             &rj->why);
}

static void restore_finish(struct http_job *hj)
{
    struct restore_job *rj = (struct restore_job *)hj;
    struct http_req *hr = &hj->hr;
    const char *why = rj->why;
    _cleanup_json_ cJSON *resp = NULL;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no %s row with id %s; check the id",
                    rj->q.table, proto_clip(rj->q.row_id, echo, sizeof(echo)));
        return;
    }
    if (r == -EALREADY) {
        reply_error(hr, 409, "not_deleted", -1, "row_id", -1,
                    "%s %s is not deleted; nothing was written", rj->q.table,
                    proto_clip(rj->q.row_id, echo, sizeof(echo)));
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1,
                    why && strstr(why, "reason") ? "reason" : "table", -1,
                    "%s; nothing was written", why ? why : "the restore is not valid");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "restoring a row");
        return;
    }
    resp = proto_restore_reply_encode(&rj->a);
    if (!resp) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_restore_row(struct http_req *hr)
{
    _cleanup_free_ void *raw = NULL;
    struct restore_job *rj;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    rj = coordinator_job_new(hr, "restore deleted rows", sizeof(*rj), restore_finish, "restoring a row", &text, &len, &raw);
    if (!rj)
        return;
    rj->hj.cleanup = restore_cleanup;
    r = proto_restore_request_decode(text, len, &rj->q, &bad);
    if (r < 0) {
        job_free(&rj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    job_submit(hr, &rj->hj, WORK_WRITE, restore_run);
}

/* ---- GET /v1/people/{id}/fhir ---- */

/* A job about one person (or device) named in the path. */
struct person_job {
    struct http_job hj;
    char person_id[HTTP_ECHO_MAX];
    int r2; /* a second store call's result */
    const char *why; /* static */
    cJSON *extra;
    struct proto_team team;
    struct proto_named_coordinator_request named;
    struct proto_lifecycle_request life;
    const struct lifecycle_route *route;
};

static void person_cleanup(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;

    cJSON_Delete(pj->extra);
    proto_team_done(&pj->team);
    proto_lifecycle_request_done(&pj->life);
}

static struct person_job *person_job_new(struct http_req *hr, const char *person_id,
                                         void (*finish)(struct http_job *hj), const char *what)
{
    struct person_job *pj = JOB_NEW(struct person_job, finish, what);

    if (!pj) {
        send_oom(hr);
        return NULL;
    }
    copy_text(pj->person_id, sizeof(pj->person_id), person_id);
    pj->hj.cleanup = person_cleanup;
    return pj;
}

/* On a reader: the record, as a FHIR bundle. */
static void fhir_read(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;
    char now[ISO_TIME_MAX];

    j->r = store_person_tree(s, pj->person_id, &pj->extra);
    if (j->r < 0)
        return;
    pj->hj.resp = fhir_bundle(pj->extra, iso_time(hlc_wall_ms(), now));
    if (!pj->hj.resp)
        j->r = -ENOMEM;
}

/* Then on the writer: audited before it leaves the store; an export that cannot be audited is
 * not made. */
static void fhir_audit(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    if (j->r >= 0)
        pj->r2 = store_export_audit(s, &pj->hj.hr.who, pj->person_id, "fhir-r4");
}

static void fhir_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    struct http_req *hr = &hj->hr;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s; check the id (a lower-case UUID)",
                    proto_clip(pj->person_id, echo, sizeof(echo)));
        return;
    }
    if (r == -ENOMEM) {
        send_oom(hr);
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "reading a person's record");
        return;
    }
    if (pj->r2 < 0) {
        reply_store_failure(hr, pj->r2, "recording an export in the audit log");
        return;
    }
    hr->content_type = "application/fhir+json";
    reply_json(hr, 200, hj->resp);
}

static void handle_fhir(struct http_req *hr, const char *person_id)
{
    struct person_job *pj;
    char echo[HTTP_ECHO_MAX];

    if (authenticate(hr) < 0 || require_coordinator(hr, "export a person's record") < 0)
        return;
    if (!uuid_valid(person_id)) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s; check the id (a lower-case UUID)",
                    proto_clip(person_id, echo, sizeof(echo)));
        return;
    }
    pj = person_job_new(hr, person_id, fhir_finish, "reading a person's record");
    if (!pj)
        return;
    pj->hj.job.then = fhir_audit;
    job_submit(hr, &pj->hj, WORK_READ, fhir_read);
}

/* ---- GET /v1/devices, POST /v1/devices/{id}/revoke ---- */

/* A request that carries nothing: an empty body or {}. 0, or replies 400 and returns -errno. */
static int request_none(struct http_req *hr)
{
    _cleanup_free_ void *raw = NULL;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    if (evbuffer_get_length(evhttp_request_get_input_buffer(hr->req)) == 0)
        return 0;
    r = request_body(hr, &text, &len, &raw);
    if (r < 0)
        return r;
    r = proto_empty_request_decode(text, len, &bad);
    if (r < 0)
        reply_refused_body(hr, r, &bad);
    return r;
}

static void devices_run(struct store *s, struct work_job *j)
{
    _cleanup_(proto_devices_done) struct proto_devices a = {0};

    j->r = store_devices_health(s, &a);
    if (j->r >= 0 && !(((struct http_job *)j)->resp = proto_devices_encode(&a)))
        j->r = -ENOMEM;
}

static void handle_devices(struct http_req *hr)
{
    struct http_job *hj;

    if (authenticate(hr) < 0 || require_coordinator(hr, "see the devices") < 0)
        return;
    hj = JOB_NEW(struct http_job, finish_resp, "listing devices");
    if (!hj) {
        send_oom(hr);
        return;
    }
    job_submit(hr, hj, WORK_READ, devices_run);
}

static void revoke_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_device_revoke_by(s, &pj->hj.hr.who, pj->person_id);
}

static void revoke_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    struct http_req *hr = &hj->hr;
    _cleanup_json_ cJSON *resp = NULL;
    struct proto_revoke_reply a = {0};
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no device with id %s; list them with GET /v1/devices",
                    proto_clip(pj->person_id, echo, sizeof(echo)));
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "revoking a device");
        return;
    }
    a.revoked = true;
    a.already = r == 0;
    memcpy(a.device_id, pj->person_id, UUID_STR_MAX);
    resp = proto_revoke_reply_encode(&a);
    if (!resp) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_revoke(struct http_req *hr, const char *device_id)
{
    struct person_job *pj;
    char echo[HTTP_ECHO_MAX];

    if (authenticate(hr) < 0 || require_coordinator(hr, "revoke devices") < 0 ||
        request_none(hr) < 0)
        return;
    if (!uuid_valid(device_id)) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no device with id %s; list them with GET /v1/devices",
                    proto_clip(device_id, echo, sizeof(echo)));
        return;
    }
    /* A person job carries the device's id in person_id. */
    pj = person_job_new(hr, device_id, revoke_finish, "revoking a device");
    if (pj)
        job_submit(hr, &pj->hj, WORK_WRITE, revoke_run);
}

/* ---- caseload: POST /v1/assignments, /v1/assignments/transfer, named coordinator, team ---- */

/* 404 for store -ENOENT about @which ("person", "user", "assignment"). */
/* 409: @user is disabled (a leaver) and takes on nobody new. */
static void reply_user_disabled(struct http_req *hr, const char *user)
{
    reply_error(hr, 409, "user_disabled", -1, "user", -1,
                "%s is disabled (a leaver) and takes on nobody new; choose a worker who is "
                "still here", user);
}

static void reply_caseload_missing(struct http_req *hr, const char *which, const char *person,
                                   const char *user)
{
    char e1[HTTP_ECHO_MAX];

    if (streq(which, "user"))
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no user named %s; list the staff with 'caresyncd user list'",
                    proto_clip(user, e1, sizeof(e1)));
    else if (streq(which, "assignment"))
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "%s does not have person %s on their caseload; nothing was changed",
                    proto_clip(user, e1, sizeof(e1)), person);
    else
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no person with id %s", person);
}

struct caseload_job {
    struct http_job hj;
    struct proto_assignment assign;
    struct proto_transfer_request transfer;
    struct proto_transfer_reply moved;
    const char *which; /* static */
};

static void caseload_cleanup(struct http_job *hj)
{
    proto_transfer_reply_done(&((struct caseload_job *)hj)->moved);
}

static void assignment_run(struct store *s, struct work_job *j)
{
    struct caseload_job *cj = (struct caseload_job *)j;

    j->r = store_caseload_assign(s, &cj->hj.hr.who, cj->assign.person_id, cj->assign.user,
                                 streq(cj->assign.action, "assign"), &cj->which);
}

static void assignment_finish(struct http_job *hj)
{
    struct caseload_job *cj = (struct caseload_job *)hj;
    struct proto_assignment *q = &cj->assign;
    struct http_req *hr = &hj->hr;
    _cleanup_json_ cJSON *resp = NULL;
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_caseload_missing(hr, cj->which, q->person_id, q->user);
        return;
    }
    if (r == -EPERM) {
        reply_user_disabled(hr, q->user);
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, "user", -1,
                    "an admin account holds no caseload; assign a worker");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "changing a caseload");
        return;
    }
    q->changed = r > 0;
    resp = proto_assignment_reply_encode(q);
    if (!resp) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_assignment(struct http_req *hr)
{
    _cleanup_free_ void *raw = NULL;
    struct caseload_job *cj;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    cj = coordinator_job_new(hr, "change caseloads", sizeof(*cj), assignment_finish, "changing a caseload", &text, &len, &raw);
    if (!cj)
        return;
    cj->hj.cleanup = caseload_cleanup;
    cj->which = "person";
    r = proto_assignment_request_decode(text, len, &cj->assign, &bad);
    if (r < 0) {
        job_free(&cj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    job_submit(hr, &cj->hj, WORK_WRITE, assignment_run);
}

static void transfer_run(struct store *s, struct work_job *j)
{
    struct caseload_job *cj = (struct caseload_job *)j;
    struct proto_transfer_request *q = &cj->transfer;

    j->r = store_caseload_transfer(s, &cj->hj.hr.who, q->from, q->to,
                                   q->has_person ? q->person_id : NULL, &cj->moved, &cj->which);
}

static void transfer_finish(struct http_job *hj)
{
    struct caseload_job *cj = (struct caseload_job *)hj;
    struct proto_transfer_request *q = &cj->transfer;
    const char *person = q->has_person ? q->person_id : NULL, *which = cj->which;
    struct http_req *hr = &hj->hr;
    _cleanup_json_ cJSON *resp = NULL;
    char e1[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT && streq(which, "user")) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no user named %s, or none named %s; list the staff with 'caresyncd user"
                    " list'; nothing was changed",
                    proto_clip(q->from, e1, sizeof(e1)), q->to);
        return;
    }
    if (r == -ENOENT) {
        reply_caseload_missing(hr, which, person ? person : "-", q->from);
        return;
    }
    if (r == -EPERM) {
        reply_user_disabled(hr, q->to);
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, "to", -1,
                    streq(q->from, q->to) ? "'from' and 'to' are the same user (%s)"
                                          : "%s is an admin account, which holds no caseload",
                    proto_clip(q->to, e1, sizeof(e1)));
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "transferring a caseload");
        return;
    }
    resp = proto_transfer_reply_encode(&cj->moved);
    if (!resp) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_transfer(struct http_req *hr)
{
    _cleanup_free_ void *raw = NULL;
    struct caseload_job *cj;
    struct proto_error bad;
    const char *text;
    size_t len;
    int r;

    cj = coordinator_job_new(hr, "transfer caseloads", sizeof(*cj), transfer_finish, "transferring a caseload", &text, &len, &raw);
    if (!cj)
        return;
    cj->hj.cleanup = caseload_cleanup;
    cj->which = "user";
    r = proto_transfer_request_decode(text, len, &cj->transfer, &bad);
    if (r < 0) {
        job_free(&cj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    job_submit(hr, &cj->hj, WORK_WRITE, transfer_run);
}

/* The named coordinator is set, then the team read back, in one job on the writer. */
static void named_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_named_coordinator_set(s, &pj->hj.hr.who, pj->person_id, pj->named.user,
                                       &pj->why);
    if (j->r >= 0)
        pj->r2 = store_person_team(s, &pj->hj.hr.who, pj->person_id, &pj->team);
}

/* The team in pj->team as the reply (GET .../team, POST .../named-coordinator). */
static void reply_team(struct person_job *pj)
{
    _cleanup_json_ cJSON *resp = proto_team_encode(&pj->team);

    if (!resp) {
        send_oom(&pj->hj.hr);
        return;
    }
    reply_json(&pj->hj.hr, 200, resp);
}

static void named_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    struct http_req *hr = &hj->hr;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "%s (person %s, user %s)", pj->why,
                    proto_clip(pj->person_id, echo, sizeof(echo)), pj->named.user);
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, "user", -1, "%s; nothing was changed",
                    pj->why);
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "setting a named coordinator");
        return;
    }
    if (pj->r2 < 0) {
        reply_store_failure(hr, pj->r2, "reading the team");
        return;
    }
    reply_team(pj);
}

static void handle_named_coordinator(struct http_req *hr, const char *person_id)
{
    _cleanup_free_ void *raw = NULL;
    struct person_job *pj;
    struct proto_error bad;
    char echo[HTTP_ECHO_MAX];
    const char *text;
    size_t len;
    int r;

    if (authenticate(hr) < 0 || require_coordinator(hr, "set a named coordinator") < 0 ||
        request_body(hr, &text, &len, &raw) < 0)
        return;
    pj = person_job_new(hr, person_id, named_finish, "setting a named coordinator");
    if (!pj)
        return;
    pj->why = "no such person or user";
    r = proto_named_coordinator_request_decode(text, len, &pj->named, &bad);
    if (r < 0) {
        job_free(&pj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    if (!uuid_valid(person_id)) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "%s (person %s, user %s)", pj->why,
                    proto_clip(person_id, echo, sizeof(echo)), pj->named.user);
        job_free(&pj->hj);
        return;
    }
    job_submit(hr, &pj->hj, WORK_WRITE, named_run);
}

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice ---- */

/* The body's member, what a refusal calls it and the action, of each route (the table of
 * routes, below, names their paths in this order). */
static const struct lifecycle_route {
    const char *key, *what;
    enum store_person_action action;
} lifecycle_routes[] = {
        {NULL, "accept a referral", STORE_PERSON_ACCEPT},
        {"reason", "close a record", STORE_PERSON_CLOSE},
        {NULL, "reopen a record", STORE_PERSON_REOPEN},
        {"nhs_number", "set an NHS number", STORE_PERSON_SET_NHS},
        {"gp_practice", "set a GP practice", STORE_PERSON_SET_GP},
};

static void lifecycle_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    _cleanup_(proto_person_done) struct proto_person person = {0};

    j->r = store_person_lifecycle(s, &pj->hj.hr.who, pj->person_id, pj->route->action,
                                  pj->route->key ? pj->life.arg : NULL, &person, &pj->why);
    if (j->r >= 0 && !(pj->hj.resp = proto_lifecycle_reply_encode(&person)))
        j->r = -ENOMEM;
}

static void lifecycle_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    const struct lifecycle_route *route = pj->route;
    struct http_req *hr = &hj->hr;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no person with id %s; check the id",
                    proto_clip(pj->person_id, echo, sizeof(echo)));
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, route->key, -1, "%s; nothing was written",
                    pj->why ? pj->why : "the value is not valid");
        return;
    }
    if (r == -EALREADY) {
        reply_error(hr, 409, "wrong_status", -1, NULL, -1, "%s; nothing was written",
                    pj->why ? pj->why : "the record's status does not allow this");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, route->what);
        return;
    }
    reply_json(hr, 200, hj->resp);
}

static void handle_lifecycle(struct http_req *hr, const char *person_id,
                             const struct lifecycle_route *route)
{
    _cleanup_free_ void *raw = NULL;
    struct person_job *pj;
    struct proto_error bad;
    char echo[HTTP_ECHO_MAX];
    const char *text;
    size_t len;
    int r;

    if (authenticate(hr) < 0 || require_coordinator(hr, route->what) < 0 ||
        request_body(hr, &text, &len, &raw) < 0)
        return;
    pj = person_job_new(hr, person_id, lifecycle_finish, route->what);
    if (!pj)
        return;
    pj->route = route;
    r = proto_lifecycle_request_decode(text, len, route->key, &pj->life, &bad);
    if (r < 0) {
        job_free(&pj->hj);
        reply_refused_body(hr, r, &bad);
        return;
    }
    if (!uuid_valid(person_id)) {
        job_free(&pj->hj);
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no person with id %s; check the id",
                    proto_clip(person_id, echo, sizeof(echo)));
        return;
    }
    job_submit(hr, &pj->hj, WORK_WRITE, lifecycle_run);
}

static void team_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_person_team(s, &pj->hj.hr.who, pj->person_id, &pj->team);
}

static void team_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    char echo[HTTP_ECHO_MAX];

    if (hj->job.r == -ENOENT) {
        reply_error(&hj->hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s on your caseload; check the id",
                    proto_clip(pj->person_id, echo, sizeof(echo)));
        return;
    }
    if (hj->job.r < 0) {
        reply_store_failure(&hj->hr, hj->job.r, "reading the team");
        return;
    }
    reply_team(pj);
}

static void handle_team(struct http_req *hr, const char *person_id)
{
    struct person_job *pj;
    char echo[HTTP_ECHO_MAX];

    if (authenticate(hr) < 0)
        return;
    if (!uuid_valid(person_id)) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s on your caseload; check the id",
                    proto_clip(person_id, echo, sizeof(echo)));
        return;
    }
    pj = person_job_new(hr, person_id, team_finish, "reading the team");
    if (pj)
        job_submit(hr, &pj->hj, WORK_READ, team_run);
}

/* ---- strict framing ---- */

/*
 * A body is framed by exactly one Content-Length of plain decimal digits (PROTOCOL.md "Strict
 * requests"). evhttp takes the first of several Content-Length lines, accepts "+44", and
 * prefers Transfer-Encoding to Content-Length; a proxy in front may frame the same bytes
 * differently and smuggle a second request in the body. So anything else is refused with 400
 * and the connection is closed before evhttp reads a next request from it. Returns true when
 * the request may be handled, or replies and returns false. (evhttp itself refuses, with its
 * own HTML 400 and a close, a Content-Length strtoll() does not read whole, such as "4 4".)
 */
static bool request_framing_ok(struct http_req *hr)
{
    const struct evkeyval *kv;
    const char *why = NULL;
    unsigned lengths = 0;

    TAILQ_FOREACH (kv, evhttp_request_get_input_headers(hr->req), next) {
        if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
            why = "Transfer-Encoding is not accepted; send the body with one Content-Length";
            break;
        }
        if (strcasecmp(kv->key, "Content-Length") != 0)
            continue;
        if (++lengths > 1) {
            why = "more than one Content-Length header; send exactly one";
            break;
        }
        if (!kv->value[0] || strspn(kv->value, "0123456789") != strlen(kv->value)) {
            why = "Content-Length must be plain decimal digits";
            break;
        }
    }
    if (!why)
        return true;
    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Connection", "close");
    reply_error(hr, 400, "bad_request", -1, NULL, -1,
                "%s; nothing was processed and the connection is closed", why);
    return false;
}

/* ---- the web console (console.c): a request as a struct in, a reply as a struct out ---- */

static enum console_method console_method_of(enum evhttp_cmd_type m)
{
    return m == EVHTTP_REQ_GET    ? CONSOLE_GET
           : m == EVHTTP_REQ_HEAD ? CONSOLE_HEAD
           : m == EVHTTP_REQ_POST ? CONSOLE_POST
                                  : CONSOLE_OTHER;
}

/*
 * A console request whose answer needs the store: its strings copied off the request (the
 * worker reads them; evhttp may free the request meanwhile), console_handle() run on the
 * writer, which alone touches the console's sessions and throttling. A sign-in's password is
 * checked first on a reader (Argon2id takes about a second; the writer commits syncs).
 */
struct console_job {
    struct http_job hj;
    struct console_request rq;
    char *copies[9]; /* owned copies rq's strings point to */
    struct console_sign_in_check *check;
    struct console_reply rp;
};

static void console_job_cleanup(struct http_job *hj)
{
    struct console_job *cj = (struct console_job *)hj;

    if (cj->copies[7]) /* the body: a password may be in it */
        explicit_bzero(cj->copies[7], cj->rq.body_len);
    for (size_t i = 0; i < ELEMENTSOF(cj->copies); i++)
        free(cj->copies[i]);
    cj->check = console_sign_in_check_free(cj->check);
    console_reply_done(&cj->rp);
}

/* On a reader: a sign-in's account and password. */
static void console_check_run(struct store *s, struct work_job *j)
{
    struct console_job *cj = (struct console_job *)j;

    /* Out of memory here: console_handle() checks the password itself. */
    (void)console_sign_in_check_new(cj->hj.hr.sd->console, s, &cj->rq, &cj->check);
    cj->rq.check = cj->check;
}

/* On the writer: the console's answer. */
static void console_run(struct store *s, struct work_job *j)
{
    struct console_job *cj = (struct console_job *)j;

    (void)s; /* the console holds the writer's handle (console_new()) */
    console_handle(cj->hj.hr.sd->console, &cj->rq, &cj->rp);
}

/* Send the console's reply @rp to @hr (a HEAD gets no body). */
static void console_send(struct http_req *hr, const struct console_reply *rp, bool head)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(hr->req);
    char after[16];

    for (size_t i = 0; console_headers[i]; i += 2)
        (void)evhttp_add_header(out, console_headers[i], console_headers[i + 1]);
    if (rp->set_cookie[0])
        (void)evhttp_add_header(out, "Set-Cookie", rp->set_cookie);
    if (rp->location[0])
        (void)evhttp_add_header(out, "Location", rp->location);
    if (rp->disposition[0])
        (void)evhttp_add_header(out, "Content-Disposition", rp->disposition);
    if (rp->allow)
        (void)evhttp_add_header(out, "Allow", rp->allow);
    if (rp->retry_after_s) {
        snprintf(after, sizeof(after), "%u", rp->retry_after_s);
        (void)evhttp_add_header(out, "Retry-After", after);
    }
    hr->content_type = rp->content_type;
    hr->any_status_type = true;
    send_body(hr, rp->status, rp->body, head ? 0 : rp->body_len);
}

static void console_finish(struct http_job *hj)
{
    struct console_job *cj = (struct console_job *)hj;

    console_send(&hj->hr, &cj->rp, cj->rq.method == CONSOLE_HEAD);
}

/* *@dst = a copy of @src (NULL stays NULL); false when out of memory. */
static bool console_copy(struct console_job *cj, size_t slot, const char *src, size_t len,
                         const char **dst)
{
    if (!src) {
        *dst = NULL;
        return true;
    }
    cj->copies[slot] = malloc(len + 1);
    if (!cj->copies[slot])
        return false;
    memcpy(cj->copies[slot], src, len);
    cj->copies[slot][len] = '\0';
    *dst = cj->copies[slot];
    return true;
}

static void handle_console(struct http_req *hr, const char *path)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(hr->req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    struct console_request rq = {.path = path};
    struct console_reply rp = {0};
    _cleanup_free_ void *owned = NULL;
    struct console_job *cj;
    char *addr = NULL;
    ev_uint16_t port;
    bool repeated, ok;

    rq.method = console_method_of(evhttp_request_get_command(hr->req));
    rq.query = uri ? evhttp_uri_get_query(uri) : NULL;
    rq.cookie = request_header(hr, "Cookie", &repeated);
    rq.csrf = request_header(hr, "X-CSRF-Token", &repeated);
    rq.origin = request_header(hr, "Origin", &repeated);
    rq.host = request_header(hr, "Host", &repeated);
    rq.content_type = request_header(hr, "Content-Type", &repeated);
    if (evcon)
        evhttp_connection_get_peer(evcon, &addr, &port);
    rq.addr = addr;
    if (rq.method == CONSOLE_POST) {
        if (evbuffer_get_length(evhttp_request_get_input_buffer(hr->req)) > CONSOLE_BODY_MAX) {
            reply_error(hr, 413, "body_too_large", CONSOLE_BODY_MAX, NULL, -1,
                        "a console request is larger than %d bytes; send less at once",
                        CONSOLE_BODY_MAX);
            return;
        }
        if (request_body(hr, &rq.body, &rq.body_len, &owned) < 0)
            return; /* answered */
    }
    if (!console_uses_store(&rq)) {
        /* A page compiled in: answered here, no store involved. */
        console_handle(hr->sd->console, &rq, &rp);
        console_send(hr, &rp, rq.method == CONSOLE_HEAD);
        console_reply_done(&rp);
        return;
    }
    cj = JOB_NEW(struct console_job, console_finish, "the console");
    if (!cj) {
        send_oom(hr);
        return;
    }
    cj->hj.cleanup = console_job_cleanup;
    cj->rq.method = rq.method;
    ok = console_copy(cj, 0, rq.path, rq.path ? strlen(rq.path) : 0, &cj->rq.path) &&
         console_copy(cj, 1, rq.query, rq.query ? strlen(rq.query) : 0, &cj->rq.query) &&
         console_copy(cj, 2, rq.cookie, rq.cookie ? strlen(rq.cookie) : 0, &cj->rq.cookie) &&
         console_copy(cj, 3, rq.csrf, rq.csrf ? strlen(rq.csrf) : 0, &cj->rq.csrf) &&
         console_copy(cj, 4, rq.origin, rq.origin ? strlen(rq.origin) : 0, &cj->rq.origin) &&
         console_copy(cj, 5, rq.host, rq.host ? strlen(rq.host) : 0, &cj->rq.host) &&
         console_copy(cj, 6, rq.content_type, rq.content_type ? strlen(rq.content_type) : 0,
                      &cj->rq.content_type) &&
         console_copy(cj, 7, rq.body, rq.body_len, &cj->rq.body);
    cj->rq.body_len = rq.body_len;
    /* The address lives in a buffer of the connection's: the job keeps its own. */
    ok = ok && console_copy(cj, 8, addr, addr ? strlen(addr) : 0, &cj->rq.addr);
    if (!ok) {
        job_free(&cj->hj);
        send_oom(hr);
        return;
    }
    if (rq.method == CONSOLE_POST && streq(path, "/console/api/sign-in")) {
        cj->hj.job.then = console_run;
        job_submit(hr, &cj->hj, WORK_READ, console_check_run);
    } else {
        job_submit(hr, &cj->hj, WORK_WRITE, console_run);
    }
}

/* ---- routing ---- */

/* "<prefix><segment><suffix>" with one non-empty segment: true and the segment (not yet
 * checked) in @ret. */
static bool path_segment(const char *path, const char *prefix, const char *suffix,
                         char ret[static HTTP_ECHO_MAX])
{
    size_t np = strlen(prefix), n;
    const char *end;

    if (strncmp(path, prefix, np) != 0)
        return false;
    path += np;
    end = strchr(path, '/');
    if (!end || !streq(end, suffix))
        return false;
    n = (size_t)(end - path);
    if (n == 0 || n >= HTTP_ECHO_MAX)
        return false;
    memcpy(ret, path, n);
    ret[n] = '\0';
    return true;
}

/* A conflict id segment: plain digits, a positive number. */
static bool conflict_id(const char *segment, int64_t *ret)
{
    return segment[0] != '-' && strlen(segment) < 24 && parse_i64(segment, ret) == 0 && *ret > 0;
}

static void reply_method(struct http_req *hr, const char *path, const char *allow)
{
    char echo[HTTP_ECHO_MAX];

    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Allow", allow);
    reply_error(hr, 405, "method_not_allowed", -1, NULL, -1, "%s is not allowed on %s; use %s",
                method_name(evhttp_request_get_command(hr->req)),
                proto_clip(path, echo, sizeof(echo)), allow);
}

/*
 * Answer a request the connection layer refused from its head alone (conn.h): its body was
 * never read, so the connection closes after the reply. The errors are those a handler would
 * give for the same request.
 */
static void reply_refused(struct http_req *hr, enum conn_verdict v)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr->req);
    const char *framing = NULL;

    (void)evhttp_add_header(h, "Connection", "close");
    switch (v) {
    case CONN_MISSING_TOKEN:
        (void)evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"caresync\"");
        reply_error(hr, 401, "missing_token", -1, NULL, -1,
                    "this request needs 'Authorization: Bearer <device token>'; enrol the "
                    "device first");
        return;
    case CONN_INVALID_TOKEN:
        (void)evhttp_add_header(h, "WWW-Authenticate",
                                "Bearer realm=\"caresync\", error=\"invalid_token\"");
        reply_error(hr, 401, "invalid_token", -1, NULL, -1,
                    "the device token is not valid; enrol the device again");
        return;
    case CONN_REVOKED:
        reply_error(hr, 401, "device_revoked", -1, NULL, -1,
                    "this device has been revoked; wipe its replica and enrol again");
        return;
    case CONN_STORE_DOWN: /* what the handler's own check would answer */
        reply_store_failure(hr, -ENOTCONN, "authentication");
        return;
    case CONN_STORE_BUSY:
        reply_store_failure(hr, -EBUSY, "authentication");
        return;
    case CONN_BUDGET:
        (void)evhttp_add_header(h, "Retry-After", HTTP_BUDGET_RETRY_AFTER);
        reply_error(hr, 503, "busy", -1, NULL, -1,
                    "the server is receiving too much at once; nothing was written; retry in "
                    "%s seconds", HTTP_BUDGET_RETRY_AFTER);
        return;
    case CONN_TOO_LARGE:
        reply_body_too_large(hr, "is larger");
        return;
    case CONN_CONSOLE_TOO_LARGE:
        reply_error(hr, 413, "body_too_large", CONN_CONSOLE_BODY_MAX, NULL, -1,
                    "a console request is larger than %d bytes; send less at once",
                    CONN_CONSOLE_BODY_MAX);
        return;
    case CONN_ENROL_TOO_LARGE:
        reply_error(hr, 413, "body_too_large", CONN_ENROL_BODY_MAX, NULL, -1,
                    "an enrolment body is larger than the limit of %d bytes; send only the code, "
                    "device_name and client_version", CONN_ENROL_BODY_MAX);
        return;
    case CONN_TE:
        framing = "Transfer-Encoding is not accepted; send the body with one Content-Length";
        break;
    case CONN_CL_REPEATED:
        framing = "more than one Content-Length header; send exactly one";
        break;
    case CONN_CL_DIGITS:
        framing = "Content-Length must be plain decimal digits";
        break;
    case CONN_FOLDED:
        framing = "a header line continues on the next line (obsolete folding); send each "
                  "header on one line";
        break;
    case CONN_BODY_NO_BODY:
    default:
        framing = "this method takes no body; send it without one";
        break;
    }
    reply_error(hr, 400, "bad_request", -1, NULL, -1,
                "%s; nothing was processed and the connection is closed", framing);
}

/*
 * The routes of docs/PROTOCOL.md. A path is "<prefix>" (no @suffix) or "<prefix><segment><suffix>"
 * with one non-empty segment without '/'; the first route whose path matches answers, with its
 * handler when the method is its own, else 405 naming that method. Handlers authenticate (and
 * check for a coordinator) themselves: the order of refusals is theirs.
 */
enum route_arg {
    ROUTE_NONE,        /* handle(hr) */
    ROUTE_SEGMENT,     /* handle_segment(hr, segment): a person or device id, checked there */
    ROUTE_CONFLICT_ID, /* handle_id(hr, id): a positive conflict id, or no match */
    ROUTE_LIFECYCLE,   /* handle_lifecycle(hr, segment, lifecycle) */
};

static const struct route {
    const char *prefix, *suffix;
    enum evhttp_cmd_type method;
    enum route_arg arg;
    void (*handle)(struct http_req *hr);
    void (*handle_segment)(struct http_req *hr, const char *segment);
    void (*handle_id)(struct http_req *hr, int64_t id);
    const struct lifecycle_route *lifecycle;
} routes[] = {
        {"/v1/enrol", NULL, EVHTTP_REQ_POST, ROUTE_NONE, .handle = handle_enrol},
        {"/v1/sync", NULL, EVHTTP_REQ_POST, ROUTE_NONE, .handle = handle_sync},
        {"/v1/conflicts", NULL, EVHTTP_REQ_GET, ROUTE_NONE, .handle = handle_conflicts},
        {"/v1/conflicts/", "/resolve", EVHTTP_REQ_POST, ROUTE_CONFLICT_ID,
         .handle_id = handle_resolve},
        {"/v1/people/", "/fhir", EVHTTP_REQ_GET, ROUTE_SEGMENT, .handle_segment = handle_fhir},
        {"/v1/people/", "/team", EVHTTP_REQ_GET, ROUTE_SEGMENT, .handle_segment = handle_team},
        {"/v1/people/", "/accept", EVHTTP_REQ_POST, ROUTE_LIFECYCLE,
         .lifecycle = &lifecycle_routes[0]},
        {"/v1/people/", "/close", EVHTTP_REQ_POST, ROUTE_LIFECYCLE,
         .lifecycle = &lifecycle_routes[1]},
        {"/v1/people/", "/reopen", EVHTTP_REQ_POST, ROUTE_LIFECYCLE,
         .lifecycle = &lifecycle_routes[2]},
        {"/v1/people/", "/nhs-number", EVHTTP_REQ_POST, ROUTE_LIFECYCLE,
         .lifecycle = &lifecycle_routes[3]},
        {"/v1/people/", "/gp-practice", EVHTTP_REQ_POST, ROUTE_LIFECYCLE,
         .lifecycle = &lifecycle_routes[4]},
        {"/v1/people/", "/named-coordinator", EVHTTP_REQ_POST, ROUTE_SEGMENT,
         .handle_segment = handle_named_coordinator},
        {"/v1/devices", NULL, EVHTTP_REQ_GET, ROUTE_NONE, .handle = handle_devices},
        {"/v1/devices/", "/revoke", EVHTTP_REQ_POST, ROUTE_SEGMENT,
         .handle_segment = handle_revoke},
        {"/v1/assignments", NULL, EVHTTP_REQ_POST, ROUTE_NONE, .handle = handle_assignment},
        {"/v1/rows/restore", NULL, EVHTTP_REQ_POST, ROUTE_NONE, .handle = handle_restore_row},
        {"/v1/assignments/transfer", NULL, EVHTTP_REQ_POST, ROUTE_NONE, .handle = handle_transfer},
};

/* The route @path takes, with its segment in @segment and a conflict id in *ret_id; NULL: none. */
static const struct route *route_find(const char *path, char segment[static HTTP_ECHO_MAX],
                                      int64_t *ret_id)
{
    for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
        const struct route *rt = &routes[i];

        if (!rt->suffix ? streq(path, rt->prefix)
                        : path_segment(path, rt->prefix, rt->suffix, segment) &&
                                  (rt->arg != ROUTE_CONFLICT_ID || conflict_id(segment, ret_id)))
            return rt;
    }
    return NULL;
}

/* Answer the request @rt routes with its handler, or 405 for another method. */
static void route_call(struct http_req *hr, const struct route *rt, const char *path,
                       const char *segment, int64_t id)
{
    if (evhttp_request_get_command(hr->req) != rt->method) {
        reply_method(hr, path, method_name(rt->method));
        return;
    }
    switch (rt->arg) {
    case ROUTE_NONE:
        rt->handle(hr);
        break;
    case ROUTE_SEGMENT:
        rt->handle_segment(hr, segment);
        break;
    case ROUTE_CONFLICT_ID:
        rt->handle_id(hr, id);
        break;
    case ROUTE_LIFECYCLE:
        handle_lifecycle(hr, segment, rt->lifecycle);
        break;
    }
}

static void ready_run(struct store *s, struct work_job *j)
{
    j->r = store_probe_write(s);
}

static void ready_finish(struct http_job *hj)
{
    struct evbuffer *b = evbuffer_new();
    int status;

    if (!b) {
        send_oom(&hj->hr);
        return;
    }
    status = metrics_ready_reply(hj->job.r, b);
    send_body(&hj->hr, status, (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
}

/* GET /healthz, /readyz: no authentication, the same answers as on metrics_listen; the probe
 * write of /readyz is committed by the writer thread like any other write. */
static void handle_health(struct http_req *hr, const char *path)
{
    struct evbuffer *b;
    struct http_job *hj;
    int status;

    if (streq(path, "/readyz")) {
        hj = JOB_NEW(struct http_job, ready_finish, "checking the store takes a write");
        if (!hj)
            send_oom(hr);
        else
            job_submit(hr, hj, WORK_WRITE, ready_run);
        return;
    }
    b = evbuffer_new();
    if (!b) {
        send_oom(hr);
        return;
    }
    status = metrics_healthz_reply(b);
    send_body(hr, status, (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct http_req hr = {.sd = arg, .req = req};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum conn_verdict verdict;
    char segment[HTTP_ECHO_MAX];
    const struct route *rt;
    int64_t id = 0;

    clock_gettime(CLOCK_MONOTONIC, &hr.start);
    hr.conn = conn_of_request(hr.sd->conns, req);
    /* Belt and braces: should a TLS bufferevent ever fail to be made, evhttp would fall back
     * to plain TCP. Never serve anything over that. */
    if (!hr.conn || !conn_ssl(hr.conn)) {
        log_error("refusing a request that did not arrive over TLS");
        (void)evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        reply_error(&hr, 500, "internal_error", -1, NULL, -1,
                    "the server failed to set up TLS; nothing was written; retry later");
        return;
    }
    verdict = conn_dispatched(hr.conn);
    if (verdict != CONN_PASS) {
        reply_refused(&hr, verdict);
    } else if (!request_framing_ok(&hr)) {
        /* answered */
    } else if (!path) {
        reply_error(&hr, 404, "not_found", -1, NULL, -1, "no such endpoint; see docs/PROTOCOL.md");
    } else if (streq(path, "/healthz") || streq(path, "/readyz")) {
        if (evhttp_request_get_command(req) == EVHTTP_REQ_GET ||
            evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
            handle_health(&hr, path);
        else
            reply_method(&hr, path, "GET");
    } else if (hr.sd->console && console_path(path)) {
        handle_console(&hr, path);
    } else if ((rt = route_find(path, segment, &id))) {
        route_call(&hr, rt, path, segment, id);
    } else {
        reply_error(&hr, 404, "not_found", -1, NULL, -1, "no such endpoint; see docs/PROTOCOL.md");
    }
    if (!hr.replied && !hr.deferred) {
        /* A handler returned without answering: a bug, but the client still gets a reply. */
        log_error("no reply was made for a request; answering 500");
        reply_error(&hr, 500, "internal_error", -1, NULL, -1,
                    "the server failed; nothing was written; retry later");
    }
}

/* ---- server lifecycle ---- */

struct caresyncd *caresyncd_new(struct event_base *base, struct store *store, SSL_CTX *ssl_ctx,
                                bool quiet)
{
    struct caresyncd *sd = calloc(1, sizeof(*sd));

    if (!sd)
        return NULL;
    sd->base = base;
    sd->store = store;
    sd->auth_store = store;
    sd->ssl_ctx = ssl_ctx;
    sd->quiet = quiet;
    sd->lock_after_days = HTTP_LOCK_AFTER_DAYS;
    caresyncd_set_enrol_limits(sd, HTTP_ENROL_ADDR_FAILS, HTTP_ENROL_ADDR_WINDOW_S,
                               HTTP_ENROL_ALL_FAILS, HTTP_ENROL_ALL_WINDOW_S);
    sd->enrol_addrs = calloc(HTTP_ENROL_ADDRS, sizeof(*sd->enrol_addrs));
    sd->http = evhttp_new(base);
    sd->conns = conn_server_new(base, store, ssl_ctx, quiet);
    if (work_new_inline(store, &sd->work) < 0)
        sd->work = NULL;
    if (!sd->http || !sd->enrol_addrs || !sd->conns || !sd->work) {
        work_free(sd->work);
        if (sd->http)
            evhttp_free(sd->http);
        conn_server_free(sd->conns);
        free(sd->enrol_addrs);
        free(sd);
        return NULL;
    }
    caresyncd_set_idle_timeout(sd, HTTP_TIMEOUT_S);
    /* Bodies up to twice the limit are read so the handler can answer a JSON 413; larger ones
     * are cut off by evhttp itself (PROTOCOL.md "Limits"). */
    evhttp_set_max_body_size(sd->http, 2 * (ev_ssize_t)HTTP_BODY_MAX);
    evhttp_set_max_headers_size(sd->http, HTTP_HEADERS_MAX);
    conn_server_set_limits(sd->conns, &(struct conn_limits){.body_max = HTTP_BODY_MAX});
    /* Every method reaches dispatch(), which answers a JSON 405 for the wrong one; evhttp's
     * own refusal would be an HTML 501. */
    evhttp_set_allowed_methods(sd->http, HTTP_ALL_METHODS);
    evhttp_set_bevcb(sd->http, conn_bev_new, sd->conns);
    conn_server_set_drained(sd->conns, reply_drained, sd);
    evhttp_set_gencb(sd->http, dispatch, sd);
    work_set_idle(sd->work, work_idle, sd);
    return sd;
}

int caresyncd_start_work(struct caresyncd *sd, const char *path, unsigned readers,
                         unsigned depth)
{
    struct store *auth = NULL;
    struct work *w = NULL;
    int r;

    r = store_open_reader(sd->store, path, &auth);
    if (r < 0)
        return r;
    r = work_new(sd->base, sd->store, path, readers, depth, &w);
    if (r < 0) {
        store_free(auth);
        return r;
    }
    work_free(sd->work); /* the inline one: nothing is out */
    sd->work = w;
    work_set_idle(w, work_idle, sd);
    sd->auth_store = auth;
    conn_server_set_store(sd->conns, auth);
    return 0;
}

void caresyncd_get_work_stats(const struct caresyncd *sd, struct work_stats *ret)
{
    work_get_stats(sd->work, ret);
}

struct work *caresyncd_work(struct caresyncd *sd)
{
    return sd->work;
}

void caresyncd_set_conn_limits(struct caresyncd *sd, const struct conn_limits *l)
{
    conn_server_set_limits(sd->conns, l);
}

void caresyncd_get_conn_limits(const struct caresyncd *sd, struct conn_limits *ret)
{
    conn_server_get_limits(sd->conns, ret);
}

void caresyncd_set_idle_timeout(struct caresyncd *sd, unsigned seconds)
{
    sd->idle_timeout_s = seconds;
    evhttp_set_timeout(sd->http, (int)seconds);
}

void caresyncd_set_lock_after_days(struct caresyncd *sd, unsigned days)
{
    sd->lock_after_days = days;
}

void caresyncd_set_enrol_limits(struct caresyncd *sd, unsigned addr_fails, unsigned addr_window_s,
                                unsigned all_fails, unsigned all_window_s)
{
    sd->enrol_addr_fails = addr_fails ? addr_fails : 1;
    sd->enrol_addr_window_s = addr_window_s ? addr_window_s : 1;
    sd->enrol_all_fails = all_fails ? all_fails : 1;
    sd->enrol_all_window_s = all_window_s ? all_window_s : 1;
    sd->enrol_all = (struct bucket){0};
}

int http_split_listen(const char *addr, char *host, size_t host_size, char *port,
                      size_t port_size)
{
    const char *colon, *h = addr;
    uint64_t p;
    size_t n;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');

        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        n = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;
        n = (size_t)(colon - addr);
        /* A host name or an IPv4 address: letters, digits, dots and hyphens. */
        for (size_t i = 0; i < n; i++)
            if (!(isalnum((unsigned char)addr[i]) || addr[i] == '.' || addr[i] == '-'))
                return -EINVAL;
    }
    if (n == 0 || n >= host_size || parse_u64(colon + 1, &p) < 0 || p > 65535 ||
        strlen(colon + 1) >= port_size)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    if (addr[0] == '[') {
        struct in6_addr a6;

        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -EINVAL;
    }
    snprintf(port, port_size, "%u", (unsigned)p);
    return 0;
}

static void enable_bound(struct evhttp_bound_socket *bound, void *arg)
{
    (void)evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
}

static void accept_resume(evutil_socket_t fd, short what, void *http)
{
    /* Sockets removed by caresyncd_shutdown() meanwhile are simply not in the list. */
    evhttp_foreach_bound_socket(http, enable_bound, NULL);
}

/*
 * accept() failed with something other than EAGAIN/ECONNABORTED, typically EMFILE. libevent
 * would log and retry at once, spinning on the still-readable socket, so pause accepting for
 * a second instead. @http is evhttp's own listener argument; the loop never runs after
 * evhttp_free(), so the timer cannot outlive it.
 */
static void accept_error(struct evconnlistener *listener, void *http)
{
    struct timeval pause = {.tv_sec = 1};
    int err = EVUTIL_SOCKET_ERROR();

    log_warn("cannot accept connections: %s; pausing new connections for a second", strerror(err));
    (void)evconnlistener_disable(listener);
    if (event_base_once(evconnlistener_get_base(listener), -1, EV_TIMEOUT, accept_resume, http,
                        &pause) < 0)
        (void)evconnlistener_enable(listener);
}

/* Listen on one resolved address; its text form (ADDR:PORT, [ADDR]:PORT) into @ret_bound. */
static int listen_one(struct caresyncd *sd, const struct sockaddr *sa, socklen_t salen,
                      char *ret_bound, size_t bound_size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct evconnlistener *listener;
    int fd, one = 1, r;

    if (sd->n_bound == HTTP_LISTEN_MAX)
        return -E2BIG;
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux. Setting it here is the
     * only place available: libevent 2.1's bufferevent callback runs before the fd exists. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, sa, salen) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    /* Backlog 0: the socket is already listening. */
    listener = evconnlistener_new(sd->base, NULL, NULL,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                  0, fd);
    if (!listener) {
        close(fd);
        return -ENOMEM;
    }
    sd->bound[sd->n_bound] = evhttp_bind_listener(sd->http, listener);
    if (!sd->bound[sd->n_bound]) {
        evconnlistener_free(listener);
        return -ENOMEM;
    }
    sd->n_bound++;
    evconnlistener_set_error_cb(listener, accept_error);
    http_sockaddr_text(&ss, ret_bound, bound_size);
    return 0;
}

void http_sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(s4->sin_port));
    }
}

int caresyncd_listen(struct caresyncd *sd, const char *addr, char *ret_bound, size_t bound_size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char host[HTTP_HOST_MAX + 1], port[8], one[INET6_ADDRSTRLEN + 16];
    size_t used = 0;
    int r;

    r = http_split_listen(addr, host, sizeof(host), port, sizeof(port));
    if (r < 0)
        return r;
    r = getaddrinfo(host, port, &hints, &res);
    if (r != 0)
        return r == EAI_SYSTEM ? -errno : r == EAI_MEMORY ? -ENOMEM : -ENOENT;
    ret_bound[0] = '\0';
    /* A name may stand for several addresses (localhost: 127.0.0.1 and ::1): listen on each
     * this machine has; one it lacks (no IPv6 here) is skipped while another one works. */
    r = -ENOENT;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int k;

        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        k = listen_one(sd, ai->ai_addr, ai->ai_addrlen, one, sizeof(one));
        if (k == -EAFNOSUPPORT || k == -EADDRNOTAVAIL) {
            if (r != 0)
                r = k;
            continue;
        }
        if (k < 0) {
            r = k;
            break;
        }
        r = 0;
        used += (size_t)snprintf(ret_bound + used, used < bound_size ? bound_size - used : 0,
                                 "%s%s", used ? " " : "", one);
    }
    freeaddrinfo(res);
    return r < 0 ? r : 0;
}

void caresyncd_set_ssl_ctx(struct caresyncd *sd, SSL_CTX *ssl_ctx)
{
    sd->ssl_ctx = ssl_ctx;
    conn_server_set_ssl_ctx(sd->conns, ssl_ctx);
}

void caresyncd_shutdown(struct caresyncd *sd)
{
    struct timeval deadline = {.tv_sec = HTTP_DRAIN_TIMEOUT_S};

    if (sd->draining)
        return;
    sd->draining = true;
    for (size_t i = 0; i < sd->n_bound; i++)
        evhttp_del_accept_socket(sd->http, sd->bound[i]);
    sd->n_bound = 0;
    if (sd->inflight == 0 && work_pending(sd->work) == 0)
        (void)event_base_loopexit(sd->base, NULL);
    else
        (void)event_base_loopexit(sd->base, &deadline);
}

void caresyncd_shutdown_now(struct caresyncd *sd)
{
    sd->draining = true;
    (void)event_base_loopbreak(sd->base);
}

struct caresyncd *caresyncd_free(struct caresyncd *sd)
{
    if (!sd)
        return NULL;
    /* The jobs still out finish first (their replies are dropped: the loop has stopped);
     * then connections still open fire conn_closed() from evhttp_free(), so sd must stay valid
     * until then. */
    sd->work = work_free(sd->work);
    if (sd->http)
        evhttp_free(sd->http);
    if (sd->auth_store != sd->store)
        sd->auth_store = store_free(sd->auth_store);
    sd->conns = conn_server_free(sd->conns);
    free(sd->enrol_addrs);
    console_free(sd->console);
    free(sd);
    return NULL;
}

int caresyncd_set_console(struct caresyncd *sd, const struct console_options *o)
{
    struct console *c = console_new(sd->store, o);

    if (!c)
        return -ENOMEM;
    console_free(sd->console);
    sd->console = c;
    return 0;
}
