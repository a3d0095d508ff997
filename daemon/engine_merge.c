/* SPDX-License-Identifier: MIT */
/*
 * engine_merge.c - the merge of one change, written once over the storage backend: last writer
 * wins by version, the domain rules that override it (append-only fields, missed vs completed
 * visits, a device's next edit after a re-stamp), and the conflict log's pairwise rules against
 * the stored history (common/merge.h). docs/internals/merge.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hlc.h"
#include "merge.h"

void store_field_cur_done(struct field_cur *c)
{
    free(c->value);
    c->value = NULL;
    c->exists = false;
}

void backend_history_free(struct backend_journal_entry *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].value);
    free(h);
}

/* ---- the merge's reads and writes: over the push's snapshot where it loaded the row ---- */

/* The snapshot row of (@tbl, @row_id) when the push in progress loaded it, else NULL. */
static struct backend_row *view_row(struct backend *b, const char *tbl, const char *row_id)
{
    struct backend_row *row;

    if (!b->snap)
        return NULL;
    row = backend_snapshot_row_named(b->snap, tbl, row_id);
    return row && row->loaded ? row : NULL;
}

static bool hist_counts(const struct backend_journal_entry *e)
{
    return streq(e->outcome, "applied") || streq(e->outcome, "lost");
}

static int hist_copy(const struct backend_journal_entry *e, struct backend_journal_entry **h,
                     size_t *n, size_t *cap)
{
    struct backend_journal_entry *d;

    if (array_grow((void **)h, cap, *n, sizeof(**h), 8) < 0)
        return -ENOMEM;
    d = &(*h)[*n];
    *d = *e;
    d->value = NULL;
    if (e->value && !(d->value = strdup(e->value)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

/* A new pending write of the push for @a (NULL: out of memory). */
static struct backend_write *write_new(struct backend *b, enum backend_write_kind kind,
                                       const struct applying *a)
{
    struct push_snapshot *snap = b->snap;
    struct backend_write *w;

    if (array_grow((void **)&snap->writes, &snap->cap_writes, snap->n_writes,
                   sizeof(*snap->writes), 64) < 0)
        return NULL;
    w = &snap->writes[snap->n_writes];
    *w = (struct backend_write){.kind = kind, .a = *a};
    w->a.change_id = w->a.tbl = w->a.row_id = w->a.person_id = w->a.value = NULL;
    w->a.device = w->a.base_device = w->a.sent_base_device = NULL;
    if (a->value && !(w->value = strdup(a->value)))
        return NULL;
    copy_text(w->change_id, sizeof(w->change_id), a->change_id);
    copy_text(w->tbl, sizeof(w->tbl), a->tbl);
    copy_text(w->row_id, sizeof(w->row_id), a->row_id);
    copy_text(w->device, sizeof(w->device), a->device);
    w->has_person = a->person_id != NULL;
    copy_text(w->person_id, sizeof(w->person_id), a->person_id);
    w->has_base_device = a->base_device != NULL;
    copy_text(w->base_device, sizeof(w->base_device), a->base_device);
    w->has_sent_base_device = a->sent_base_device != NULL;
    copy_text(w->sent_base_device, sizeof(w->sent_base_device), a->sent_base_device);
    snap->n_writes++;
    return w;
}

int engine_flush(struct backend *b)
{
    int r;

    if (!b->snap || !b->snap->n_writes)
        return 0;
    r = b->ops->push_write(b, b->snap->writes, b->snap->n_writes);
    backend_push_writes_done(b->snap);
    return r;
}

int engine_field_current(struct backend *b, const char *tbl, const char *row_id,
                         const char *field, struct field_cur *ret)
{
    struct backend_row *row = view_row(b, tbl, row_id);
    const struct field_cur *c;

    if (!row) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->field_current(b, tbl, row_id, field, ret);
    }
    memset(ret, 0, sizeof(*ret));
    c = backend_row_version(row, field);
    if (!c)
        return 0;
    *ret = *c;
    ret->value = NULL;
    if (c->value && !(ret->value = strdup(c->value)))
        return -ENOMEM;
    return 0;
}

int engine_base_issued(struct backend *b, const struct applying *a)
{
    struct backend_row *row = view_row(b, a->tbl, a->row_id);
    const char *dev = a->base_device ? a->base_device : "";

    if (!row) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->base_issued(b, a);
    }
    if (!a->base_hlc && !*dev)
        return 1; /* no base: the write saw nothing, which proves nothing */
    for (size_t i = 0; i < row->n_journal; i++) {
        const struct backend_journal_entry *e = &row->journal[i];

        if ((streq(e->field, a->field->name) || streq(a->field->name, CAT_DELETED_FIELD)) &&
            streq(e->device, dev) && (e->hlc == a->base_hlc || e->sent_hlc == a->base_hlc))
            return 1;
    }
    /* Not in the journal as loaded: it may be below its bound (a version re-stamped from an
     * older clock). The batch's own entries are all in the snapshot, so the store's answer
     * for the rest completes it. */
    return row->journal_from ? b->ops->base_issued(b, a) : 0;
}

int engine_journal(struct backend *b, const struct applying *a, const char *outcome)
{
    struct backend_row *row = view_row(b, a->tbl, a->row_id);
    struct backend_journal_entry e = {0};
    struct backend_write *w;

    if (!b->snap)
        return b->ops->journal(b, a, outcome);
    w = write_new(b, BACKEND_WRITE_JOURNAL, a);
    if (!w)
        return -ENOMEM;
    copy_text(w->outcome, sizeof(w->outcome), outcome);
    if (!row)
        return 0;
    copy_text(e.change_id, sizeof(e.change_id), a->change_id);
    copy_text(e.device, sizeof(e.device), a->device);
    copy_text(e.base_device, sizeof(e.base_device), a->base_device);
    copy_text(e.field, sizeof(e.field), a->field->name);
    copy_text(e.outcome, sizeof(e.outcome), outcome);
    e.hlc = a->hlc;
    e.sent_hlc = a->sent_hlc;
    e.base_hlc = a->base_hlc;
    return backend_row_journal_add(row, &e, a->value);
}

/* Make @a the field's current version, numbered next in the store's sequence. */
static int field_put(struct backend *b, const struct applying *a)
{
    struct backend_row *row = view_row(b, a->tbl, a->row_id);
    struct backend_write *w;

    if (!b->snap)
        return b->ops->field_put(b, a, ++*b->seq);
    w = write_new(b, BACKEND_WRITE_FIELD, a);
    if (!w)
        return -ENOMEM;
    w->seq = ++*b->seq;
    if (!row)
        return 0;
    return backend_row_put(row, a->field->name, a->value, a->hlc, a->device, a->change_id);
}

/* The applied and lost entries of @row: of @field from @from_hlc on (@field NULL: of every field
 * but _deleted), and with @tombstones every tombstone entry. */
static int view_history(const struct backend_row *row, const char *field, uint64_t from_hlc,
                        bool tombstones, struct backend_journal_entry **ret, size_t *ret_n)
{
    struct backend_journal_entry *h = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    for (size_t i = 0; r >= 0 && i < row->n_journal; i++) {
        const struct backend_journal_entry *e = &row->journal[i];
        bool want = field ? streq(e->field, field) : !e->tombstone;

        if (!hist_counts(e))
            continue;
        if ((want && e->hlc >= from_hlc) || (tombstones && e->tombstone))
            r = hist_copy(e, &h, &n, &cap);
    }
    if (r < 0) {
        backend_history_free(h, n);
        return r;
    }
    *ret = h;
    *ret_n = n;
    return 0;
}

static int field_history(struct backend *b, const char *tbl, const char *row_id,
                         const char *field, uint64_t from_hlc,
                         struct backend_journal_entry **ret, size_t *ret_n)
{
    struct backend_row *row = view_row(b, tbl, row_id);

    if (!row || from_hlc < row->journal_from) {
        /* Not loaded, or older than the journal's bound: the store's, with the batch's
         * writes so far written first. */
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->field_history(b, tbl, row_id, field, from_hlc, ret, ret_n);
    }
    return view_history(row, field, from_hlc, !streq(field, CAT_DELETED_FIELD), ret, ret_n);
}

static int row_edits(struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                     struct backend_journal_entry **ret, size_t *ret_n)
{
    struct backend_row *row = view_row(b, tbl, row_id);

    if (!row || from_hlc < row->journal_from) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->row_edits(b, tbl, row_id, from_hlc, ret, ret_n);
    }
    return view_history(row, NULL, from_hlc, false, ret, ret_n);
}

