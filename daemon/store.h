/* SPDX-License-Identifier: MIT */
/* store.h - the server store: the only code that touches the server's SQL. A narrow interface
 * (users, devices, enrolment, people and assignments, sync, conflicts) so another backend can
 * sit beside the SQLite one without touching the HTTP or merge code. All functions return 0 (or
 * a positive count) on success and a negative errno on failure; none logs above debug. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "proto.h"
#include "util.h"
#include "wire.h"

struct store;

#define STORE_ROLE_MAX 32
#define STORE_NAME_MAX ACCESS_USER_MAX
#define STORE_TOKEN_MAX 72         /* "cs1_" + 64 hex + NUL */
#define STORE_CODE_MAX 16          /* "XXXX-XXXX-XXXX" + NUL */
#define STORE_PULL_PAGE 1000       /* field states per pull page */
#define STORE_MAX_FORWARD_MS (5 * 60 * 1000)
/* What a device is told when the server's disk is full (503 storage_full, Retry-After). */
#define STORE_FULL_MESSAGE "the server's disk is full; nothing was written and nothing is lost; " \
                           "your device keeps working offline, sync again later"
#define STORE_FULL_RETRY_S "60"
#define STORE_DEVICE_CONFLICTS_MAX 1000 /* open conflict-log entries one device may cause */
#define STORE_HANDOVER_GRACE_MS (UINT64_C(72) * 3600 * 1000)
/* Days after a record's closed_on that field workers' devices purge the person (coordinators
 * keep them); docs/internals/access.md, "The record's lifecycle". */
#define STORE_CLOSED_KEEP_DAYS 30

/* The authenticated caller of a request. */
struct store_principal {
    int64_t user_id;
    char user[STORE_NAME_MAX + 1];
    char role[STORE_ROLE_MAX];
    char device_id[UUID_STR_MAX];
};

/* store_role_valid() - true for one of the nine roles (nurse … admin). */
bool store_role_valid(const char *role);
/* store_role_list() - the roles, comma separated, for messages. */
const char *store_role_list(void);
/* store_role_is_coordinator() - coordinators see every person and the conflict log. */
bool store_role_is_coordinator(const char *role);

/*
 * store_open() - open (creating with DB_OPEN_CREATE semantics when @create) the store at @path
 * and apply pending migrations; on first creation also makes the server's node id.
 * Returns 0 and *ret, -ENOENT when missing and !@create, -EPROTO when the store is newer than
 * this program, or another negative errno.
 */
int store_open(const char *path, bool create, struct store **ret);
/*
 * store_open_url() - open the PostgreSQL store at @url (a libpq connection URI or key=value
 * string; TLS as its sslmode says), applying pending migrations (schema/server-pg) and making
 * the node id and the incarnation when the database holds no store yet. *ret_joined (may be
 * NULL) says whether it held one already (another daemon's). Returns 0 and *ret, -ENOTCONN
 * (unreachable, refused, authentication or TLS failed: logged), -EPROTO when the database was
 * migrated by a newer caresyncd, or another negative errno.
 */
int store_open_url(const char *url, struct store **ret, bool *ret_joined);
/* store_open_url_why() - store_open_url() that, when the database cannot be reached, puts the
 * reason in @why instead of logging it (an admin command's one-line message). */
int store_open_url_why(const char *url, struct store **ret, bool *ret_joined, char *why,
                       size_t why_size);
/* store_is_postgresql() - whether @s is a PostgreSQL store (store_open_url()). */
bool store_is_postgresql(const struct store *s);
struct store *store_free(struct store *s);

/*
 * store_open_reader() - a second handle on the store at @path that @w (the writer's handle,
 * opened and configured first) has open, for read-only work on another thread: it reads
 * committed data only (WAL snapshots), and any write through it fails. Settings are copied
 * from @w. Free with store_free().
 */
int store_open_reader(const struct store *w, const char *path, struct store **ret);

