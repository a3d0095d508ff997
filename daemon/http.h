/* SPDX-License-Identifier: MIT */
/* http.h - the HTTPS front end of caresyncd: evhttp over bufferevent_openssl, the /v1/ routes
 * of docs/PROTOCOL.md, JSON errors, the access log and graceful shutdown. */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conn.h"

struct event_base;
struct store;
struct work;
struct work_stats;

#define HTTP_BODY_MAX        (4u * 1024 * 1024) /* PROTOCOL.md "request body" */
/* The smallest reply sent gzip-encoded (PROTOCOL.md "Compression"): below it a reply fits one
 * TCP segment either way, and gzip's 18 bytes of framing eat most of what it would save. */
#define HTTP_GZIP_MIN        1024
#define HTTP_HEADERS_MAX     (16 * 1024)
#define HTTP_TIMEOUT_S       30  /* idle: no byte read or written this long (--idle-timeout) */
/* A connection whose request waits for the store (its job queued or running) is not idle: it
 * is given this long (work.h; a queue of thousands on a busy machine can take minutes). */
#define HTTP_JOB_TIMEOUT_S   3600
#define HTTP_LISTEN_MAX      16  /* listening sockets (--listen, repeatable) */
#define HTTP_HOST_MAX        253 /* a --listen host name */
#define HTTP_BUDGET_RETRY_AFTER "2" /* seconds, when the body budget is used up */
#define HTTP_DRAIN_TIMEOUT_S 10  /* longest wait for replies at shutdown */
#define HTTP_LOCK_AFTER_DAYS 14  /* default: a device unsynced this long locks itself */
#define HTTP_LOCK_AFTER_MAX  3650

/* Failed enrolments (PROTOCOL.md "Enrolment throttling"): per client address and per server,
 * so many failures per so many seconds, as token buckets. */
#define HTTP_ENROL_ADDR_FAILS    10
#define HTTP_ENROL_ADDR_WINDOW_S 60
#define HTTP_ENROL_ALL_FAILS     100
#define HTTP_ENROL_ALL_WINDOW_S  60
#define HTTP_ENROL_ADDRS         1024 /* client addresses remembered at once */

/* The daemon's one explicit context (STYLE.md B.2): what every request handler needs. */
struct caresyncd;

/*
 * caresyncd_new() - an HTTPS server on @base answering from @store, using @ssl_ctx for every
 * connection. All three are borrowed and must outlive the server. @quiet drops the access log.
 * Returns NULL when out of memory.
 */
struct caresyncd *caresyncd_new(struct event_base *base, struct store *store, SSL_CTX *ssl_ctx,
                                bool quiet);

/*
 * caresyncd_start_work() - from now on, run store work on threads (work.h): the writer thread
 * takes over the store given to caresyncd_new() (nothing else may use it until
 * caresyncd_free()), @readers reader threads open their own handles on @path (the store's
 * file), at most @depth jobs wait (then 503 queue_full), and authentication on the loop reads
 * through a handle of its own. Without it every job runs at once on the loop (tests, fuzzing).
 * 0 or -errno.
 */
int caresyncd_start_work(struct caresyncd *sd, const char *path, unsigned readers,
                         unsigned depth);

/* caresyncd_get_work_stats() - jobs, groups and commits so far (work.h). */
void caresyncd_get_work_stats(const struct caresyncd *sd, struct work_stats *ret);

/* caresyncd_work() - the store's threads (borrowed; valid until caresyncd_free()), for other
 * listeners on the loop (metrics.h) to hand their store work to. */
struct work *caresyncd_work(struct caresyncd *sd);

/*
 * caresyncd_set_conn_limits() - deadlines, connection caps and the budget of buffered body
 * bytes (conn.h); zero members keep their value. Defaults CONN_*, the connection cap from
 * RLIMIT_NOFILE at the time caresyncd_new() ran.
 */
void caresyncd_set_conn_limits(struct caresyncd *sd, const struct conn_limits *l);

