/* SPDX-License-Identifier: MIT */
/* conn.c - the connection layer under evhttp (docs/ARCHITECTURE.md "Connections"): a filter
 * bufferevent over each TLS bufferevent that looks at a request's head before its body is
 * buffered, deadlines, connection caps, eviction and closing after a reply.
 *
 * libevent 2.1 has no hook between a request's headers and its body (evhttp_set_newreqcb came
 * in 2.2), so the filter watches the byte stream itself, only as far as the framing needs: the
 * end of the head, the request line, Content-Length, Transfer-Encoding and Authorization.
 * evhttp stays the parser of record. A request the filter refuses reaches evhttp with
 * "Content-Length: 0" in place of its framing, its body is thrown away as it arrives, and the
 * handler answers the refusal (conn_dispatched()) with "Connection: close".
 *
 * Two things the 2.1 filter does not do for evhttp, done here: it never flushes output added
 * while writing was disabled (evhttp enables writing after queueing a reply), so an output
 * callback schedules a flush; and evhttp takes a reply as written once the filter has handed
 * it to the TLS bufferevent, so a "Connection: close" connection would be shut down (evhttp
 * calls shutdown() itself) before TLS wrote the reply. The handler's completion callback
 * takes the close away from evhttp (conn_reply_done()), and this layer shuts the socket down
 * once TLS has written everything, then reads and drops for CONN_LINGER_S before closing. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/* The head evhttp accepts is a request line and header lines of at most HTTP_HEADERS_MAX
 * (16 KiB) each; a head not ended within this many bytes is left to evhttp to refuse. */
#define CONN_HEAD_MAX   (40 * 1024)
/* Read no further ahead than this on the TLS side while a request waits for its reply. */
#define CONN_READ_AHEAD (64 * 1024)
#define CONN_HASH       256
#define CONN_LOG_EVERY_MS 10000

enum conn_state {
    CONN_HEAD, /* looking for the end of a request's head */
    CONN_BODY, /* passing body_left bytes to evhttp */
    CONN_HOLD, /* request complete: nothing more until its reply is written */
    CONN_DRAIN, /* refused: everything further is thrown away */
    CONN_RAW,   /* head too long: passed as it is, evhttp refuses it */
};

enum conn_log {
    LOG_HEAD_DEADLINE,
    LOG_BODY_DEADLINE,
    LOG_PER_ADDR,
    LOG_EVICTED,
    LOG_FULL,
    LOG_TOKEN,
    LOG_BUDGET,
    LOG_FRAMING,
    LOG_TLS,
    _LOG_MAX,
};

struct log_limit {
    int64_t last_ms;
    unsigned suppressed;
};

struct conn {
    TAILQ_ENTRY(conn) link; /* cs->conns, oldest first */
    LIST_ENTRY(conn) hlink; /* cs->hash, by filter bufferevent; while bev is set */
    struct conn_server *cs; /* NULL once detached by conn_server_free() */
    struct bufferevent *bev; /* the filter evhttp owns; NULL once evhttp has freed it */
    struct bufferevent *ssl; /* the TLS bufferevent; one reference is ours */
    struct evbuffer_cb_entry *out_cb;
    struct event *timer; /* deadline, or the end of lingering after a last reply */
    struct event *kick;  /* admission, flushing output, resuming input */
    char addr[INET6_ADDRSTRLEN];
    enum conn_state state;
    enum conn_verdict verdict;
    size_t scanned;     /* bytes of the head known to hold no empty line */
    uint64_t body_left; /* CONN_BODY */
    uint64_t charged;   /* against cs->budget_used */
    bool counted;       /* admitted: in cs->n_conns */
    bool authenticated; /* some request on it carried a valid token */
    bool in_request;    /* a request's first byte has arrived and it is not dispatched */
    bool reply_pending; /* a reply handed to TLS and not yet all written (cs->drained) */
    bool close_after;   /* close once the reply is written (it said Connection: close) */
    bool fin_sent;      /* shut down for writing after that reply */
    bool close_now;     /* not HTTP/1.x: close at the next turn of the loop, answering nothing */
    struct evbuffer_cb_entry *ssl_out_cb;
    bool hashed;        /* in cs->hash */
};

