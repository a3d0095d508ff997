/* SPDX-License-Identifier: MIT */
/* http.c - evhttp over TLS: the /v1/ routes of docs/PROTOCOL.md, strict request parsing, JSON
 * errors, the access log and graceful shutdown. A handler decodes and checks its request on the
 * event loop, hands the store call to a worker thread as a job (work.h), and answers when the
 * job comes back (docs/ARCHITECTURE.md "Threads"); shutdown waits for the jobs queued. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* the request's HTTP version: 2.1 has no getter */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <inttypes.h>
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
#include "fhir.h"
#include "gzip.h"
#include "hlc.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "work.h"

#define HTTP_LOG_URI_MAX  200 /* request target shown in the access log */
#define HTTP_ECHO_MAX     128 /* longest client-supplied name echoed back in an error */
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
    unsigned enrol_addr_fails, enrol_addr_window_s, enrol_all_fails, enrol_all_window_s;
    struct bucket enrol_all;         /* failed enrolments, all addresses */
    struct enrol_slot *enrol_addrs;  /* HTTP_ENROL_ADDRS of them */
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

/* Copy @s into @buf (@size bytes) cut at a UTF-8 boundary; "..." marks a cut. Returns buf. */
static const char *clip(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);

    if (n < size) {
        memcpy(buf, s, n + 1);
        return buf;
    }
    n = size - 4;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
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
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(now.tv_sec - hr->start.tv_sec) * 1000 +
         (now.tv_nsec - hr->start.tv_nsec) / 1000000;
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

/* Queue @len bytes of JSON as the response with @status, gzip-encoded when reply_gzip(). */
static void send_body(struct http_req *hr, int status, const char *text, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr->req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
    _cleanup_free_ void *gz = NULL;

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
                            status < 300 && hr->content_type ? hr->content_type
                                                             : "application/json");
    (void)evhttp_add_header(h, "Cache-Control", "no-store");
    if (status < 300)
        (void)evhttp_add_header(h, "Vary", "Accept-Encoding");
    reply_encode(hr, status, &text, &len, &gz);
    if (hr->sd->draining)
        (void)evhttp_add_header(h, "Connection", "close");
    (void)evbuffer_add(evhttp_request_get_output_buffer(hr->req), text, len);
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

/* Send the reply kept while hr->hold (the oom reply if it could not be kept). */
static void send_oom(struct http_req *hr);
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

static void send_oom(struct http_req *hr)
{
    /* Not "nothing was written": a sync may have committed before its reply failed. Retrying
     * is safe either way (change ids make a push idempotent). */
    static const char body[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server "
                               "ran out of memory; retry later\"}}";

    log_error("out of memory answering a request");
    send_body(hr, 500, body, sizeof(body) - 1);
}

/* Send @body (borrowed) with @status. */
static void reply_json(struct http_req *hr, int status, const cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    if (!text) {
        send_oom(hr);
        return;
    }
    send_body(hr, status, text, strlen(text));
    cJSON_free(text);
}

/*
 * Send {"error": {"code", "message", "limit"?, "field"?, "index"?}} (PROTOCOL.md "Errors").
 * @limit < 0, @field NULL and @index < 0 leave those members out.
 */
_printf_(7, 8) static void reply_error(struct http_req *hr, int status, const char *code,
                                       int64_t limit, const char *field, long index,
                                       const char *fmt, ...)
{
    _cleanup_json_ cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_CreateObject();
    char message[512], echo[HTTP_ECHO_MAX];
    va_list ap;
    bool ok;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!root || !err || !cJSON_AddItemToObject(root, "error", err)) {
        cJSON_Delete(err);
        send_oom(hr);
        return;
    }
    ok = cJSON_AddStringToObject(err, "code", code) &&
         cJSON_AddStringToObject(err, "message", message);
    if (ok && limit >= 0)
        ok = cJSON_AddNumberToObject(err, "limit", (double)limit);
    if (ok && field)
        ok = cJSON_AddStringToObject(err, "field", clip(field, echo, sizeof(echo)));
    if (ok && index >= 0)
        ok = cJSON_AddNumberToObject(err, "index", (double)index);
    if (!ok) {
        send_oom(hr);
        return;
    }
    reply_json(hr, status, root);
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
    log_error("%s failed: %s", what, strerror(-r));
    reply_error(hr, 500, "internal_error", -1, NULL, -1,
                "the server failed; nothing was written; retry later");
}

/* ---- store work off the loop (work.h) ---- */

/*
 * A request whose store call runs on a worker thread: the request (copied off the dispatcher's
 * stack), its parsed body and what the handler's functions share. job.run makes the store call
 * on the worker and touches no libevent object; @finish answers on the loop. Each handler's job
 * struct begins with this one.
 */
