/* SPDX-License-Identifier: MIT */
/* proto.h - the /v1 protocol in one place: a C struct for every request and response body of
 * docs/PROTOCOL.md, each with one decoder and one encoder, used by the daemon and the client.
 *
 * Requests are decoded from the body's text (the daemon has nothing else) strictly, with the
 * error the daemon sends (struct proto_error: status, code, message, field, index, limit);
 * responses are decoded from a tree the client's transport has already parsed, as leniently as
 * a device must be to talk to a newer server (unknown members are ignored). Encoders return a
 * new cJSON object (NULL: out of memory) for the caller to print. GET /v1/people/{id}/fhir is a
 * FHIR Bundle (common/fhir.c), not a protocol body, and is not here. Never logs; no global
 * state; safe from any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "wire.h"

#define PROTO_ECHO_MAX       128  /* longest client-supplied name echoed back in an error */
#define PROTO_SHORT_STR_MAX  100  /* device_name, client_version, device_time, exports[].at */
#define PROTO_LAST_ERROR_MAX 1000 /* bytes of a device's reported last_error */
#define PROTO_CHANGES_MAX    1000 /* changes in one push; exports in one sync */
#define PROTO_REASON_MAX     500  /* bytes of a resolution's or a restore's reason */
#define PROTO_NAME_MAX       ACCESS_USER_MAX /* a user name: access_user_valid() */
#define PROTO_ARG_MAX        64   /* table, row_id, a lifecycle route's argument */
#define PROTO_OUTCOME_MAX    16   /* "applied", "lost", "out_of_scope" */
#define PROTO_NOTICE_IDS_MAX 1000 /* conflict ids in one sync's notices */

/* ---- errors: {"error": {"code", "message", "limit"?, "field"?, "index"?}} ---- */

/* Why a body was refused, or an error reply's body. @status is not on the wire. */
struct proto_error {
    int status;                 /* 400, 413 ... (decoders: the status to answer) */
    char code[64];              /* e.g. "missing_field" */
    char message[512];          /* one line for a person */
    int64_t limit;              /* < 0: none */
    char field[PROTO_ECHO_MAX]; /* the offending key, when has_field */
    bool has_field;             /* "field" present (it may be "") */
    long index;                 /* < 0: none */
};

/* proto_error_status() - the HTTP status of a sync refusal's error code (docs/PROTOCOL.md,
 * "POST /v1/sync"): 400, 403, 409, 429, 503, or 500 for a code not known. */
int proto_error_status(const char *code);
/* proto_error_encode() - the error body of @e. NULL on out of memory. */
cJSON *proto_error_encode(const struct proto_error *e);
/* proto_error_decode_json() - @root, when it is an error body, into *ret (code and message cut
 * to their buffers; index only below 1000000). Returns 0, or -EBADMSG when it is none. */
int proto_error_decode_json(const cJSON *root, struct proto_error *ret);

/* proto_clip() - copy @s into @buf (@size bytes, at least 8) cut at a UTF-8 boundary, "..."
 * marking a cut. Returns @buf. */
const char *proto_clip(const char *s, char *buf, size_t size);

/*
 * Every request decoder below: @body, @len bytes (not NUL-terminated), is parsed strictly
 * (docs/PROTOCOL.md "Bodies are strict", "Text"), then its members are checked in a fixed
 * order. *ret starts zeroed (by the caller). Returns 0 and fills *ret, or a negative errno:
 * -ENOMEM (*err untouched), or -EBADMSG/-E2BIG with *err saying what to answer. Either way a
 * struct with a _done() needs it: its strings are owned by it. Encoders only read what they
 * are given, so a caller may point a struct's strings at its own (casting const away).
 */

/* ---- POST /v1/enrol ---- */

struct proto_enrol_request {
    char *code;
    char *device_name;    /* NULL: not sent */
    char *client_version; /* NULL: not sent */
};
void proto_enrol_request_done(struct proto_enrol_request *q);
int proto_enrol_request_decode(const char *body, size_t len, struct proto_enrol_request *ret,
                               struct proto_error *err);