struct conn_server {
    struct event_base *base;
    struct store *store;
    SSL_CTX *ssl_ctx;
    bool quiet;
    struct conn_limits lim;
    TAILQ_HEAD(, conn) conns;
    LIST_HEAD(, conn) hash[CONN_HASH];
    unsigned n_conns;
    uint64_t budget_used;
    struct log_limit logs[_LOG_MAX];
    void (*drained)(void *arg);
    void *drained_arg;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One warning per class per CONN_LOG_EVERY_MS, saying how many were not logged since. */
_printf_(3, 4) static void log_limited(struct conn_server *cs, enum conn_log what,
                                       const char *fmt, ...)
{
    struct log_limit *l = &cs->logs[what];
    int64_t now = now_ms();
    char msg[256];
    va_list ap;

    if (l->last_ms && now - l->last_ms < CONN_LOG_EVERY_MS) {
        l->suppressed++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->suppressed)
        log_warn("%s (and %u more like it in the last %ds)", msg, l->suppressed,
                 (int)((now - l->last_ms) / 1000));
    else
        log_warn("%s", msg);
    l->last_ms = now;
    l->suppressed = 0;
}

static size_t hash_of(const struct bufferevent *bev)
{
    return ((uintptr_t)bev >> 6) % CONN_HASH;
}

/* Whether evhttp still has the connection: its filter exists and is linked over the TLS
 * bufferevent (unlinking clears the TLS bufferevent's callbacks). */
static bool conn_live(struct conn *c)
{
    bufferevent_data_cb readcb = NULL;

    if (!c->bev)
        return false;
    bufferevent_getcb(c->ssl, &readcb, NULL, NULL, NULL);
    return readcb != NULL;
}

static void arm(struct conn *c, unsigned seconds)
{
    struct timeval tv = {.tv_sec = seconds};

    (void)evtimer_add(c->timer, &tv);
}

static void budget_release(struct conn *c)
{
    if (c->cs && c->charged) {
        c->cs->budget_used -= c->charged;
        c->charged = 0;
    }
}

/* Close @c from this side: evhttp sees the end of the stream and frees the connection. Only
 * from a callback of the event loop itself, never from inside evhttp. */
static void conn_close(struct conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->ssl);

    if (!conn_live(c))
        return;
    if (fd >= 0)
        (void)shutdown(fd, SHUT_RDWR);
    bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

/* Forget @c: evhttp has freed its filter, which frees the TLS bufferevent. */
static void conn_release(struct conn *c)
{
    if (c->cs) {
        TAILQ_REMOVE(&c->cs->conns, c, link);
        if (c->counted)
            c->cs->n_conns--;
    }
    budget_release(c);
    if (c->timer)
        event_free(c->timer);
    if (c->kick)
        event_free(c->kick);
    free(c);
}

/* ---- the input filter ---- */

/* [s, e) with spaces and tabs trimmed on both sides. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static bool name_is(const char *s, const char *e, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(e - s) == n && strncasecmp(s, name, n) == 0;
}

struct head {
    const char *method, *method_end, *target, *target_end, *version, *version_end;
    const char *auth, *auth_end;
    unsigned lengths;
    bool te, folded, bad_digits, too_big;
    uint64_t length;
};

/* Look at the head @h (@n bytes, ending with its empty line) as evhttp will read it: lines end
 * at LF with an optional CR before it, the request line is METHOD SP TARGET SP VERSION. */
static void head_read(const char *h, size_t n, struct head *ret)
{
    const char *p = h, *end = h + n;
    bool first = true;

    memset(ret, 0, sizeof(*ret));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le, *colon, *vs, *ve;

        if (!nl)
            break;
        le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        if (le == p)
            break; /* the empty line */
        if (first) {
            const char *sp = memchr(p, ' ', (size_t)(le - p));

            ret->method = p;
            ret->method_end = sp ? sp : le;
            if (sp) {
                const char *sp2 = memchr(sp + 1, ' ', (size_t)(le - sp - 1));

                ret->target = sp + 1;
                ret->target_end = sp2 ? sp2 : le;
                ret->version = sp2 ? sp2 + 1 : NULL;
                ret->version_end = sp2 ? le : NULL;
            }
            first = false;
        } else if (*p == ' ' || *p == '\t') {
            ret->folded = true;
        } else if ((colon = memchr(p, ':', (size_t)(le - p)))) {
            const char *ns = p, *ne = colon;

            vs = colon + 1;
            ve = le;
            trim(&ns, &ne);
            trim(&vs, &ve);
            if (name_is(ns, ne, "Transfer-Encoding")) {
                ret->te = true;
            } else if (name_is(ns, ne, "Content-Length")) {
                ret->lengths++;
                if (vs == ve)
                    ret->bad_digits = true;
                for (const char *q = vs; q < ve; q++) {
                    if (*q < '0' || *q > '9') {
                        ret->bad_digits = true;
                        break;
                    }
                    if (ret->length > (UINT64_MAX - 9) / 10)
                        ret->too_big = true;
                    else
                        ret->length = ret->length * 10 + (uint64_t)(*q - '0');
                }
            } else if (name_is(ns, ne, "Authorization") && !ret->auth) {
                ret->auth = vs;
                ret->auth_end = ve;
            }
        }
        p = nl + 1;
    }
}