/*
 * Group commit (docs/ARCHITECTURE.md "Threads"). Between store_group_begin() and
 * store_group_commit() every store call's transaction is a savepoint of the group's one BEGIN
 * IMMEDIATE: a call that fails rolls back only its own work, and the group's work becomes
 * durable together, with one COMMIT (one fsync). store_group_lost() is true once SQLite has
 * rolled the whole group back itself (a full disk, an I/O error): nothing done in it since
 * store_group_begin() will be committed. store_group_commit() returns 0 or -errno (then
 * nothing of the group was written); store_group_rollback() abandons the group.
 */
int store_group_begin(struct store *s);
bool store_group_lost(struct store *s);
int store_group_commit(struct store *s);
void store_group_rollback(struct store *s);
/* store_commits() - COMMITs this handle has made (each one fsync of the write-ahead log). */
uint64_t store_commits(const struct store *s);

/*
 * store_checkpointer_start() - copy the write-ahead log into the store file from a background
 * thread with its own connection to @path (the file @s has open), instead of inside @s's
 * commits. store_checkpointer_stop() ends it; call it before store_free().
 */
struct store_checkpointer;
int store_checkpointer_start(struct store *s, const char *path, struct store_checkpointer **ret);
struct store_checkpointer *store_checkpointer_stop(struct store_checkpointer *c);

/* What the checkpointer has done (for /metrics; any thread): checkpoints that copied pages from
 * the write-ahead log, the time they took in all, and the last one's. */
struct store_checkpoint_stats {
    uint64_t runs;
    uint64_t total_us;
    uint64_t last_us;
};
void store_checkpointer_stats(const struct store_checkpointer *c, struct store_checkpoint_stats *ret);

/* Devices by state (for /metrics): enrolled and not revoked, split into those that synced
 * within @lock_after_days days (0: never lock; all are active) and those locked for not having;
 * and revoked ones. */
struct store_device_counts {
    int64_t active, locked, revoked;
};
int store_device_counts(struct store *s, unsigned lock_after_days, struct store_device_counts *ret);

/*
 * store_probe_write() - whether the store takes a write now: at least STORE_READY_MIN_FREE bytes
 * free on its file system, and one small write transaction (the meta key 'ready_probe' set to
 * the time) committed. 0, or the negative errno of the failure
 * (-ENOSPC for a full disk, -EBUSY when another process holds the write lock, -EROFS, -EIO).
 * For /readyz.
 */
#define STORE_READY_MIN_FREE (1024 * 1024)
int store_probe_write(struct store *s);

/* Where a store is in its history: its incarnation, sequence and audit chain head. */
struct store_position {
    char epoch[UUID_STR_MAX];
    uint64_t seq;
    int64_t head_id;
    char head_hash[SHA256_HEX_MAX];
};

/* store_position() - read it. 0 or -errno. */
int store_position(struct store *s, struct store_position *ret);

/*
 * store_mark_restored() - the store was just put back from a backup (`caresyncd restore`):
 * make it a new incarnation (epoch), lift its sequence above @replaced's and above
 * store_seq_floor(), and audit a `restore` event naming the span of the chain that was lost
 * (@replaced: the store it replaced, NULL when there was none). 0 or -errno.
 */
int store_mark_restored(struct store *s, const char *backup_taken_at,
                        const struct store_position *replaced);

/* store_node_id() - the server's own device id (authors admin writes). Borrowed. */
const char *store_node_id(const struct store *s);

/* store_set_max_device_conflicts() - how many values of one device may wait in the conflict log
 * before its pushes that would log more are refused (default STORE_DEVICE_CONFLICTS_MAX). */
void store_set_max_device_conflicts(struct store *s, uint64_t n);
/* store_set_max_forward() - the far-future bound in ms (default STORE_MAX_FORWARD_MS). */
void store_set_max_forward(struct store *s, uint64_t ms);

/*
 * store_set_handover_grace() - how long after a worker's assignment to a person ends the edits
 * they recorded (by their clock) are still applied rather than sent to the conflict log
 * (default STORE_HANDOVER_GRACE_MS, 72 hours).
 */
void store_set_handover_grace(struct store *s, uint64_t ms);

/* ---- staff, devices and enrolment (admin subcommands) ---- */

/* store_user_add() - -EEXIST if the name is taken, -EINVAL for a bad name or role. */
int store_user_add(struct store *s, const char *name, const char *role);

/* How a member of staff appears in exports (docs/internals/fhir.md "Staff"). NULL: leave as it
 * is; "": clear. */