cJSON *proto_enrol_request_encode(const struct proto_enrol_request *q);

struct proto_enrol_reply {
    char device_id[UUID_STR_MAX];
    char *token;
    char *user;
    char *role;
    uint64_t server_hlc;
};
void proto_enrol_reply_done(struct proto_enrol_reply *a);
cJSON *proto_enrol_reply_encode(const struct proto_enrol_reply *a);
/* Any member missing, of the wrong type or malformed (device id, clock): -EBADMSG. */
int proto_enrol_reply_decode_json(const cJSON *root, struct proto_enrol_reply *ret);

/* ---- POST /v1/sync ---- */

/* One element of "exports": a FHIR export the device made offline. */
struct proto_export {
    char person_id[UUID_STR_MAX];
    char at[PROTO_SHORT_STR_MAX + 1];
};

struct proto_sync_request {
    char *cursor;
    struct change_record *changes;
    size_t n_changes;
    bool pull; /* default true */
    bool has_pending;
    uint64_t pending;
    char *client_version; /* NULL: not sent */
    bool has_oldest_pending_ms;
    uint64_t oldest_pending_ms;
    bool has_last_error; /* sent, as a string or null */
    char *last_error;    /* NULL: null or not sent */
    char *device_time;   /* NULL: not sent */
    int64_t device_ms;   /* device_time as Unix ms, when sent */
    struct proto_export *exports;
    size_t n_exports;
    /* Decoding only: the members of the device's report (cursor, client_version,
     * oldest_pending_ms, last_error, device_time) were read, so a refusal after that point can
     * still record them; @batch_size, when set (>= 0), is how many changes the body held. */
    bool report_decoded;
    long batch_size;
};
void proto_sync_request_done(struct proto_sync_request *q);
int proto_sync_request_decode(const char *body, size_t len, struct proto_sync_request *ret,
                              struct proto_error *err);
cJSON *proto_sync_request_encode(const struct proto_sync_request *q);

/* One element of "outcomes". */
struct proto_outcome {
    char change_id[UUID_STR_MAX];
    char outcome[PROTO_OUTCOME_MAX]; /* "applied", "lost", "out_of_scope" */
    uint64_t hlc;
    bool clamped, conflict;
    bool has_current;    /* "current": the winning version */
    char *current_value; /* NULL = JSON null */
    uint64_t current_hlc;
    char current_device[UUID_STR_MAX];
};

/* One element of "drop". */
struct proto_drop {
    const struct cat_table *table;
    char row_id[UUID_STR_MAX];
};

struct proto_sync_reply {
    struct proto_outcome *outcomes;
    size_t n_outcomes, cap_outcomes;
    bool rewound;
    struct change_record *changes; /* pulled field states (device set, no change_id) */
    size_t n_changes, cap_changes;
    char (*purge)[UUID_STR_MAX];
    size_t n_purge, cap_purge;
    struct proto_drop *drop;
    size_t n_drop, cap_drop;
    char *cursor;
    bool more;
    bool reread;
    bool has_notices;
    uint64_t lost_values;
    int64_t *notice_ids;
    size_t n_notice_ids, cap_notice_ids;
    uint64_t server_hlc;
    bool has_policy;
    uint64_t lock_after_days;
};
void proto_sync_reply_done(struct proto_sync_reply *a);
/* Builders: append one element (copied). 0 or -ENOMEM. */
int proto_sync_reply_add_outcome(struct proto_sync_reply *a, const struct proto_outcome *o);
int proto_sync_reply_add_change(struct proto_sync_reply *a, const struct cat_table *t,
                                const struct cat_field *f, const char *row_id,
                                const char *person_id, const char *value, uint64_t hlc,
                                const char *device);
int proto_sync_reply_add_purge(struct proto_sync_reply *a, const char *person_id);
int proto_sync_reply_add_drop(struct proto_sync_reply *a, const struct cat_table *t,
                              const char *row_id);
