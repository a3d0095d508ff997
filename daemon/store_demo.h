/* SPDX-License-Identifier: MIT */
/* store_demo.h - bulk writes for the demo-data generator ('caresyncd demo'): staff, brand-new
 * rows and caseload assignments written in one transaction, plus a few edits sent through the
 * real merge (to seed the conflict log). Same conventions as store.h: 0 (or a count) on
 * success, a negative errno on failure, nothing logged above debug. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * store_demo_begin() - start the one write transaction the generator works in, and check the
 * store is fresh. Returns 0; -EEXIST (transaction not left open) when the store already has
 * staff or synced rows; or another negative errno. End with store_demo_commit() or
 * store_demo_rollback().
 */
int store_demo_begin(struct store *s);
int store_demo_commit(struct store *s);
void store_demo_rollback(struct store *s);

/* store_demo_user_add() - as store_user_add() (audited the same way), inside the transaction;
 * the new user's id in *ret_id. -EEXIST when the name is taken, -EINVAL for a bad name or role. */
int store_demo_user_add(struct store *s, const char *name, const char *role,
                        const struct store_user_profile *p, int64_t *ret_id);

/*
 * store_demo_field() - write field @field = @value (not NULL) of a brand-new row @row_id of
 * table @tbl, belonging to person @person_id, as a server-authored change: a journal entry and
 * the field's state, with a fresh server clock and the next sequence number.
 *
 * This skips the merge: a row nobody has seen has no earlier version, so no write can have been
 * concurrent with this one and there is nothing to detect. That is enforced, not assumed: when
 * the field already has a state the insert fails with -EEXIST. Values are checked against the
 * catalogue (-EINVAL for an unknown table or field, a bad value, "_deleted", or a person or
 * singleton row whose id is not its person's id). It takes about a third of the CPU time of
 * store_write_field() (measured on the load profile: 5.5 s against 17.5 s for 320,000 fields).
 */
int store_demo_field(struct store *s, const char *tbl, const char *row_id, const char *person_id,
                     const char *field, const char *value);

/*
 * store_demo_assign() - an active assignment of person @person_id to user @user_id (named
 * @name, for the audit log), starting at the next sequence number, so a device pulls the
 * person's whole state as of then. @started_at (an ISO date-time) is informational. -EEXIST when
 * already assigned.
 */
int store_demo_assign(struct store *s, const char *person_id, int64_t user_id, const char *name,
                      const char *started_at);

/*
 * store_demo_audit() - one "demo_import" event in the audit log for person @person_id, with
 * @detail (borrowed; e.g. the rows written). The bulk writes of store_demo_field() are audited
 * this way, once per person, instead of once per field as merged changes are.
 */
int store_demo_audit(struct store *s, const char *person_id, const cJSON *detail);

/* The version of a field as a device holds it (the base of its next edit). */
struct store_demo_version {
    uint64_t hlc;
    char device[UUID_STR_MAX];
};

/* store_demo_version() - the current version of a field. -ENOENT when it has none. */
int store_demo_version(struct store *s, const char *tbl, const char *row_id, const char *field,
                       struct store_demo_version *ret);

/*
 * store_demo_edit() - apply one change as if device @device of user @user_id had pushed it,
 * made on top of version @base (NULL: the device held no version), through the real merge: the
 * conflict rules decide and log exactly as for a pushed change. The change gets a fresh server
 * clock. @value may be NULL (clear). Returns 1 when the change won, 0 when it lost, -EINVAL for
 * an unknown table, field or bad value, or another negative errno.
 */
int store_demo_edit(struct store *s, const char *device, int64_t user_id, const char *tbl,
                    const char *row_id, const char *person_id, const char *field, const char *value,
                    const struct store_demo_version *base);

/*
 * store_demo_counts() - what the store holds, after commit: {"tables": {"person": rows, ...}
 * for every catalogue table, "fields": field states, "changes": journal entries, "assignments":
 * active assignments, "conflicts": open conflicts}. Caller owns *ret.
 */
int store_demo_counts(struct store *s, cJSON **ret);
