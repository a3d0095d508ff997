/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the sync engine: the rules of a push (authorisation, scope, the handover window,
 * replays, authorship, the conflict quota) written once over the storage backend's operations
 * (backend.h) and in-memory structs. No SQL here: docs/internals/backend.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "proto.h"
#include "store.h"

/* What the engine is run with: the backend and the store's settings. */
struct engine {
    struct backend *b;
    const char *node_id;           /* the server's own device id */
    uint64_t max_forward_ms;       /* the far-future bound */
    uint64_t grace_ms;             /* the handover grace */
    uint64_t max_device_conflicts; /* open conflict-log entries one device may cause */
};

/* A refusal is a struct store_error (store.h): errno, protocol code, message, change index. */

/* engine_refused() - fill @err (printf-style message) and return @r. */
_printf_(5, 6) int engine_refused(struct store_error *err, const char *code, long index, int r,
                                  const char *fmt, ...);
/* engine_failure() - a backend failure @r as a refusal: busy, storage_full or internal_error. */
int engine_failure(struct store_error *err, int r);

/*
 * store_window_open() - whether a change the server received at @received_ms is inside the
 * handover window of a scope that ended at @end_ms (both by the server's clock): received before
 * the end plus @grace_ms. A change received in the very millisecond the scope ended was
 * received after it (the end committed first), so with no grace nothing after the end is in.
 */
bool store_window_open(uint64_t received_ms, uint64_t end_ms, uint64_t grace_ms);

/*
 * engine_push() - apply the pushed @changes by @p inside the caller's write transaction: the
 * batch is authorised whole before anything is written, then each change is merged, its outcome
 * added to @outcomes; the conflict quota is checked and the device's sync recorded. 0, or a
 * negative errno with @err filled (the caller rolls back: nothing is written).
 */
int engine_push(const struct engine *e, const struct store_principal *p,
                const struct change_record *changes, size_t n, struct proto_sync_reply *outcomes,
                int64_t pending, const char *client_version, struct store_error *err);

/*
 * engine_pull() - the device's next pull page after @cursor for @p, inside the caller's
 * transaction (engine_pull.c): changes, drops and purges added to @resp, its cursor and `more`
 * set, and the page's cursor as a number in *ret_cursor. Field versions numbered after
 * @pushed_after by @p's device are this request's own and not sent back. @redecide (1, or 2 for
 * a user who was a coordinator) re-decides the device's replica after a role change. 0 or a
 * negative errno (the caller rolls back).
 */
int engine_pull(const struct engine *e, const struct store_principal *p, uint64_t cursor,
                uint64_t pushed_after, int redecide, struct proto_sync_reply *resp,
                uint64_t *ret_cursor);

/* What a sync's pull keeps between its page and the end of the request. */
struct engine_pull_state {
    struct pull_device dev; /* the device's pull state, as it will be written */
    bool dirty;
    int redecide;
    uint64_t given;         /* the page's cursor */
};

/*
 * engine_sync_pull() - a sync's pull after its push, from the device's @cursor (as sent; @cur its
 * sequence number, 0 after a rewind): whether it re-decides the replica after a role change, the
 * closed records' sweep, the page (engine_pull()), and "reread" when a re-decision starts.
 * engine_sync_pull_end() - after the reply's cursor is sealed: record what the device was given
 * (the given cursor, the re-decision's progress), committed with the reply. 0 or -errno.
 */
int engine_sync_pull(const struct engine *e, const struct store_principal *p, const char *cursor,
                     uint64_t cur, uint64_t pushed_after, struct proto_sync_reply *resp,
                     struct engine_pull_state *st);
int engine_sync_pull_end(const struct engine *e, const struct store_principal *p,
                         const struct proto_sync_reply *resp, struct engine_pull_state *st);
/*
 * engine_sync_pull() in parts, for a page read apart from the push's transaction (a reader's
 * snapshot once the push has committed): engine_sync_pull_begin() inside the write transaction
 * (the device's pull state and the re-decision rule, which may set *@cur to 0);
 * engine_sync_pull_sweep() the closed records' sweep: with @write it marks them (0 or -errno),
 * without it only asks whether any are due (1: the sweep and the page must run in a write
 * transaction; 0: none, the page may be read from a snapshot); engine_sync_pull_page() the
 * page, which only reads.
 */
int engine_sync_pull_begin(const struct engine *e, const struct store_principal *p,
                           const char *cursor, uint64_t *cur, struct engine_pull_state *st);
int engine_sync_pull_sweep(const struct engine *e, bool write);
int engine_sync_pull_page(const struct engine *e, const struct store_principal *p, uint64_t cur,
                          uint64_t pushed_after, struct proto_sync_reply *resp,
                          struct engine_pull_state *st);

/* ---- the merge (engine_merge.c) ---- */

/* The merge's reads and writes of a row: from and to the push's snapshot (b->snap) when it
 * loaded the row (the batch's own earlier writes included), else the backend's per-change
 * operations of the same names. */
int engine_field_current(struct backend *b, const char *tbl, const char *row_id,
                         const char *field, struct field_cur *ret);
int engine_base_issued(struct backend *b, const struct applying *a);
int engine_journal(struct backend *b, const struct applying *a, const char *outcome);
/* In a push the writes (journal, field state, conflicts, audit) are kept in the snapshot and
 * written by one push_write(): engine_flush() writes what is pending (before any read the
 * snapshot cannot answer, and at the end of the batch). */
int engine_audit(struct backend *b, const struct applying *a, const char *outcome,
                 const char *before);
int engine_flush(struct backend *b);

/* engine_conflict() - log @loser_change_id as lost to @winner_change_id (backend conflict_add());
 * when logged, count it in b->conflicts_logged and mark @a a conflict's loser if it is @a. */
int engine_conflict(struct backend *b, const char *kind, struct applying *a,
                    const char *loser_change_id, const char *winner_change_id, const char *field);

/*
 * engine_apply_change() - merge one in-scope change (journal, field state, conflict rules).
 * *ret_applied says whether it became the field's value. When @ret_cur is not NULL it receives
 * the field's version after the merge if the change lost (free it with store_field_cur_done()).
 * A domain rule may give the change a fresh server clock (a->hlc is updated).
 */
int engine_apply_change(struct backend *b, struct applying *a, bool *ret_applied,
                        struct field_cur *ret_cur);
/*
 * engine_server_version() - write @value into the field of @a as a new version made by the
 * server on behalf of @writer_device (a fresh clock, based on @a's version, so every device
 * converges on it by the plain rule), without merging. @sent_hlc is the version it replaces as
 * that writer sent it. The new change's id goes to @ret_change_id and its clock to *ret_hlc.
 */
int engine_server_version(struct backend *b, const struct applying *a, const char *value,
                          const char *writer_device, uint64_t sent_hlc, const char *before,
                          char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc);
/* engine_write_field() - a server-side write (admin, resolution, registration): a fresh clock,
 * based on the current version (for a delete, the row's newest): a sequential overwrite. */
int engine_write_field(struct backend *b, const char *device, int64_t user_id, const char *tbl,
                       const char *row_id, const char *person_id, const char *field,
                       const char *value, char ret_change_id[static UUID_STR_MAX]);