struct http_job {
    struct work_job job;
    struct http_req hr;
    const char *what; /* for reply_store_failure() */
    cJSON *body;      /* the request body (owned) */
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
    cJSON_Delete(hj->body);
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
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
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
    if (evcon)
        evhttp_connection_set_closecb(evcon, job_conn_closed, hj);
    hr->deferred = true;
    r = work_submit(hr->sd->work, &hj->job);
    if (r == 0)
        return;
    hr->deferred = false;
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
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

/*
 * Read the body and parse it strictly as an object whose members are all in @keys. Returns 0
 * and the tree in *ret, or replies with the error and returns a negative errno.
 */
static int request_json(struct http_req *hr, const char *const *keys, cJSON **ret)
{
    _cleanup_free_ void *inflated = NULL;
    const char *body, *why = NULL, *bad = NULL;
    char field[HTTP_ECHO_MAX];
    cJSON *root = NULL;
    unsigned c = 0;
    size_t len;
    int r;

    r = request_body(hr, &body, &len, &inflated);
    if (r < 0)
        return r;
    r = wire_parse(body, len, &root, &why);
    if (r == -ENOMEM) {
        send_oom(hr);
        return r;
    }
    if (r == -E2BIG) {
        reply_error(hr, 400, "json_too_deep", WIRE_MAX_DEPTH, NULL, -1, "%s; flatten the request",
                    why);
        return r;
    }
    if (r < 0) {
        /* wire_parse() says "UTF-8" or "\u0000" for text problems, anything else is syntax. */
        bool text = strstr(why, "UTF-8") || strstr(why, "\\u0000");

        reply_error(hr, 400, text ? "invalid_utf8" : "malformed_json", -1, NULL, -1, "%s%s", why,
                    strchr(why, ';') ? "" : "; send one well-formed JSON object in UTF-8");
        return r;
    }
    r = wire_check_keys(root, keys, &bad, &why);
    if (r < 0) {
        char echo[HTTP_ECHO_MAX];
        bool dup = strstr(why, "duplicate") != NULL;

        reply_error(hr, 400, dup ? "malformed_json" : "unknown_field", -1, bad, -1,
                    "%s '%s' in the request body; %s", why, clip(bad, echo, sizeof(echo)),
                    dup ? "send each member once" : "remove it (see docs/PROTOCOL.md)");
        cJSON_Delete(root);
        return r;
    }
    /* Every string of every body (PROTOCOL.md "Text"): a raw control character would reach
     * other devices' screens, CSV exports and logs as it is. */
    if (wire_check_text(root, field, sizeof(field), &c) < 0) {
        reply_error(hr, 400, "invalid_value", -1, field, -1,
                    "'%s' holds a control character (U+%04X); text may hold tab and newline "
                    "but no other control characters; remove it",
                    field, c);
        cJSON_Delete(root);
        return -EBADMSG;
    }
    *ret = root;
    return 0;
}

/*
 * Optional string member @key of at most @max bytes: 0 and *ret (NULL when absent), or replies
 * and returns -EBADMSG. When @required, absence is an error too.
 */
static int member_string(struct http_req *hr, const cJSON *obj, const char *key, bool required,
                         size_t max, const char **ret)
{
    const char *s = NULL;
    int r = wire_get_string(obj, key, &s);

    if (r == -ENOENT && !required) {
        *ret = NULL;
        return 0;
    }
    if (r == -ENOENT) {
        reply_error(hr, 400, "missing_field", -1, key, -1,
                    "the request body needs '%s'; add it (see docs/PROTOCOL.md)", key);
        return -EBADMSG;
    }
    if (r < 0) {
        reply_error(hr, 400, "wrong_type", -1, key, -1, "'%s' must be a string", key);
        return -EBADMSG;
    }
    if (max > 0 && strlen(s) > max) {
        reply_error(hr, 400, "value_too_long", (int64_t)max, key, -1,
                    "'%s' is longer than the limit of %zu bytes; shorten it", key, max);
        return -EBADMSG;
    }
    *ret = s;
    return 0;
}

/* The longest value field @obj's table/field allow, for value_too_long's "limit". */
static size_t change_value_limit(const cJSON *obj)
{
    const struct cat_table *t;
    const struct cat_field *f = NULL;
    const char *tn, *fn;

    if (wire_get_string(obj, "table", &tn) == 0 && wire_get_string(obj, "field", &fn) == 0) {
        t = catalogue_table(tn);
        f = t ? catalogue_field(t, fn) : NULL;
    }
    if (f && f->type == CAT_TEXT && f->max_len > 0 && f->max_len < CAT_VALUE_MAX)
        return f->max_len;
    return CAT_VALUE_MAX;
}

/*
 * Reply 400 for change @index that wire_decode_push_change() refused with @r, @why, @where. The
 * code is worked out from the element itself: a member that is absent is missing_field, one of
 * the wrong JSON type is wrong_type, one of the right type with a bad content invalid_value.
 */
static void reply_bad_change(struct http_req *hr, const cJSON *obj, long index, int r,
                             const char *why, const char *where)
{
    char echo[HTTP_ECHO_MAX];
    const cJSON *v;
    const char *code;
    bool nullable;

    where = where ? where : "changes";
    if (r == -E2BIG) {
        size_t limit = change_value_limit(obj);

        reply_error(hr, 400, "value_too_long", (int64_t)limit, where, index,
                    "changes[%ld].%s: %s (limit %zu bytes); nothing was written", index,
                    clip(where, echo, sizeof(echo)), why, limit);
        return;
    }
    nullable = streq(where, "value") || streq(where, "base_hlc") || streq(where, "base_device");
    v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, where) : NULL;
    if (!cJSON_IsObject(obj))
        code = "wrong_type";
    else if (streq(why, "unknown field"))
        code = "unknown_field";
    else if (streq(why, "duplicate field"))
        code = "malformed_json";
    else if (!v)
        code = "missing_field";
    else if (!cJSON_IsString(v) && !(nullable && cJSON_IsNull(v)))
        code = "wrong_type";
    else
        code = "invalid_value";
    reply_error(hr, 400, code, -1, where, index, "changes[%ld].%s: %s; nothing was written", index,
                clip(where, echo, sizeof(echo)), why);
}

/*
 * A device's wall clock as it reports it: "YYYY-MM-DDTHH:MM:SS[.f...](Z|+HH:MM|-HH:MM)", into
 * Unix ms. Returns 0, or -EINVAL for anything else (a time without a zone says nothing).
 */
static int parse_device_time(const char *s, int64_t *ret)
{
    bool zoned = false;

    if (strlen(s) < 20 || s[16] != ':' || iso_time_parse(s, ret, &zoned) < 0 || !zoned)
        return -EINVAL;
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
    const char *code, *name, *version; /* in hj.body */
    struct bucket *tries;
    double took_addr, took_all; /* failures charged in advance, refunded unless it was one */
    struct store_enrolment e;
};

static void enrol_run(struct store *s, struct work_job *j)
{
    struct enrol_job *ej = (struct enrol_job *)j;

    j->r = strlen(ej->code) <= HTTP_CODE_ARG_MAX
                   ? store_enrol(s, ej->code, ej->name, ej->version, &ej->e)
                   : -EACCES;
}