int proto_sync_reply_add_notice(struct proto_sync_reply *a, int64_t conflict_id);
/* proto_sync_reply_set_cursor() - replace the cursor with a copy of @cursor. 0 or -ENOMEM. */
int proto_sync_reply_set_cursor(struct proto_sync_reply *a, const char *cursor);
cJSON *proto_sync_reply_encode(const struct proto_sync_reply *a);
/*
 * proto_sync_reply_decode_json() - a device's reading of a sync reply: "outcomes" (an array),
 * "cursor" and "server_hlc" are required; "changes", "purge", "drop" (arrays), "more",
 * "rewound", "reread" (bools) are optional; each pulled change is checked like
 * wire_decode_pull_change(), each outcome's members and its "current" (read for "lost" only),
 * each drop's table and row id, each purge's id; "notices" and "policy" are advisory and read
 * only where well-formed. Returns 0, -ENOMEM, or -EBADMSG with *why a static reason.
 */
int proto_sync_reply_decode_json(const cJSON *root, struct proto_sync_reply *ret, const char **why);

/* ---- POST /v1/conflicts/{id}/resolve ---- */

struct proto_resolve_request {
    char *action; /* "keep", "restore" or "value" */
    bool has_value;
    char *value; /* with action "value": NULL = null */
    char *reason;
};
void proto_resolve_request_done(struct proto_resolve_request *q);
int proto_resolve_request_decode(const char *body, size_t len, struct proto_resolve_request *ret,
                                 struct proto_error *err);
cJSON *proto_resolve_request_encode(const struct proto_resolve_request *q);

/* ---- POST /v1/rows/restore ---- */

struct proto_restore_request {
    char *table;
    char *row_id;
    char *reason;
};
void proto_restore_request_done(struct proto_restore_request *q);
int proto_restore_request_decode(const char *body, size_t len, struct proto_restore_request *ret,
                                 struct proto_error *err);
cJSON *proto_restore_request_encode(const struct proto_restore_request *q);

struct proto_restore_reply {
    char table[PROTO_ARG_MAX + 1];
    char row_id[UUID_STR_MAX];
    char person_id[UUID_STR_MAX];
    char change_id[UUID_STR_MAX];
};
cJSON *proto_restore_reply_encode(const struct proto_restore_reply *a);
int proto_restore_reply_decode_json(const cJSON *root, struct proto_restore_reply *ret);

/* ---- POST /v1/devices/{id}/revoke (no body, or {}) ---- */

/* proto_empty_request_decode() - a body that must be {}: 0, or -EBADMSG with *err. A request
 * that carries no body bytes at all is the HTTP layer's to accept; zero bytes here (a gzip body
 * that inflates to nothing) are malformed JSON, as for every other body. */
int proto_empty_request_decode(const char *body, size_t len, struct proto_error *err);

struct proto_revoke_reply {
    char device_id[UUID_STR_MAX];
    bool revoked;
    bool already;
};
cJSON *proto_revoke_reply_encode(const struct proto_revoke_reply *a);
int proto_revoke_reply_decode_json(const cJSON *root, struct proto_revoke_reply *ret);

/* ---- POST /v1/assignments ---- */

struct proto_assignment {
    char person_id[UUID_STR_MAX];
    char user[PROTO_NAME_MAX + 1];
    char action[16]; /* "assign" or "unassign" */
    bool changed;    /* reply only */
};
int proto_assignment_request_decode(const char *body, size_t len, struct proto_assignment *ret,
                                    struct proto_error *err);
cJSON *proto_assignment_request_encode(const struct proto_assignment *q);
cJSON *proto_assignment_reply_encode(const struct proto_assignment *a);
int proto_assignment_reply_decode_json(const cJSON *root, struct proto_assignment *ret);

/* ---- POST /v1/assignments/transfer ---- */

struct proto_transfer_request {
    char from[PROTO_NAME_MAX + 1];
    char to[PROTO_NAME_MAX + 1];
    bool has_person;
    char person_id[UUID_STR_MAX];
};
int proto_transfer_request_decode(const char *body, size_t len, struct proto_transfer_request *ret,
                                  struct proto_error *err);
cJSON *proto_transfer_request_encode(const struct proto_transfer_request *q);