/* caresyncd_get_conn_limits() - the limits in force. */
void caresyncd_get_conn_limits(const struct caresyncd *sd, struct conn_limits *ret);

/*
 * caresyncd_set_lock_after_days() - the policy sent to devices in every sync response: a device
 * that has not synced for more than @days days locks itself until it syncs (0: never locks).
 * Default HTTP_LOCK_AFTER_DAYS.
 */
void caresyncd_set_lock_after_days(struct caresyncd *sd, unsigned days);

/*
 * caresyncd_set_idle_timeout() - close a connection after @seconds with no byte read or written
 * (evhttp's timeout; default HTTP_TIMEOUT_S), except while its request waits for the store
 * (HTTP_JOB_TIMEOUT_S then).
 */
void caresyncd_set_idle_timeout(struct caresyncd *sd, unsigned seconds);

/*
 * caresyncd_set_enrol_limits() - failed enrolments allowed: @addr_fails per @addr_window_s
 * seconds from one client address, @all_fails per @all_window_s seconds from all addresses
 * together (each a token bucket: the allowance refills evenly over its window). Counts and
 * windows are at least 1. Defaults HTTP_ENROL_*.
 */
void caresyncd_set_enrol_limits(struct caresyncd *sd, unsigned addr_fails, unsigned addr_window_s,
                                unsigned all_fails, unsigned all_window_s);

/*
 * caresyncd_listen() - listen on @addr: "HOST:PORT" (an IPv4 address or a host name, which is
 * resolved and listened on at each of its addresses) or "[IPv6]:PORT"; port 0 picks a free one.
 * Call it once per address (at most HTTP_LISTEN_MAX sockets in all). The sockets are
 * close-on-exec and have TCP_NODELAY, which accepted sockets inherit. Writes the bound
 * addresses, space-separated, in the same form to @ret_bound (@bound_size bytes). Returns 0,
 * -EINVAL for an address that does not parse, -ENOENT for a name that does not resolve, -E2BIG
 * past HTTP_LISTEN_MAX, or a negative errno from socket/bind/listen (logged by caller).
 */
int caresyncd_listen(struct caresyncd *sd, const char *addr, char *ret_bound, size_t bound_size);

/*
 * caresyncd_shutdown() - stop accepting connections and leave the event loop as soon as the
 * requests already queued for the store are done and every reply written (at most
 * HTTP_DRAIN_TIMEOUT_S seconds later). A job still out then is finished by caresyncd_free()
 * (what it writes is committed; its reply is not sent, and a retry is idempotent).
 */
void caresyncd_shutdown(struct caresyncd *sd);

/* caresyncd_shutdown_now() - leave the event loop at once; queued replies may be lost. */
void caresyncd_shutdown_now(struct caresyncd *sd);

/* caresyncd_free() - close every connection and free the server. Accepts NULL; returns NULL. */
struct caresyncd *caresyncd_free(struct caresyncd *sd);

/*
 * http_split_listen() - check the form of a --listen value ("HOST:PORT" with HOST an IPv4
 * address or a host name, or "[IPv6]:PORT", port 0-65535) and split it. 0 or -EINVAL.
 */
int http_split_listen(const char *addr, char *host, size_t host_size, char *port,
                      size_t port_size);

struct console_options;
/* caresyncd_set_console() - serve the web console under /console with options @o (console.h);
 * without this call there is none. 0 or -ENOMEM. */
int caresyncd_set_console(struct caresyncd *sd, const struct console_options *o);
/* http_sockaddr_text() - @ss (IPv4 or IPv6) as "ADDR:PORT" or "[ADDR]:PORT" into @buf. */
void http_sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t size);

/* caresyncd_set_ssl_ctx() - new connections use @ssl_ctx (borrowed, must outlive the server or
 * the next call); those open keep theirs. For a certificate reloaded on SIGHUP. */
void caresyncd_set_ssl_ctx(struct caresyncd *sd, SSL_CTX *ssl_ctx);