static void enrol_finish(struct http_job *hj)
{
    struct enrol_job *ej = (struct enrol_job *)hj;
    struct http_req *hr = &hj->hr;
    struct store_enrolment *e = &ej->e;
    _cleanup_json_ cJSON *resp = NULL;
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
    resp = cJSON_CreateObject();
    if (!resp || wire_add_string(resp, "device_id", e->device_id) < 0 ||
        wire_add_string(resp, "token", e->token) < 0 || wire_add_string(resp, "user", e->user) < 0 ||
        wire_add_string(resp, "role", e->role) < 0 ||
        wire_add_hlc(resp, "server_hlc", e->server_hlc) < 0) {
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

    if (!(hj->job.r == -EACCES && !hj->job.group_err)) {
        ej->tries->tokens += ej->took_addr;
        sd->enrol_all.tokens += ej->took_all;
    }
    explicit_bzero(ej->e.token, sizeof(ej->e.token));
}

static void handle_enrol(struct http_req *hr)
{
    static const char *const keys[] = {"code", "device_name", "client_version", NULL};
    struct enrol_job *ej = JOB_NEW(struct enrol_job, enrol_finish, "enrolment");
    struct bucket *tries;

    if (!ej) {
        send_oom(hr);
        return;
    }
    if (enrol_throttle(hr, &tries) < 0 || request_json(hr, keys, &ej->hj.body) < 0 ||
        member_string(hr, ej->hj.body, "code", true, 0, &ej->code) < 0 ||
        member_string(hr, ej->hj.body, "device_name", false, HTTP_SHORT_STR_MAX, &ej->name) < 0 ||
        member_string(hr, ej->hj.body, "client_version", false, HTTP_SHORT_STR_MAX,
                      &ej->version) < 0) {
        job_free(&ej->hj);
        return;
    }
    /* Charged now, so that guesses in flight together cannot outrun the throttle. */
    ej->tries = tries;
    ej->took_addr = tries->tokens >= 1.0 ? 1.0 : tries->tokens;
    ej->took_all = hr->sd->enrol_all.tokens >= 1.0 ? 1.0 : hr->sd->enrol_all.tokens;
    enrol_failed(hr->sd, tries);
    ej->hj.cleanup = enrol_cleanup;
    job_submit(hr, &ej->hj, WORK_WRITE, enrol_run);
}

/* ---- POST /v1/sync ---- */

struct change_batch {
    struct change_record *v;
    size_t n;
};

static void change_batch_done(struct change_batch *b)
{
    for (size_t i = 0; b->v && i < b->n; i++)
        wire_change_done(&b->v[i]);
    free(b->v);
}

/*
 * The sync-health members of a POST /v1/sync body (docs/PROTOCOL.md): oldest_pending_ms,
 * last_error and device_time, into *rep. Returns 0, or replies 400 and returns -EBADMSG.
 */
static int sync_report(struct http_req *hr, const cJSON *body, struct store_device_report *rep)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "oldest_pending_ms");
    uint64_t u;

    if (v) {
        if (!cJSON_IsNumber(v)) {
            reply_error(hr, 400, "wrong_type", -1, "oldest_pending_ms", -1,
                        "'oldest_pending_ms' must be a number");
            return -EBADMSG;
        }
        if (wire_get_uint(body, "oldest_pending_ms", &u) < 0) {
            reply_error(hr, 400, "invalid_value", -1, "oldest_pending_ms", -1,
                        "'oldest_pending_ms' must be a whole number of at least 0");
            return -EBADMSG;
        }
        rep->oldest_pending_ms = (int64_t)u;
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "last_error");
    if (v) {
        if (wire_get_string_or_null(body, "last_error", &rep->last_error) < 0) {
            reply_error(hr, 400, "wrong_type", -1, "last_error", -1,
                        "'last_error' must be a string or null");
            return -EBADMSG;
        }
        if (rep->last_error && strlen(rep->last_error) > HTTP_LAST_ERROR_MAX) {
            reply_error(hr, 400, "value_too_long", HTTP_LAST_ERROR_MAX, "last_error", -1,
                        "'last_error' is longer than the limit of %d bytes; shorten it",
                        HTTP_LAST_ERROR_MAX);
            return -EBADMSG;
        }
        rep->has_last_error = true;
    }
    if (member_string(hr, body, "device_time", false, HTTP_SHORT_STR_MAX, &rep->device_time) < 0)
        return -EBADMSG;
    if (rep->device_time && parse_device_time(rep->device_time, &rep->device_ms) < 0) {
        reply_error(hr, 400, "invalid_value", -1, "device_time", -1,
                    "'device_time' must be an ISO 8601 date-time with a zone, such as"
                    " 2026-11-23T19:40:00.000Z");
        return -EBADMSG;
    }
    return 0;
}

/* What every successful sync reply also carries: the device policy. */
static int sync_policy(struct http_req *hr, cJSON *resp)
{
    cJSON *policy = cJSON_AddObjectToObject(resp, "policy");

    if (!policy || !cJSON_AddNumberToObject(policy, "lock_after_days", hr->sd->lock_after_days))
        return -ENOMEM;
    return 0;
}

/*
 * The optional "exports" of a sync: [{"person_id", "at"}], the FHIR exports the device made
 * offline, for the audit log. *ret_v (freed by the caller) points into @body. Returns 0, or
 * replies 400 and returns -EBADMSG (-ENOMEM after send_oom()).
 */
static int sync_exports(struct http_req *hr, const cJSON *body,
                        struct store_export_event **ret_v, size_t *ret_n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "exports"), *e;
    size_t i = 0;

    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > HTTP_CHANGES_MAX) {
        reply_error(hr, 400, "invalid_value", -1, "exports", -1,
                    "'exports' must be an array of at most %d {\"person_id\", \"at\"}",
                    HTTP_CHANGES_MAX);
        return -EBADMSG;
    }
    *ret_v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**ret_v));
    if (!*ret_v) {
        send_oom(hr);
        return -ENOMEM;
    }
    cJSON_ArrayForEach (e, arr) {
        const char *person = NULL, *at = NULL;

        if (wire_get_string(e, "person_id", &person) < 0 || !person || !uuid_valid(person) ||
            wire_get_string(e, "at", &at) < 0 || !at || !*at ||
            strlen(at) > HTTP_SHORT_STR_MAX) {
            reply_error(hr, 400, "invalid_value", -1, "exports", (long)i,
                        "each export needs \"person_id\" (a person id) and \"at\" (the"
                        " device's time)");
            return -EBADMSG;
        }
        (*ret_v)[i++] = (struct store_export_event){person, at};
    }
    *ret_n = i;
    return 0;
}

/* A POST /v1/sync: the decoded request, and what the store said. */
struct sync_job {
    struct http_job hj;
    struct change_batch batch;
    struct store_export_event *exports; /* strings in hj.body */
    size_t n_exports;
    const char *cursor, *version;
    bool pull;
    int64_t pending;
    struct store_device_report rep; /* strings in hj.body */
    bool report_only;               /* refused on the loop: only record the report */
    struct store_error err;
    int r_exports;
};

