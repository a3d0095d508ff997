/* SPDX-License-Identifier: MIT */
/* conn.h - caresyncd's connection layer, under evhttp: every accepted connection is a TLS
 * bufferevent wrapped in a filter that looks at each request's head before evhttp buffers its
 * body (token and size checked first), header and body deadlines, connection caps per address
 * and in all, eviction of idle anonymous connections, closing after a reply is written. */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

struct bufferevent;
struct event_base;
struct evhttp_request;
struct store;

#define CONN_HEADER_TIMEOUT_S 10                  /* first byte to end of the headers */
#define CONN_BODY_TIMEOUT_S   60                  /* end of the headers to end of the body */
#define CONN_PER_ADDR_MAX     32                  /* connections from one client address */
#define CONN_BODY_BUDGET      (64u * 1024 * 1024) /* announced body bytes in flight, all */
#define CONN_FD_RESERVE       64                  /* descriptors kept for the store, logs … */
#define CONN_ENROL_BODY_MAX   4096                /* an enrolment body is small */
#define CONN_CONSOLE_BODY_MAX (64 * 1024)         /* a web console request (console.h) */
#define CONN_LINGER_S         2                   /* reading after a last reply, before close */

/* The connection layer of one server; opaque. */
struct conn_server;
/* One accepted connection; opaque. */
struct conn;

struct conn_limits {
    unsigned header_timeout_s; /* >= 1 */
    unsigned body_timeout_s;   /* >= 1 */
    unsigned per_addr;         /* >= 1 */
    unsigned max_conns;        /* >= 1 */
    uint64_t body_budget;      /* bytes, >= 1 */
    uint64_t body_max;         /* largest body announced (Content-Length) that is read */
};

/* What the filter decided about the request now being dispatched. */
enum conn_verdict {
    CONN_PASS = 0,
    CONN_MISSING_TOKEN, /* 401: a body, and no Authorization */
    CONN_INVALID_TOKEN, /* 401 */
    CONN_REVOKED,       /* 401 */
    CONN_STORE_DOWN,    /* 503: the token could not be checked: the store's database is away */
    CONN_STORE_BUSY,    /* 503: the token could not be checked */
    CONN_BUDGET,        /* 503: the buffered-bytes budget is used up */
    CONN_TOO_LARGE,     /* 413: Content-Length above the limit */
    CONN_ENROL_TOO_LARGE, /* 413: an enrolment body above CONN_ENROL_BODY_MAX */
    CONN_CONSOLE_TOO_LARGE, /* 413: a console body above CONN_CONSOLE_BODY_MAX */
    CONN_TE,            /* 400: Transfer-Encoding */
    CONN_CL_REPEATED,   /* 400: two Content-Length */
    CONN_CL_DIGITS,     /* 400: Content-Length not plain digits */
    CONN_FOLDED,        /* 400: a header continuation line */
    CONN_BODY_NO_BODY,  /* 400: a body on HEAD or TRACE */
};

/*
 * conn_server_new() - the connection layer for TLS connections made from @ssl_ctx, checking
 * tokens in @store. All borrowed; they must outlive it. Limits start at the CONN_* defaults with
 * max_conns from RLIMIT_NOFILE. Returns NULL when out of memory.
 */
struct conn_server *conn_server_new(struct event_base *base, struct store *store,
                                    SSL_CTX *ssl_ctx, bool quiet);

/* conn_server_set_ssl_ctx() - new connections use @ssl_ctx (borrowed); those already open keep
 * the context they were made with (each SSL holds a reference to it). */
void conn_server_set_ssl_ctx(struct conn_server *cs, SSL_CTX *ssl_ctx);
/* conn_server_set_store() - the handle tokens are checked through (borrowed; the loop's own). */
void conn_server_set_store(struct conn_server *cs, struct store *store);

/* conn_server_set_limits() - replace the limits (zeros keep the current value). */
void conn_server_set_limits(struct conn_server *cs, const struct conn_limits *l);

/* conn_server_get_limits() - the limits in force. */
void conn_server_get_limits(const struct conn_server *cs, struct conn_limits *ret);

/*
 * conn_server_free() - call after evhttp_free(): detaches the connections (their bufferevents are finalised later by the event base). Accepts NULL; returns
 * NULL.
 */
struct conn_server *conn_server_free(struct conn_server *cs);

/*
 * conn_bev_new() - evhttp's bufferevent callback: a TLS bufferevent (fd set later by evhttp)
 * inside the request filter, with its connection state. NULL when out of memory.
 */
struct bufferevent *conn_bev_new(struct event_base *base, void *cs);

/* conn_of_request() - the connection @req arrived on, or NULL. */
struct conn *conn_of_request(struct conn_server *cs, struct evhttp_request *req);

/* conn_ssl() - the TLS session of @c (NULL for none). */
SSL *conn_ssl(struct conn *c);

/*
 * conn_dispatched() - @c's request has been read and reaches its handler: its deadline stops.
 * Returns what the filter decided; anything but CONN_PASS must be answered with that refusal
 * and "Connection: close" (the body was never read).
 */
enum conn_verdict conn_dispatched(struct conn *c);

/* conn_authenticated() - a request on @c carried a valid token; @c is kept over anonymous ones. */
void conn_authenticated(struct conn *c);

/*
 * conn_reply_done() - evhttp has handed @c's reply down to TLS: its body budget returns and
 * the next request may begin. With @close, the connection is closed here once the reply is
 * all written (the caller took "Connection: close" away from evhttp, which would shut the
 * socket down before TLS had written the reply). Either way the drained callback runs once
 * the reply is written or the connection is gone.
 */
void conn_reply_done(struct conn *c, bool close);

/* conn_server_set_drained() - @fn(@arg) runs once per conn_reply_done(), as described there. */
void conn_server_set_drained(struct conn_server *cs, void (*fn)(void *arg), void *arg);