static int restored_after(struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                          const char *device)
{
    struct backend_row *row = view_row(b, tbl, row_id);

    if (!row) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->restored_after(b, tbl, row_id, hlc, device);
    }
    for (size_t i = 0; i < row->n_journal; i++) {
        const struct backend_journal_entry *e = &row->journal[i];

        if (hist_counts(e) && e->tombstone && e->value && streq(e->value, "0") &&
            hlc_version_cmp(e->hlc, e->device, hlc, device) > 0)
            return 1;
    }
    return 0;
}

/* The clocks of the change behind the current version @cur of a field of (@tbl, @row_id). */
static int journal_clocks(struct backend *b, const char *tbl, const char *row_id,
                          const char *change_id, uint64_t *ret_hlc, uint64_t *ret_sent_hlc)
{
    struct backend_row *row = view_row(b, tbl, row_id);

    if (!row) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->journal_clocks(b, change_id, ret_hlc, ret_sent_hlc);
    }
    for (size_t i = 0; i < row->n_journal; i++)
        if (streq(row->journal[i].change_id, change_id)) {
            *ret_hlc = row->journal[i].hlc;
            *ret_sent_hlc = row->journal[i].sent_hlc;
            return 1;
        }
    /* Below the journal's bound (the batch's own entries are all in the snapshot). */
    return row->journal_from ? b->ops->journal_clocks(b, change_id, ret_hlc, ret_sent_hlc) : 0;
}