static void sync_cleanup(struct http_job *hj)
{
    struct sync_job *sj = (struct sync_job *)hj;

    change_batch_done(&sj->batch);
    free(sj->exports);
}

/*
 * On the writer: the sync in one transaction, then the device's offline exports. A batch the
 * store refuses (4xx) is what sync health is for: the device's report is recorded then, in
 * its own transaction. Not for 5xx, when the store itself is in trouble.
 */
static void sync_run(struct store *s, struct work_job *j)
{
    struct sync_job *sj = (struct sync_job *)j;
    const struct store_principal *who = &sj->hj.hr.who;
    bool refused;
    int r;

    if (sj->report_only) {
        r = store_device_report(s, who, &sj->rep, false, NULL);
        if (r < 0)
            log_warn("recording the sync report of device %s failed: %s", who->device_id,
                     strerror(-r));
        return;
    }
    j->r = store_sync_reported(s, who, sj->batch.v, sj->batch.n, sj->cursor, sj->pull,
                               sj->pending, sj->version, &sj->rep, &sj->hj.resp, &sj->err);
    if (j->r >= 0) {
        /* After the sync: refused, the device sends them again; repeated, none is doubled. */
        sj->r_exports = store_audit_device_exports(s, who, sj->exports, sj->n_exports);
        return;
    }
    refused = j->r != -ENOSPC && sj->err.code && sj->err.status >= 400 && sj->err.status < 500;
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
    int r = hj->job.r;

    if (r < 0) {
        if (err->status < 400 || !err->code) {
            reply_store_failure(hr, r, "sync");
            return;
        }
        if (r == -ENOSPC) {
            reply_storage_full(hr, "sync");
            return;
        }
        if (err->status >= 500)
            log_error("sync for device %s failed: %s: %s", hr->who.device_id, err->code,
                      err->message);
        if (err->status == 503 || err->status == 429)
            (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Retry-After",
                                    err->status == 503 ? "1" : "3600");
        reply_error(hr, err->status, err->code, -1, NULL, err->index, "%s", err->message);
        return;
    }
    if (sj->r_exports < 0) {
        reply_store_failure(hr, sj->r_exports, "recording the device's exports");
        return;
    }
    if (sync_policy(hr, hj->resp) < 0) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, hj->resp);
}

/*
 * Decode POST /v1/sync into @sj. sj->rep receives the device's sync-health report once the
 * body is parsed (*ret_parsed set), so that a refused sync can still be recorded; its strings
 * point into sj->hj.body. Returns 0, or replies and returns -errno.
 */
static int sync_exchange(struct http_req *hr, struct sync_job *sj, bool *ret_parsed)
{
    static const char *const keys[] = {"cursor",      "changes",     "pull",
                                       "pending",     "client_version", "oldest_pending_ms",
                                       "last_error",  "device_time", "exports",
                                       NULL};
    cJSON **body = &sj->hj.body;
    struct store_device_report *rep = &sj->rep;
    struct change_batch *batch = &sj->batch;
    const cJSON *changes, *elem, *pend;
    const char *why = NULL, *where = NULL;
    uint64_t pending_u = 0;
    long i = 0;
    int n, r;

    sj->pending = -1;
    sj->pull = true;
    if (authenticate(hr) < 0 || request_json(hr, keys, body) < 0 ||
        member_string(hr, *body, "cursor", true, 0, &sj->cursor) < 0 ||
        member_string(hr, *body, "client_version", false, HTTP_SHORT_STR_MAX, &sj->version) < 0 ||
        sync_report(hr, *body, rep) < 0)
        return -EBADMSG;
    *ret_parsed = true;
    changes = cJSON_GetObjectItemCaseSensitive(*body, "changes");
    if (!changes) {
        reply_error(hr, 400, "missing_field", -1, "changes", -1,
                    "the request body needs 'changes' (an array, may be empty)");
        return -EBADMSG;
    }
    if (!cJSON_IsArray(changes)) {
        reply_error(hr, 400, "wrong_type", -1, "changes", -1, "'changes' must be an array");
        return -EBADMSG;
    }
    r = wire_get_bool(*body, "pull", &sj->pull);
    if (r == -EBADMSG) {
        reply_error(hr, 400, "wrong_type", -1, "pull", -1, "'pull' must be true or false");
        return -EBADMSG;
    }
    pend = cJSON_GetObjectItemCaseSensitive(*body, "pending");
    if (pend) {
        if (!cJSON_IsNumber(pend)) {
            reply_error(hr, 400, "wrong_type", -1, "pending", -1, "'pending' must be a number");
            return -EBADMSG;
        }
        if (wire_get_uint(*body, "pending", &pending_u) < 0) {
            reply_error(hr, 400, "invalid_value", -1, "pending", -1,
                        "'pending' must be a whole number of at least 0");
            return -EBADMSG;
        }
        sj->pending = (int64_t)pending_u;
    }
    n = cJSON_GetArraySize(changes);
    /* What waits on the device, should this batch be refused: the batch and the rest. */
    rep->pending = (sj->pending >= 0 ? sj->pending : 0) + n;
    if (n > HTTP_CHANGES_MAX) {
        reply_error(hr, 413, "too_many_changes", HTTP_CHANGES_MAX, "changes", -1,
                    "a push may hold at most %d changes, this one has %d; send them in batches",
                    HTTP_CHANGES_MAX, n);
        return -EBADMSG;
    }
    if (n > 0) {
        batch->v = calloc((size_t)n, sizeof(*batch->v));
        if (!batch->v) {
            send_oom(hr);
            return -ENOMEM;
        }
        batch->n = (size_t)n;
    }
    cJSON_ArrayForEach (elem, changes) {
        r = wire_decode_push_change(elem, &batch->v[i], &why, &where);
        if (r == -ENOMEM) {
            send_oom(hr);
            return r;
        }
        if (r < 0) {
            reply_bad_change(hr, elem, i, r, why, where);
            return r;
        }
        i++;
    }
    return sync_exports(hr, *body, &sj->exports, &sj->n_exports);
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
    sj->hj.cleanup = sync_cleanup;
    /* A refusal made here is kept until the device's report is recorded (below). */
    hr->hold = true;
    if (sync_exchange(hr, sj, &parsed) == 0) {
        hr->hold = false;
        job_submit(hr, &sj->hj, WORK_WRITE, sync_run);
        return;
    }
    hr->hold = false;
    /* A refused batch (4xx) is what sync health is for: record what the device said, then
     * answer. Not for 5xx, when the store itself is in trouble. */
    if (parsed && hr->status >= 400 && hr->status < 500) {
        sj->report_only = true;
        job_submit(hr, &sj->hj, WORK_WRITE, sync_run);
        return;
    }
    job_free(&sj->hj);
    release_held(hr);
}