struct store_user_profile {
    const char *display_name; /* "Amira Khan", at most STORE_DISPLAY_NAME_MAX bytes */
    const char *nmc_pin;      /* Nursing and Midwifery Council PIN: 12A3456B */
    const char *hcpc_number;  /* Health and Care Professions Council: PH123456 */
    const char *swe_number;   /* Social Work England: SW12345 */
};

#define STORE_DISPLAY_NAME_MAX 200

/*
 * store_user_profile_invalid() - why @p is not valid (one line), or NULL when it is.
 * store_user_set_profile() - set user @name's display name and registrations, audited
 * (user_profile). -ENOENT for an unknown user; -EINVAL with *why set for a bad value (nothing
 * is written).
 */
const char *store_user_profile_invalid(const struct store_user_profile *p);
int store_user_set_profile(struct store *s, const char *name, const struct store_user_profile *p,
                           const char **why);

/*
 * store_enrol_code_new() - a one-time code for user @name, valid for @ttl_s seconds, written to
 * @ret ("XXXX-XXXX-XXXX"). Only its hash is stored. -ENOENT for an unknown user.
 */
int store_enrol_code_new(struct store *s, const char *name, uint64_t ttl_s,
                         char ret[static STORE_CODE_MAX]);

struct store_enrolment {
    char device_id[UUID_STR_MAX];
    char token[STORE_TOKEN_MAX];
    char user[STORE_NAME_MAX + 1];
    char role[STORE_ROLE_MAX];
    uint64_t server_hlc;
};

/*
 * store_enrol() - redeem @code (case, spaces and dashes ignored): creates a device with a new
 * random 256-bit token and marks the code used, in one transaction. -EACCES when the code is
 * unknown, used or expired. @device_name and @client_version may be NULL.
 */
int store_enrol(struct store *s, const char *code, const char *device_name,
                const char *client_version, struct store_enrolment *ret);

/*
 * store_authenticate() - look up the device for bearer @token. -EACCES for an unknown token,
 * -EKEYREVOKED for a revoked device. Fills *ret on success.
 */
int store_authenticate(struct store *s, const char *token, struct store_principal *ret);

/* store_device_revoke() - revoke device @device_id. -ENOENT if unknown. */
int store_device_revoke(struct store *s, const char *device_id);

/* store_device_list() - JSON array of devices (id, user, role, name, created, last sync,
 * pending, revoked). Caller owns *ret. */
int store_device_list(struct store *s, cJSON **ret);

/* store_user_list() - JSON array of users (name, role, people assigned). */
int store_user_list(struct store *s, cJSON **ret);

/* ---- people and caseloads ---- */

struct store_person_fields {
    const char *name; /* required */
    const char *birth_date, *phone, *address, *preferred_name; /* optional, NULL = unset */
    const char *family_name, *given_names, *name_prefix;        /* the name in parts */
    const char *address_line1, *address_line2, *address_city, *address_postcode;
    const char *gp_practice, *gp_ods_code;
};

/*
 * store_person_add() - create a person as server-authored changes. Values are checked against
 * the catalogue: -EINVAL with *why set for a bad one. Writes the new id to @ret.
 */
int store_person_add(struct store *s, const struct store_person_fields *f,
                     char ret[static UUID_STR_MAX], const char **why);

/*
 * store_assign()/store_unassign() - start or end the assignment of person @person_id to user
 * @name, by the server itself (admin commands): store_caseload_assign() with "caresyncd" as the
 * actor. Returns 1 when something changed, 0 when it already was so, -ENOENT for an unknown
 * person (ret *which = "person") or user (*which = "user"), -EINVAL for an admin account,
 * -EPERM for a disabled user (assigning only).
 */
int store_assign(struct store *s, const char *person_id, const char *name, const char **which);
int store_unassign(struct store *s, const char *person_id, const char *name, const char **which);

/* ---- export (store_export.c) ---- */

/*
 * store_person_tree() - person @person_id's whole current record as `caresync show PERSON
 * --json` prints it (the input of fhir_bundle()): the person's fields at the top level, each
 * table's rows in an array under its catalogue label (about_me an object or null), every value a
 * string or null, deleted rows included with "_deleted": "1"; plus "team", the users who have
 * the person on their caseload now ({"user", "role", "assignment": "contributor"}). Read in one
 * transaction. Caller owns *ret. -ENOENT for an unknown person.
 */
