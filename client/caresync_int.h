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
#include "proto.h"
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
/* A 503 "busy" or "queue_full" whose Retry-After is at most this many seconds is waited out and
 * the request sent again, up to CS_BUSY_RETRIES times (docs/PROTOCOL.md "Busy"). */
#define CS_RETRY_AFTER_MAX   10
#define CS_BUSY_RETRIES      5
/* Acknowledged changes are kept (table "sent") this long, and at most this many, to be sent
 * again when the server went back in time (docs/internals/audit.md, "Rewinds"). */
#define CS_SENT_KEEP_MS      (30ULL * 24 * 3600 * 1000)
#define CS_SENT_KEEP_MAX     100000
#define CS_BATCH_BYTES       (3 * 1024 * 1024)  /* body budget per push (server limit 4 MiB) */
#define CS_CURSOR_MAX        256                /* bytes of an opaque cursor we keep */
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
    bool ca_system;          /* enrolled without a CA file: the system's CA store verifies */
    void *curl;              /* CURL easy handle, kept for connection reuse; NULL until used */
    char device_id[UUID_STR_MAX];
    char errmsg[CS_ERRMSG_MAX];
    struct db_cache *stmts;  /* prepared statements of the replica; freed before closing it */
    bool reread;             /* re-reading the caseload after a rewind: the server's versions
                              * replace ours, except fields with a change in the outbox */
    bool rewound;            /* this sync was told the server went back in time */
};

/* sent_prune() - forget acknowledged changes older than CS_SENT_KEEP_MS or beyond the newest
 * CS_SENT_KEEP_MAX (apply.c). 0 or -errno. */
int sent_prune(sqlite3 *db);

/* ---- errors (replica.c) ---- */

/* cs_fail() - record a one-line message and return @code (a CARESYNC_E* value). */
int cs_fail(struct caresync *c, int code, const char *fmt, ...) _printf_(3, 4);

/* cs_fail_errno() - CARESYNC_ELOCAL with "@what: strerror(-r)" and a hint. Returns ELOCAL. */
int cs_fail_errno(struct caresync *c, int r, const char *what);

/* cs_begin() - clear the message; return CARESYNC_ELOCAL for a broken handle. */
int cs_begin(struct caresync *c);

/*
 * cs_need_replica() - CARESYNC_OK when enrolled (a replica is open) and not locked; a usage
 * error when not enrolled; CARESYNC_ELOCKED (message set) when the device has not synced for
 * longer than the server's lock_after_days (cs_lock_state()).
 */
int cs_need_replica(struct caresync *c);

/* cs_begin_person() - cs_begin(), cs_need_replica() and a well-formed @person_id. */
int cs_begin_person(struct caresync *c, const char *person_id);

/* cs_person_tree() - the person's `show --json` object read in one snapshot (caller owns), or a
 * CARESYNC_* code with the message set (ENOTFOUND when the person is not in the replica). */
int cs_person_tree(struct caresync *c, const char *person_id, cJSON **ret);

/* cs_need_enrolled() - cs_need_replica() without the lock: for sync and status. */
int cs_need_enrolled(struct caresync *c);

#define CS_DAY_MS (UINT64_C(24) * 3600 * 1000)

/* What the lock policy says now (replica.c). */
struct cs_lock {
    bool known;           /* the server has sent a policy */
    uint64_t after_days;  /* lock after this many days without a sync; 0 = never */
    bool synced;          /* a successful sync is recorded (meta last_sync_ms) */
    uint64_t since_ms;    /* ms since it (0 when the clock went backwards) */
    bool locked;
};

/* cs_lock_state() - read the policy and the last successful sync from the replica. -errno. */
int cs_lock_state(struct caresync *c, struct cs_lock *ret);

/*
 * cs_wipe() - the server revoked this device: close the replica and delete DIR/replica.db, its
 * -wal, -shm and -journal files and DIR/token (the token overwritten first), so nothing of the
 * caseload stays on a device presumed lost. The handle is then not enrolled. Returns 0 or the
 * first -errno (the other files are still removed).
 */
int cs_wipe(struct caresync *c);

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
int replica_read_version(struct caresync *c, const char *tbl, const char *row_id, const char *field,
                         uint64_t *ret_hlc, char ret_dev[static UUID_STR_MAX]);

/*
 * apply_version() - apply one field version (from the server) to the replica by the merge rule:
 * when (hlc, device) beats the version held, create the row if missing, write the column (or
 * _deleted) and record the version. Returns 1 applied, 0 older, or a negative errno. Call
 * inside a write transaction.
 */
