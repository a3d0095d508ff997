/* SPDX-License-Identifier: MIT */
/* caresync.h - libcaresync, the embeddable offline-first sync engine a field app links: open a
 * device replica, enrol it, read the caseload, edit offline, sync with caresyncd over HTTPS. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Result of every call. The values are also the exit codes of the caresync CLI.
 * A failing call leaves a one-line message (what went wrong, what to do next) that
 * caresync_errmsg() returns until the next call on the same handle.
 */
enum caresync_result {
    CARESYNC_OK = 0,
    CARESYNC_ELOCAL = 1,     /* local failure: database, file system, out of memory */
    CARESYNC_EUSAGE = 2,     /* bad arguments: unknown table or field, bad value, not enrolled */
    CARESYNC_ENOTFOUND = 3,  /* no such row, person or conflict */
    CARESYNC_ENETWORK = 4,   /* server unreachable, TLS failure, timeout: nothing lost, retry */
    CARESYNC_EAUTH = 5,      /* 401: bad or used enrolment code, unknown or revoked device */
    CARESYNC_EFORBIDDEN = 6, /* 403: the device's role may not do this */
    CARESYNC_ESERVER = 7,    /* the server refused the request (other 4xx/5xx, bad reply) */
};

/* Length of an id (lower-case UUID) including the terminating NUL. */
#define CARESYNC_ID_MAX 37

/*
 * One device replica: its home directory, database, token and settings. Opaque.
 *
 * Process set-up expected from an application (the caresync CLI does both): call
 * curl_global_init(CURL_GLOBAL_DEFAULT) once before any other thread runs, and ignore SIGPIPE
 * (the library sets CURLOPT_NOSIGNAL, so it never touches signal handlers itself).
 */
struct caresync;

/* What one caresync_sync() did. */
struct caresync_sync_stats {
    uint64_t pushed;         /* changes acknowledged by the server */
    uint64_t applied;        /* ... of which are now the field's value */
    uint64_t lost;           /* ... of which lost to a newer version (kept in the conflict log
                              * when concurrent) */
    uint64_t conflicts;      /* ... of which entered the server's conflict log */
    uint64_t out_of_scope;   /* ... of which were for people no longer on the caseload */
    uint64_t pulled;         /* field states received that changed the replica */
    uint64_t purged;         /* people removed from the replica */
    uint64_t pending;        /* changes still in the outbox afterwards */
    uint64_t pending_purges; /* purges waiting for the outbox to drain */
};

/* Actions for caresync_resolve(). */
enum caresync_resolution {
    CARESYNC_RESOLVE_KEEP,    /* keep the current (winning) value */
    CARESYNC_RESOLVE_RESTORE, /* write the losing value again */
    CARESYNC_RESOLVE_VALUE,   /* write a new value */
};

/*
 * caresync_open() - open the replica whose home directory is @home.
 *
 * @home: the home directory (borrowed; copied). NULL or "" means the environment variable
 *        CARESYNC_HOME. The directory need not exist yet: caresync_enrol() creates it (0700)
 *        and the replica in it; every other call then fails with CARESYNC_EUSAGE ("not
 *        enrolled").
 * @ret:  receives the handle. As with sqlite3_open(), a handle is returned even when opening
 *        fails (except out of memory, when *ret is NULL), so that caresync_errmsg() can say
 *        why; it can then only be passed to caresync_errmsg() and caresync_close().
 *
 * Opens DIR/replica.db (WAL, synchronous=FULL, secure_delete) and applies pending schema
 * migrations. Files are created owner-only (the process umask is 077 while opening).
 * Returns CARESYNC_OK, CARESYNC_EUSAGE when no home is given, or CARESYNC_ELOCAL.
 * A handle must be used by one thread at a time; different handles are independent.
 */
int caresync_open(const char *home, struct caresync **ret);

/* caresync_close() - close the replica and free @c. Accepts NULL; returns NULL. */
struct caresync *caresync_close(struct caresync *c);

/*
 * caresync_errmsg() - the message of the last failed call on @c: one line, no newline,
 * owned by @c and valid until the next call. "" when the last call succeeded; a fixed
 * message when @c is NULL.
 */
const char *caresync_errmsg(const struct caresync *c);

/*
 * caresync_enrol() - exchange a one-time enrolment code for a device token (POST /v1/enrol),
 * creating the home directory and the replica.
 *
 * @server_url:  "https://HOST[:PORT]"; http:// and other schemes are refused (CARESYNC_EUSAGE).
 * @ca_path:     PEM file of the CA that signed the server certificate; copied to DIR/ca.pem
 *               and used to verify the server from now on.
 * @code:        the code from "caresyncd enrol USER".
 * @device_name: optional (NULL) name shown to administrators, at most 100 bytes.
 *
 * Stores the token in DIR/token (0600) and server_url, device_id, user and role in the
 * replica. Refuses (CARESYNC_EUSAGE) a home that is already enrolled. Online.
 * Returns CARESYNC_OK or an error code; on failure nothing of the enrolment is kept.
 */
int caresync_enrol(struct caresync *c, const char *server_url, const char *ca_path,
                   const char *code, const char *device_name);

