/* SPDX-License-Identifier: MIT */
/*
 * engine_push.c - the rules of a push (POST /v1/sync's "changes"), written once over the
 * storage backend (backend.h): the batch is read in one push_load(), authorised whole against
 * the writer's role before anything is written, then merged change by change.
 * docs/internals/merge.md, access.md, backend.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "engine.h"
#include "hlc.h"
#include "merge.h"

/* ---- refusals ---- */

int engine_refused(struct store_error *err, const char *code, long index, int r,
                   const char *fmt, ...)
{
    va_list ap;

    err->err = r;
    err->code = code;
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return r;
}

int engine_failure(struct store_error *err, int r)
{
    if (r == -EBUSY)
        return engine_refused(err, "busy", -1, r,
                              "the store is busy; nothing was written, retry in a few seconds");
    /* A PostgreSQL store: the database unreachable (the transaction is gone with the
     * connection), or this transaction chosen to fail (a deadlock, a serialization failure):
     * nothing was written, and the device's retry is safe (change ids deduplicate). */
    if (r == -ENOTCONN || r == -EAGAIN)
        return engine_refused(err, "busy", -1, r,
                              "the store's database is unavailable; nothing was written, retry "
                              "in a few seconds");
    if (r == -ENOSPC)
        return engine_refused(err, "storage_full", -1, r, "%s", STORE_FULL_MESSAGE);
    return engine_refused(err, "internal_error", -1, r,
                          "the server could not complete the request; nothing was written, "
                          "retry later");
}

/* ---- one push ---- */

struct push {
    const struct engine *e;
    struct backend *b;
    const struct store_principal *p;
    struct push_snapshot snap;
    /* The row the batch last created (no history but the batch's own). */
    const struct cat_table *new_row_tbl;
    char new_row_id[UUID_STR_MAX];
    char new_row_person[UUID_STR_MAX];
};

/* 1 when the principal may read and write the person now, 0, or -errno. */
static int in_scope(struct push *x, const char *person_id)
{
    const struct backend_person *bp = backend_snapshot_person(&x->snap, person_id);

    if (!bp)
        return -EIO; /* push_load() reads every person the batch names */
    if (store_role_is_coordinator(x->p->role))
        return bp->exists;
    return bp->assigned && !bp->denied;
}

/* The batch changed who may write the person: read the person's facts again. */
static int scope_forget(struct push *x, const char *person_id)
{
    struct backend_person *bp = backend_snapshot_person(&x->snap, person_id);
    int r;

    if (!bp)
        return 0;
    r = engine_flush(x->b);
    return r < 0 ? r : x->b->ops->person_reload(x->b, x->p, bp);
}

/* Add one element of "outcomes" to the reply. @current is only read for "lost". */
static int outcome_obj(struct proto_sync_reply *outcomes, const char *change_id,
                       const char *outcome, uint64_t hlc, bool clamped, bool conflict,
                       const struct field_cur *current)
{
    struct proto_outcome o = {.hlc = hlc, .clamped = clamped, .conflict = conflict};

    copy_text(o.change_id, sizeof(o.change_id), change_id);
    copy_text(o.outcome, sizeof(o.outcome), outcome);
    if (current && current->exists && streq(outcome, "lost")) {
        o.has_current = true;
        o.current_value = current->value;
        o.current_hlc = current->hlc;
        copy_text(o.current_device, sizeof(o.current_device), current->device);
    }
    return proto_sync_reply_add_outcome(outcomes, &o);
}

static bool same_value(const char *a, const char *b)
{
    if (!a || !b)
        return !a && !b;
    return streq(a, b);
}

/*
 * 1 when the principal may read field @f of row @row_id of person @person_id now (on the
 * caseload, the field and the row visible to the role), 0 when not, or -errno: an outcome never
 * carries a value its device could not pull.
 */
static int may_read(struct push *x, const struct cat_table *t, const struct cat_field *f,
                    const char *row_id, const char *person_id)
{
    int r = in_scope(x, person_id);

    if (r <= 0)
        return r;
    if (!access_field_visible(x->p->role, t, f))
        return 0;
    r = engine_flush(x->b);
    return r < 0 ? r : x->b->ops->row_visible(x->b, x->p, t, row_id, person_id);
}