int store_person_tree(struct store *s, const char *person_id, cJSON **ret);

/*
 * store_export_audit() - record in the audit log that person @person_id's record was exported in
 * @format (e.g. "fhir-r4") by @p, or by the admin command when @p is NULL.
 */
int store_export_audit(struct store *s, const struct store_principal *p, const char *person_id,
                       const char *format);

/* ---- sync ---- */

/*
 * Why the store or its engine refused a request: a negative errno, a protocol error code
 * (docs/PROTOCOL.md, "Errors"; the HTTP layer takes its status from proto_error_status()), a
 * message in the user's words, and the index of the change it is about (-1 if none). No HTTP
 * status below the HTTP layer.
 */
struct store_error {
    int err;
    const char *code;    /* e.g. "row_owner_mismatch"; NULL: not filled */
    char message[256];
    long index;
};

/*
 * store_sync() - apply the pushed @changes (already decoded and validated against the
 * catalogue) in one transaction and, when @pull, read the next page after @cursor for @p.
 * On success builds the whole response object of POST /v1/sync (docs/PROTOCOL.md) in *ret
 * (caller owns), encoded with proto_sync_reply_encode() (kept for the unit tests and the
 * benchmarks; the daemon uses store_sync_reported()). On failure nothing is written, *err says
 * why, and a negative errno returns.
 * @pending and @client_version (may be NULL / negative) are recorded for sync health.
 */
int store_sync(struct store *s, const struct store_principal *p, const struct change_record *changes,
               size_t n, const char *cursor, bool pull, int64_t pending, const char *client_version,
               cJSON **ret, struct store_error *err);

struct store_device_report;
/*
 * store_sync_reported() - store_sync() that fills the reply struct *ret (caller zeroes it and
 * frees it with proto_sync_reply_done(), also on failure) instead of a tree, and, when @rep is
 * not NULL, records the device's sync-health report @rep and fills the notices (see
 * store_device_report()) in the same transaction: one commit per sync. The policy is the
 * caller's to add.
 */
int store_sync_reported(struct store *s, const struct store_principal *p,
                        const struct change_record *changes, size_t n, const char *cursor,
                        bool pull, int64_t pending, const char *client_version,
                        const struct store_device_report *rep, struct proto_sync_reply *ret,
                        struct store_error *err);

/* ---- conflicts (store_conflicts.c) ---- */

#define STORE_REASON_MAX PROTO_REASON_MAX /* bytes of a resolution's reason: 500 */

/* Which conflicts store_conflicts_query() lists; NULL / 0 members do not filter. */
struct store_conflict_filter {
    const char *status;    /* "open" (also when NULL), "resolved" or "all" */
    const char *person_id; /* the person the conflict is about */
    const char *worker;    /* a user name: the winner's or the loser's author */
    const char *table;     /* a catalogue table */
    const char *kind;      /* store_conflict_kind_valid() */
    const char *priority;  /* "high" or "normal" */
    int64_t loser_user_id; /* > 0: only conflicts whose losing value this user wrote */
    /* Not a filter: who is asking. When set and not a coordinator, conflicts about people no
     * longer on the viewer's caseload show only the viewer's own (losing) value: the other
     * values are null and "redacted" is true. */
    const struct store_principal *viewer;
};

/* store_conflict_kind_valid() - true for concurrent_edit, edit_after_delete, out_of_scope,
 * missed_vs_completed and append_only. */
bool store_conflict_kind_valid(const char *kind);

/*
 * store_conflicts_query() - the conflicts passing @f, high priority first, then by id, into *ret
 * (zeroed by the caller, who proto_conflicts_done()s it). Each conflict has both values with
 * their authors, devices and clocks, its priority ("high" for alerts, consent and
 * safeguarding-concern notes, else "normal"), and once resolved the latest resolution with its
 * reason and every resolution, oldest first.
 */
int store_conflicts_query(struct store *s, const struct store_conflict_filter *f,
                          struct proto_conflicts *ret);