/*
 * caresync_sync() - push the outbox in batches and pull what changed for this device's
 * caseload, applying each response in one local transaction. Online.
 *
 * @ret_stats: optional; filled in on success, and also on failure with what was done before
 *             the failure (earlier batches stay committed).
 *
 * A failure never loses a local edit: unacknowledged changes stay in the outbox and are sent
 * again by the next sync (the server deduplicates them). Records last_sync_at (on success) and
 * last_error in the replica. Returns CARESYNC_OK or an error code.
 */
int caresync_sync(struct caresync *c, struct caresync_sync_stats *ret_stats);

/*
 * caresync_edit() - set one field of an existing, not deleted row, offline.
 *
 * @table, @row_id, @field: names from the catalogue (common/catalogue.c) and the row id.
 * @value: the new value (borrowed), checked against the field's type; NULL clears the field.
 *
 * Writes the column, the field's new version and an outbox change in one transaction.
 * Append-only fields and "_deleted" cannot be edited (use caresync_delete()). Setting a field
 * to the value it already has writes nothing. Returns CARESYNC_OK, CARESYNC_EUSAGE (unknown
 * table or field, bad value), CARESYNC_ENOTFOUND (no such row) or CARESYNC_ELOCAL.
 */
int caresync_edit(struct caresync *c, const char *table, const char *row_id, const char *field,
                  const char *value);

/*
 * caresync_add() - create a row of @table for the person @person_id, offline.
 *
 * @fields, @values: @n field names and values (borrowed; a NULL value leaves the field empty);
 *                   at least one, each field at most once.
 * @ret_id:          receives the new row's id (a UUIDv7) on success.
 *
 * The person must be in the replica and not deleted; row references (care_plan_id, goal_id,
 * visit_id) must name rows of the same person. People themselves cannot be added from a
 * device (CARESYNC_EUSAGE). Inserts the row and one outbox change per field in one
 * transaction. Returns CARESYNC_OK, CARESYNC_EUSAGE, CARESYNC_ENOTFOUND or CARESYNC_ELOCAL.
 */
int caresync_add(struct caresync *c, const char *table, const char *person_id,
                 const char *const *fields, const char *const *values, size_t n,
                 char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_delete() - delete (tombstone) a row, offline: an outbox change of the pseudo-field
 * "_deleted" to "1" whose base is the highest version of any field of the row held here.
 * Returns CARESYNC_OK, CARESYNC_EUSAGE, CARESYNC_ENOTFOUND (no such row, or already deleted)
 * or CARESYNC_ELOCAL.
 */
int caresync_delete(struct caresync *c, const char *table, const char *row_id);

/*
 * caresync_caseload_json() - the people in the replica (not deleted), ordered by name, as a
 * JSON array of objects {"id", "name", "preferred_name", "birth_date", "phone", "address"}
 * (absent values are null). *ret receives a NUL-terminated string the caller frees with
 * free(). Offline. Returns CARESYNC_OK or CARESYNC_ELOCAL.
 */
int caresync_caseload_json(struct caresync *c, char **ret);

/*
 * caresync_person_json() - one person and their plan as a JSON object: the person's fields at
 * the top level ("id", "name", ...) and arrays "care_plans", "goals", "actions", "visits",
 * "notes" of the person's rows that are not deleted (every column: "id", "person_id", fields).
 * *ret as for caresync_caseload_json(). Offline. Returns CARESYNC_OK, CARESYNC_ENOTFOUND
 * (not in the replica) or CARESYNC_ELOCAL.
 */
int caresync_person_json(struct caresync *c, const char *person_id, char **ret);

/*
 * caresync_status_json() - the replica's state as a JSON object: "server", "user", "role",
 * "device_id", "pending" (outbox changes, a number), "pending_purges" (a number), "last_sync",
 * "last_error" (strings or null) and "cursor". *ret as for caresync_caseload_json(). Offline.
 */
int caresync_status_json(struct caresync *c, char **ret);

/*
 * caresync_conflicts_json() - the server's conflict log (GET /v1/conflicts), open entries
 * only unless @all, as the JSON array the server sent. Coordinators only (CARESYNC_EFORBIDDEN
 * otherwise). *ret as for caresync_caseload_json(). Online.
 */
int caresync_conflicts_json(struct caresync *c, bool all, char **ret);

/*
 * caresync_resolve() - resolve conflict @id (POST /v1/conflicts/ID/resolve): keep the winner,
 * restore the loser, or write @value (CARESYNC_RESOLVE_VALUE only; NULL clears the field).
 *
 * @ret_json: optional; receives the resolved conflict as a JSON object (caller frees).
 *
 * The resolution is an ordinary new write on the server; the next sync brings it here.
 * Coordinators only. Returns CARESYNC_OK, CARESYNC_ENOTFOUND, CARESYNC_EFORBIDDEN,
 * CARESYNC_ESERVER (e.g. already resolved) or another error code. Online.
 */
int caresync_resolve(struct caresync *c, int64_t id, enum caresync_resolution action,
                     const char *value, char **ret_json);

/* caresync_version() - the library version, e.g. "0.1.0". Static string. */
const char *caresync_version(void);

#ifdef __cplusplus
}
#endif