/* The token of an Authorization value as authenticate() reads it, into @buf; "" for none. */
static void head_token(const struct head *hd, char *buf, size_t size)
{
    const char *s = hd->auth, *e = hd->auth_end;

    buf[0] = '\0';
    if (!s)
        return;
    if (e - s >= 7 && strncasecmp(s, "Bearer ", 7) == 0)
        s += 7;
    else
        return;
    while (s < e && *s == ' ')
        s++;
    if (s < e && (size_t)(e - s) < size) {
        memcpy(buf, s, (size_t)(e - s));
        buf[e - s] = '\0';
    }
}

/* What to do with a complete head. */
static enum conn_verdict head_verdict(struct conn *c, const struct head *hd)
{
    struct conn_server *cs = c->cs;
    struct store_principal who;
    char token[STORE_TOKEN_MAX];
    bool enrol, console;
    int r;

    if (hd->te)
        return CONN_TE;
    if (hd->lengths > 1)
        return CONN_CL_REPEATED;
    if (hd->bad_digits)
        return CONN_CL_DIGITS;
    if (hd->folded)
        return CONN_FOLDED;
    if (hd->length == 0 && !hd->too_big)
        return CONN_PASS;
    if (name_is(hd->method, hd->method_end, "HEAD") || name_is(hd->method, hd->method_end, "TRACE"))
        return CONN_BODY_NO_BODY;
    /* Everything with a body needs a device token, but an enrolment, which is small. */
    enrol = name_is(hd->method, hd->method_end, "POST") && hd->target &&
            (size_t)(hd->target_end - hd->target) == strlen("/v1/enrol") &&
            memcmp(hd->target, "/v1/enrol", strlen("/v1/enrol")) == 0;
    /* The web console signs in with a cookie, which console.c checks; its bodies are small. */
    console = name_is(hd->method, hd->method_end, "POST") && hd->target &&
              (size_t)(hd->target_end - hd->target) > strlen("/console/") &&
              memcmp(hd->target, "/console/", strlen("/console/")) == 0;
    if (enrol) {
        if (hd->too_big || hd->length > CONN_ENROL_BODY_MAX)
            return CONN_ENROL_TOO_LARGE;
    } else if (console) {
        if (hd->too_big || hd->length > CONN_CONSOLE_BODY_MAX)
            return CONN_CONSOLE_TOO_LARGE;
    } else {
        if (!hd->auth)
            return CONN_MISSING_TOKEN;
        head_token(hd, token, sizeof(token));
        r = token[0] ? store_authenticate(cs->store, token, &who) : -EACCES;
        explicit_bzero(token, sizeof(token));
        if (r == -EACCES)
            return CONN_INVALID_TOKEN;
        if (r == -EKEYREVOKED)
            return CONN_REVOKED;
        /* A PostgreSQL store away (-ENOTCONN) is told apart from a busy one: an operator
         * reading a device's error looks at the database, not at the load. */
        if (r == -ENOTCONN || r == -EAGAIN)
            return CONN_STORE_DOWN;
        if (r < 0)
            return CONN_STORE_BUSY;
        if (hd->too_big || hd->length > cs->lim.body_max)
            return CONN_TOO_LARGE;
    }
    if (hd->length > cs->lim.body_budget || cs->budget_used + hd->length > cs->lim.body_budget)
        return CONN_BUDGET;
    return CONN_PASS;
}

