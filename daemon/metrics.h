/* SPDX-License-Identifier: MIT */
/* metrics.h - caresyncd's counters and histograms (C11 atomics: any thread may count), their
 * Prometheus text exposition on GET /metrics, and the health checks GET /healthz and
 * GET /readyz, served on an address of their own (metrics_listen). Every metric is documented
 * in docs/PROTOCOL.md ("GET /metrics"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct event_base;
struct evbuffer;
struct store;
struct store_checkpointer;
struct work;

/* Default metrics_listen: loopback, the port after node_exporter's 9100 range is taken. */
#define METRICS_LISTEN_DEFAULT "127.0.0.1:9469"

/* metrics_request() - one reply to @path (the request's path, no query) with @status, @bytes of
 * body, @seconds after the request arrived. Paths are folded into routes ("/v1/people/{id}/fhir");
 * a path of no route counts as "other". */
void metrics_request(const char *path, int status, size_t bytes, double seconds);

/* metrics_sync() - a sync answered 200 with @resp (its "outcomes" and "changes"). */
void metrics_sync(const struct cJSON *resp);

/* metrics_tls_handshake_failed() - a TLS handshake that did not complete, for a reason. */
void metrics_tls_handshake_failed(void);

/*
 * metrics_ready_reply() - the answer of GET /readyz into @out as a JSON object, for @r, what
 * store_probe_write() returned (0: the store took a write); returns the HTTP status (200, or
 * 503). metrics_healthz_reply() - the answer of GET /healthz (the process answers): 200.
 */
int metrics_ready_reply(int r, struct evbuffer *out);
int metrics_healthz_reply(struct evbuffer *out);

/* The listener of /metrics, /healthz and /readyz (plain HTTP). */
struct metrics_server;

/*
 * metrics_server_new() - listen on @addr (HOST:PORT or [IPv6]:PORT) on @base, answering from
 * the store through @work's threads (its file is @db_path), @ckpt (may be NULL) and the device lock policy
 * @lock_after_days; all borrowed. Writes the bound address to @ret_bound. Returns 0 and *ret,
 * -EINVAL for an address that does not parse, -ENOMEM, or a negative errno from bind/listen.
 */
int metrics_server_new(struct event_base *base, const char *addr, struct work *work,
                       const char *db_path, const struct store_checkpointer *ckpt,
                       unsigned lock_after_days, char *ret_bound, size_t bound_size,
                       struct metrics_server **ret);

/* metrics_server_free() - stop listening and free. Accepts NULL; returns NULL. */
struct metrics_server *metrics_server_free(struct metrics_server *m);