/* ---- GET /v1/conflicts ---- */

/* A user name as the store accepts them: 1 to STORE_NAME_MAX of [A-Za-z0-9._-]. */
static bool user_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > STORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

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
                        clip(kv->key, echo, sizeof(echo)));
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
    if (f->worker && !user_name_ok(f->worker)) {
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

    j->r = store_conflicts_query(s, &cj->f, &cj->hj.resp);
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

/* ---- POST /v1/conflicts/{id}/resolve ---- */

struct resolve_job {
    struct http_job hj;
    int64_t id;
    const char *action, *value, *reason, *why; /* in hj.body; why static */
};

static void resolve_run(struct store *s, struct work_job *j)
{
    struct resolve_job *rj = (struct resolve_job *)j;

    j->r = store_conflict_resolve(s, &rj->hj.hr.who, rj->id, rj->action, rj->value, rj->reason,
                                  &rj->hj.resp, &rj->why);
}

static void resolve_finish(struct http_job *hj)
{
    struct resolve_job *rj = (struct resolve_job *)hj;
    struct http_req *hr = &hj->hr;
    const char *why = rj->why, *action = rj->action;
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
                    about_reason ? "reason" : streq(action, "value") ? "value" : "action", -1,
                    "%s; nothing was written",
                    why ? why : "the resolution is not valid for this conflict");
        return;
    }
    finish_resp(hj);
}

static void handle_resolve(struct http_req *hr, int64_t id)
{
    static const char *const keys[] = {"action", "value", "reason", NULL};
    _cleanup_json_ cJSON *body = NULL;
    struct resolve_job *rj;
    const char *action, *value = NULL, *reason;
    const cJSON *v;

    if (authenticate(hr) < 0 || require_coordinator(hr, "resolve conflicts") < 0 ||
        request_json(hr, keys, &body) < 0 ||
        member_string(hr, body, "action", true, 0, &action) < 0 ||
        member_string(hr, body, "reason", true, STORE_REASON_MAX, &reason) < 0)
        return;
    if (!streq(action, "keep") && !streq(action, "restore") && !streq(action, "value")) {
        reply_error(hr, 400, "invalid_value", -1, "action", -1,
                    "action must be \"keep\", \"restore\" or \"value\"");
        return;
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "value");
    if (streq(action, "value")) {
        if (!v) {
            reply_error(hr, 400, "missing_field", -1, "value", -1,
                        "action \"value\" needs 'value', the value to write");
            return;
        }
        if (wire_get_string_or_null(body, "value", &value) < 0) {
            reply_error(hr, 400, "wrong_type", -1, "value", -1, "'value' must be a string or null");
            return;
        }
        if (value && strlen(value) > CAT_VALUE_MAX) {
            reply_error(hr, 400, "value_too_long", CAT_VALUE_MAX, "value", -1,
                        "'value' is longer than the limit of %d bytes; shorten it", CAT_VALUE_MAX);
            return;
        }
    } else if (v) {
        reply_error(hr, 400, "invalid_value", -1, "value", -1,
                    "'value' is only accepted with action \"value\"; remove it");
        return;
    }
    rj = JOB_NEW(struct resolve_job, resolve_finish, "resolving a conflict");
    if (!rj) {
        send_oom(hr);
        return;
    }
    *rj = (struct resolve_job){.hj = rj->hj, .id = id, .action = action, .value = value,
                               .reason = reason};
    rj->hj.body = TAKE_PTR(body);
    job_submit(hr, &rj->hj, WORK_WRITE, resolve_run);
}

/* ---- POST /v1/rows/restore ---- */

struct restore_job {
    struct http_job hj;
    const char *tbl, *row_id, *reason, *why;
};

static void restore_run(struct store *s, struct work_job *j)
{
    struct restore_job *rj = (struct restore_job *)j;

    j->r = store_row_restore(s, &rj->hj.hr.who, rj->tbl, rj->row_id, rj->reason, &rj->hj.resp,
                             &rj->why);
}

static void restore_finish(struct http_job *hj)
{
    struct restore_job *rj = (struct restore_job *)hj;
    struct http_req *hr = &hj->hr;
    const char *tbl = rj->tbl, *row_id = rj->row_id, *why = rj->why;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no %s row with id %s; check the id",
                    tbl, clip(row_id, echo, sizeof(echo)));
        return;
    }
    if (r == -EALREADY) {
        reply_error(hr, 409, "not_deleted", -1, "row_id", -1,
                    "%s %s is not deleted; nothing was written", tbl,
                    clip(row_id, echo, sizeof(echo)));
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1,
                    why && strstr(why, "reason") ? "reason" : "table", -1,
                    "%s; nothing was written", why ? why : "the restore is not valid");
        return;
    }
    finish_resp(hj);
}

static void handle_restore_row(struct http_req *hr)
{
    static const char *const keys[] = {"table", "row_id", "reason", NULL};
    struct restore_job *rj = JOB_NEW(struct restore_job, restore_finish, "restoring a row");
    cJSON **body;

    if (!rj) {
        send_oom(hr);
        return;
    }
    body = &rj->hj.body;
    if (authenticate(hr) < 0 || require_coordinator(hr, "restore deleted rows") < 0 ||
        request_json(hr, keys, body) < 0 ||
        member_string(hr, *body, "table", true, 64, &rj->tbl) < 0 ||
        member_string(hr, *body, "row_id", true, 64, &rj->row_id) < 0 ||
        member_string(hr, *body, "reason", true, STORE_REASON_MAX, &rj->reason) < 0) {
        job_free(&rj->hj);
        return;
    }
    job_submit(hr, &rj->hj, WORK_WRITE, restore_run);
}

/* ---- GET /v1/people/{id}/fhir ---- */

/* 404 not_found for the @what ("person", "device") with id @id (echoed clipped), then @next. */
static void reply_no_such(struct http_req *hr, const char *what, const char *id, const char *next)
{
    char echo[HTTP_ECHO_MAX];

    reply_error(hr, 404, "not_found", -1, NULL, -1, "no %s with id %s; %s", what,
                clip(id, echo, sizeof(echo)), next);
}