static const char *verdict_name(enum conn_verdict v)
{
    switch (v) {
    case CONN_MISSING_TOKEN:
        return "no token";
    case CONN_INVALID_TOKEN:
        return "an invalid token";
    case CONN_REVOKED:
        return "a revoked device's token";
    case CONN_STORE_DOWN:
        return "a token the store could not check (its database unavailable)";
    case CONN_STORE_BUSY:
        return "a token the busy store could not check";
    case CONN_ENROL_TOO_LARGE:
    case CONN_CONSOLE_TOO_LARGE:
    case CONN_TOO_LARGE:
        return "a body over the limit";
    case CONN_BUDGET:
        return "a body over the server's buffer budget";
    default:
        return "malformed framing";
    }
}

/*
 * The head of @n bytes at the front of @src is complete: pass it (and then its body) to evhttp
 * as it is, or refuse it: evhttp gets the head without its framing and "Content-Length: 0",
 * and everything after is dropped.
 */
static enum bufferevent_filter_result head_done(struct conn *c, struct evbuffer *src,
                                                struct evbuffer *dst, size_t n)
{
    struct conn_server *cs = c->cs;
    const char *h = (const char *)evbuffer_pullup(src, (ev_ssize_t)n), *p, *end;
    struct head hd;
    enum conn_verdict v;

    if (!h)
        return BEV_ERROR;
    head_read(h, n, &hd);
    if (!hd.method || hd.method == hd.method_end) {
        /* No request line: evhttp refuses it; nothing to look at. */
        c->scanned = 0;
        return evbuffer_remove_buffer(src, dst, n) < 0 ? BEV_ERROR : BEV_OK;
    }
    if (!hd.version || !(name_is(hd.version, hd.version_end, "HTTP/1.1") ||
                         name_is(hd.version, hd.version_end, "HTTP/1.0"))) {
        /* Only HTTP/1.x is spoken (evhttp would answer HTTP/0.x bare, and free the connection
         * from inside its own callbacks): close without passing anything on. */
        log_limited(cs, LOG_FRAMING, "closed a connection from %s: not an HTTP/1.x request",
                    c->addr);
        (void)evbuffer_drain(src, evbuffer_get_length(src));
        c->state = CONN_DRAIN;
        c->close_now = true;
        event_active(c->kick, EV_TIMEOUT, 1);
        return BEV_OK;
    }
    v = head_verdict(c, &hd);
    c->verdict = v;
    c->scanned = 0;
    if (v == CONN_PASS) {
        if (evbuffer_remove_buffer(src, dst, n) < 0)
            return BEV_ERROR;
        if (hd.length == 0) {
            c->state = CONN_HOLD;
            (void)evtimer_del(c->timer);
        } else {
            c->state = CONN_BODY;
            c->body_left = hd.length;
            c->charged = hd.length;
            cs->budget_used += hd.length;
            arm(c, cs->lim.body_timeout_s);
        }
        return BEV_OK;
    }
    if (v == CONN_BUDGET)
        log_limited(cs, LOG_BUDGET, "refused a request of %" PRIu64 " bytes from %s: %" PRIu64
                    " of %" PRIu64 " body bytes already buffered (--max-body-buffer)",
                    hd.length, c->addr, cs->budget_used, cs->lim.body_budget);
    else
        log_limited(cs, v <= CONN_STORE_BUSY ? LOG_TOKEN : LOG_FRAMING,
                    "refused a request with %s from %s before reading its body", verdict_name(v),
                    c->addr);
    /* Rewrite: every line but the framing, then Content-Length: 0 and the empty line. */
    for (p = h, end = h + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le, *colon, *ns, *ne;

        if (!nl)
            break;
        le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        if (le == p)
            break;
        colon = p == h ? NULL : memchr(p, ':', (size_t)(le - p));
        ns = p;
        ne = colon ? colon : le;
        trim(&ns, &ne);
        if (!(*p == ' ' || *p == '\t') &&
            !(colon && (name_is(ns, ne, "Content-Length") ||
                        name_is(ns, ne, "Transfer-Encoding")))) {
            if (evbuffer_add(dst, p, (size_t)(le - p)) < 0 || evbuffer_add(dst, "\r\n", 2) < 0)
                return BEV_ERROR;
        }
        p = nl + 1;
    }
    if (evbuffer_add(dst, "Content-Length: 0\r\n\r\n", 21) < 0)
        return BEV_ERROR;
    (void)evbuffer_drain(src, evbuffer_get_length(src));
    c->state = CONN_DRAIN;
    (void)evtimer_del(c->timer);
    return BEV_OK;
}

