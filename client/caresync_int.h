/* SPDX-License-Identifier: MIT */
/* caresync_int.h - libcaresync internals shared by its files: the handle, error reporting,
 * replica helpers, the local merge, and the HTTPS transport. Not installed. */
#pragma once

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "caresync.h"
#include "catalogue.h"
#include "macro.h"
#include "util.h"
#include "wire.h"

#define CS_ERRMSG_MAX        512
#define CS_REPLICA_FILE      "replica.db"
#define CS_TOKEN_FILE        "token"
#define CS_CA_FILE           "ca.pem"
#define CS_LOCK_FILE         "sync.lock"
#define CS_TOKEN_MAX         512                /* bytes of DIR/token we accept */
#define CS_CA_MAX            (1024 * 1024)      /* bytes of a CA file we accept */
#define CS_REPLY_MAX         (64 * 1024 * 1024) /* bytes of a response body we accept */
#define CS_BATCH_MAX         500                /* changes per push */
#define CS_BATCH_BYTES       (3 * 1024 * 1024)  /* body budget per push (server limit 4 MiB) */
#define CS_CONNECT_TIMEOUT_S 10
#define CS_TOTAL_TIMEOUT_S   120

struct caresync {
    char *home;
    char *db_path;
    char *token_path;
    char *ca_path;
    sqlite3 *db;             /* NULL until enrolled */
    int broken;              /* caresync_open() failed with this code: only errmsg/close work */
    char *server_url;        /* from meta, or the enrol argument while enrolling */
    const char *ca_override; /* while enrolling: the CA file given, instead of DIR/ca.pem */
    void *curl;              /* CURL easy handle, kept for connection reuse; NULL until used */
    char device_id[UUID_STR_MAX];
    char errmsg[CS_ERRMSG_MAX];
};

/* ---- errors (replica.c) ---- */

/* cs_fail() - record a one-line message and return @code (a CARESYNC_E* value). */
int cs_fail(struct caresync *c, int code, const char *fmt, ...) _printf_(3, 4);

/* cs_fail_errno() - CARESYNC_ELOCAL with "@what: strerror(-r)" and a hint. Returns ELOCAL. */
int cs_fail_errno(struct caresync *c, int r, const char *what);

/* cs_begin() - clear the message; return CARESYNC_ELOCAL for a broken handle. */
int cs_begin(struct caresync *c);

/* cs_need_replica() - CARESYNC_OK when enrolled (a replica is open), else a usage error. */
int cs_need_replica(struct caresync *c);

/* ---- replica helpers (replica.c) ---- */

/*
 * replica_create() - create the home directory (0700) and open/create the replica (0600) with
 * the schema applied; sets c->db. Returns CARESYNC_OK or an error (message set).
 */
int replica_create(struct caresync *c);

/* replica_count() - the single integer of @sql (no parameters) into *ret. Negative errno. */
int replica_count(sqlite3 *db, const char *sql, uint64_t *ret);

/* replica_table_label_lookup() - the catalogue table whose label is @label, or NULL. */
const struct cat_table *replica_table_by_label(const char *label);

/* json_take_string() - print @j unformatted into a malloc'd string in *ret (caller frees). */
int json_take_string(const cJSON *j, char **ret);

/* ---- local merge (apply.c) ---- */

/*
 * replica_read_version() - the version held for @field of row @row_id of table @tbl, or with
 * @field NULL the highest version of any of the row's fields. Returns 1 and fills *ret_hlc and
 * @ret_dev, 0 when there is none (hlc 0, ""), or a negative errno.
 */
int replica_read_version(sqlite3 *db, const char *tbl, const char *row_id, const char *field,
                         uint64_t *ret_hlc, char ret_dev[static UUID_STR_MAX]);

/*
 * apply_version() - apply one field version (from the server) to the replica by the merge rule:
 * when (hlc, device) beats the version held, create the row if missing, write the column (or
 * _deleted) and record the version. Returns 1 applied, 0 older, or a negative errno. Call
 * inside a write transaction.
 */
int apply_version(sqlite3 *db, const struct cat_table *t, const struct cat_field *f,
                  const char *row_id, const char *person_id, const char *value, uint64_t hlc,
                  const char *device);

/*
 * apply_purge() - purge @person_id now if nothing of theirs is in the outbox, else record it in
 * pending_purge. Returns 1 purged, 0 deferred, or a negative errno. In a write transaction.
 */
int apply_purge(sqlite3 *db, const char *person_id);

/* apply_pending_purges() - purge every pending person whose outbox is empty. Count or -errno. */
int apply_pending_purges(sqlite3 *db);

/* apply_checkpoint() - after purges: PRAGMA wal_checkpoint(TRUNCATE), so no old page remains. */
void apply_checkpoint(sqlite3 *db);

/*
 * apply_response() - apply one /v1/sync response in one local transaction: the outcomes of
 * the @n_sent changes @sent (in order), pulled changes, purges, pending purges, the cursor and
 * the server clock. Adds to *stats; *ret_more is the response's "more", *ret_cursor_moved
 * whether the cursor changed. Returns CARESYNC_OK, or ESERVER for a malformed reply / ELOCAL,
 * with the message set and nothing applied.
 */
int apply_response(struct caresync *c, const cJSON *resp, const struct change_record *sent,
                   size_t n_sent, struct caresync_sync_stats *stats, bool *ret_more,
                   bool *ret_cursor_moved);

/* ---- outbox (outbox.c) ---- */

/*
 * outbox_load() - up to @max changes with seq > @after, in order, whose encoded size fits in
 * @max_bytes (at least one is always returned). *ret is a new array (wire_change_done() each,
 * then free); *ret_n its length, *ret_last_seq the highest seq loaded. Negative errno on error.
 */
int outbox_load(sqlite3 *db, int64_t after, size_t max, size_t max_bytes,
                struct change_record **ret, size_t *ret_n, int64_t *ret_last_seq);

/* outbox_records_free() - free the first @n records of @v and @v. Accepts NULL. */
void outbox_records_free(struct change_record *v, size_t n);

/* ---- transport (transport.c) ---- */

struct http_reply {
    long status;       /* HTTP status */
    cJSON *json;       /* the parsed body (an object), or NULL */
    char code[64];     /* error.code of an error reply, or "" */
    char message[300]; /* error.message of an error reply, or "" */
    long index;        /* error.index, or -1 */
};

void http_reply_done(struct http_reply *r);

/* transport_done() - close the kept connection (caresync_close()). */
void transport_done(struct caresync *c);

/*
 * transport_request() - one HTTPS request to c->server_url + @path, verified with c->ca_path.
 *
 * @method: "GET" or "POST". @body: the POST body (borrowed; required for POST). @auth: send the
 * device token from DIR/token. Returns CARESYNC_OK when a response arrived, whatever its status
 * (fill *ret; call http_reply_done), or CARESYNC_ENETWORK/ELOCAL/ESERVER with the message set
 * ("@what failed: ..."). A 200 reply whose body is not a JSON object is CARESYNC_ESERVER.
 */
int transport_request(struct caresync *c, const char *method, const char *path, const cJSON *body,
                      bool auth, const char *what, struct http_reply *ret);

/*
 * transport_fail() - map a non-200 reply to a result code and a one-line message about
 * @what (e.g. "sync"). 401 -> EAUTH, 403 -> EFORBIDDEN, anything else -> ESERVER.
 */
int transport_fail(struct caresync *c, const struct http_reply *r, const char *what);