/*
 * A change id seen before (@seen, as stored): 1 with the stored outcome added (same content), or
 * a negative errno (-EEXIST: same id, different content).
 */
static int replayed(struct push *x, const struct change_record *c, const struct backend_seen *seen,
                    struct proto_sync_reply *outcomes)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    const struct cat_table *t;
    bool same;
    int r = 0;

    same = streq(seen->device, x->p->device_id) && streq(seen->tbl, c->table->name) &&
           streq(seen->row_id, c->row_id) && streq(seen->field, c->field->name) &&
           same_value(seen->value, c->value) && seen->sent_hlc == c->hlc &&
           seen->sent_base_hlc == c->base_hlc && streq(seen->sent_base_device, c->base_device) &&
           seen->has_person && streq(seen->person_id, c->person_id);
    if (!same)
        return -EEXIST;
    t = c->table; /* the same table and field as stored */
    if (streq(seen->outcome, "lost"))
        r = may_read(x, t, c->field, seen->row_id, c->person_id);
    if (r > 0)
        r = engine_field_current(x->b, seen->tbl, seen->row_id, seen->field, &cur);
    if (r < 0)
        return r;
    r = outcome_obj(outcomes, c->change_id, seen->outcome, seen->hlc, seen->hlc != c->hlc,
                    seen->conflict, &cur);
    return r < 0 ? r : 1;
}

/*
 * A worker registering a person met in the field: the first change to a person row that does not
 * exist yet creates that person with status "referred" (for a coordinator to review) on the
 * worker's caseload, so the worker keeps what they record. Returns 1 when it did, 0 otherwise.
 */
static int register_person(struct push *x, const struct change_record *c)
{
    const struct backend_person *bp;
    char cid[UUID_STR_MAX];
    int r;

    if (!streq(c->table->name, "person"))
        return 0;
    bp = backend_snapshot_person(&x->snap, c->person_id);
    if (!bp)
        return -EIO;
    if (bp->exists)
        return 0;
    r = engine_flush(x->b);
    if (r >= 0)
        r = x->b->ops->register_person(x->b, x->p, c->person_id);
    if (r >= 0)
        r = engine_write_field(x->b, x->e->node_id, 0, "person", c->person_id, c->person_id,
                               "status", "referred", cid);
    return r < 0 ? r : 1;
}

bool store_window_open(uint64_t received_ms, uint64_t end_ms, uint64_t grace_ms)
{
    return received_ms < end_ms + grace_ms;
}

/*
 * Windows that depend on time (docs/internals/access.md): a change for a person who has left
 * the principal's scope is still applied when the server itself can tell it was made before the
 * device knew. Two facts the server observed decide, never a clock the device chose:
 *  - the server receives it no later than the handover grace after the scope ended (the end of
 *    the assignment, or when the server received the consent deny), and
 *  - no reply the server committed for this device had yet carried the end (its cursor was not
 *    past the end's sequence number): once told, the device's later edits are out of scope.
 * Returns 1 inside the window, 0 outside, or -errno.
 */
static int in_window(struct push *x, const char *person_id)
{
    const struct backend_person *bp = backend_snapshot_person(&x->snap, person_id);
    uint64_t end_ms, end_seq;

    if (!bp)
        return -EIO;
    if (!bp->had_assignment)
        return 0; /* never on the caseload */
    if (bp->assigned) {
        /* Still assigned: out of scope only by a consent deny of the worker's sector. */
        if (!bp->deny_found)
            return 0;
        end_ms = bp->deny_ms;
        end_seq = bp->deny_seq;
    } else {
        end_ms = bp->end_ms;
        end_seq = bp->end_seq;
    }
    return store_window_open(hlc_wall_ms(), end_ms, x->e->grace_ms) &&
           x->snap.given_cursor < end_seq;
}

/* A time field that says when something was written or happened, which cannot be later than the
 * server receives it: recorded_at anywhere, occurred_at of append-only records. */
static bool record_time_field(const struct cat_field *f)
{
    return f->type == CAT_DATETIME &&
           (streq(f->name, "recorded_at") || (streq(f->name, "occurred_at") && f->kind == CAT_A));
}