/* store_conflicts_list() - store_conflicts_query() for status "open" or, with @all, "all". */
int store_conflicts_list(struct store *s, bool all, struct proto_conflicts *ret);

/*
 * store_conflict_resolve() - resolve conflict @id by @action "keep", "restore" or "value" (with
 * @value, checked against the field), for @reason (1 to STORE_REASON_MAX bytes of UTF-8).
 * "restore" writes the losing value again, "value" writes @value (both undelete the row of an
 * edit_after_delete first), "keep" writes nothing on an open conflict. A conflict already
 * resolved may be resolved again: the new resolution supersedes the last one and writes again
 * by its own action ("keep" then puts back what the field, and the row's deletion, were before
 * the first resolution that wrote). Writes are ordinary changes authored by @p's device with a
 * fresh server clock, so every device converges on them. Every resolution is kept; the conflict
 * shows the latest. One transaction, audited. Returns 0 and the conflict as it is now in *ret
 * (zeroed by the caller, who proto_conflict_done()s it); -ENOENT unknown id; -EINVAL bad
 * action, value or reason (*why set).
 */
int store_conflict_resolve(struct store *s, const struct store_principal *p, int64_t id,
                           const char *action, const char *value, const char *reason,
                           struct proto_conflict *ret, const char **why);

/*
 * store_row_restore() - undo the deletion of row @row_id of @tbl: write "_deleted" = "0" as a new
 * change authored by @p's device with a fresh server clock (a sequential overwrite of the
 * tombstone, so it wins and every device in scope gets the row back at its next pull), and
 * audit "restore" with @reason (1 to STORE_REASON_MAX bytes of UTF-8). The caller has checked
 * that @p is a coordinator: this is the undo of every delete a device may make, whatever the
 * table (docs/internals/access.md, "Who may delete what"). One transaction. Returns 0 and
 * the reply (table, row_id, person_id, change_id) in *ret; -ENOENT no such row;
 * -EALREADY the row is not deleted (nothing written); -EINVAL bad table or reason (*why set).
 */
int store_row_restore(struct store *s, const struct store_principal *p, const char *tbl,
                      const char *row_id, const char *reason, struct proto_restore_reply *ret,
                      const char **why);

/* ---- audit ---- */

/*
 * store_audit_verify() - recompute the audit log's hash chain from the first row. Returns 0 when
 * every row is intact (*ret_rows = rows checked), or -EBADMSG with *ret_bad_id the first row that
 * was edited, removed or inserted out of order.
 */
int store_audit_verify(struct store *s, int64_t *ret_rows, int64_t *ret_bad_id);

/* store_audit_export() - one person's audit trail (subject access request) as a JSON array;
 * -ENOENT when it is empty and no such person exists. */
int store_audit_export(struct store *s, const char *person_id, cJSON **ret);

/* One export a device made offline (POST /v1/sync "exports"): the person and the device's time. */
struct store_export_event {
    const char *person_id;
    const char *at;
};

/*
 * store_audit_device_exports() - audit @n exports device @p made offline, kind "export" with
 * the device as actor, in one transaction. One already recorded (the same device, person and
 * time: a sync whose reply was lost) is not recorded twice.
 */
int store_audit_device_exports(struct store *s, const struct store_principal *p,
                               const struct store_export_event *v, size_t n);

/* ---- device health (store_devices.c) ---- */

/* What a device says about itself in a POST /v1/sync (docs/PROTOCOL.md); absent = unknown. */
struct store_device_report {
    int64_t pending;           /* changes waiting on it; < 0: not to be recorded */
    int64_t oldest_pending_ms; /* age of its oldest unsent change; < 0: not reported */
    const char *last_error;    /* its previous failed sync's message; NULL: none */
    bool has_last_error;       /* "last_error" was sent (null or a string) */
    const char *device_time;   /* its wall clock as sent (ISO 8601); NULL: not reported */
    int64_t device_ms;         /* ... as Unix ms (valid when device_time is set) */
};