struct proto_transfer_reply {
    char from[PROTO_NAME_MAX + 1];
    char to[PROTO_NAME_MAX + 1];
    char (*moved)[UUID_STR_MAX]; /* people who moved */
    size_t n_moved, cap_moved;
    char (*already)[UUID_STR_MAX]; /* people @to held already */
    size_t n_already, cap_already;
};
void proto_transfer_reply_done(struct proto_transfer_reply *a);
/* proto_transfer_reply_add() - person @person_id to "moved" (@moved) or "already". 0 or -ENOMEM. */
int proto_transfer_reply_add(struct proto_transfer_reply *a, bool moved, const char *person_id);
cJSON *proto_transfer_reply_encode(const struct proto_transfer_reply *a);
/* Names that are no user names, or ids that are no UUIDs: -EBADMSG. */
int proto_transfer_reply_decode_json(const cJSON *root, struct proto_transfer_reply *ret);

/* ---- POST /v1/people/{id}/named-coordinator ---- */

struct proto_named_coordinator_request {
    char user[PROTO_NAME_MAX + 1];
};
int proto_named_coordinator_request_decode(const char *body, size_t len,
                                           struct proto_named_coordinator_request *ret,
                                           struct proto_error *err);
cJSON *proto_named_coordinator_request_encode(const struct proto_named_coordinator_request *q);

/* ---- GET /v1/people/{id}/team (also the reply of .../named-coordinator) ---- */

/* One member of a person's team, or the named coordinator. NULL = JSON null. */
struct proto_team_member {
    char *user;
    char *role;
    char *since;
};

struct proto_team {
    char person_id[UUID_STR_MAX];
    char *name;                 /* NULL = null */
    bool has_named_coordinator; /* false: "named_coordinator": null */
    struct proto_team_member named_coordinator;
    struct proto_team_member *team; /* the active assignments, in the order they started */
    size_t n_team, cap_team;
};
void proto_team_done(struct proto_team *a);
/* proto_team_add() - append a copy of member @m (NULL strings stay null). 0 or -ENOMEM. */
int proto_team_add(struct proto_team *a, const struct proto_team_member *m);
/* proto_team_set_coordinator() - copy @m into named_coordinator. 0 or -ENOMEM. */
int proto_team_set_coordinator(struct proto_team *a, const struct proto_team_member *m);
cJSON *proto_team_encode(const struct proto_team *a);
int proto_team_decode_json(const cJSON *root, struct proto_team *ret);

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice ---- */

/* @key: the route's one member ("reason", "nhs_number", "gp_practice"), or NULL for {}. */
struct proto_lifecycle_request {
    const char *key; /* static */
    char *arg;       /* NULL with no @key */
};
void proto_lifecycle_request_done(struct proto_lifecycle_request *q);
int proto_lifecycle_request_decode(const char *body, size_t len, const char *key,
                                   struct proto_lifecycle_request *ret, struct proto_error *err);
cJSON *proto_lifecycle_request_encode(const struct proto_lifecycle_request *q);

/*
 * The coordinators' listings below are replies only. Their strings are owned by the struct
 * (its _done() frees them); NULL is JSON null, and the reply decoders take a string or null for
 * every string member, as a device must from a newer server. A missing member or one of the
 * wrong type is -EBADMSG; unknown members are ignored.
 */

/* ---- GET /v1/devices ---- */

/* One device's sync health. Numbers without their has_ flag are null. */
struct proto_device {
    char *user, *role, *device_id, *name, *enrolled_at, *last_sync_at;
    bool has_since_sync_ms, has_pending, has_oldest_pending_ms, has_clock_skew_ms;
    int64_t since_sync_ms, pending, oldest_pending_ms;
    char *last_error, *client_version, *device_time;
    int64_t clock_skew_ms;
    char *revoked_at;
    bool revoked;
};

struct proto_devices {
    struct proto_device *devices; /* by user, then enrolment */
    size_t n_devices, cap_devices;
};
void proto_devices_done(struct proto_devices *a);
/* proto_devices_add() - append a zeroed device for the caller to fill (its strings malloc'd,
 * owned by @a from then on). NULL on out of memory. */