static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                void *ctx)
{
    struct conn *c = ctx;
    size_t len = evbuffer_get_length(src), n;

    if (len == 0 || !c->cs)
        return BEV_NEED_MORE;
    switch (c->state) {
    case CONN_HOLD:
        return BEV_NEED_MORE;
    case CONN_DRAIN:
        (void)evbuffer_drain(src, len);
        return BEV_NEED_MORE;
    case CONN_RAW:
        n = limit >= 0 && (size_t)limit < len ? (size_t)limit : len;
        return evbuffer_remove_buffer(src, dst, n) < 0 ? BEV_ERROR : BEV_OK;
    case CONN_BODY:
        n = len < c->body_left ? len : (size_t)c->body_left;
        if (limit >= 0 && (size_t)limit < n)
            n = (size_t)limit;
        if (n == 0)
            return BEV_NEED_MORE;
        if (evbuffer_remove_buffer(src, dst, n) < 0)
            return BEV_ERROR;
        c->body_left -= n;
        if (c->body_left == 0) {
            c->state = CONN_HOLD;
            (void)evtimer_del(c->timer);
        }
        return BEV_OK;
    case CONN_HEAD:
        break;
    }
    if (!c->in_request) {
        c->in_request = true;
        arm(c, c->cs->lim.header_timeout_s);
    }
    /* Find the empty line that ends the head, a line at a time from where the last look
     * stopped (a head dribbled in byte by byte is scanned once). */
    for (;;) {
        struct evbuffer_ptr from, eol;
        size_t eol_len = 0;

        if (evbuffer_ptr_set(src, &from, c->scanned, EVBUFFER_PTR_SET) < 0)
            return BEV_NEED_MORE;
        eol = evbuffer_search_eol(src, &from, &eol_len, EVBUFFER_EOL_CRLF);
        if (eol.pos < 0) {
            if (len <= CONN_HEAD_MAX)
                return BEV_NEED_MORE;
            log_limited(c->cs, LOG_FRAMING, "a request head from %s is longer than %d bytes; "
                        "left to the HTTP parser to refuse", c->addr, CONN_HEAD_MAX);
            c->state = CONN_RAW;
            (void)evtimer_del(c->timer);
            return evbuffer_remove_buffer(src, dst, len) < 0 ? BEV_ERROR : BEV_OK;
        }
        if ((size_t)eol.pos == c->scanned && c->scanned > 0)
            return head_done(c, src, dst, c->scanned + eol_len);
        if ((size_t)eol.pos == c->scanned) {
            /* An empty line before any request line: evhttp's to refuse. */
            return evbuffer_remove_buffer(src, dst, eol_len) < 0 ? BEV_ERROR : BEV_OK;
        }
        c->scanned = (size_t)eol.pos + eol_len;
    }
}

/* ---- timers and the kick ---- */

static void deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    if (!conn_live(c))
        return;
    if (c->close_after) {
        conn_close(c); /* lingered long enough after its last reply */
        return;
    }
    if (c->state == CONN_HEAD)
        log_limited(c->cs, LOG_HEAD_DEADLINE, "closed a connection from %s: request headers "
                    "not complete within %us (--header-timeout)", c->addr,
                    c->cs->lim.header_timeout_s);
    else
        log_limited(c->cs, LOG_BODY_DEADLINE, "closed a connection from %s: request body not "
                    "complete within %us (--body-timeout)", c->addr, c->cs->lim.body_timeout_s);
    conn_close(c);
}