/*
 * store_device_report() - record @rep on @p's device row, with the clock skew (this server's
 * wall clock minus the device's, in ms) when the device sent its time. A successful sync
 * records the sync time, pending count and client version itself (store_sync()); a refused one
 * only this report. With @notices (after a successful sync), also count the notices for the
 * device: the conflicts whose losing value @p's user wrote that were created or resolved since
 * it was last told (a device never told counts from its enrolment), moving its notice cursor
 * past them; their ids (at most 1000) are added to @ret_ids's notices when not NULL. One
 * transaction. Returns the count (0 without @notices) or a negative errno.
 */
int store_device_report(struct store *s, const struct store_principal *p,
                        const struct store_device_report *rep, bool notices,
                        struct proto_sync_reply *ret_ids);

/*
 * store_devices_health() - every device of every user, by user then enrolment, into *ret
 * (zeroed by the caller, who proto_devices_done()s it): user, role, device id and name, when
 * enrolled and last synced, ms since that sync (none before the first), pending, oldest pending
 * edit, last error, client version, device time, clock skew, revoked and when.
 */
int store_devices_health(struct store *s, struct proto_devices *ret);

/*
 * store_device_revoke_by() - store_device_revoke() by coordinator @p (audited as @p). Returns 1
 * when revoked now, 0 when it already was, -ENOENT for an unknown device.
 */
int store_device_revoke_by(struct store *s, const struct store_principal *p,
                           const char *device_id);

/* ---- caseload changes by coordinators (store_caseload.c) ---- */

/*
 * store_caseload_assign() - as store_assign() (@assign) or store_unassign(), audited as @p.
 * Returns 1 changed, 0 already so, -ENOENT (*which "person" or "user"), -EINVAL (*which "user":
 * an admin account holds no caseload).
 */
int store_caseload_assign(struct store *s, const struct store_principal *p, const char *person_id,
                          const char *user, bool assign, const char **which);

/*
 * store_caseload_transfer() - move person @person_id (NULL: the whole caseload, for a leaver)
 * from user @from to user @to in one transaction: each of @from's active assignments ends (their
 * devices purge the person at the next sync) and @to's starts (their devices receive the person
 * whole), and @from's named-coordinator roles for those people pass to @to. Audited as @p.
 * Returns 0 and the reply (from, to, moved: person ids, already: ids @to held already) in *ret
 * (zeroed by the caller, who frees it with proto_transfer_reply_done(), also on failure); -ENOENT
 * (*which "user": no such user; "person": no such person; "assignment": @from does not hold that
 * person), -EINVAL (*which "user": @from is @to, or @to is an admin account).
 */
int store_caseload_transfer(struct store *s, const struct store_principal *p, const char *from,
                            const char *to, const char *person_id, struct proto_transfer_reply *ret,
                            const char **which);

/*
 * store_named_coordinator_set() - make @user the named coordinator of @person_id (one per
 * person; replaces the previous one). @user must be a coordinator, or a professional with an
 * active assignment to the person. Audited as @p. Returns 1 changed, 0 already so, -ENOENT
 * (*why: no such person or user), -EINVAL (*why: the user cannot hold the role).
 */
int store_named_coordinator_set(struct store *s, const struct store_principal *p,
                                const char *person_id, const char *user, const char **why);

/*
 * store_person_team() - the team of person @person_id (its name, named coordinator and active
 * assignments, each with user, role and since) in *ret (zeroed by the caller, who frees it with
 * proto_team_done(), also on failure), as @p may read it: -ENOENT for an unknown person and for
 * one not on @p's caseload (coordinators: every person).
 */
int store_person_team(struct store *s, const struct store_principal *p, const char *person_id,
                      struct proto_team *ret);

/* ---- users leaving and changing role, the record's lifecycle (store_people.c) ---- */

/* store_user_disabled() - 1 when user @name is disabled, 0, -ENOENT or -errno. */
int store_user_disabled(struct store *s, const char *name);

/*
 * store_user_disable() - disable user @name (a leaver): every device of theirs is revoked (told
 * to wipe its replica at its next request) and every enrolment code still unused expires, in one
 * transaction, audited. Idempotent. Returns 0 and what it did in *ret (free it with
 * store_leaver_done(), also on failure); -ENOENT for an unknown user.
 */