struct proto_device *proto_devices_add(struct proto_devices *a);
cJSON *proto_devices_encode(const struct proto_devices *a);
int proto_devices_decode_json(const cJSON *root, struct proto_devices *ret);

/* ---- GET /v1/conflicts, POST /v1/conflicts/{id}/resolve ---- */

/* One resolution of a conflict, as kept in its history. */
struct proto_resolution {
    char *action, *value;
    bool wrote;
    char *reason, *by, *at;
};

/* One entry of the conflict log, with what PROTOCOL.md lists for it. */
struct proto_conflict {
    int64_t id;
    char *kind, *priority;
    bool review;
    char *status, *table, *row_id, *person_id, *person_name, *field, *winner_value;
    bool winner_deleted;
    bool has_winner_hlc; /* false: "winner_hlc": null */
    uint64_t winner_hlc;
    char *winner_device, *winner_user, *loser_value;
    uint64_t loser_hlc;
    char *loser_device, *loser_user, *loser_change_id, *current_value;
    bool has_row_deleted; /* false: "row_deleted": null (redacted) */
    bool row_deleted;
    char *description, *created_at;
    /* Resolved at least once: resolution .. reason and the history are on the wire. */
    bool resolved;
    char *resolution, *resolved_value, *resolved_by, *resolved_at, *reason;
    struct proto_resolution *resolutions; /* oldest first */
    size_t n_resolutions, cap_resolutions;
    bool redacted; /* "redacted": true, the values of others hidden from a worker */
};
void proto_conflict_done(struct proto_conflict *a);
/* proto_conflict_add_resolution() - append a zeroed resolution for the caller to fill (owned by
 * @a). NULL on out of memory. */
struct proto_resolution *proto_conflict_add_resolution(struct proto_conflict *a);
cJSON *proto_conflict_encode(const struct proto_conflict *a);
int proto_conflict_decode_json(const cJSON *root, struct proto_conflict *ret);

/* GET /v1/conflicts: {"conflicts": [...]}, high priority first, then by id. */
struct proto_conflicts {
    struct proto_conflict *conflicts;
    size_t n_conflicts, cap_conflicts;
};
void proto_conflicts_done(struct proto_conflicts *a);
/* proto_conflicts_add() - append a zeroed conflict for the caller to fill (owned by @a). */
struct proto_conflict *proto_conflicts_add(struct proto_conflicts *a);
cJSON *proto_conflicts_encode(const struct proto_conflicts *a);
int proto_conflicts_decode_json(const cJSON *root, struct proto_conflicts *ret);

/* POST /v1/conflicts/{id}/resolve's reply: {"conflict": {...}}. */
cJSON *proto_resolve_reply_encode(const struct proto_conflict *a);
int proto_resolve_reply_decode_json(const cJSON *root, struct proto_conflict *ret);

/* ---- POST /v1/people/{id}/accept|close|reopen|nhs-number|gp-practice: {"person": {...}} ---- */

/* A person as the people list shows them (also the console's and 'caresyncd person list'). */
struct proto_person {
    char *person_id, *name, *birth_date;
    char *status; /* "referred", "active", "closed", "deceased" */
    char *closed_reason, *closed_on, *nhs_number, *gp_practice;
    char *assigned; /* user names, comma separated */
};
void proto_person_done(struct proto_person *a);
cJSON *proto_person_encode(const struct proto_person *a);
int proto_person_decode_json(const cJSON *root, struct proto_person *ret);
/* The lifecycle routes' reply. */
cJSON *proto_lifecycle_reply_encode(const struct proto_person *a);
int proto_lifecycle_reply_decode_json(const cJSON *root, struct proto_person *ret);

/* A list of people, by name: {"people": [...]}. */
struct proto_people {
    struct proto_person *people;
    size_t n_people, cap_people;
};
void proto_people_done(struct proto_people *a);
/* proto_people_add() - append a zeroed person for the caller to fill (owned by @a). */
struct proto_person *proto_people_add(struct proto_people *a);
cJSON *proto_people_encode(const struct proto_people *a);
int proto_people_decode_json(const cJSON *root, struct proto_people *ret);