/* Admit a new connection now that its socket is known: the per-address cap, then the global
 * one, making room by closing the oldest idle connection that never authenticated. */
static void admit(struct conn *c)
{
    struct conn_server *cs = c->cs;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = bufferevent_getfd(c->ssl);
    struct conn *o, *victim = NULL;
    unsigned same = 0;

    c->counted = true;
    cs->n_conns++;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        copy_text(c->addr, sizeof(c->addr), "-");
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof(c->addr));
    } else if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof(c->addr));
    } else {
        copy_text(c->addr, sizeof(c->addr), "-");
    }
    TAILQ_FOREACH (o, &cs->conns, link)
        if (o->counted && streq(o->addr, c->addr))
            same++;
    if (same > cs->lim.per_addr) {
        log_limited(cs, LOG_PER_ADDR, "refused a connection from %s: %u already open from that "
                    "address (--max-conns-per-addr)", c->addr, same - 1);
        conn_close(c);
        return;
    }
    if (cs->n_conns <= cs->lim.max_conns)
        return;
    TAILQ_FOREACH (o, &cs->conns, link) {
        if (o->counted && !o->authenticated && !o->in_request && o->state == CONN_HEAD &&
            !o->reply_pending &&
            conn_live(o)) {
            victim = o;
            break;
        }
    }
    if (victim && victim != c) {
        log_limited(cs, LOG_EVICTED, "%u connections open (--max-conns): closed an idle one "
                    "from %s that never authenticated", cs->n_conns - 1, victim->addr);
        conn_close(victim);
        return;
    }
    log_limited(cs, LOG_FULL, "refused a connection from %s: %u connections open "
                "(--max-conns) and none idle to close", c->addr, cs->n_conns - 1);
    conn_close(c);
}

static void kick_work(struct conn *c);

/*
 * The deferred work of a connection. Flushing may make evhttp finish a reply and free its
 * connection, the filter with it, from inside the filter's own callbacks (an HTTP/1.0 or 0.x
 * request always closes): a reference held across the work keeps the filter alive until every
 * libevent frame above it has returned; dropping it may free @c.
 */
static void kick(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct bufferevent *bev;

    if (!conn_live(c))
        return;
    bev = c->bev;
    bufferevent_incref(bev);
    kick_work(c);
    (void)bufferevent_decref(bev);
}

static void kick_work(struct conn *c)
{
    struct evbuffer *src;

    if (!conn_live(c))
        return;
    if (c->close_now) {
        conn_close(c);
        return;
    }
    if (!c->counted) {
        admit(c);
        if (!conn_live(c))
            return;
    }
    if (evbuffer_get_length(bufferevent_get_output(c->ssl)) == 0) {
        evutil_socket_t sfd = bufferevent_getfd(c->ssl);

        if (c->close_after && !c->fin_sent && sfd >= 0) {
            /* The reply is all with the kernel: the FIN follows it. What the client still
             * sends is read and dropped for a moment, so that no RST overtakes the reply. */
            (void)shutdown(sfd, SHUT_WR);
            c->fin_sent = true;
            arm(c, CONN_LINGER_S);
        }
        if (c->reply_pending) {
            c->reply_pending = false;
            if (c->cs->drained)
                c->cs->drained(c->cs->drained_arg);
            if (!conn_live(c))
                return;
        }
    }
    src = bufferevent_get_input(c->ssl);
    if (c->state == CONN_HEAD && evbuffer_get_length(src) > 0 &&
        (bufferevent_get_enabled(c->bev) & EV_READ)) {
        /* Bytes of the next request arrived while the last one was answered. */
        bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
        if (conn_live(c) && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            bufferevent_trigger(c->bev, EV_READ, 0);
        if (!conn_live(c))
            return;
    }
    /* Last: writing may complete a "Connection: close" reply, and evhttp free the filter. */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
}

static void output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;

    if (info->n_added > 0 && c->kick)
        event_active(c->kick, EV_TIMEOUT, 1);
}

static void ssl_output_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                               void *arg)
{
    struct conn *c = arg;

    if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0 && c->kick &&
        (c->reply_pending || c->close_after))
        event_active(c->kick, EV_TIMEOUT, 1);
}