struct store_leaver {
    char **devices_revoked; /* device ids, oldest first */
    size_t n_devices_revoked;
    int64_t codes_voided;   /* enrolment codes still unused that expired */
    bool was_disabled;      /* already disabled before (nothing new was revoked) */
};

int store_user_disable(struct store *s, const char *name, struct store_leaver *ret);
void store_leaver_done(struct store_leaver *l);

/*
 * store_user_role_set() - change user @name's role to @role. It takes effect at the user's next
 * request (the role is read at each authentication), and each of their devices re-decides what it
 * holds at its next sync (the pull re-sends the visible state and drops what is no longer
 * visible). Audited. Returns 1 changed (*ret_devices = devices to re-decide), 0 already so,
 * -ENOENT unknown user, -EINVAL bad role, -EPERM to or from admin.
 */
int store_user_role_set(struct store *s, const char *name, const char *role, int *ret_devices);

/* store_nhs_number_valid() - ten digits whose last is the modulus 11 check digit. */
bool store_nhs_number_valid(const char *nhs);
/* store_close_reason_valid() - deceased, moved-away, discharged, declined, duplicate, other. */
bool store_close_reason_valid(const char *reason);

enum store_person_action {
    STORE_PERSON_ACCEPT,  /* referred -> active */
    STORE_PERSON_CLOSE,   /* -> closed (deceased for reason "deceased"), arg the reason */
    STORE_PERSON_REOPEN,  /* closed or deceased -> active */
    STORE_PERSON_SET_NHS, /* arg the NHS number */
    STORE_PERSON_SET_GP,  /* arg the GP practice's ODS code */
};

/*
 * store_person_lifecycle() - a coordinator's (@p; NULL: an admin command) change to person
 * @person_id's record: server writes of status, closed_reason and closed_on, nhs_number or
 * gp_practice (store_write_field(), so every device in scope converges), audited
 * "person_lifecycle", one transaction. Returns 0 and the person as store_person_get() reads
 * them in *ret (zeroed by the caller, who proto_person_done()s it); -ENOENT unknown person; -EINVAL bad @arg (*why); -EALREADY the
 * status does not allow it (*why), nothing written.
 */
int store_person_lifecycle(struct store *s, const struct store_principal *p, const char *person_id,
                           enum store_person_action action, const char *arg,
                           struct proto_person *ret, const char **why);

/* Which people store_people_list() lists; NULL members do not filter. */
struct store_people_filter {
    const char *person_id;  /* one person (store_person_get()) */
    const char *name;       /* case-insensitive substring of the name */
    const char *nhs_number; /* exactly */
};

/*
 * store_people_list() - people not deleted, by name, into *ret (zeroed by the caller, who
 * proto_people_done()s it): id, name, birth date, status (unset reads "active"), closed reason
 * and date, NHS number, GP practice, and who has them on their caseload (user names, comma
 * separated, or none).
 */
int store_people_list(struct store *s, const struct store_people_filter *f,
                      struct proto_people *ret);
/* store_person_get() - person @person_id as store_people_list() lists them, into *ret (zeroed
 * by the caller, who proto_person_done()s it); -ENOENT when there is none (or deleted). */
int store_person_get(struct store *s, const char *person_id, struct proto_person *ret);

/* ---- the web console's sign-in and sessions (store_console.c) ---- */

#define STORE_PHC_MAX  160 /* an Argon2id hash in its PHC string form, with NUL */
#define STORE_TOTP_MAX 64  /* a TOTP secret in base32, with NUL */
#define STORE_CSRF_MAX 65  /* a session's CSRF token: 64 hex digits, with NUL */

/* A member of staff's console sign-in as stored; has_login false: none set yet. */
struct store_staff_login {
    int64_t user_id;
    char user[STORE_NAME_MAX + 1];
    char role[STORE_ROLE_MAX];
    bool disabled;
    bool has_login;
    char password_hash[STORE_PHC_MAX];
    char totp_secret[STORE_TOTP_MAX];
    int64_t totp_last_step;
};

/* store_staff_login_get() - user @name's sign-in (the user's row even without one). -ENOENT
 * for an unknown user. */
int store_staff_login_get(struct store *s, const char *name, struct store_staff_login *ret);