static int row_newest(struct backend *b, const char *tbl, const char *row_id,
                      struct field_cur *ret)
{
    struct backend_row *row = view_row(b, tbl, row_id);

    if (!row) {
        int r = engine_flush(b);

        return r < 0 ? r : b->ops->row_newest(b, tbl, row_id, ret);
    }
    store_field_cur_done(ret);
    for (size_t i = 0; i < row->n_versions; i++) {
        const struct field_cur *c = &row->versions[i].cur;

        if (!ret->exists || hlc_version_cmp(c->hlc, c->device, ret->hlc, ret->device) > 0) {
            ret->exists = true;
            ret->hlc = c->hlc;
            copy_text(ret->device, sizeof(ret->device), c->device);
        }
    }
    return 0;
}

int engine_audit(struct backend *b, const struct applying *a, const char *outcome,
                 const char *before)
{
    struct backend_write *w;

    if (!b->snap)
        return b->ops->audit_change(b, a, outcome, before);
    w = write_new(b, BACKEND_WRITE_AUDIT, a);
    if (!w)
        return -ENOMEM;
    copy_text(w->outcome, sizeof(w->outcome), outcome);
    if (before && !(w->before = strdup(before)))
        return -ENOMEM;
    return 0;
}

/* Whether @change_id is in @row's journal as loaded (or written by the batch). */
static bool journal_loaded(const struct backend_row *row, const char *change_id)
{
    if (!row->journal_from)
        return true; /* the whole journal: a change not in it is in no journal of the row */
    for (size_t i = 0; i < row->n_journal; i++)
        if (streq(row->journal[i].change_id, change_id))
            return true;
    return false;
}

/* 1 when the conflict log (with the batch's own entries) may take (@loser, @kind) in @row. */
static bool conflict_new(const struct backend_row *row, const char *loser, const char *kind)
{
    for (size_t i = 0; i < row->n_conflicts; i++) {
        const struct backend_conflict_key *k = &row->conflicts[i];

        if (!streq(k->loser, loser))
            continue;
        if (streq(k->kind, kind) ||
            (streq(kind, "concurrent_edit") && streq(k->kind, "missed_vs_completed")))
            return false;
    }
    return true;
}

