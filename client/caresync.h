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
    CARESYNC_ELOCKED = 8,    /* not synced for longer than the server's policy allows: locked
                              * until caresync_sync() succeeds */
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
    uint64_t lost_values;    /* conflicts whose losing value this user wrote, created or
                              * resolved since this device was last told (the server's
                              * "notices"); also added to the replica's count (status) */
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
 *               and used to verify the server from now on (a private CA, or pinning). NULL:
 *               the system's CA store verifies the server, now and from now on (a server
 *               with a certificate from a public or the organisation's installed CA).
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
 * last_error in the replica, and reports to the server the outbox size, the age of its oldest
 * change, the last error and this device's clock (sync health). Stores the server's policy
 * (lock_after_days) and adds its notices to the replica's lost_values. Works on a locked
 * device, and unlocks it. Returns CARESYNC_OK or an error code.
 *
 * While it pulls pages, a second thread fetches the next page as the current one is applied;
 * that thread uses the handle's connection only, never the replica, and ends before the call
 * returns.
 *
 * Revocation: when the server answers this or any online call with 401 device_revoked, the
 * library wipes the replica (DIR/replica.db and its -wal and -shm files) and the token at once,
 * unsent edits included (a revoked device is presumed lost or stolen), and returns
 * CARESYNC_EAUTH; the handle is then not enrolled, and the home may be enrolled again.
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
 * table or field, bad value), CARESYNC_ENOTFOUND (no such row), CARESYNC_EFORBIDDEN (the
 * enrolled user's role may not write this field: the server's rule, common/access.h, applied
 * here so that a refused change never holds up the outbox) or CARESYNC_ELOCAL.
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
 * visit_id) must name rows of the same person. People are not added this way
 * (CARESYNC_EUSAGE; see caresync_register()). A singleton (about_me) gets the person's id as
 * its id, so one made on another device merges with it; CARESYNC_EUSAGE if it exists already.
 * A record with an author (note, observation, progress, consent, alert) is given this device's
 * user as its author when @fields do not name one. Inserts the row and one outbox change per
 * field in one transaction. Returns CARESYNC_OK,
 * CARESYNC_EUSAGE, CARESYNC_ENOTFOUND, CARESYNC_EFORBIDDEN (as for caresync_edit()) or
 * CARESYNC_ELOCAL.
 */