/*
 * store_staff_login_set() - set user @name's password hash (@password_hash, a PHC string made by
 * the caller) and TOTP secret (base32), forget the last TOTP step used and end every console
 * session of the user, in one transaction, audited "console_credentials". -ENOENT unknown user.
 */
int store_staff_login_set(struct store *s, const char *name, const char *password_hash,
                          const char *totp_secret);

/* store_staff_totp_use() - record that user @user_id's code for time step @step was accepted:
 * 1 when @step is later than the last one used (recorded), 0 when not (a code already used,
 * or an older one: refuse it), or -errno. */
int store_staff_totp_use(struct store *s, int64_t user_id, int64_t step);

/* store_console_audit() - append one console event @kind with @detail (borrowed) by @user_id
 * (0: someone not identified) to the audit log, in its own transaction. */
int store_console_audit(struct store *s, const char *kind, int64_t user_id, const cJSON *detail);

/* A console session as store_console_session_get() finds it. */
struct store_console_session {
    int64_t user_id;
    char user[STORE_NAME_MAX + 1];
    char role[STORE_ROLE_MAX];
    char csrf[STORE_CSRF_MAX];
    int64_t created_ms, seen_ms;
};

/* store_console_session_new() - a session for @user_id kept by @id_hash (SHA-256 hex of the
 * cookie), with @csrf and the client address @addr, made at @now_ms (Unix ms); audited
 * "console_sign_in". */
int store_console_session_new(struct store *s, int64_t user_id, const char *id_hash,
                              const char *csrf, const char *addr, int64_t now_ms);

/*
 * store_console_session_get() - the session kept by @id_hash at @now_ms, marked as seen then.
 * -ENOENT unknown; -ETIMEDOUT when it was idle more than @idle_ms, is older than @lifetime_ms,
 * or its user was disabled or no longer has a console role: the session is then ended and
 * audited "console_session_expired" with the reason.
 */
int store_console_session_get(struct store *s, const char *id_hash, int64_t now_ms,
                              int64_t idle_ms, int64_t lifetime_ms,
                              struct store_console_session *ret);

/* store_console_session_end() - sign out: end the session kept by @id_hash, audited
 * "console_sign_out". -ENOENT when there is none. */
int store_console_session_end(struct store *s, const char *id_hash);

/*
 * store_person_record() - store_person_tree() as @p may read it (docs/internals/access.md):
 * the rows and fields @p's role may not see, and deleted rows, left out. For the console's person
 * page. -ENOENT for an unknown person. Caller owns *ret.
 */
int store_person_record(struct store *s, const struct store_principal *p, const char *person_id,
                        cJSON **ret);

/* ---- the console's population page (store_population.c) ---- */

#define STORE_STALE_DAYS 7 /* default: a device not synced for longer is counted */

/*
 * store_population() - the population figures at @now_ms (Unix ms; "today" is its UTC date):
 * {"today", "stale_days", "people_by_status": [{"status", "count"}], "without_agreed_plan",
 * "reviews_overdue", "reviews_due_30_days", "visits_by_week": [{"week" (its Monday),
 * "completed", "missed", "cancelled"}] (visits planned in the 90 days to today),
 * "missed_reasons": [{"reason", "count"}], "goals_by_achievement": [{"status", "count"}],
 * "open_conflicts_by_week": [{"date", "open"}] (13 weeks, today last), "devices_not_synced"
 * (not revoked, no sync for more than @stale_days days)}. Definitions in docs/PROTOCOL.md
 * ("GET population"). One read transaction. Caller owns *ret.
 */
int store_population(struct store *s, int64_t now_ms, unsigned stale_days, cJSON **ret);

/* store_population_list_valid() - true for the lists store_population_list() makes. */
bool store_population_list_valid(const char *what);

/*
 * store_population_list() - the rows behind one figure of store_population() as an array:
 * @what "status" (@arg the status), "without_agreed_plan", "reviews_overdue", "reviews_due",
 * "visits" (@arg completed, missed or cancelled), "missed_reason" (@arg the reason), "goals"
 * (@arg the achievement status) or "devices_not_synced". -EINVAL for another @what.
 */
int store_population_list(struct store *s, int64_t now_ms, unsigned stale_days,
                          const char *what, const char *arg, cJSON **ret);