/* The backend's conflict_add() over the snapshot: 1 when logged, 0 when it already was. */
static int conflict_add(struct backend *b, const char *kind, struct applying *a,
                        const char *loser_change_id, const char *winner_change_id,
                        const char *field)
{
    struct backend_row *row = view_row(b, a->tbl, a->row_id);
    struct backend_write *w;
    int r;

    if (!row || !loser_change_id || !journal_loaded(row, loser_change_id)) {
        /* A loser below the journal's bound has its conflict-log keys in the store only. */
        r = engine_flush(b);
        return r < 0 ? r : b->ops->conflict_add(b, kind, a, loser_change_id, winner_change_id,
                                                field);
    }
    if (!conflict_new(row, loser_change_id, kind))
        return 0;
    w = write_new(b, BACKEND_WRITE_CONFLICT, a);
    if (!w)
        return -ENOMEM;
    copy_text(w->conflict_kind, sizeof(w->conflict_kind), kind);
    w->has_loser = true;
    copy_text(w->loser, sizeof(w->loser), loser_change_id);
    w->has_winner = winner_change_id != NULL;
    copy_text(w->winner, sizeof(w->winner), winner_change_id);
    copy_text(w->field, sizeof(w->field), field);
    r = backend_row_conflict_add(row, loser_change_id, kind);
    return r < 0 ? r : 1;
}

int engine_conflict(struct backend *b, const char *kind, struct applying *a,
                    const char *loser_change_id, const char *winner_change_id, const char *field)
{
    int r = conflict_add(b, kind, a, loser_change_id, winner_change_id, field);

    if (r <= 0)
        return r;
    b->conflicts_logged++;
    if (loser_change_id && streq(loser_change_id, a->change_id))
        a->conflict = true;
    return 0;
}

static uint64_t tick(struct backend *b)
{
    return hlc_tick(b->hlc, hlc_wall_ms());
}

/* (3) A delete hides edits to the row its writer had not seen, unless a restore newer than the
 * delete has already brought the row back. A device's own edits are never hidden from it. */
static int detect_delete(struct backend *b, struct applying *a)
{
    struct merge_version xbase = {a->base_hlc, a->base_device};
    struct backend_journal_entry *h = NULL;
    size_t n = 0;
    int r;

    r = restored_after(b, a->tbl, a->row_id, a->hlc, a->device);
    if (r != 0)
        return r < 0 ? r : 0;
    r = row_edits(b, a->tbl, a->row_id, a->base_hlc, &h, &n);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        const struct backend_journal_entry *e = &h[i];
        struct merge_version ev = {e->hlc, e->device}, eb = {e->base_hlc, e->base_device};

        if (!merge_hidden_by_delete(ev, xbase) ||
            merge_same_writer(ev, eb, e->sent_hlc != e->hlc,
                              (struct merge_version){a->hlc, a->device}, xbase,
                              a->hlc != a->sent_hlc))
            continue;
        r = engine_conflict(b, "edit_after_delete", a, e->change_id, a->change_id,
                                 e->field);
    }
    backend_history_free(h, n);
    return r < 0 ? r : 0;
}

static struct merge_version hist_version(const struct backend_journal_entry *e)
{
    return (struct merge_version){e->hlc, e->device};
}

static struct merge_version hist_base(const struct backend_journal_entry *e)
{
    return (struct merge_version){e->base_hlc, e->base_device};
}

/* The server gave this write a clock of its own (a clamp, a domain rule's re-stamp). */
static bool hist_restamped(const struct backend_journal_entry *e)
{
    return e->hlc != e->sent_hlc;
}

static bool version_after(uint64_t hlc, const char *device, const struct backend_journal_entry *than)
{
    return hlc_version_cmp(hlc, device, than->hlc, than->device) > 0;
}

/*
 * Find the conflict-log entries the arrival of @a creates, by the pairwise rules of merge.h
 * against the stored history of the field (and, for deletes, of the row). Whichever change of a
 * pair arrives second detects it, so the log does not depend on arrival order; the backend keeps
 * each (loser, kind) once. Out-of-scope changes are not part of any field's history.
 */