/*
 * A record's time ahead of the server (docs/internals/hlc.md, "Times inside records"): a time
 * in a record_time_field() later than the server's receipt plus the far-future bound (plus 14
 * hours for a time with no zone) is corrected to the receipt time, by a new version written by
 * the server, and the device's value is kept in the conflict log as clock_corrected. Returns 0
 * or -errno.
 */
static int correct_record_time(struct push *x, struct applying *a)
{
    char now_iso[ISO_TIME_MAX], cid[UUID_STR_MAX];
    uint64_t now = hlc_wall_ms(), bound, hlc;
    int64_t at;
    bool zoned;
    int r;

    if (!a->value || !record_time_field(a->field) || iso_time_parse(a->value, &at, &zoned) < 0)
        return 0;
    bound = now + x->e->max_forward_ms + (zoned ? 0 : 14 * 3600 * UINT64_C(1000));
    if (at <= 0 || (uint64_t)at <= bound)
        return 0;
    r = engine_server_version(x->b, a, iso_time(now, now_iso), x->e->node_id, a->hlc, a->value,
                              cid, &hlc);
    if (r >= 0)
        r = engine_conflict(x->b, "clock_corrected", a, a->change_id, cid, a->field->name);
    return r;
}

/* Not applied, not dropped: journaled and put before a coordinator. */
static int push_out_of_scope(struct push *x, struct applying *a, bool clamped,
                             struct proto_sync_reply *outcomes)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    int r;

    r = engine_field_current(x->b, a->tbl, a->row_id, a->field->name, &cur);
    if (r >= 0)
        r = engine_journal(x->b, a, "out_of_scope");
    if (r >= 0)
        r = engine_audit(x->b, a, "out_of_scope", cur.value);
    if (r >= 0)
        r = engine_conflict(x->b, "out_of_scope", a, a->change_id,
                            cur.exists ? cur.change_id : NULL, a->field->name);
    if (r >= 0)
        r = outcome_obj(outcomes, a->change_id, "out_of_scope", a->hlc, clamped, true, NULL);
    return r;
}

/* The row's owner: 1 with @a's row known (its owner in *ret_owner), 0 for a row new to the
 * store and to this batch (it becomes @a's person's). */
static int row_owner(struct push *x, const struct change_record *c, const char **ret_owner)
{
    struct backend_row *row = backend_snapshot_row(&x->snap, c->table, c->row_id);

    if (!row)
        return -EIO; /* push_load() reads every row the batch names */
    if (row->exists) {
        *ret_owner = row->person_id;
        return 1;
    }
    return 0;
}

/* The row now exists (an in-scope change reached the merge), owned by @a's person. */
static void row_written(struct push *x, const struct change_record *c)
{
    struct backend_row *row = backend_snapshot_row(&x->snap, c->table, c->row_id);

    if (row && !row->exists) {
        row->exists = true;
        copy_text(row->person_id, sizeof(row->person_id), c->person_id);
    }
}