int caresync_add(struct caresync *c, const char *table, const char *person_id,
                 const char *const *fields, const char *const *values, size_t n,
                 char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_delete() - delete (tombstone) a row, offline: an outbox change of the pseudo-field
 * "_deleted" to "1" whose base is the highest version of any field of the row held here.
 * Returns CARESYNC_OK, CARESYNC_EUSAGE, CARESYNC_ENOTFOUND (no such row, or already deleted),
 * CARESYNC_EFORBIDDEN (as for caresync_edit()) or CARESYNC_ELOCAL.
 */
int caresync_delete(struct caresync *c, const char *table, const char *row_id);

/*
 * caresync_restore_row() - undo a delete, for everyone (POST /v1/rows/restore; online,
 * coordinators only): the server writes "_deleted" = "0" to row @row_id of @table as a new
 * change, which every device in scope applies at its next sync (the row comes back with its
 * fields), and audits it with @reason (required: 1 to CARESYNC_REASON_MAX bytes). The row need
 * not be in this replica. Returns CARESYNC_OK, CARESYNC_EUSAGE (unknown table, bad id or
 * reason, or the row is not deleted), CARESYNC_ENOTFOUND (no such row on the server),
 * CARESYNC_EFORBIDDEN (not a coordinator) or another error code.
 */
int caresync_restore_row(struct caresync *c, const char *table, const char *row_id,
                         const char *reason);

/*
 * caresync_caseload_json() - the people in the replica (not deleted), ordered by name, as a
 * JSON array of objects: "id", every person field of the catalogue ("name", "preferred_name",
 * "birth_date", "phone", "address", "status", ...; absent values are null), and "review_due"
 * and "alerts" as for caresync_caseload_filter_json(). *ret receives a NUL-terminated string
 * the caller frees with free(). Offline. Returns CARESYNC_OK or CARESYNC_ELOCAL.
 */
int caresync_caseload_json(struct caresync *c, char **ret);

/*
 * caresync_person_json() - one person and their whole plan as a JSON object: the person's
 * fields at the top level ("id", "name", ...); "about_me", the person's About Me row as an
 * object, or null; and for every other table an array under its catalogue label
 * ("care_plans", "goals", "actions", "visits", "notes", "contacts", "reviews", "observations",
 * "progress", "consents", "alerts") of the person's rows that are not deleted. A row is an
 * object of every column ("id", "person_id", the fields); values are exactly the wire strings
 * (booleans and numbers too: "1", "7") or null. This is the object the FHIR export reads.
 * *ret as for caresync_caseload_json(). Offline. Returns CARESYNC_OK, CARESYNC_ENOTFOUND
 * (not in the replica) or CARESYNC_ELOCAL.
 */
int caresync_person_json(struct caresync *c, const char *person_id, char **ret);

/*
 * caresync_status_json() - the replica's state as a JSON object: "server", "user", "role",
 * "device_id", "pending" (outbox changes, a number), "pending_purges" (a number), "last_sync",
 * "last_error" (strings or null), "cursor", "lost_values" (how many of this user's values the
 * server has reported in the conflict log, created or resolved, since the user last listed
 * them with caresync_conflicts_query_json() and mine), "lock_after_days" (the server's policy,
 * 0 = never, or null before the first sync), "days_since_sync" (whole days, or null) and
 * "locked" (bool). *ret as for caresync_caseload_json(). Offline; works on a locked device.
 */
int caresync_status_json(struct caresync *c, char **ret);

/*
 * A device is locked (CARESYNC_ELOCKED from every call but caresync_sync(),
 * caresync_status_json(), caresync_errmsg() and caresync_close()) while more than the server's
 * lock_after_days have passed since its last successful sync: a lost device stops showing its
 * caseload. A successful sync unlocks it.
 */

/* Which conflicts caresync_conflicts_query_json() asks for; NULL / false do not filter. */
struct caresync_conflict_filter {
    const char *status;    /* "open" (NULL: "open", or "all" with @mine), "resolved", "all" */
    const char *person_id; /* about this person */
    const char *worker;    /* the winner's or the loser's author is this user */
    const char *table;     /* a catalogue table */
    const char *kind;      /* concurrent_edit, edit_after_delete, out_of_scope,
                            * missed_vs_completed, append_only, clock_corrected */
    const char *priority;  /* "high" (alerts, consent, safeguarding-concern notes) or "normal" */
    bool mine;             /* only conflicts whose losing value the enrolled user wrote; the one
                            * listing every role may make */
};

/*
 * caresync_conflicts_query_json() - the server's conflict log (GET /v1/conflicts) filtered by
 * @f (NULL: open conflicts), high priority first, as the JSON array the server sent. Without
 * @f->mine, coordinators only (CARESYNC_EFORBIDDEN otherwise). With @f->mine it succeeds for
 * every role and sets the replica's lost_values count back to 0. *ret as for
 * caresync_caseload_json(). Returns CARESYNC_OK, CARESYNC_EUSAGE (a bad filter value) or another
 * error code. Online.
 */
int caresync_conflicts_query_json(struct caresync *c, const struct caresync_conflict_filter *f,
                                  char **ret);

/* caresync_conflicts_json() - caresync_conflicts_query_json() for open conflicts, or all. */
int caresync_conflicts_json(struct caresync *c, bool all, char **ret);

#define CARESYNC_REASON_MAX 500 /* bytes of a resolution's reason */

/*
 * caresync_resolve() - resolve conflict @id (POST /v1/conflicts/ID/resolve): keep the winner,
 * restore the loser, or write @value (CARESYNC_RESOLVE_VALUE only; NULL clears the field), for
 * @reason (required: 1 to CARESYNC_REASON_MAX bytes, said in a few words).
 *
 * @ret_json: optional; receives the resolved conflict as a JSON object (caller frees).
 *
 * The resolution is an ordinary new write on the server; the next sync brings it here. A
 * conflict already resolved may be resolved again: the new resolution supersedes the last one
 * (the server keeps every one). Coordinators only. Returns CARESYNC_OK, CARESYNC_EUSAGE (no
 * reason, bad value), CARESYNC_ENOTFOUND, CARESYNC_EFORBIDDEN or another error code. Online.
 */
int caresync_resolve(struct caresync *c, int64_t id, enum caresync_resolution action,
                     const char *value, const char *reason, char **ret_json);

/*
 * ======== Coordinators: devices and caseloads (online; CARESYNC_EFORBIDDEN for others) ========
 */

/*
 * caresync_devices_json() - sync health of every device (GET /v1/devices) as the JSON array
 * the server sent: per device its user, role, id, name, last successful sync, pending changes
 * and the age of the oldest, last error, client version and clock skew, and whether it is
 * revoked. *ret as for caresync_caseload_json().
 */
int caresync_devices_json(struct caresync *c, char **ret);

/*
 * caresync_device_revoke() - revoke device @device_id (POST /v1/devices/ID/revoke): its next
 * request is refused and it wipes its replica and token. CARESYNC_OK also when it already was
 * revoked; CARESYNC_ENOTFOUND for an unknown device.
 */
int caresync_device_revoke(struct caresync *c, const char *device_id);

/*
 * caresync_assign() - put person @person_id on @user's caseload (@assign) or take them off
 * (POST /v1/assignments). The worker's devices receive the person, or purge them, at their
 * next sync. CARESYNC_ENOTFOUND for an unknown person or user. @ret_changed: optional; set
 * false when nothing changed (already on the caseload, or never on it).
 */
int caresync_assign(struct caresync *c, const char *person_id, const char *user, bool assign,
                    bool *ret_changed);

/*
 * caresync_transfer() - move person @person_id (NULL: @from's whole caseload, e.g. a leaver)
 * from user @from to user @to (POST /v1/assignments/transfer), named-coordinator roles
 * included. @ret_json: optional; receives {"from", "to", "moved": [ids], "already": [ids]}.
 */
int caresync_transfer(struct caresync *c, const char *from, const char *to,
                      const char *person_id, char **ret_json);

/*
 * caresync_named_coordinator() - make @user the named coordinator of @person_id (one per
 * person; POST /v1/people/ID/named-coordinator): a coordinator, or a professional who has the
 * person on their caseload. CARESYNC_EUSAGE when @user cannot hold the role.
 */
int caresync_named_coordinator(struct caresync *c, const char *person_id, const char *user);

/*
 * caresync_person_lifecycle() - a coordinator's change to a person's record (online): @action
 * "accept" (a referral becomes active), "close" (@value the reason: deceased, moved-away,
 * discharged, declined, duplicate or other), "reopen", "nhs-number" (@value ten digits, spaces
 * ignored, with a valid check digit) or "gp-practice" (@value the practice's ODS code). The
 * server writes the fields (they are server-authoritative) and every device in scope gets them
 * at its next sync. *ret (when not NULL) receives the person as the server lists them (JSON).
 */
int caresync_person_lifecycle(struct caresync *c, const char *person_id, const char *action,
                              const char *value, char **ret);

/*
 * caresync_team_json() - a person's team (GET /v1/people/ID/team): {"person_id", "name",
 * "named_coordinator": {"user", "role", "since"} or null, "team": [{"user", "role", "since"}]}.
 * Every role, for people on their caseload. *ret as for caresync_caseload_json().
 */
int caresync_team_json(struct caresync *c, const char *person_id, char **ret);

/*
 * ======== The field worker's day: task-shaped commands ========
 *
 * Every call below works offline. The writing calls go through the same machinery as
 * caresync_edit() and caresync_add(): one local transaction per call holding the rows, the
 * fields' versions and one outbox change per field written, so the result syncs like any edit.
 * Values are the catalogue's wire strings (common/catalogue.c): dates "YYYY-MM-DD",
 * date-times "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]" (no zone = local time; a date-time given is
 * stored and sent as UTC, "YYYY-MM-DDTHH:MM:SSZ"), numbers as decimal text
 * ("7"), enumerations by their code. Every string argument is borrowed; NULL means "not given".
 * Bad input is CARESYNC_EUSAGE with a one-line message that lists the allowed values; an id
 * that is not in the replica (or is deleted) is CARESYNC_ENOTFOUND; a malformed id is
 * CARESYNC_EUSAGE; a write the enrolled user's role may not make (common/access.h) is
 * CARESYNC_EFORBIDDEN, refused before anything is queued. Author fields (note.author, observation.author, goal_progress.author,
 * consent.recorded_by, alert.raised_by, plan_review.reviewed_by) are the enrolled user's name;
 * recorded_at is now in UTC ("YYYY-MM-DDTHH:MM:SSZ"); "today" is the local date (TZ).
 */

/*
 * caresync_today_json() - the worklist for @date ("YYYY-MM-DD", or "today", "tomorrow",
 * "yesterday", "+N"/"-N" days; NULL = today), as a JSON array: visits, not deleted, planned or
 * in progress, whose planned start falls on @date in local time and that are assigned to the
 * enrolled user (with @all: to anyone), after those still planned on an earlier day; overdue
 * ones first, each group in planned-start order. "overdue" is relative to now: still planned
 * on a day before today (so nothing later than today is overdue, whatever @date).
 * Each element: {"id", "person_id", "person_name", "planned_start", "status", "visit_type",
 * "mode", "assigned_to" (strings or null), "overdue" (bool), "alerts" (array of the texts of
 * the person's active alerts)}. *ret receives a string the caller frees with free().
 * Returns CARESYNC_OK, CARESYNC_EUSAGE (bad date) or CARESYNC_ELOCAL.
 */
int caresync_today_json(struct caresync *c, const char *date, bool all, char **ret);

/* Filters of caresync_caseload_filter_json(); every filter set must hold. */
struct caresync_caseload_filter {
    bool review_due;          /* an active or draft plan's review is due within ... */
    unsigned review_due_days; /* ... this many days from today, or is overdue */
    bool alerts;              /* at least one active alert */
    bool referred;            /* person.status "referred" (registered in the field) */
};

/*
 * caresync_caseload_filter_json() - as caresync_caseload_json(), keeping the people that pass
 * @f (NULL: everyone). Each object has the person's fields and also "review_due" (the earliest
 * review date of their active or draft plans, or null) and "alerts" (the number of active
 * alerts). Returns CARESYNC_OK or CARESYNC_ELOCAL.
 */
int caresync_caseload_filter_json(struct caresync *c, const struct caresync_caseload_filter *f,
                                  char **ret);

/*
 * caresync_doorstep_json() - what a worker reads on the doorstep, as a JSON object:
 * {"person": {...}, "about_me": {...} or null, "alerts": [active alerts],
 *  "contacts": [emergency contacts, next of kin, carers, LPA, do-not-contact flagged],
 *  "goals": [active goals, most important first], "actions": [open actions, by due date],
 *  "next_visit": {the earliest visit still planned on or after today} or null,
 *  "recent_notes": [the last 3 notes, newest first]}. Rows are objects as in
 * caresync_person_json(). Returns CARESYNC_OK, CARESYNC_ENOTFOUND or CARESYNC_ELOCAL.
 */
int caresync_doorstep_json(struct caresync *c, const char *person_id, char **ret);

/*
 * caresync_export_fhir() - the person as a FHIR R4 transaction Bundle (common/fhir.h, built
 * from the caresync_person_json() object), pretty-printed JSON in *ret (caller frees).
 * Returns CARESYNC_OK, CARESYNC_ENOTFOUND, or CARESYNC_ELOCAL (also when this build has no
 * FHIR support).
 */
int caresync_export_fhir(struct caresync *c, const char *person_id, char **ret);

/*
 * caresync_export_fhir_split() - as caresync_export_fhir(), as transaction Bundles of at most
 * @max_entries entries (> 0) each, one per line (JSON Lines), in the order to load them: every
 * reference of one points into it or an earlier one (docs/internals/fhir.md, "Load order").
 */
int caresync_export_fhir_split(struct caresync *c, const char *person_id, size_t max_entries,
                               char **ret);

/* A visit to book. */
struct caresync_visit {
    const char *planned_start; /* required: a date-time */
    const char *planned_end;   /* not before planned_start */
    const char *visit_type;    /* free text, e.g. "wound care" */
    const char *mode;          /* home, phone, video, clinic, community */
    const char *assigned_to;   /* a user name; NULL: the enrolled user */
};

/* caresync_visit_add() - book a visit (status planned) for @person_id; its id in @ret_id. */
int caresync_visit_add(struct caresync *c, const char *person_id, const struct caresync_visit *v,
                       char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_visit_start() - the visit has begun: actual_start = @at (NULL: now), status
 * in-progress (a missed reason is cleared). Refused for completed or cancelled visits.
 */
int caresync_visit_start(struct caresync *c, const char *visit_id, const char *at);

/* How a visit went. */
struct caresync_visit_outcome {
    const char *outcome; /* free text */
    bool follow_up;      /* follow_up_needed "1" */
    const char *at;      /* when it ended (and started, if it was never started); NULL: now */
    const char *next;    /* also book the next visit for the enrolled user at this date-time */
};

/*
 * caresync_visit_complete() - the visit is done: actual_start (if unset) and actual_end,
 * outcome, follow_up_needed, recorded_at, then status completed last (so the server has seen
 * the start time when it merges the status). With @o->next, books the next visit (same type
 * and mode) and puts its id in @ret_next_id (which may be NULL; "" when none was booked).
 * Refused for completed or cancelled visits.
 */
int caresync_visit_complete(struct caresync *c, const char *visit_id,
                            const struct caresync_visit_outcome *o, char *ret_next_id);

/*
 * caresync_visit_miss() - the visit did not happen: missed_reason @reason (no-answer, declined,
 * in-hospital, access-problem, worker-unable, other), recorded_at, status missed. With @note,
 * also a note (category visit) linked to the visit, whose id goes in @ret_note_id (may be
 * NULL; "" when none). Refused for completed or cancelled visits.
 */
int caresync_visit_miss(struct caresync *c, const char *visit_id, const char *reason,
                        const char *note, char *ret_note_id);

/*
 * caresync_note_add() - a note (status final) for @person_id: @text, @category (NULL: visit),
 * optionally linked to @visit_id (a visit of the same person), occurred_at @at (NULL: now).
 */
int caresync_note_add(struct caresync *c, const char *person_id, const char *text,
                      const char *visit_id, const char *category, const char *at,
                      char ret_id[static CARESYNC_ID_MAX]);

/* caresync_observe() - an observation (status final): @kind from the catalogue, @value, @unit. */
int caresync_observe(struct caresync *c, const char *person_id, const char *kind,
                     const char *value, const char *unit, const char *visit_id, const char *at,
                     char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_progress_add() - a goal_progress entry for @goal_id in the person's own words @text,
 * with @rating ("0" to "10") and @achievement; with @achievement, the goal's achievement status
 * is set to it as well.
 */
int caresync_progress_add(struct caresync *c, const char *goal_id, const char *text,
                          const char *rating, const char *achievement,
                          char ret_id[static CARESYNC_ID_MAX]);

/* A goal, in the person's own words. */
struct caresync_goal {
    const char *description;    /* required */
    const char *care_plan_id;   /* NULL: the parent goal's plan, else the person's active (else
                                 * draft) care and support plan, made (draft) if there is none */
    const char *importance;     /* "0" to "10" */
    const char *target_date;    /* a date */
    const char *parent_goal_id; /* a stage goal of this goal */
};

/*
 * caresync_goal_add() - a goal: lifecycle active, achievement in-progress, expressed by
 * "person", starting today. Its id (only) goes in @ret_id.
 */
int caresync_goal_add(struct caresync *c, const char *person_id, const struct caresync_goal *g,
                      char ret_id[static CARESYNC_ID_MAX]);

/* caresync_goal_status() - set a goal's @lifecycle and/or @achievement status (one at least). */
int caresync_goal_status(struct caresync *c, const char *goal_id, const char *lifecycle,
                         const char *achievement);

/* An action towards a goal. */
struct caresync_action {
    const char *what;       /* required */
    const char *who;        /* required: a name, role or team */
    const char *who_kind;   /* worker, role, team, person, carer, volunteer, personal_assistant */
    const char *due_date;   /* a date */
    const char *when_text;  /* e.g. "Thursdays after lunch" */
    const char *confidence; /* "0" to "10" */
};

/* caresync_action_add() - an action (status not-started) for @goal_id's person. */
int caresync_action_add(struct caresync *c, const char *goal_id, const struct caresync_action *a,
                        char ret_id[static CARESYNC_ID_MAX]);

/* caresync_action_status() - set an action's @status, and @confidence and @reason if given. */
int caresync_action_status(struct caresync *c, const char *action_id, const char *status,
                           const char *confidence, const char *reason);

/* A consent decision. */
struct caresync_consent {
    const char *sector;     /* required: all, health, social-care, vcse */
    const char *decision;   /* required: permit, deny */
    const char *basis;      /* explicit, implied, best-interests, attorney */
    const char *data_class; /* e.g. "clinical" */
    const char *notes;
};

/* caresync_consent_record() - a consent record (status active) for @person_id. */
int caresync_consent_record(struct caresync *c, const char *person_id,
                            const struct caresync_consent *k, char ret_id[static CARESYNC_ID_MAX]);

/* caresync_consent_withdraw() - status inactive, withdrawn_at now (nothing if already so). */
int caresync_consent_withdraw(struct caresync *c, const char *consent_id);

/* A key contact of a person (related_person). */
struct caresync_contact {
    const char *name;              /* required */
    const char *relationship;      /* free text, e.g. "son" */
    const char *relationship_code; /* NOK, ECON, CAREGIVER, GUARD, POWATT, SPS, CHILD, PRN, SIB,
                                    * FAMMEMB, FRND, NBOR, O */
    const char *phone;
    const char *email;
    bool carer, next_of_kin, emergency, lpa, do_not_contact; /* true writes "1" */
};

/* caresync_contact_add() - a related_person row for @person_id. */
int caresync_contact_add(struct caresync *c, const char *person_id,
                         const struct caresync_contact *k, char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_alert_raise() - an alert (status active, from today) about @person_id: @text,
 * @category (required), @audience (all, professionals).
 */
int caresync_alert_raise(struct caresync *c, const char *person_id, const char *text,
                         const char *category, const char *audience,
                         char ret_id[static CARESYNC_ID_MAX]);

/* caresync_alert_deactivate() - status inactive, period ending today (nothing if already so). */
int caresync_alert_deactivate(struct caresync *c, const char *alert_id);

/* A review of a care and support plan. */
struct caresync_review {
    const char *summary;          /* required */
    const char *outcome;          /* required: continue, revise, close */
    const char *next_review_date; /* also becomes the plan's review_due */
    const char *care_plan_id;     /* NULL: the person's active (else draft) pcsp */
    bool with_person;             /* the person took part */
};

/*
 * caresync_review_add() - a plan_review (dated today, status final) of the plan; with a next
 * review date the plan's review_due is set to it; outcome close completes the plan.
 * CARESYNC_ENOTFOUND when the person has no plan to review.
 */
int caresync_review_add(struct caresync *c, const char *person_id, const struct caresync_review *v,
                        char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_about_me_set() - set one section of the person's About Me (what_matters,
 * people_important, communication, wellness, please_do, how_to_support, worth_knowing,
 * appreciate, supported_to_write_by, shareable_with_vcse ("1"/"0", or yes/no)), creating the
 * About Me row (id = the person's id) when there is none.
 */
int caresync_about_me_set(struct caresync *c, const char *person_id, const char *section,
                          const char *text);

/* Someone met in the field. */
struct caresync_registration {
    const char *name; /* required */
    const char *birth_date;
    const char *phone;
    const char *address;
    const char *preferred_name;
    /* The name and address in parts (FHIR, matching); each optional. */
    const char *family_name, *given_names, *name_prefix;
    const char *address_line1, *address_line2, *address_city, *address_postcode;
};

/*
 * caresync_register() - a new person (created today) whose id goes in @ret_id. The server puts
 * them on this user's caseload with status "referred" for a coordinator at the next sync.
 */
int caresync_register(struct caresync *c, const struct caresync_registration *p,
                      char ret_id[static CARESYNC_ID_MAX]);

/*
 * caresync_entered_in_error() - mark an append-only record (note, observation, goal_progress,
 * plan_review) as entered in error with @reason (required): the error_reason, then the status.
 * Other tables are CARESYNC_EUSAGE. Records are never edited or deleted instead.
 */
int caresync_entered_in_error(struct caresync *c, const char *table, const char *row_id,
                              const char *reason);

/* caresync_version() - the library version, e.g. "0.1.0". Static string. */
const char *caresync_version(void);

#ifdef __cplusplus
}
#endif