/* A job about one person named in the path. */
struct person_job {
    struct http_job hj;
    char person_id[HTTP_ECHO_MAX];
    int r2; /* a second store call's result */
    const char *arg, *why;
    const struct lifecycle_route *route;
    cJSON *extra;
};

static void person_cleanup(struct http_job *hj)
{
    cJSON_Delete(((struct person_job *)hj)->extra);
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
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_no_such(hr, "person", pj->person_id, "check the id (a lower-case UUID)");
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

    if (authenticate(hr) < 0 || require_coordinator(hr, "export a person's record") < 0)
        return;
    if (!uuid_valid(person_id)) {
        reply_no_such(hr, "person", person_id, "check the id (a lower-case UUID)");
        return;
    }
    pj = person_job_new(hr, person_id, fhir_finish, "exporting a person's record");
    if (!pj)
        return;
    pj->hj.job.then = fhir_audit;
    job_submit(hr, &pj->hj, WORK_READ, fhir_read);
}

/* ---- GET /v1/devices, POST /v1/devices/{id}/revoke ---- */

/* A request that carries nothing: an empty body or {}. 0, or replies 400 and returns -errno. */
static int request_none(struct http_req *hr)
{
    static const char *const keys[] = {NULL};
    _cleanup_json_ cJSON *body = NULL;

    if (evbuffer_get_length(evhttp_request_get_input_buffer(hr->req)) == 0)
        return 0;
    return request_json(hr, keys, &body);
}

static void devices_run(struct store *s, struct work_job *j)
{
    j->r = store_devices_health(s, &((struct http_job *)j)->resp);
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
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_no_such(hr, "device", pj->person_id, "list them with GET /v1/devices");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, "revoking a device");
        return;
    }
    resp = cJSON_CreateObject();
    if (!resp || wire_add_string(resp, "device_id", pj->person_id) < 0 ||
        !cJSON_AddBoolToObject(resp, "revoked", true) ||
        !cJSON_AddBoolToObject(resp, "already", r == 0)) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_revoke(struct http_req *hr, const char *device_id)
{
    struct person_job *pj;

    if (authenticate(hr) < 0 || require_coordinator(hr, "revoke devices") < 0 ||
        request_none(hr) < 0)
        return;
    if (!uuid_valid(device_id)) {
        reply_no_such(hr, "device", device_id, "list them with GET /v1/devices");
        return;
    }
    /* A person job carries the device's id in person_id. */
    pj = person_job_new(hr, device_id, revoke_finish, "revoking a device");
    if (pj)
        job_submit(hr, &pj->hj, WORK_WRITE, revoke_run);
}

/* ---- caseload: POST /v1/assignments, /v1/assignments/transfer, named coordinator, team ---- */

/* A required user-name member: 0 and *ret, or replies 400 and returns -EBADMSG. */
static int member_user(struct http_req *hr, const cJSON *body, const char *key, const char **ret)
{
    if (member_string(hr, body, key, true, STORE_NAME_MAX, ret) < 0)
        return -EBADMSG;
    if (!user_name_ok(*ret)) {
        reply_error(hr, 400, "invalid_value", -1, key, -1,
                    "'%s' must be a user name (letters, digits, '.', '_' and '-')", key);
        return -EBADMSG;
    }
    return 0;
}

/* A person id member: 0 and *ret (NULL when absent and optional), or replies 400. */
static int member_person(struct http_req *hr, const cJSON *body, const char *key, bool required,
                         const char **ret)
{
    if (member_string(hr, body, key, required, UUID_STR_LEN, ret) < 0)
        return -EBADMSG;
    if (*ret && !uuid_valid(*ret)) {
        reply_error(hr, 400, "invalid_value", -1, key, -1,
                    "'%s' must be a person's id (a lower-case UUID)", key);
        return -EBADMSG;
    }
    return 0;
}

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
                    clip(user, e1, sizeof(e1)));
    else if (streq(which, "assignment"))
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "%s does not have person %s on their caseload; nothing was changed",
                    clip(user, e1, sizeof(e1)), person);
    else
        reply_error(hr, 404, "not_found", -1, NULL, -1, "no person with id %s", person);
}

struct caseload_job {
    struct http_job hj;
    const char *person, *user, *action, *from, *to, *which; /* in hj.body; which static */
    bool assign;
};

static void assignment_run(struct store *s, struct work_job *j)
{
    struct caseload_job *cj = (struct caseload_job *)j;

    j->r = store_caseload_assign(s, &cj->hj.hr.who, cj->person, cj->user, cj->assign,
                                 &cj->which);
}

static void assignment_finish(struct http_job *hj)
{
    struct caseload_job *cj = (struct caseload_job *)hj;
    struct http_req *hr = &hj->hr;
    _cleanup_json_ cJSON *resp = NULL;
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_caseload_missing(hr, cj->which, cj->person, cj->user);
        return;
    }
    if (r == -EPERM) {
        reply_user_disabled(hr, cj->user);
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
    resp = cJSON_CreateObject();
    if (!resp || wire_add_string(resp, "person_id", cj->person) < 0 ||
        wire_add_string(resp, "user", cj->user) < 0 ||
        wire_add_string(resp, "action", cj->action) < 0 ||
        !cJSON_AddBoolToObject(resp, "changed", r > 0)) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_assignment(struct http_req *hr)
{
    static const char *const keys[] = {"person_id", "user", "action", NULL};
    struct caseload_job *cj = JOB_NEW(struct caseload_job, assignment_finish,
                                      "changing a caseload");
    cJSON **body;

    if (!cj) {
        send_oom(hr);
        return;
    }
    body = &cj->hj.body;
    cj->which = "person";
    if (authenticate(hr) < 0 || require_coordinator(hr, "change caseloads") < 0 ||
        request_json(hr, keys, body) < 0 ||
        member_person(hr, *body, "person_id", true, &cj->person) < 0 ||
        member_user(hr, *body, "user", &cj->user) < 0 ||
        member_string(hr, *body, "action", true, 0, &cj->action) < 0) {
        job_free(&cj->hj);
        return;
    }
    if (!streq(cj->action, "assign") && !streq(cj->action, "unassign")) {
        job_free(&cj->hj);
        reply_error(hr, 400, "invalid_value", -1, "action", -1,
                    "action must be \"assign\" or \"unassign\"");
        return;
    }
    cj->assign = streq(cj->action, "assign");
    job_submit(hr, &cj->hj, WORK_WRITE, assignment_run);
}

static void transfer_run(struct store *s, struct work_job *j)
{
    struct caseload_job *cj = (struct caseload_job *)j;

    j->r = store_caseload_transfer(s, &cj->hj.hr.who, cj->from, cj->to, cj->person,
                                   &cj->hj.resp, &cj->which);
}

static void transfer_finish(struct http_job *hj)
{
    struct caseload_job *cj = (struct caseload_job *)hj;
    struct http_req *hr = &hj->hr;
    const char *from = cj->from, *to = cj->to, *person = cj->person, *which = cj->which;
    char e1[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT && streq(which, "user")) {
        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no user named %s, or none named %s; list the staff with 'caresyncd user"
                    " list'; nothing was changed",
                    clip(from, e1, sizeof(e1)), to);
        return;
    }
    if (r == -ENOENT) {
        reply_caseload_missing(hr, which, person ? person : "-", from);
        return;
    }
    if (r == -EPERM) {
        reply_user_disabled(hr, to);
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, "to", -1,
                    streq(from, to) ? "'from' and 'to' are the same user (%s)"
                                    : "%s is an admin account, which holds no caseload",
                    clip(to, e1, sizeof(e1)));
        return;
    }
    finish_resp(hj);
}