static int detect_conflicts(struct backend *b, struct applying *a)
{
    struct merge_version x = {a->hlc, a->device};
    struct merge_version xbase = {a->base_hlc, a->base_device};
    bool is_delete = streq(a->field->name, CAT_DELETED_FIELD) && a->value && streq(a->value, "1");
    bool on_tombstone = streq(a->field->name, CAT_DELETED_FIELD);
    const char *base_device = a->base_device ? a->base_device : "";
    bool restamped = a->hlc != a->sent_hlc;
    struct backend_journal_entry *h = NULL;
    size_t n = 0;
    int r;

    r = field_history(b, a->tbl, a->row_id, a->field->name,
                              a->base_hlc < a->hlc ? a->base_hlc : a->hlc, &h, &n);
    if (r < 0)
        return r;

    /* (1) Newer writes that had not seen this one: this value is a concurrent loser to the
     * oldest of them. A writer whose base is this change's clock as sent had seen it,
     * re-stamped or not. */
    {
        const struct backend_journal_entry *winner = NULL;

        for (size_t i = 0; i < n; i++) {
            const struct backend_journal_entry *y = &h[i];

            if ((y->tombstone && !on_tombstone) || y->hlc < a->hlc ||
                streq(y->change_id, a->change_id) ||
                (y->base_hlc == a->sent_hlc && streq(y->base_device, a->device)))
                continue;
            if ((!winner || version_after(winner->hlc, winner->device, y)) &&
                merge_concurrent_loss(x, a->value, hist_version(y), hist_base(y), y->value) &&
                !merge_same_writer(x, xbase, restamped, hist_version(y), hist_base(y),
                                   hist_restamped(y)))
                winner = y;
        }
        if (winner) {
            r = engine_conflict(b, "concurrent_edit", a, a->change_id, winner->change_id,
                                     a->field->name);
            if (r < 0)
                goto out;
        }
    }

    /* (2) Older writes this one overwrote without having seen them. */
    for (size_t i = 0; i < n; i++) {
        const struct backend_journal_entry *w = &h[i];

        if ((w->tombstone && !on_tombstone) || w->hlc > a->hlc || w->hlc < a->base_hlc ||
            streq(w->change_id, a->change_id) ||
            (w->sent_hlc == a->base_hlc && streq(w->device, base_device)))
            continue;
        if (!merge_concurrent_loss(hist_version(w), w->value, x, xbase, a->value) ||
            merge_same_writer(hist_version(w), hist_base(w), hist_restamped(w), x, xbase,
                              restamped))
            continue;
        r = engine_conflict(b, "concurrent_edit", a, w->change_id, a->change_id,
                                 a->field->name);
        if (r < 0)
            goto out;
    }

    if (is_delete) {
        r = detect_delete(b, a);
    } else if (!on_tombstone) {
        /* (4) An edit arriving after a delete that had not seen it, while no newer restore
         * has brought the row back (an edit made after a restore is not hidden): logged
         * against the oldest such delete. */
        const struct backend_journal_entry *winner = NULL;

        for (size_t i = 0; i < n; i++) {
            const struct backend_journal_entry *t = &h[i];
            bool restored = false;

            if (!t->tombstone || !t->value || !streq(t->value, "1") ||
                (winner && !version_after(winner->hlc, winner->device, t)))
                continue;
            for (size_t j = 0; j < n && !restored; j++)
                restored = h[j].tombstone && h[j].value && streq(h[j].value, "0") &&
                           version_after(h[j].hlc, h[j].device, t);
            if (!restored && merge_hidden_by_delete(x, hist_base(t)) &&
                !merge_same_writer(x, xbase, restamped, hist_version(t), hist_base(t),
                                   hist_restamped(t)))
                winner = t;
        }
        if (winner)
            r = engine_conflict(b, "edit_after_delete", a, a->change_id, winner->change_id,
                                     a->field->name);
    }
out:
    backend_history_free(h, n);
    return r < 0 ? r : 0;
}

/*
 * 1 when the current version was re-stamped by the server (a clamped clock or a domain rule) and
 * @a was written by a device that had seen it under its original clock (its base is that
 * version): @a is that device's next edit and must win, so it is re-stamped too. Without this a
 * worker's "completed" would lose to their own re-stamped "in progress" of the same visit.
 */
static int successor_of_restamp(struct backend *b, const struct applying *a,
                                const struct field_cur *cur)
{
    uint64_t hlc, sent;
    int r = journal_clocks(b, a->tbl, a->row_id, cur->change_id, &hlc, &sent);

    if (r <= 0)
        return r;
    return sent != hlc && a->base_hlc == sent && a->base_device &&
           streq(a->base_device, cur->device);
}