static int push_one(struct push *x, const struct change_record *c, size_t i,
                    struct proto_sync_reply *outcomes, struct store_error *err)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    const struct store_principal *p = x->p;
    struct applying a = {0};
    const char *owner;
    long index = (long)i;
    uint64_t wall = hlc_wall_ms();
    bool clamped = false, applied = false, is_in_scope;
    int r;

    if (x->snap.seen[i].seen) {
        r = replayed(x, c, &x->snap.seen[i], outcomes);
        if (r == -EEXIST)
            return engine_refused(err, "change_id_reused", index, r,
                                  "change %s was already stored with different content; give "
                                  "every change a new id",
                                  c->change_id);
        return r < 0 ? engine_failure(err, r) : 0;
    }

    a.change_id = c->change_id;
    a.tbl = c->table->name;
    a.field = c->field;
    a.row_id = c->row_id;
    a.person_id = c->person_id;
    a.value = c->value;
    a.sent_hlc = c->hlc;
    a.device = p->device_id;
    a.user_id = p->user_id;
    a.base_hlc = c->base_hlc;
    a.base_device = c->base_device;
    /* Far-future rule (docs/internals/hlc.md): restamp instead of letting a wrong clock win. */
    if (hlc_plausible(c->hlc, wall, x->e->max_forward_ms)) {
        a.hlc = c->hlc;
        hlc_recv(x->b->hlc, c->hlc, wall);
    } else {
        a.hlc = hlc_tick(x->b->hlc, hlc_wall_ms());
        clamped = true;
    }

    if (c->field->kind == CAT_S)
        return engine_refused(err, "forbidden", index, -EPERM,
                              "%s.%s is set centrally and cannot be changed from a device; ask "
                              "a coordinator",
                              a.tbl, a.field->name);
    if (c->table->singleton && !streq(c->row_id, c->person_id))
        return engine_refused(err, "invalid_value", index, -EINVAL,
                              "a %s row's id must be its person's id", a.tbl);

    r = register_person(x, c);
    if (r > 0)
        r = scope_forget(x, c->person_id);
    if (r < 0)
        return engine_failure(err, r);
    r = in_scope(x, c->person_id);
    is_in_scope = r > 0;
    if (r == 0)
        r = in_window(x, c->person_id);
    if (r < 0)
        return engine_failure(err, r);
    if (r == 0) {
        r = push_out_of_scope(x, &a, clamped, outcomes);
        return r < 0 ? engine_failure(err, r) : 0;
    }

    /* A row this batch created has no history but this batch's own: its fields need no
     * conflict search until it is deleted (rows arrive field after field). */
    if (x->new_row_tbl == c->table && streq(x->new_row_id, a.row_id)) {
        if (!streq(x->new_row_person, a.person_id))
            return engine_refused(err, "row_owner_mismatch", index, -EINVAL,
                                  "row %s was given to two people in this batch; a row belongs "
                                  "to one person",
                                  a.row_id);
        a.new_row = true;
    } else {
        r = row_owner(x, c, &owner);
        if (r < 0)
            return engine_failure(err, r);
        if (r > 0 && !streq(owner, a.person_id))
            return engine_refused(err, "row_owner_mismatch", index, -EINVAL,
                                  "row %s belongs to another person; a row cannot move between "
                                  "people",
                                  a.row_id);
        a.new_row = r == 0;
        x->new_row_tbl = a.new_row ? c->table : NULL;
        copy_text(x->new_row_id, sizeof(x->new_row_id), a.row_id);
        copy_text(x->new_row_person, sizeof(x->new_row_person), a.person_id);
    }
    if (streq(a.field->name, CAT_DELETED_FIELD)) {
        a.new_row = false; /* a delete is checked against the row's edits as usual */
        x->new_row_tbl = NULL;
    }
    if (!a.new_row) {
        r = engine_base_issued(x->b, &a);
        if (r < 0)
            return engine_failure(err, r);
        if (r == 0) {
            a.base_untrusted = true;
            a.sent_base_hlc = a.base_hlc;
            a.sent_base_device = a.base_device;
            a.base_hlc = 0;
            a.base_device = "";
        }
    }

    r = engine_apply_change(x->b, &a, &applied, &cur);
    if (r >= 0)
        row_written(x, c);
    if (r >= 0 && applied)
        r = correct_record_time(x, &a);
    if (r >= 0 && streq(a.tbl, "consent"))
        r = scope_forget(x, a.person_id); /* a consent decision can move the person */
    /* A lost change's outcome shows the winning version only when the device may read it. */
    if (r >= 0 && !applied && cur.exists) {
        r = is_in_scope ? may_read(x, c->table, c->field, a.row_id, a.person_id) : 0;
        if (r == 0)
            store_field_cur_done(&cur);
    }
    if (r >= 0)
        r = outcome_obj(outcomes, a.change_id, applied ? "applied" : "lost", a.hlc,
                        clamped || a.hlc != c->hlc, a.conflict, &cur);
    return r < 0 ? engine_failure(err, r) : 0;
}

/* ---- write authorisation ---- */

struct batch_overlay {
    const struct change_record *changes;
    size_t n;
    const char *tbl, *row_id;
};

/* The batch's own latest value for a field of the row being checked. */
static bool batch_value(void *ctx, const char *field, const char **ret)
{
    const struct batch_overlay *o = ctx;

    for (size_t i = o->n; i-- > 0;) {
        const struct change_record *c = &o->changes[i];

        if (streq(c->table->name, o->tbl) && streq(c->row_id, o->row_id) &&
            streq(c->field->name, field)) {
            *ret = c->value;
            return true;
        }
    }
    return false;
}