static void handle_transfer(struct http_req *hr)
{
    static const char *const keys[] = {"from", "to", "person_id", NULL};
    struct caseload_job *cj = JOB_NEW(struct caseload_job, transfer_finish,
                                      "transferring a caseload");
    cJSON **body;

    if (!cj) {
        send_oom(hr);
        return;
    }
    body = &cj->hj.body;
    cj->which = "user";
    if (authenticate(hr) < 0 || require_coordinator(hr, "transfer caseloads") < 0 ||
        request_json(hr, keys, body) < 0 || member_user(hr, *body, "from", &cj->from) < 0 ||
        member_user(hr, *body, "to", &cj->to) < 0 ||
        member_person(hr, *body, "person_id", false, &cj->person) < 0) {
        job_free(&cj->hj);
        return;
    }
    job_submit(hr, &cj->hj, WORK_WRITE, transfer_run);
}

/* The named coordinator is set, then the team read back, in one job on the writer. */
static void named_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_named_coordinator_set(s, &pj->hj.hr.who, pj->person_id, pj->arg, &pj->why);
    if (j->r >= 0)
        pj->r2 = store_person_team(s, &pj->hj.hr.who, pj->person_id, &pj->hj.resp);
}

static void named_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    struct http_req *hr = &hj->hr;
    char echo[HTTP_ECHO_MAX];
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "%s (person %s, user %s)", pj->why,
                    clip(pj->person_id, echo, sizeof(echo)), pj->arg);
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
    reply_json(hr, 200, hj->resp);
}

static void handle_named_coordinator(struct http_req *hr, const char *person_id)
{
    static const char *const keys[] = {"user", NULL};
    char echo[HTTP_ECHO_MAX];
    struct person_job *pj;
    cJSON **body;

    pj = person_job_new(hr, person_id, named_finish, "setting a named coordinator");
    if (!pj)
        return;
    body = &pj->hj.body;
    pj->why = "no such person or user";
    if (authenticate(hr) < 0 || require_coordinator(hr, "set a named coordinator") < 0 ||
        request_json(hr, keys, body) < 0 || member_user(hr, *body, "user", &pj->arg) < 0) {
        job_free(&pj->hj);
        return;
    }
    if (!uuid_valid(person_id)) {
        reply_error(hr, 404, "not_found", -1, NULL, -1, "%s (person %s, user %s)", pj->why,
                    clip(person_id, echo, sizeof(echo)), pj->arg);
        job_free(&pj->hj);
        return;
    }
    job_submit(hr, &pj->hj, WORK_WRITE, named_run);
}

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice ---- */

static const struct lifecycle_route {
    const char *suffix, *key, *what;
    enum store_person_action action;
} lifecycle_routes[] = {
        {"/accept", NULL, "accept a referral", STORE_PERSON_ACCEPT},
        {"/close", "reason", "close a record", STORE_PERSON_CLOSE},
        {"/reopen", NULL, "reopen a record", STORE_PERSON_REOPEN},
        {"/nhs-number", "nhs_number", "set an NHS number", STORE_PERSON_SET_NHS},
        {"/gp-practice", "gp_practice", "set a GP practice", STORE_PERSON_SET_GP},
};

static void lifecycle_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_person_lifecycle(s, &pj->hj.hr.who, pj->person_id, pj->route->action, pj->arg,
                                  &pj->extra, &pj->why);
}

static void lifecycle_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    struct http_req *hr = &hj->hr;
    _cleanup_json_ cJSON *resp = NULL;
    const char *why = pj->why;
    int r = hj->job.r;

    if (r == -ENOENT) {
        reply_no_such(hr, "person", pj->person_id, "check the id");
        return;
    }
    if (r == -EINVAL) {
        reply_error(hr, 400, "invalid_value", -1, pj->route->key, -1, "%s; nothing was written",
                    why ? why : "the value is not valid");
        return;
    }
    if (r == -EALREADY) {
        reply_error(hr, 409, "wrong_status", -1, NULL, -1, "%s; nothing was written",
                    why ? why : "the record's status does not allow this");
        return;
    }
    if (r < 0) {
        reply_store_failure(hr, r, pj->route->what);
        return;
    }
    resp = cJSON_CreateObject();
    if (!resp || wire_add_item(resp, "person", TAKE_PTR(pj->extra)) < 0) {
        send_oom(hr);
        return;
    }
    reply_json(hr, 200, resp);
}

static void handle_lifecycle(struct http_req *hr, const char *person_id,
                             const struct lifecycle_route *route)
{
    const char *keys[] = {route->key, NULL};
    struct person_job *pj = person_job_new(hr, person_id, lifecycle_finish, route->what);
    cJSON **body;

    if (!pj)
        return;
    body = &pj->hj.body;
    pj->route = route;
    if (authenticate(hr) < 0 || require_coordinator(hr, route->what) < 0 ||
        request_json(hr, keys, body) < 0 ||
        (route->key && member_string(hr, *body, route->key, true, 64, &pj->arg) < 0)) {
        job_free(&pj->hj);
        return;
    }
    if (!uuid_valid(person_id)) {
        job_free(&pj->hj);
        reply_no_such(hr, "person", person_id, "check the id");
        return;
    }
    job_submit(hr, &pj->hj, WORK_WRITE, lifecycle_run);
}