/* The filter's context is freed with it: evhttp is done with the connection. The TLS
 * bufferevent is still there (the filter drops its reference after this). */
static void filter_freed(void *arg)
{
    struct conn *c = arg;
    SSL *ssl = c->ssl ? bufferevent_openssl_get_ssl(c->ssl) : NULL;

    /* A handshake that failed (a client without our CA, a scanner, plain HTTP to the TLS port):
     * one line, rate-limited, with OpenSSL's reason. */
    if (c->cs && ssl && !SSL_is_init_finished(ssl)) {
        unsigned long e = bufferevent_get_openssl_error(c->ssl);
        char why[160];

        /* (A peer that connects and goes away, without a word or in the middle, a port probe
         * or a health check, is no failure worth a line.) */
        if (e && ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_error_string_n(e, why, sizeof(why));
            log_limited(c->cs, LOG_TLS, "TLS handshake with %s failed: %s", c->addr, why);
            metrics_tls_handshake_failed();
        }
    }

    if (c->out_cb && c->bev)
        (void)evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->ssl_out_cb)
        (void)evbuffer_remove_cb_entry(bufferevent_get_output(c->ssl), c->ssl_out_cb);
    c->out_cb = c->ssl_out_cb = NULL;
    if (c->hashed)
        LIST_REMOVE(c, hlink);
    c->hashed = false;
    c->bev = NULL;
    if (c->reply_pending && c->cs && c->cs->drained) {
        c->reply_pending = false;
        c->cs->drained(c->cs->drained_arg);
    }
    conn_release(c);
}

/* ---- the interface ---- */

struct bufferevent *conn_bev_new(struct event_base *base, void *arg)
{
    struct conn_server *cs = arg;
    struct conn *c;
    SSL *ssl = SSL_new(cs->ssl_ctx);

    if (!ssl) {
        log_error("cannot create a TLS session (out of memory?)");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        SSL_free(ssl);
        log_error("out of memory accepting a connection");
        return NULL;
    }
    c->ssl = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->ssl) {
        SSL_free(ssl);
        free(c);
        log_error("cannot create a TLS bufferevent (out of memory?)");
        return NULL;
    }
    c->timer = evtimer_new(base, deadline, c);
    c->kick = event_new(base, -1, 0, kick, c);
    if (!c->timer || !c->kick)
        goto fail;
    bufferevent_setwatermark(c->ssl, EV_READ, 0, CONN_READ_AHEAD);
    /* Deferred callbacks: evhttp may free its connection, and the filter with it, from a read
     * callback (a malformed header); run from the loop, no filter code is on the stack then. */
    c->bev = bufferevent_filter_new(c->ssl, filter_in, NULL,
                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, filter_freed,
                                    c);
    if (!c->bev)
        goto fail;
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), output_added, c);
    c->ssl_out_cb = evbuffer_add_cb(bufferevent_get_output(c->ssl), ssl_output_changed, c);
    if (!c->out_cb || !c->ssl_out_cb) {
        /* Freeing the filter frees c (filter_freed) and the TLS bufferevent. */
        bufferevent_free(c->bev);
        log_error("out of memory accepting a connection");
        return NULL;
    }
    c->cs = cs;
    copy_text(c->addr, sizeof(c->addr), "-");
    TAILQ_INSERT_TAIL(&cs->conns, c, link);
    LIST_INSERT_HEAD(&cs->hash[hash_of(c->bev)], c, hlink);
    c->hashed = true;
    /* The socket is set once this returns; look at the peer on the next turn of the loop. */
    event_active(c->kick, EV_TIMEOUT, 1);
    return c->bev;

fail:
    if (c->timer)
        event_free(c->timer);
    if (c->kick)
        event_free(c->kick);
    bufferevent_free(c->ssl);
    free(c);
    log_error("out of memory accepting a connection");
    return NULL;
}

void conn_server_set_store(struct conn_server *cs, struct store *store)
{
    cs->store = store;
}

void conn_server_set_ssl_ctx(struct conn_server *cs, SSL_CTX *ssl_ctx)
{
    cs->ssl_ctx = ssl_ctx;
}