static int change_id_cmp(const void *a, const void *b)
{
    const struct change_record *const *x = a, *const *y = b;

    return strcmp((*x)->change_id, (*y)->change_id);
}

/* The index of the second change of the batch that repeats a change id, or -1 (-ENOMEM). */
static long repeated_change_id(const struct change_record *changes, size_t n)
{
    _cleanup_free_ const struct change_record **v = NULL;
    long at = -1;

    if (n < 2)
        return -1;
    v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = &changes[i];
    qsort(v, n, sizeof(*v), change_id_cmp);
    for (size_t i = 1; i < n; i++)
        if (streq(v[i]->change_id, v[i - 1]->change_id)) {
            long j = (long)(v[i] > v[i - 1] ? v[i] - changes : v[i - 1] - changes);

            if (at < 0 || j < at)
                at = j;
        }
    return at;
}

/* 1 when the batch registers person @person_id (a change to its own person row) and the person
 * does not exist yet, 0, or -errno. */
static int registers(struct push *x, const struct change_record *changes, size_t n,
                     const char *person_id)
{
    for (size_t i = 0; i < n; i++)
        if (streq(changes[i].table->name, "person") &&
            streq(changes[i].row_id, person_id) && streq(changes[i].person_id, person_id)) {
            const struct backend_person *bp = backend_snapshot_person(&x->snap, person_id);

            return bp ? !bp->exists : -EIO;
        }
    return 0;
}

static bool same_row(const struct change_record *a, const struct change_record *b)
{
    return a->table == b->table && streq(a->row_id, b->row_id);
}

/*
 * Authorship (docs/internals/access.md): the author field of a row is the writer's own name,
 * given when the row is created and never changed. NULL when @c is fine, else why not.
 */
static const char *authorship(const struct store_principal *p, const struct change_record *changes,
                              size_t n, size_t at, const struct store_row *stored)
{
    const struct change_record *c = &changes[at];
    const char *field = access_author_field(c->table);
    bool given = false;
    size_t lo = at, hi = at;

    if (!field)
        return NULL;
    if (streq(c->field->name, field)) {
        if (!c->value || !streq(c->value, p->user))
            return "a record's author must be the user writing it";
        for (size_t i = 0; i < stored->n; i++)
            if (streq(stored->names[i], field) && stored->values[i] &&
                !streq(stored->values[i], c->value))
                return "a record's author is fixed when it is written";
        return NULL;
    }
    if (stored->n > 0)
        return NULL; /* an existing row: its author was checked when it was written */
    /* A row's fields come together: look in the run of the row first, then everywhere. */
    while (lo > 0 && same_row(&changes[lo - 1], c))
        lo--;
    while (hi + 1 < n && same_row(&changes[hi + 1], c))
        hi++;
    for (size_t i = lo; i <= hi && !given; i++)
        given = streq(changes[i].field->name, field);
    for (size_t i = 0; i < n && !given; i++)
        given = same_row(&changes[i], c) && streq(changes[i].field->name, field);
    return given ? NULL : "a new record must name its author, the user writing it";
}

/*
 * Re-authorise every new change of a batch against the writer's role before anything is written
 * (object-level authorisation: ids in the request are never trusted; the rows are as the store
 * holds them, with the batch's own values for rows it creates). Every change that could be
 * applied is checked the same way, whatever rule lets it in (the caseload, a person registered
 * in this batch, the handover grace, the consent window), and a change for a person who does not
 * exist or was never on the writer's caseload is refused. One refused change refuses the whole
 * batch.
 */
static int authorise_batch(struct push *x, const struct change_record *changes, size_t n,
                           struct store_error *err)
{
    const struct store_principal *p = x->p;
    long dup = repeated_change_id(changes, n);