/* Domain rules that override plain last-writer-wins (docs/internals/merge.md). */
enum policy {
    POLICY_LWW,          /* the ordinary rule */
    POLICY_LOSE,         /* the change loses whatever its clock */
    POLICY_WIN_RESTAMP,  /* the change wins; it gets a fresh server clock so devices agree */
};

static bool value_is(const char *v, const char *want)
{
    return v && streq(v, want);
}

/* A visit status that records contact with the person: started or completed. */
static bool contact_status(const char *v)
{
    return value_is(v, "completed") || value_is(v, "in-progress");
}

static int visit_has_actual_start(struct backend *b, const char *row_id)
{
    _cleanup_(store_field_cur_done) struct field_cur st = {0};
    int r = engine_field_current(b, "visit", row_id, "actual_start", &st);

    if (r < 0)
        return r;
    return st.exists && st.value != NULL;
}

/*
 * Which rule decides @a against the current version @cur, and the conflict kind to log when a
 * domain rule decides (*kind NULL for the ordinary rule).
 *  - Append-only fields keep the value they were created with: a later write loses.
 *  - A visit with an actual start time that is marked completed (or in progress) stays so
 *    against a concurrent "missed" (evidence of contact), whichever clock is higher. One
 *    device's successive edits are not concurrent: a worker who marked a visit missed and then
 *    started it (or the reverse) meant the later one, which wins by the ordinary rule.
 */
static int merge_policy(struct backend *b, const struct applying *a, const struct field_cur *cur,
                        const char **kind)
{
    int r;

    *kind = NULL;
    if (!cur->exists)
        return POLICY_LWW;
    if (a->field->kind == CAT_A && !streq(cur->change_id, a->change_id)) {
        *kind = "append_only";
        return POLICY_LOSE;
    }
    if (!streq(a->tbl, "visit") || !streq(a->field->name, "status"))
        return POLICY_LWW;
    /* One device's successive statuses. The current version's base is not at hand, so when
     * it is the later of the two (a re-stamp) the pair is judged by the domain rule. */
    if (merge_same_writer((struct merge_version){cur->hlc, cur->device},
                          (struct merge_version){0, ""}, true,
                          (struct merge_version){a->hlc, a->device},
                          (struct merge_version){a->base_hlc, a->base_device ? a->base_device : ""},
                          a->hlc != a->sent_hlc))
        return POLICY_LWW;
    if (value_is(a->value, "missed") && contact_status(cur->value)) {
        r = visit_has_actual_start(b, a->row_id);
        if (r <= 0)
            return r < 0 ? r : POLICY_LWW;
        *kind = "missed_vs_completed";
        return POLICY_LOSE;
    }
    if (contact_status(a->value) && value_is(cur->value, "missed")) {
        r = visit_has_actual_start(b, a->row_id);
        if (r <= 0)
            return r < 0 ? r : POLICY_LWW;
        *kind = "missed_vs_completed";
        return POLICY_WIN_RESTAMP;
    }
    return POLICY_LWW;
}

int engine_server_version(struct backend *b, const struct applying *a, const char *value,
                          const char *writer_device, uint64_t sent_hlc, const char *before,
                          char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc)
{
    struct applying k = *a;
    int r;

    r = uuid_v7(hlc_wall_ms(), ret_change_id);
    if (r < 0)
        return r;
    k.change_id = ret_change_id;
    k.value = value;
    k.sent_hlc = sent_hlc;
    k.hlc = tick(b);
    k.device = writer_device;
    k.user_id = 0;
    k.base_hlc = a->hlc;
    k.base_device = a->device;
    k.base_untrusted = false;
    r = engine_journal(b, &k, "applied");
    if (r >= 0)
        r = engine_audit(b, &k, "applied", before);
    if (r >= 0)
        r = field_put(b, &k);
    if (r >= 0)
        *ret_hlc = k.hlc;
    return r;
}