struct conn *conn_of_request(struct conn_server *cs, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct conn *c;

    if (!bev)
        return NULL;
    LIST_FOREACH (c, &cs->hash[hash_of(bev)], hlink)
        if (c->bev == bev)
            return c;
    return NULL;
}

SSL *conn_ssl(struct conn *c)
{
    return c ? bufferevent_openssl_get_ssl(c->ssl) : NULL;
}

enum conn_verdict conn_dispatched(struct conn *c)
{
    (void)evtimer_del(c->timer);
    c->in_request = false;
    if (c->state == CONN_BODY || c->state == CONN_HEAD)
        c->state = CONN_HOLD; /* evhttp's framing ended first (it refuses those) */
    return c->verdict;
}

void conn_authenticated(struct conn *c)
{
    if (c)
        c->authenticated = true;
}

void conn_reply_done(struct conn *c, bool close)
{
    budget_release(c);
    c->in_request = false;
    c->reply_pending = true;
    if (close) {
        c->close_after = true;
        c->state = CONN_DRAIN;
        (void)evtimer_del(c->timer);
    }
    if (c->kick)
        event_active(c->kick, EV_TIMEOUT, 1);
    if (c->state == CONN_HOLD) {
        c->state = CONN_HEAD;
        c->verdict = CONN_PASS;
        /* The next request may already be waiting; evhttp reads it once it has started. */
        if (c->kick)
            event_active(c->kick, EV_TIMEOUT, 1);
    }
}

static unsigned default_max_conns(void)
{
    struct rlimit nofile;

    if (getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_cur == RLIM_INFINITY ||
        nofile.rlim_cur > 1000000)
        return 1000000 - CONN_FD_RESERVE;
    if (nofile.rlim_cur < 2 * CONN_FD_RESERVE)
        return (unsigned)nofile.rlim_cur / 2;
    return (unsigned)nofile.rlim_cur - CONN_FD_RESERVE;
}

struct conn_server *conn_server_new(struct event_base *base, struct store *store,
                                    SSL_CTX *ssl_ctx, bool quiet)
{
    struct conn_server *cs = calloc(1, sizeof(*cs));

    if (!cs)
        return NULL;
    cs->base = base;
    cs->store = store;
    cs->ssl_ctx = ssl_ctx;
    cs->quiet = quiet;
    cs->lim = (struct conn_limits){
            .header_timeout_s = CONN_HEADER_TIMEOUT_S,
            .body_timeout_s = CONN_BODY_TIMEOUT_S,
            .per_addr = CONN_PER_ADDR_MAX,
            .max_conns = default_max_conns(),
            .body_budget = CONN_BODY_BUDGET,
            .body_max = UINT64_MAX,
    };
    TAILQ_INIT(&cs->conns);
    for (size_t i = 0; i < CONN_HASH; i++)
        LIST_INIT(&cs->hash[i]);
    return cs;
}

void conn_server_set_limits(struct conn_server *cs, const struct conn_limits *l)
{
    if (l->header_timeout_s)
        cs->lim.header_timeout_s = l->header_timeout_s;
    if (l->body_timeout_s)
        cs->lim.body_timeout_s = l->body_timeout_s;
    if (l->per_addr)
        cs->lim.per_addr = l->per_addr;
    if (l->max_conns)
        cs->lim.max_conns = l->max_conns;
    if (l->body_budget)
        cs->lim.body_budget = l->body_budget;
    if (l->body_max)
        cs->lim.body_max = l->body_max;
}

void conn_server_set_drained(struct conn_server *cs, void (*fn)(void *arg), void *arg)
{
    cs->drained = fn;
    cs->drained_arg = arg;
}

void conn_server_get_limits(const struct conn_server *cs, struct conn_limits *ret)
{
    *ret = cs->lim;
}

struct conn_server *conn_server_free(struct conn_server *cs)
{
    struct conn *c, *next;

    if (!cs)
        return NULL;
    for (c = TAILQ_FIRST(&cs->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        /* evhttp_free() has freed its filter; the event base finalises it later. */
        TAILQ_REMOVE(&cs->conns, c, link);
        if (c->hashed)
            LIST_REMOVE(c, hlink);
        c->hashed = false;
        c->cs = NULL;
        c->charged = 0;
    }
    free(cs);
    return NULL;
}