    if (dup == -ENOMEM)
        return engine_failure(err, -ENOMEM);
    if (dup >= 0)
        return engine_refused(err, "duplicate_change_id", dup, -EINVAL,
                              "change %s appears twice in this batch; give every change a new "
                              "id",
                              changes[dup].change_id);
    for (size_t i = 0; i < n; i++) {
        const struct change_record *c = &changes[i];
        struct batch_overlay o = {changes, n, c->table->name, c->row_id};
        struct backend_row *row;
        struct access_row ar;
        const char *why = NULL;
        int r;

        if (x->snap.seen[i].seen)
            continue; /* a replay: authorised when first applied */
        if (c->field->kind == CAT_S)
            continue; /* refused with its own message by push_one */
        /* Whose person: on the caseload, registered by this batch, or once on it. */
        r = in_scope(x, c->person_id);
        if (r == 0)
            r = registers(x, changes, n, c->person_id);
        if (r == 0 && !store_role_is_coordinator(p->role)) {
            const struct backend_person *bp = backend_snapshot_person(&x->snap, c->person_id);

            r = bp ? bp->ever_assigned : -EIO;
        }
        if (r < 0)
            return engine_failure(err, r);
        if (r == 0)
            return engine_refused(err, "not_on_caseload", (long)i, -EPERM,
                                  "person %s is not on your caseload and never was; nothing in "
                                  "this batch was written",
                                  c->person_id);
        row = backend_snapshot_row(&x->snap, c->table, c->row_id);
        if (!row)
            return engine_failure(err, -EIO);
        row->fields.overlay = NULL;
        why = authorship(p, changes, n, i, &row->fields);
        if (!why) {
            row->fields.overlay = batch_value;
            row->fields.overlay_ctx = &o;
            ar = (struct access_row){store_row_get, &row->fields};
            r = access_may_write(p->role, p->user, c->table, c->field, &ar,
                                 row->fields.n == 0, &why);
            row->fields.overlay = NULL;
            if (r)
                continue;
        }
        return engine_refused(err, "forbidden", (long)i, -EPERM,
                              "a %s may not write %s.%s here: %s; nothing in this batch was "
                              "written",
                              p->role, c->table->name, c->field->name, why);
    }
    return 0;
}

/*
 * A device may have at most max_device_conflicts values of its own waiting in the conflict log
 * (open entries whose losing change it sent): a batch that logs past that is refused with
 * too_many_conflicts, so that no device can flood the store and the coordinators' inbox.
 */
static int conflict_quota(struct push *x, struct store_error *err)
{
    uint64_t open = 0;
    int r = engine_flush(x->b);

    if (r >= 0)
        r = x->b->ops->device_open_conflicts(x->b, x->p->device_id, &open);

    if (r < 0)
        return engine_failure(err, r);
    if (open <= x->e->max_device_conflicts)
        return 0;
    return engine_refused(err, "too_many_conflicts", -1, -EDQUOT,
                          "this device has more than %" PRIu64 " values waiting for a "
                          "coordinator in the conflict log; nothing in this batch was written: "
                          "ask a coordinator to review them, then sync again",
                          x->e->max_device_conflicts);
}

int engine_push(const struct engine *e, const struct store_principal *p,
                const struct change_record *changes, size_t n, struct proto_sync_reply *outcomes,
                int64_t pending, const char *client_version, struct store_error *err)
{
    struct push x = {.e = e, .b = e->b, .p = p};
    const struct backend_ops *ops = e->b->ops;
    int r;

    r = ops->push_load(x.b, p, changes, n, &x.snap);
    if (r < 0) {
        r = engine_failure(err, r);
        goto out;
    }
    x.b->snap = &x.snap;
    x.b->conflicts_logged = 0;
    ops->audit_begin(x.b);
    r = authorise_batch(&x, changes, n, err);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = push_one(&x, &changes[i], i, outcomes, err);
    if (r >= 0 && x.b->conflicts_logged)
        r = conflict_quota(&x, err);
    if (r >= 0) {
        r = engine_flush(x.b);
        if (r >= 0)
            r = ops->audit_flush(x.b);
        if (r < 0)
            r = engine_failure(err, r);
    } else {
        ops->audit_drop(x.b);
    }
    if (r >= 0) {
        r = ops->device_synced(x.b, p, pending, client_version);
        if (r < 0)
            r = engine_failure(err, r);
    }
out:
    x.b->snap = NULL;
    backend_push_snapshot_done(&x.snap);
    return r;
}