int engine_apply_change(struct backend *b, struct applying *a, bool *ret_applied,
                        struct field_cur *ret_cur)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    struct merge_version x = {a->hlc, a->device};
    struct merge_version cv;
    const char *kind;
    bool wins;
    int policy, r;

    r = engine_field_current(b, a->tbl, a->row_id, a->field->name, &cur);
    if (r < 0)
        return r;
    cv.hlc = cur.hlc;
    cv.device = cur.device;
    wins = merge_wins(x, cur.exists ? &cv : NULL);
    if (cur.exists && !wins) {
        r = successor_of_restamp(b, a, &cur);
        if (r < 0)
            return r;
        if (r > 0) {
            a->hlc = tick(b);
            wins = true;
        }
    }
    policy = merge_policy(b, a, &cur, &kind);
    if (policy < 0)
        return policy;

    if (policy == POLICY_LOSE) {
        r = engine_journal(b, a, "lost");
        if (r >= 0)
            r = engine_audit(b, a, "lost", cur.value);
        if (r >= 0)
            r = engine_conflict(b, kind, a, a->change_id, cur.change_id, a->field->name);
        if (r >= 0 && wins) {
            /* The losing change is newer: write the kept value again with a fresh clock based on
             * the loser, so every device (the loser's too) converges on it by the plain rule. A
             * re-stamp of the kept version: same writer, the version it replaces as sent. */
            char cid[UUID_STR_MAX];
            uint64_t hlc;

            r = engine_server_version(b, a, cur.value, cur.device, cur.hlc, a->value, cid, &hlc);
            if (r >= 0 && ret_cur) {
                /* The field now holds the kept value under the re-stamp's version. */
                cur.hlc = hlc;
                copy_text(cur.change_id, sizeof(cur.change_id), cid);
            }
        }
        if (r < 0)
            return r;
        *ret_applied = false;
        if (ret_cur)
            *ret_cur = cur, cur.value = NULL;
        return 0;
    }
    if (policy == POLICY_WIN_RESTAMP) {
        if (!wins)
            a->hlc = tick(b);
        r = engine_journal(b, a, "applied");
        if (r >= 0)
            r = engine_audit(b, a, "applied", cur.value);
        if (r >= 0)
            r = field_put(b, a);
        if (r >= 0)
            r = engine_conflict(b, kind, a, cur.change_id, a->change_id, a->field->name);
        if (r < 0)
            return r;
        *ret_applied = true;
        return 0;
    }

    r = engine_journal(b, a, wins ? "applied" : "lost");
    if (r >= 0)
        r = engine_audit(b, a, wins ? "applied" : "lost", cur.value);
    if (r >= 0 && wins)
        r = field_put(b, a);
    /* A row this batch created has no history to search: nobody else has written it. */
    if (r >= 0 && !a->new_row)
        r = detect_conflicts(b, a);
    if (r < 0)
        return r;
    *ret_applied = wins;
    if (ret_cur && !wins)
        *ret_cur = cur, cur.value = NULL;
    return 0;
}

int engine_write_field(struct backend *b, const char *device, int64_t user_id, const char *tbl,
                       const char *row_id, const char *person_id, const char *field,
                       const char *value, char ret_change_id[static UUID_STR_MAX])
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    const struct cat_table *t = catalogue_table(tbl);
    struct applying a = {0};
    bool applied;
    int r;

    r = engine_field_current(b, tbl, row_id, field, &cur);
    if (r < 0)
        return r;
    r = uuid_v7(hlc_wall_ms(), ret_change_id);
    if (r < 0)
        return r;
    a.change_id = ret_change_id;
    a.tbl = tbl;
    a.field = catalogue_field(t, field);
    if (!a.field)
        return -EINVAL;
    a.row_id = row_id;
    a.person_id = person_id;
    a.value = value;
    a.hlc = a.sent_hlc = tick(b);
    a.device = device;
    a.user_id = user_id;
    a.base_hlc = cur.exists ? cur.hlc : 0;
    a.base_device = cur.exists ? cur.device : "";
    if (streq(field, CAT_DELETED_FIELD) && value && streq(value, "1")) {
        /* A delete's base is the newest version of any field of the row (the writer sees the
         * whole row): a coordinator's delete after their own restore hides nothing. */
        store_field_cur_done(&cur);
        r = row_newest(b, tbl, row_id, &cur);
        if (r < 0)
            return r;
        a.base_hlc = cur.exists ? cur.hlc : 0;
        a.base_device = cur.exists ? cur.device : "";
    }
    return engine_apply_change(b, &a, &applied, NULL);
}