static void team_run(struct store *s, struct work_job *j)
{
    struct person_job *pj = (struct person_job *)j;

    j->r = store_person_team(s, &pj->hj.hr.who, pj->person_id, &pj->hj.resp);
}

static void team_finish(struct http_job *hj)
{
    struct person_job *pj = (struct person_job *)hj;
    char echo[HTTP_ECHO_MAX];

    if (hj->job.r == -ENOENT) {
        reply_error(&hj->hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s on your caseload; check the id",
                    clip(pj->person_id, echo, sizeof(echo)));
        return;
    }
    finish_resp(hj);
}

static void handle_team(struct http_req *hr, const char *person_id)
{
    struct person_job *pj;

    if (authenticate(hr) < 0)
        return;
    if (!uuid_valid(person_id)) {
        char echo[HTTP_ECHO_MAX];

        reply_error(hr, 404, "not_found", -1, NULL, -1,
                    "no person with id %s on your caseload; check the id",
                    clip(person_id, echo, sizeof(echo)));
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

/* "/v1/people/<id>/<lifecycle action>": true, the id and the route. */
static bool lifecycle_path(const char *path, char ret[static HTTP_ECHO_MAX],
                           const struct lifecycle_route **ret_route)
{
    for (size_t i = 0; i < ELEMENTSOF(lifecycle_routes); i++)
        if (path_segment(path, "/v1/people/", lifecycle_routes[i].suffix, ret)) {
            *ret_route = &lifecycle_routes[i];
            return true;
        }
    return false;
}

/* "/v1/conflicts/<digits>/resolve" with a positive id: true and *ret. */
static bool resolve_path(const char *path, int64_t *ret)
{
    static const char prefix[] = "/v1/conflicts/", suffix[] = "/resolve";
    char digits[24];
    const char *end;
    size_t n;

    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    path += sizeof(prefix) - 1;
    end = strchr(path, '/');
    if (!end || !streq(end, suffix))
        return false;
    n = (size_t)(end - path);
    if (n == 0 || n >= sizeof(digits) || path[0] == '-')
        return false;
    memcpy(digits, path, n);
    digits[n] = '\0';
    return parse_i64(digits, ret) == 0 && *ret > 0;
}

static void reply_method(struct http_req *hr, const char *path, const char *allow)
{
    char echo[HTTP_ECHO_MAX];

    (void)evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Allow", allow);
    reply_error(hr, 405, "method_not_allowed", -1, NULL, -1, "%s is not allowed on %s; use %s",
                method_name(evhttp_request_get_command(hr->req)), clip(path, echo, sizeof(echo)),
                allow);
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
    case CONN_STORE_BUSY:
        (void)evhttp_add_header(h, "Retry-After", "1");
        reply_error(hr, 503, "busy", -1, NULL, -1,
                    "the store is busy; nothing was written; retry in a few seconds");
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

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct http_req hr = {.sd = arg, .req = req};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    enum conn_verdict verdict;
    char person[HTTP_ECHO_MAX];
    const struct lifecycle_route *lifecycle = NULL;
    int64_t id;

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
    } else if (streq(path, "/v1/enrol")) {
        if (m == EVHTTP_REQ_POST)
            handle_enrol(&hr);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/sync")) {
        if (m == EVHTTP_REQ_POST)
            handle_sync(&hr);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/conflicts")) {
        if (m == EVHTTP_REQ_GET)
            handle_conflicts(&hr);
        else
            reply_method(&hr, path, "GET");
    } else if (resolve_path(path, &id)) {
        if (m == EVHTTP_REQ_POST)
            handle_resolve(&hr, id);
        else
            reply_method(&hr, path, "POST");
    } else if (path_segment(path, "/v1/people/", "/fhir", person)) {
        if (m == EVHTTP_REQ_GET)
            handle_fhir(&hr, person);
        else
            reply_method(&hr, path, "GET");
    } else if (path_segment(path, "/v1/people/", "/team", person)) {
        if (m == EVHTTP_REQ_GET)
            handle_team(&hr, person);
        else
            reply_method(&hr, path, "GET");
    } else if (lifecycle_path(path, person, &lifecycle)) {
        if (m == EVHTTP_REQ_POST)
            handle_lifecycle(&hr, person, lifecycle);
        else
            reply_method(&hr, path, "POST");
    } else if (path_segment(path, "/v1/people/", "/named-coordinator", person)) {
        if (m == EVHTTP_REQ_POST)
            handle_named_coordinator(&hr, person);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/devices")) {
        if (m == EVHTTP_REQ_GET)
            handle_devices(&hr);
        else
            reply_method(&hr, path, "GET");
    } else if (path_segment(path, "/v1/devices/", "/revoke", person)) {
        if (m == EVHTTP_REQ_POST)
            handle_revoke(&hr, person);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/assignments")) {
        if (m == EVHTTP_REQ_POST)
            handle_assignment(&hr);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/rows/restore")) {
        if (m == EVHTTP_REQ_POST)
            handle_restore_row(&hr);
        else
            reply_method(&hr, path, "POST");
    } else if (streq(path, "/v1/assignments/transfer")) {
        if (m == EVHTTP_REQ_POST)
            handle_transfer(&hr);
        else
            reply_method(&hr, path, "POST");
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
    evhttp_set_timeout(sd->http, HTTP_TIMEOUT_S);
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

void caresyncd_set_conn_limits(struct caresyncd *sd, const struct conn_limits *l)
{
    conn_server_set_limits(sd->conns, l);
}

void caresyncd_get_conn_limits(const struct caresyncd *sd, struct conn_limits *ret)
{
    conn_server_get_limits(sd->conns, ret);
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
    char host[INET6_ADDRSTRLEN];
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
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(ret_bound, bound_size, "[%s]:%u", host, (unsigned)ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(ret_bound, bound_size, "%s:%u", host, (unsigned)ntohs(s4->sin_port));
    }
    return 0;
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
    free(sd);
    return NULL;
}
