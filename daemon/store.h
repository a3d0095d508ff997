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

#include "util.h"
#include "wire.h"

struct store;

#define STORE_ROLE_MAX 32
#define STORE_NAME_MAX 64
#define STORE_TOKEN_MAX 72         /* "cs1_" + 64 hex + NUL */
#define STORE_CODE_MAX 16          /* "XXXX-XXXX-XXXX" + NUL */
#define STORE_PULL_PAGE 1000       /* field states per pull page */
#define STORE_MAX_FORWARD_MS (5 * 60 * 1000)

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
struct store *store_free(struct store *s);

/* store_node_id() - the server's own device id (authors admin writes). Borrowed. */
const char *store_node_id(const struct store *s);

/* store_set_max_forward() - the far-future bound in ms (default STORE_MAX_FORWARD_MS). */
void store_set_max_forward(struct store *s, uint64_t ms);

/* ---- staff, devices and enrolment (admin subcommands) ---- */

/* store_user_add() - -EEXIST if the name is taken, -EINVAL for a bad name or role. */
int store_user_add(struct store *s, const char *name, const char *role);

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
};

/*
 * store_person_add() - create a person as server-authored changes. Values are checked against
 * the catalogue: -EINVAL with *why set for a bad one. Writes the new id to @ret.
 */
int store_person_add(struct store *s, const struct store_person_fields *f,
                     char ret[static UUID_STR_MAX], const char **why);

/*
 * store_assign()/store_unassign() - start or end the assignment of person @person_id to user
 * @name. Returns 1 when something changed, 0 when it already was so, -ENOENT for an unknown
 * person (ret *which = "person") or user (*which = "user").
 */
int store_assign(struct store *s, const char *person_id, const char *name, const char **which);
int store_unassign(struct store *s, const char *person_id, const char *name, const char **which);

/* ---- sync ---- */

/* Why store_sync() refused a request (the HTTP layer maps these to status and code). */
struct store_error {
    int status;          /* 400, 409, 500, 503 */
    const char *code;    /* e.g. "row_owner_mismatch" */
    char message[256];
    long index;          /* change index, -1 if not about one change */
};

/*
 * store_sync() - apply the pushed @changes (already decoded and validated against the
 * catalogue) in one transaction and, when @pull, read the next page after @cursor for @p.
 * On success builds the whole response object of POST /v1/sync (docs/PROTOCOL.md) in *ret
 * (caller owns). On failure nothing is written, *err says why, and a negative errno returns.
 * @pending and @client_version (may be NULL / negative) are recorded for sync health.
 */
int store_sync(struct store *s, const struct store_principal *p, const struct change_record *changes,
               size_t n, const char *cursor, bool pull, int64_t pending, const char *client_version,
               cJSON **ret, struct store_error *err);

/* ---- conflicts ---- */

/* store_conflicts_list() - {"conflicts": [...]} for status "open" or "all". */
int store_conflicts_list(struct store *s, bool all, cJSON **ret);

/*
 * store_conflict_resolve() - resolve conflict @id by @action "keep", "restore" or "value" (with
 * @value, checked against the field). Writes the resolution change (authored by @p's device) and
 * marks the conflict resolved in one transaction. Returns 0 and {"conflict": {...}} in *ret;
 * -ENOENT unknown id; -EALREADY already resolved; -EINVAL bad action or value (*why set).
 */
int store_conflict_resolve(struct store *s, const struct store_principal *p, int64_t id,
                           const char *action, const char *value, cJSON **ret, const char **why);