int apply_version(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
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

/* ---- outbox (outbox.c) ---- */

/*
 * A batch of the outbox loaded for a push: its changes in seq order, which are every change of
 * the seq range (after, last] (seq only grows, and only a sync deletes from the outbox).
 */
struct outbox_batch {
    struct change_record *v; /* owned */
    size_t n;
    int64_t after, last;
};

/*
 * outbox_load() - up to @max changes with seq > @after, in order, whose encoded size fits in
 * @max_bytes (at least one is always returned when any is queued), into *ret (call
 * outbox_batch_done()). Negative errno on error, *ret then empty.
 */
int outbox_load(struct caresync *c, int64_t after, size_t max, size_t max_bytes,
                struct outbox_batch *ret);

/* outbox_batch_done() - free the changes of @b and empty it. */
void outbox_batch_done(struct outbox_batch *b);

struct http_reply;
/* apply_decode() - the 200 reply @rep of a POST /v1/sync, decoded into *ret (call
 * proto_sync_reply_done(), also after a failure). CARESYNC_OK, or ESERVER for a malformed
 * reply, with the message set. */
int apply_decode(struct caresync *c, const struct http_reply *rep, struct proto_sync_reply *ret);

/*
 * apply_response() - apply one decoded /v1/sync response in one local transaction: the
 * outcomes of the changes of @sent (in order; every one of them then leaves the outbox), pulled
 * changes, purges, pending purges, the cursor and the server clock. Adds to *stats; *ret_more is
 * the response's "more", *ret_cursor_moved whether the cursor changed. Returns CARESYNC_OK, or
 * ESERVER for a reply that does not fit the request / ELOCAL, with the message set and nothing
 * applied. The pulled values are taken from @resp as they are applied (success or not).
 */
int apply_response(struct caresync *c, struct proto_sync_reply *resp,
                   const struct outbox_batch *sent, struct caresync_sync_stats *stats,
                   bool *ret_more, bool *ret_cursor_moved);

/* ---- task-shaped writes (outbox.c): several rows and fields in one local transaction ---- */

/* One field of a new row, by catalogue name; a NULL value is not written. */
struct outbox_field {
    const char *name;
    const char *value;
};

/* outbox_tx_begin() - cs_begin(), cs_need_replica() and BEGIN IMMEDIATE. A CARESYNC_* code. */
int outbox_tx_begin(struct caresync *c);

/* outbox_tx_end() - commit when @r is CARESYNC_OK, else roll back. Returns the final code. */
int outbox_tx_end(struct caresync *c, int r);

/* outbox_new_id() - a new row id (UUIDv7). CARESYNC_OK or ELOCAL with the message set. */
int outbox_new_id(struct caresync *c, char ret[static UUID_STR_MAX]);

/*
 * outbox_insert() - in a write transaction, create row @id of @table for @person_id and write
 * the fields @fs (outbox changes in the order given: the server applies a batch in order).
 * Each field is checked as caresync_add() checks it (catalogue, kind, value, row references to
 * the same person). The person must be in the replica, except for a person row, whose id is
 * @person_id itself; a singleton's id must be its person's. Returns a CARESYNC_* code with the
 * message set.
 */
int outbox_insert(struct caresync *c, const char *table, const char *person_id, const char *id,
                  const struct outbox_field *fs, size_t n);

/*
 * outbox_set() - in a write transaction, caresync_edit() of one field: refuses S and A fields,
 * writes nothing when the value is unchanged. Returns a CARESYNC_* code with the message set.
 */
int outbox_set(struct caresync *c, const char *table, const char *row_id, const char *field,
               const char *value);

/*
 * outbox_need() - CARESYNC_OK when @value is given and not blank; otherwise CARESYNC_EUSAGE
 * with "@what is required" and, for an enumerated @table.@field, its allowed values.
 */
int outbox_need(struct caresync *c, const char *table, const char *field, const char *value,
                const char *what);

/* ---- reading rows (query.c) ---- */

/*
 * query_row() - row @id of @table as a JSON object (id, person_id and every field; text or
 * null) in *ret (caller deletes). Returns 1, 0 when the row is missing or deleted, or -errno.
 */
int query_row(sqlite3 *db, const struct cat_table *t, const char *id, cJSON **ret);

/*
 * query_need_row() - query_row() for a command: an id that is malformed is CARESYNC_EUSAGE,
 * one not in the replica (or deleted) CARESYNC_ENOTFOUND, with the message set.
 */
int query_need_row(struct caresync *c, const char *table, const char *id, cJSON **ret);

/*
 * query_rows() - rows of @t, not deleted, matching the SQL condition @where (?1 bound to @arg
 * when non-NULL), in @order, as objects appended to array @arr. Names come from the catalogue.
 */
int query_rows(sqlite3 *db, const struct cat_table *t, const char *where, const char *arg,
               const char *order, cJSON *arr);

/*
 * query_person_tree() - the object caresync_person_json() prints: person fields at the top,
 * "about_me" an object or null, every other table an array under its label. -ENOENT when the
 * person is missing or deleted. Call inside a read transaction for a consistent snapshot.
 */
int query_person_tree(sqlite3 *db, const char *person_id, cJSON **ret);

/* query_str() - the string member @key of @o, or NULL when absent or null. */
const char *query_str(const cJSON *o, const char *key);

/* query_user() - the enrolled user's name (meta "user") in *ret (caller frees); "" if unset. */
int query_user(struct caresync *c, char **ret);

/* ---- time (when.c): see when.h ---- */

#include "when.h"

/* ---- transport (transport.c) ---- */

struct http_reply {
    long status;       /* HTTP status */
    cJSON *json;       /* the parsed body (an object), or NULL */
    char code[64];     /* error.code of an error reply, or "" */
    char message[300]; /* error.message of an error reply, or "" */
    long index;        /* error.index, or -1 */
    long retry_after;  /* the Retry-After header in seconds, or -1 */
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

/*
 * export_log_send() - send the FHIR exports made on this device since the last time (export.c)
 * to the server's audit log, in a POST /v1/sync of their own; forget them once it answers 200.
 * CARESYNC_OK also when there were none.
 */
int export_log_send(struct caresync *c);
