/* SPDX-License-Identifier: MIT */
/*
 * backend_mem.c - an in-memory storage backend for the engine's unit tests: field states, the
 * journal, the conflict log, assignments and devices in arrays, searched linearly (a test's
 * store holds a few hundred rows). A transaction copies the whole state at begin() and puts the
 * copy back at rollback(). No rules here: the engine decides, this only stores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "backend_mem.h"
#include "hlc.h"

struct mem_field {
    char tbl[64], row_id[UUID_STR_MAX], field[64], person_id[UUID_STR_MAX];
    char *value;
    uint64_t hlc, seq;
    char device[UUID_STR_MAX], change_id[UUID_STR_MAX];
};

struct mem_journal {
    char change_id[UUID_STR_MAX], device[UUID_STR_MAX], tbl[64], row_id[UUID_STR_MAX];
    char field[64], person_id[UUID_STR_MAX], base_device[UUID_STR_MAX], outcome[16];
    char *value;
    uint64_t hlc, sent_hlc, base_hlc, received_ms;
    bool base_untrusted, conflict;
    uint64_t sent_base_hlc;
    char sent_base_device[UUID_STR_MAX];
};

struct mem_conflict {
    char kind[32], loser[UUID_STR_MAX], winner[UUID_STR_MAX], field[64];
    bool open;
};

struct mem_assignment {
    char person_id[UUID_STR_MAX];
    int64_t user_id;
    uint64_t start_seq, end_seq; /* end_seq 0: current */
    uint64_t ended_ms;
};

struct mem_device {
    char id[UUID_STR_MAX];
    uint64_t given_cursor;
    int redecide;
    char redecide_cursor[160];
    bool redecide_done;
    int64_t pending;
    unsigned syncs;
};

struct mem_state {
    struct mem_field *fields;
    size_t n_fields;
    struct mem_journal *journal;
    size_t n_journal;
    struct mem_conflict *conflicts;
    size_t n_conflicts;
    struct mem_assignment *assignments;
    size_t n_assignments;
    struct mem_device *devices;
    size_t n_devices;
    size_t audit_events; /* events written */
    uint64_t seq, hlc;
};

struct mem_backend {
    struct backend be;
    struct mem_state st, saved;
    bool in_txn;
    size_t audit_pending; /* grouped change events not flushed yet */
    bool audit_batching;
    uint64_t journal_floor; /* mem_set_journal_floor() */
};

static struct mem_backend *mem_of(struct backend *b)
{
    return (struct mem_backend *)((char *)b - offsetof(struct mem_backend, be));
}

static void *xgrow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, (n + 1) * size);

    if (!q)
        abort(); /* a test's memory */
    memset((char *)q + n * size, 0, size);
    return q;
}

static char *xstrdup(const char *v)
{
    char *d = v ? strdup(v) : NULL;

    if (v && !d)
        abort();
    return d;
}

static void state_free(struct mem_state *s)
{
    for (size_t i = 0; i < s->n_fields; i++)
        free(s->fields[i].value);
    for (size_t i = 0; i < s->n_journal; i++)
        free(s->journal[i].value);
    free(s->fields);
    free(s->journal);
    free(s->conflicts);
    free(s->assignments);
    free(s->devices);
    *s = (struct mem_state){0};
}

static void *dup_array(const void *p, size_t n, size_t size)
{
    void *q = malloc(n ? n * size : 1);

    if (!q)
        abort();
    if (n)
        memcpy(q, p, n * size);
    return q;
}

static void state_copy(struct mem_state *dst, const struct mem_state *src)
{
    *dst = *src;
    dst->fields = dup_array(src->fields, src->n_fields, sizeof(*src->fields));
    dst->journal = dup_array(src->journal, src->n_journal, sizeof(*src->journal));
    dst->conflicts = dup_array(src->conflicts, src->n_conflicts, sizeof(*src->conflicts));
    dst->assignments = dup_array(src->assignments, src->n_assignments, sizeof(*src->assignments));
    dst->devices = dup_array(src->devices, src->n_devices, sizeof(*src->devices));
    for (size_t i = 0; i < src->n_fields; i++)
        dst->fields[i].value = xstrdup(src->fields[i].value);
    for (size_t i = 0; i < src->n_journal; i++)
        dst->journal[i].value = xstrdup(src->journal[i].value);
}

static struct mem_field *field_find(struct mem_state *s, const char *tbl, const char *row_id,
                                    const char *field)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (streq(s->fields[i].tbl, tbl) && streq(s->fields[i].row_id, row_id) &&
            streq(s->fields[i].field, field))
            return &s->fields[i];
    return NULL;
}

static struct mem_field *row_any(struct mem_state *s, const char *tbl, const char *row_id)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (streq(s->fields[i].tbl, tbl) && streq(s->fields[i].row_id, row_id))
            return &s->fields[i];
    return NULL;
}

static struct mem_journal *journal_find(struct mem_state *s, const char *change_id)
{
    for (size_t i = 0; i < s->n_journal; i++)
        if (streq(s->journal[i].change_id, change_id))
            return &s->journal[i];
    return NULL;
}

static struct mem_device *device_find(struct mem_state *s, const char *id)
{
    for (size_t i = 0; i < s->n_devices; i++)
        if (streq(s->devices[i].id, id))
            return &s->devices[i];
    return NULL;
}

static void put_field(struct mem_state *s, const char *tbl, const char *row_id,
                      const char *person_id, const char *field, const char *value, uint64_t hlc,
                      const char *device, const char *change_id, uint64_t seq)
{
    struct mem_field *f = field_find(s, tbl, row_id, field);

    if (!f) {
        s->fields = xgrow(s->fields, s->n_fields, sizeof(*s->fields));
        f = &s->fields[s->n_fields++];
        copy_text(f->tbl, sizeof(f->tbl), tbl);
        copy_text(f->row_id, sizeof(f->row_id), row_id);
        copy_text(f->field, sizeof(f->field), field);
        copy_text(f->person_id, sizeof(f->person_id), person_id);
    }
    free(f->value);
    f->value = xstrdup(value);
    f->hlc = hlc;
    f->seq = seq;
    copy_text(f->device, sizeof(f->device), device);
    copy_text(f->change_id, sizeof(f->change_id), change_id);
}

/* ---- the row's fields as the access rules read them ---- */

static void load_row(struct mem_state *s, const char *tbl, const char *row_id,
                     struct store_row *ret)
{
    store_row_done(ret);
    for (size_t i = 0; i < s->n_fields && ret->n < STORE_ROW_MAX; i++)
        if (streq(s->fields[i].tbl, tbl) && streq(s->fields[i].row_id, row_id)) {
            ret->names[ret->n] = xstrdup(s->fields[i].field);
            ret->values[ret->n] = xstrdup(s->fields[i].value);
            ret->n++;
        }
}

static const char *value_of(struct mem_state *s, const char *tbl, const char *row_id,
                            const char *field)
{
    struct mem_field *f = field_find(s, tbl, row_id, field);

    return f ? f->value : NULL;
}

/* An active, not deleted consent row of the person denying @role's sector: its fields' newest
 * sequence number in *ret_seq. */
static bool denied(struct mem_state *s, const char *role, const char *person_id,
                   uint64_t *ret_seq)
{
    const char *sector = access_sector(role);
    bool found = false;

    if (!sector)
        return false;
    for (size_t i = 0; i < s->n_fields; i++) {
        struct mem_field *c = &s->fields[i];
        const char *d, *t, *x;
        uint64_t sq;

        if (!streq(c->tbl, "consent") || !streq(c->field, "sector") ||
            !streq(c->person_id, person_id) || !c->value ||
            (!streq(c->value, sector) && !streq(c->value, "all")))
            continue;
        d = value_of(s, "consent", c->row_id, "decision");
        t = value_of(s, "consent", c->row_id, "status");
        x = value_of(s, "consent", c->row_id, CAT_DELETED_FIELD);
        if (!d || !streq(d, "deny") || !t || !streq(t, "active") || (x && streq(x, "1")))
            continue;
        sq = c->seq;
        sq = field_find(s, "consent", c->row_id, "decision")->seq > sq ?
                     field_find(s, "consent", c->row_id, "decision")->seq : sq;
        sq = field_find(s, "consent", c->row_id, "status")->seq > sq ?
                     field_find(s, "consent", c->row_id, "status")->seq : sq;
        if (!found || sq < *ret_seq)
            *ret_seq = sq;
        found = true;
    }
    return found;
}

static void load_person(struct mem_state *s, const struct store_principal *p,
                        struct backend_person *bp)
{
    const char *person_id = bp->person_id;
    const struct mem_assignment *last = NULL;
    uint64_t seq = 0;

    *bp = (struct backend_person){.person_id = person_id};
    bp->exists = row_any(s, "person", person_id) != NULL;
    for (size_t i = 0; i < s->n_assignments; i++) {
        const struct mem_assignment *a = &s->assignments[i];

        if (!streq(a->person_id, person_id) || a->user_id != p->user_id)
            continue;
        bp->ever_assigned = bp->had_assignment = true;
        if (!a->end_seq)
            bp->assigned = true;
        if (!last || (last->end_seq && (!a->end_seq || a->end_seq > last->end_seq)))
            last = a;
    }
    if (last) {
        bp->end_ms = last->ended_ms;
        bp->end_seq = last->end_seq;
    }
    if (bp->assigned && denied(s, p->role, person_id, &seq)) {
        bp->denied = true;
        bp->deny_found = true;
        bp->deny_seq = seq;
        bp->deny_ms = 0; /* not kept: a test store's denies are older than any grace */
    }
}

/* ---- operations ---- */

static int m_begin(struct backend *b, bool write)
{
    struct mem_backend *m = mem_of(b);

    if (m->in_txn)
        return -EBUSY;
    state_copy(&m->saved, &m->st);
    m->in_txn = true;
    return 0;
}

static void m_rollback(struct backend *b)
{
    struct mem_backend *m = mem_of(b);

    if (!m->in_txn)
        return;
    state_free(&m->st);
    m->st = m->saved;
    m->saved = (struct mem_state){0};
    m->in_txn = false;
    m->audit_pending = 0;
    m->audit_batching = false;
}

static int m_commit(struct backend *b)
{
    struct mem_backend *m = mem_of(b);

    if (!m->in_txn)
        return -EINVAL;
    state_free(&m->saved);
    m->in_txn = false;
    return 0;
}

/* Whether push_load() loads journal entry @j into @row (its bound, backend.h). */
static bool journal_in_bound(const struct mem_journal *j, const struct backend_row *row)
{
    return streq(j->tbl, row->table->name) && streq(j->row_id, row->row_id) &&
           (j->hlc >= row->journal_from || streq(j->field, CAT_DELETED_FIELD));
}

static int m_push_load(struct backend *b, const struct store_principal *p,
                       const struct change_record *changes, size_t n, struct push_snapshot *ret)
{
    struct mem_state *s = &mem_of(b)->st;
    uint64_t floor = mem_of(b)->journal_floor;
    struct mem_device *d;
    int r = backend_snapshot_keys(changes, n, ret);

    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        const struct mem_journal *j = journal_find(s, changes[i].change_id);
        struct backend_seen *e = &ret->seen[i];

        if (!j)
            continue;
        e->seen = true;
        copy_text(e->device, sizeof(e->device), j->device);
        copy_text(e->tbl, sizeof(e->tbl), j->tbl);
        copy_text(e->row_id, sizeof(e->row_id), j->row_id);
        copy_text(e->field, sizeof(e->field), j->field);
        copy_text(e->outcome, sizeof(e->outcome), j->outcome);
        copy_text(e->person_id, sizeof(e->person_id), j->person_id);
        e->has_person = true;
        e->value = xstrdup(j->value);
        e->sent_hlc = j->sent_hlc;
        e->sent_base_hlc = j->base_untrusted ? j->sent_base_hlc : j->base_hlc;
        copy_text(e->sent_base_device, sizeof(e->sent_base_device),
                  j->base_untrusted ? j->sent_base_device : j->base_device);
        e->hlc = j->hlc;
        e->conflict = j->conflict;
    }
    for (size_t i = 0; i < ret->n_rows; i++) {
        struct backend_row *row = &ret->rows[i];
        struct mem_field *f = row_any(s, row->table->name, row->row_id);

        row->exists = f != NULL;
        if (row->journal_from < floor)
            row->journal_from = floor;
        if (f)
            copy_text(row->person_id, sizeof(row->person_id), f->person_id);
        load_row(s, row->table->name, row->row_id, &row->fields);
        for (size_t k = 0; k < s->n_fields; k++) {
            const struct mem_field *v = &s->fields[k];

            if (streq(v->tbl, row->table->name) && streq(v->row_id, row->row_id) &&
                backend_row_put(row, v->field, v->value, v->hlc, v->device, v->change_id) < 0)
                return -ENOMEM;
        }
        for (size_t k = 0; k < s->n_journal; k++) {
            const struct mem_journal *j = &s->journal[k];
            struct backend_journal_entry e = {0};

            if (!journal_in_bound(j, row))
                continue;
            copy_text(e.change_id, sizeof(e.change_id), j->change_id);
            copy_text(e.device, sizeof(e.device), j->device);
            copy_text(e.base_device, sizeof(e.base_device), j->base_device);
            copy_text(e.field, sizeof(e.field), j->field);
            copy_text(e.outcome, sizeof(e.outcome), j->outcome);
            e.hlc = j->hlc;
            e.sent_hlc = j->sent_hlc;
            e.base_hlc = j->base_hlc;
            if (backend_row_journal_add(row, &e, j->value) < 0)
                return -ENOMEM;
        }
        for (size_t k = 0; k < s->n_conflicts; k++) {
            const struct mem_journal *j = journal_find(s, s->conflicts[k].loser);

            if (j && journal_in_bound(j, row) &&
                backend_row_conflict_add(row, s->conflicts[k].loser, s->conflicts[k].kind) < 0)
                return -ENOMEM;
        }
        row->loaded = true;
    }
    for (size_t i = 0; i < ret->n_people; i++)
        load_person(s, p, &ret->people[i]);
    d = device_find(s, p->device_id);
    ret->given_cursor = d ? d->given_cursor : 0;
    return 0;
}

static int m_person_reload(struct backend *b, const struct store_principal *p,
                           struct backend_person *io)
{
    load_person(&mem_of(b)->st, p, io);
    return 0;
}

static int m_field_current(struct backend *b, const char *tbl, const char *row_id,
                           const char *field, struct field_cur *ret)
{
    struct mem_field *f = field_find(&mem_of(b)->st, tbl, row_id, field);

    memset(ret, 0, sizeof(*ret));
    if (!f)
        return 0;
    ret->exists = true;
    ret->value = xstrdup(f->value);
    ret->hlc = f->hlc;
    copy_text(ret->device, sizeof(ret->device), f->device);
    copy_text(ret->change_id, sizeof(ret->change_id), f->change_id);
    return 0;
}

static int m_base_issued(struct backend *b, const struct applying *a)
{
    struct mem_state *s = &mem_of(b)->st;
    const char *dev = a->base_device ? a->base_device : "";

    if (!a->base_hlc && !*dev)
        return 1;
    for (size_t i = 0; i < s->n_journal; i++) {
        const struct mem_journal *j = &s->journal[i];

        if (streq(j->tbl, a->tbl) && streq(j->row_id, a->row_id) &&
            (streq(j->field, a->field->name) || streq(a->field->name, CAT_DELETED_FIELD)) &&
            streq(j->device, dev) && (j->hlc == a->base_hlc || j->sent_hlc == a->base_hlc))
            return 1;
    }
    return 0;
}

static int m_journal(struct backend *b, const struct applying *a, const char *outcome)
{
    struct mem_state *s = &mem_of(b)->st;
    struct mem_journal *j;

    if (journal_find(s, a->change_id))
        return -EEXIST; /* change_id is the journal's key */
    s->journal = xgrow(s->journal, s->n_journal, sizeof(*s->journal));
    j = &s->journal[s->n_journal++];
    copy_text(j->change_id, sizeof(j->change_id), a->change_id);
    copy_text(j->device, sizeof(j->device), a->device);
    copy_text(j->tbl, sizeof(j->tbl), a->tbl);
    copy_text(j->row_id, sizeof(j->row_id), a->row_id);
    copy_text(j->field, sizeof(j->field), a->field->name);
    copy_text(j->person_id, sizeof(j->person_id), a->person_id);
    copy_text(j->base_device, sizeof(j->base_device), a->base_device ? a->base_device : "");
    copy_text(j->outcome, sizeof(j->outcome), outcome);
    j->value = xstrdup(a->value);
    j->hlc = a->hlc;
    j->sent_hlc = a->sent_hlc;
    j->base_hlc = a->base_hlc;
    j->received_ms = hlc_wall_ms();
    j->base_untrusted = a->base_untrusted;
    j->sent_base_hlc = a->sent_base_hlc;
    copy_text(j->sent_base_device, sizeof(j->sent_base_device),
              a->sent_base_device ? a->sent_base_device : "");
    return 0;
}

static int m_conflict_add(struct backend *b, const char *kind, struct applying *a,
                          const char *loser, const char *winner, const char *field)
{
    struct mem_state *s = &mem_of(b)->st;
    struct mem_conflict *c;
    struct mem_journal *j;

    for (size_t i = 0; i < s->n_conflicts; i++) {
        if (!loser || !streq(s->conflicts[i].loser, loser))
            continue;
        if (streq(s->conflicts[i].kind, kind) ||
            (streq(kind, "concurrent_edit") &&
             streq(s->conflicts[i].kind, "missed_vs_completed")))
            return 0;
    }
    s->conflicts = xgrow(s->conflicts, s->n_conflicts, sizeof(*s->conflicts));
    c = &s->conflicts[s->n_conflicts++];
    copy_text(c->kind, sizeof(c->kind), kind);
    copy_text(c->loser, sizeof(c->loser), loser);
    copy_text(c->winner, sizeof(c->winner), winner);
    copy_text(c->field, sizeof(c->field), field);
    c->open = true;
    j = loser ? journal_find(s, loser) : NULL;
    if (j)
        j->conflict = true;
    return 1;
}

static int m_field_put(struct backend *b, const struct applying *a, uint64_t seq)
{
    put_field(&mem_of(b)->st, a->tbl, a->row_id, a->person_id, a->field->name, a->value, a->hlc,
              a->device, a->change_id, seq);
    return 0;
}

static bool counts(const struct mem_journal *j)
{
    return streq(j->outcome, "applied") || streq(j->outcome, "lost");
}

static void hist_add(struct backend_journal_entry **h, size_t *n, const struct mem_journal *j)
{
    struct backend_journal_entry *e;

    *h = xgrow(*h, *n, sizeof(**h));
    e = &(*h)[(*n)++];
    copy_text(e->change_id, sizeof(e->change_id), j->change_id);
    copy_text(e->device, sizeof(e->device), j->device);
    copy_text(e->base_device, sizeof(e->base_device), j->base_device);
    copy_text(e->field, sizeof(e->field), j->field);
    e->tombstone = streq(j->field, CAT_DELETED_FIELD);
    e->value = xstrdup(j->value);
    e->hlc = j->hlc;
    e->sent_hlc = j->sent_hlc;
    e->base_hlc = j->base_hlc;
}

static int m_field_history(struct backend *b, const char *tbl, const char *row_id,
                           const char *field, uint64_t from_hlc,
                           struct backend_journal_entry **ret, size_t *ret_n)
{
    struct mem_state *s = &mem_of(b)->st;
    bool tomb = streq(field, CAT_DELETED_FIELD);

    *ret = NULL;
    *ret_n = 0;
    for (size_t i = 0; i < s->n_journal; i++) {
        const struct mem_journal *j = &s->journal[i];

        if (!counts(j) || !streq(j->tbl, tbl) || !streq(j->row_id, row_id))
            continue;
        if ((streq(j->field, field) && j->hlc >= from_hlc) ||
            (!tomb && streq(j->field, CAT_DELETED_FIELD)))
            hist_add(ret, ret_n, j);
    }
    return 0;
}

static int m_row_edits(struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                       struct backend_journal_entry **ret, size_t *ret_n)
{
    struct mem_state *s = &mem_of(b)->st;

    *ret = NULL;
    *ret_n = 0;
    for (size_t i = 0; i < s->n_journal; i++) {
        const struct mem_journal *j = &s->journal[i];

        if (counts(j) && streq(j->tbl, tbl) && streq(j->row_id, row_id) &&
            !streq(j->field, CAT_DELETED_FIELD) && j->hlc >= from_hlc)
            hist_add(ret, ret_n, j);
    }
    return 0;
}

static int m_restored_after(struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                            const char *device)
{
    struct mem_state *s = &mem_of(b)->st;

    for (size_t i = 0; i < s->n_journal; i++) {
        const struct mem_journal *j = &s->journal[i];

        if (counts(j) && streq(j->tbl, tbl) && streq(j->row_id, row_id) &&
            streq(j->field, CAT_DELETED_FIELD) && j->value && streq(j->value, "0") &&
            hlc_version_cmp(j->hlc, j->device, hlc, device) > 0)
            return 1;
    }
    return 0;
}

static int m_journal_clocks(struct backend *b, const char *change_id, uint64_t *ret_hlc,
                            uint64_t *ret_sent_hlc)
{
    const struct mem_journal *j = journal_find(&mem_of(b)->st, change_id);

    if (!j)
        return 0;
    *ret_hlc = j->hlc;
    *ret_sent_hlc = j->sent_hlc;
    return 1;
}

static int m_row_newest(struct backend *b, const char *tbl, const char *row_id,
                        struct field_cur *ret)
{
    struct mem_state *s = &mem_of(b)->st;

    store_field_cur_done(ret);
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct mem_field *f = &s->fields[i];

        if (!streq(f->tbl, tbl) || !streq(f->row_id, row_id))
            continue;
        if (!ret->exists || hlc_version_cmp(f->hlc, f->device, ret->hlc, ret->device) > 0) {
            ret->exists = true;
            ret->hlc = f->hlc;
            copy_text(ret->device, sizeof(ret->device), f->device);
        }
    }
    return 0;
}

static int m_register_person(struct backend *b, const struct store_principal *p,
                             const char *person_id)
{
    struct mem_state *s = &mem_of(b)->st;
    struct mem_assignment *a;

    s->assignments = xgrow(s->assignments, s->n_assignments, sizeof(*s->assignments));
    a = &s->assignments[s->n_assignments++];
    copy_text(a->person_id, sizeof(a->person_id), person_id);
    a->user_id = p->user_id;
    a->start_seq = ++*b->seq;
    s->audit_events++;
    return 0;
}

static int m_row_visible(struct backend *b, const struct store_principal *p,
                         const struct cat_table *t, const char *row_id, const char *person_id)
{
    _cleanup_(store_row_done) struct store_row row = {0};
    struct access_row ar = {store_row_get, &row};

    load_row(&mem_of(b)->st, t->name, row_id, &row);
    return access_row_visible(p->role, p->user, t, &ar, false, true);
}

static int m_audit_change(struct backend *b, const struct applying *a, const char *outcome,
                          const char *before)
{
    struct mem_backend *m = mem_of(b);

    if (m->audit_batching)
        m->audit_pending++;
    else
        m->st.audit_events++;
    return 0;
}

static void m_audit_begin(struct backend *b)
{
    mem_of(b)->audit_pending = 0;
    mem_of(b)->audit_batching = true;
}

static int m_audit_flush(struct backend *b)
{
    struct mem_backend *m = mem_of(b);

    m->st.audit_events += m->audit_pending ? 1 : 0; /* grouped: a test batch is one person */
    m->audit_pending = 0;
    m->audit_batching = false;
    return 0;
}

static void m_audit_drop(struct backend *b)
{
    mem_of(b)->audit_pending = 0;
    mem_of(b)->audit_batching = false;
}

static int m_device_open_conflicts(struct backend *b, const char *device, uint64_t *ret)
{
    struct mem_state *s = &mem_of(b)->st;

    *ret = 0;
    for (size_t i = 0; i < s->n_conflicts; i++) {
        const struct mem_journal *j = journal_find(s, s->conflicts[i].loser);

        if (s->conflicts[i].open && j && streq(j->device, device))
            (*ret)++;
    }
    return 0;
}

static int m_device_synced(struct backend *b, const struct store_principal *p, int64_t pending,
                           const char *client_version)
{
    struct mem_device *d = device_find(&mem_of(b)->st, p->device_id);

    if (!d)
        return 0; /* UPDATE of no row */
    d->syncs++;
    if (pending >= 0)
        d->pending = pending;
    return 0;
}

/* ---- the pull ---- */

static int seq_cmp(const void *a, const void *b)
{
    const struct mem_field *x = *(const struct mem_field *const *)a;
    const struct mem_field *y = *(const struct mem_field *const *)b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The current assignment of @person_id to @user_id, or NULL. */
static const struct mem_assignment *assigned_now(const struct mem_state *s,
                                                 const char *person_id, int64_t user_id)
{
    for (size_t i = 0; i < s->n_assignments; i++)
        if (streq(s->assignments[i].person_id, person_id) &&
            s->assignments[i].user_id == user_id && !s->assignments[i].end_seq)
            return &s->assignments[i];
    return NULL;
}

static int add_mem_field(const struct mem_field *f, struct pull_field **arr, size_t *n,
                         size_t *cap)
{
    return backend_pull_field_add(arr, n, cap, f->tbl, f->row_id, f->field, f->person_id,
                                  f->value, f->hlc, f->device, f->seq);
}

/* The fields for which @keep says yes, by sequence number, at most @limit (0: all). */
static int select_fields(const struct mem_state *s,
                         bool (*keep)(const struct mem_state *, const struct mem_field *,
                                      const void *),
                         const void *ctx, size_t limit, struct pull_field **arr, size_t *n,
                         size_t *cap)
{
    const struct mem_field **sel = calloc(s->n_fields + 1, sizeof(*sel));
    size_t k = 0;
    int r = 0;

    if (!sel)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_fields; i++)
        if (keep(s, &s->fields[i], ctx))
            sel[k++] = &s->fields[i];
    qsort(sel, k, sizeof(*sel), seq_cmp);
    for (size_t i = 0; r >= 0 && i < k && (!limit || i < limit); i++)
        r = add_mem_field(sel[i], arr, n, cap);
    free(sel);
    return r;
}

struct stream_ctx {
    const struct store_principal *p;
    const struct pull_load *io;
};

static bool in_stream(const struct mem_state *s, const struct mem_field *f, const void *ctx)
{
    const struct stream_ctx *c = ctx;
    const struct mem_assignment *a;

    if (f->seq <= c->io->cursor)
        return false;
    if (!c->io->caseload)
        return true;
    a = assigned_now(s, f->person_id, c->p->user_id);
    return a && f->seq > a->start_seq;
}

static bool of_person(const struct mem_state *s, const struct mem_field *f, const void *ctx)
{
    (void)s;
    return streq(f->person_id, ctx);
}

static int add_event(struct pull_load *io, const char *person_id, uint64_t seq, bool purge)
{
    if (array_grow((void **)&io->events, &io->cap_events, io->n_events, sizeof(*io->events),
                   16) < 0)
        return -ENOMEM;
    io->events[io->n_events] = (struct pull_event){.seq = seq, .purge = purge};
    copy_text(io->events[io->n_events++].person_id, UUID_STR_MAX, person_id);
    return 0;
}

static int m_pull_load(struct backend *b, const struct store_principal *p, struct pull_load *io)
{
    struct mem_state *s = &mem_of(b)->st;
    struct stream_ctx c = {p, io};
    int r = 0;

    for (size_t i = 0; io->caseload && r >= 0 && i < s->n_assignments; i++) {
        const struct mem_assignment *a = &s->assignments[i];
        uint64_t last_end = 0;

        if (a->user_id != p->user_id)
            continue;
        if (!a->end_seq) {
            if (a->start_seq > io->cursor)
                r = add_event(io, a->person_id, a->start_seq, false);
            continue;
        }
        /* An ended assignment, once per person, with no current one: a purge at the last end. */
        if (assigned_now(s, a->person_id, p->user_id))
            continue;
        for (size_t j = 0; j < s->n_assignments; j++) {
            const struct mem_assignment *x = &s->assignments[j];

            if (x->user_id == p->user_id && streq(x->person_id, a->person_id) &&
                x->end_seq > last_end)
                last_end = x->end_seq;
        }
        if (last_end == a->end_seq && last_end > io->cursor)
            r = add_event(io, a->person_id, last_end, true);
    }
    for (size_t i = 0; io->others && r >= 0 && i < s->n_fields; i++) {
        const struct mem_field *f = &s->fields[i];
        bool dup = false;

        if (!streq(f->tbl, "person") || assigned_now(s, f->row_id, p->user_id))
            continue;
        for (size_t j = 0; j < io->n_others && !dup; j++)
            dup = streq(io->others_ids[j], f->row_id);
        if (dup)
            continue;
        if (array_grow((void **)&io->others_ids, &io->cap_others, io->n_others,
                       sizeof(*io->others_ids), 16) < 0)
            return -ENOMEM;
        copy_text(io->others_ids[io->n_others++], UUID_STR_MAX, f->row_id);
    }
    if (r < 0)
        return r;
    return select_fields(s, in_stream, &c, io->limit, &io->fields, &io->n_fields,
                         &io->cap_fields);
}

static int m_pull_facts(struct backend *b, const struct store_principal *p,
                        struct pull_facts *io)
{
    struct mem_state *s = &mem_of(b)->st;
    size_t loaded = 0;
    int r = 0;

    for (size_t i = 0; r >= 0 && i < io->n_people; i++) {
        struct pull_person *fp = &io->people[i];
        uint64_t seq;

        if (fp->want_state && io->state_budget && loaded >= io->state_budget)
            continue;
        fp->denied = denied(s, p->role, fp->person_id, &seq);
        fp->expired = false; /* no closed records here */
        fp->known = true;
        if (!fp->want_state)
            continue;
        r = select_fields(s, of_person, fp->person_id, 0, &fp->state, &fp->n_state,
                          &fp->cap_state);
        fp->loaded = r >= 0;
        loaded += fp->n_state;
    }
    for (size_t i = 0; r >= 0 && i < io->n_rows; i++) {
        struct pull_row *fr = &io->rows[i];

        for (size_t k = 0; r >= 0 && k < s->n_fields; k++) {
            const struct mem_field *f = &s->fields[k];
            const char *goal;

            if (streq(f->tbl, fr->table->name) && streq(f->row_id, fr->row_id))
                r = add_mem_field(f, &fr->fields, &fr->n_fields, &fr->cap_fields);
            if (r < 0 || !streq(fr->table->name, "goal") || !streq(f->tbl, "plan_action") ||
                (!streq(f->field, "goal_id") && !streq(f->field, "who")))
                continue;
            goal = value_of(s, "plan_action", f->row_id, "goal_id");
            if (goal && streq(goal, fr->row_id))
                r = add_mem_field(f, &fr->actions, &fr->n_actions, &fr->cap_actions);
        }
    }
    return r < 0 ? r : 0;
}

static int m_pull_device(struct backend *b, const struct store_principal *p,
                         struct pull_device *ret)
{
    struct mem_device *d = device_find(&mem_of(b)->st, p->device_id);

    *ret = (struct pull_device){0};
    if (d) {
        ret->given_cursor = d->given_cursor;
        ret->redecide = d->redecide;
        copy_text(ret->redecide_cursor, sizeof(ret->redecide_cursor), d->redecide_cursor);
        ret->redecide_done = d->redecide_done;
    }
    return 0;
}

static int m_pull_device_set(struct backend *b, const struct store_principal *p,
                             const struct pull_device *v)
{
    struct mem_device *d = device_find(&mem_of(b)->st, p->device_id);

    if (d) {
        d->given_cursor = v->given_cursor;
        d->redecide = v->redecide;
        copy_text(d->redecide_cursor, sizeof(d->redecide_cursor), v->redecide_cursor);
        d->redecide_done = v->redecide_done;
    }
    return 0;
}

static int m_expire_closed(struct backend *b, const char *cutoff_day)
{
    return 0; /* a test store closes no records */
}

static int m_closed_due(struct backend *b, const char *cutoff_day)
{
    return 0;
}

static const struct backend_ops mem_ops = {
    .name = "memory",
    .begin = m_begin,
    .commit = m_commit,
    .rollback = m_rollback,
    .push_load = m_push_load,
    .push_write = backend_write_each,
    .person_reload = m_person_reload,
    .field_current = m_field_current,
    .base_issued = m_base_issued,
    .field_put = m_field_put,
    .field_history = m_field_history,
    .row_edits = m_row_edits,
    .restored_after = m_restored_after,
    .journal_clocks = m_journal_clocks,
    .row_newest = m_row_newest,
    .journal = m_journal,
    .conflict_add = m_conflict_add,
    .register_person = m_register_person,
    .row_visible = m_row_visible,
    .audit_change = m_audit_change,
    .audit_begin = m_audit_begin,
    .audit_flush = m_audit_flush,
    .audit_drop = m_audit_drop,
    .device_open_conflicts = m_device_open_conflicts,
    .device_synced = m_device_synced,
    .pull_load = m_pull_load,
    .pull_facts = m_pull_facts,
    .pull_device = m_pull_device,
    .pull_device_set = m_pull_device_set,
    .expire_closed = m_expire_closed,
    .closed_due = m_closed_due,
};

/* ---- the scene ---- */

struct mem_backend *mem_new(void)
{
    struct mem_backend *m = calloc(1, sizeof(*m));

    if (!m)
        abort();
    m->be.ops = &mem_ops;
    m->be.seq = &m->st.seq;
    m->be.hlc = &m->st.hlc;
    m->st.seq = 1000;
    return m;
}

void mem_free(struct mem_backend *m)
{
    if (!m)
        return;
    state_free(&m->st);
    state_free(&m->saved);
    free(m);
}

struct backend *mem_backend(struct mem_backend *m)
{
    return &m->be;
}

void mem_set_journal_floor(struct mem_backend *m, uint64_t hlc)
{
    m->journal_floor = hlc;
}

void mem_set_field(struct mem_backend *m, const char *tbl, const char *row_id,
                   const char *person_id, const char *field, const char *value, uint64_t hlc,
                   const char *device)
{
    struct mem_journal *j;
    char cid[UUID_STR_MAX];

    if (uuid_v7(hlc_wall_ms(), cid) < 0)
        abort();
    put_field(&m->st, tbl, row_id, person_id, field, value, hlc, device, cid, ++m->st.seq);
    m->st.journal = xgrow(m->st.journal, m->st.n_journal, sizeof(*m->st.journal));
    j = &m->st.journal[m->st.n_journal++];
    copy_text(j->change_id, sizeof(j->change_id), cid);
    copy_text(j->device, sizeof(j->device), device);
    copy_text(j->tbl, sizeof(j->tbl), tbl);
    copy_text(j->row_id, sizeof(j->row_id), row_id);
    copy_text(j->field, sizeof(j->field), field);
    copy_text(j->person_id, sizeof(j->person_id), person_id);
    copy_text(j->outcome, sizeof(j->outcome), "applied");
    j->value = xstrdup(value);
    j->hlc = j->sent_hlc = hlc;
    if (m->st.hlc < hlc)
        m->st.hlc = hlc;
}

void mem_add_person(struct mem_backend *m, const char *person_id, const char *name)
{
    mem_set_field(m, "person", person_id, person_id, "name", name,
                  hlc_pack(hlc_wall_ms() - 60000, 0), "00000000-0000-7000-8000-000000000000");
}

void mem_assign(struct mem_backend *m, const char *person_id, int64_t user_id)
{
    struct mem_assignment *a;

    m->st.assignments = xgrow(m->st.assignments, m->st.n_assignments, sizeof(*a));
    a = &m->st.assignments[m->st.n_assignments++];
    copy_text(a->person_id, sizeof(a->person_id), person_id);
    a->user_id = user_id;
    a->start_seq = ++m->st.seq;
}

void mem_unassign(struct mem_backend *m, const char *person_id, int64_t user_id, uint64_t ended_ms)
{
    for (size_t i = 0; i < m->st.n_assignments; i++) {
        struct mem_assignment *a = &m->st.assignments[i];

        if (streq(a->person_id, person_id) && a->user_id == user_id && !a->end_seq) {
            a->end_seq = ++m->st.seq;
            a->ended_ms = ended_ms;
        }
    }
}

void mem_add_device(struct mem_backend *m, const char *device_id)
{
    m->st.devices = xgrow(m->st.devices, m->st.n_devices, sizeof(*m->st.devices));
    copy_text(m->st.devices[m->st.n_devices++].id, UUID_STR_MAX, device_id);
}

const char *mem_field(struct mem_backend *m, const char *tbl, const char *row_id,
                      const char *field, bool *ret_found)
{
    struct mem_field *f = field_find(&m->st, tbl, row_id, field);

    *ret_found = f != NULL;
    return f ? f->value : NULL;
}

uint64_t mem_given_cursor(struct mem_backend *m, const char *device_id)
{
    struct mem_device *d = device_find(&m->st, device_id);

    return d ? d->given_cursor : 0;
}

size_t mem_journal_count(const struct mem_backend *m)
{
    return m->st.n_journal;
}

size_t mem_conflict_count(const struct mem_backend *m, const char *kind)
{
    size_t n = 0;

    for (size_t i = 0; i < m->st.n_conflicts; i++)
        n += !kind || streq(m->st.conflicts[i].kind, kind);
    return n;
}

size_t mem_audit_count(const struct mem_backend *m)
{
    return m->st.audit_events;
}

char *mem_digest(const struct mem_backend *m)
{
    const struct mem_state *s = &m->st;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        abort();
    fprintf(f, "seq %llu hlc %llu audit %zu\n", (unsigned long long)s->seq,
            (unsigned long long)s->hlc, s->audit_events);
    for (size_t i = 0; i < s->n_fields; i++)
        fprintf(f, "F %s %s %s %s %s %llu %s %s %llu\n", s->fields[i].tbl, s->fields[i].row_id,
                s->fields[i].field, s->fields[i].person_id,
                s->fields[i].value ? s->fields[i].value : "(null)",
                (unsigned long long)s->fields[i].hlc, s->fields[i].device,
                s->fields[i].change_id, (unsigned long long)s->fields[i].seq);
    for (size_t i = 0; i < s->n_journal; i++)
        fprintf(f, "J %s %s %s %s %d\n", s->journal[i].change_id, s->journal[i].field,
                s->journal[i].outcome, s->journal[i].value ? s->journal[i].value : "(null)",
                s->journal[i].conflict);
    for (size_t i = 0; i < s->n_conflicts; i++)
        fprintf(f, "C %s %s %s\n", s->conflicts[i].kind, s->conflicts[i].loser,
                s->conflicts[i].winner);
    for (size_t i = 0; i < s->n_assignments; i++)
        fprintf(f, "A %s %lld %llu\n", s->assignments[i].person_id,
                (long long)s->assignments[i].user_id,
                (unsigned long long)s->assignments[i].end_seq);
    for (size_t i = 0; i < s->n_devices; i++)
        fprintf(f, "D %s %u %lld %llu %d %s %d\n", s->devices[i].id, s->devices[i].syncs,
                (long long)s->devices[i].pending,
                (unsigned long long)s->devices[i].given_cursor, s->devices[i].redecide,
                s->devices[i].redecide_cursor, s->devices[i].redecide_done);
    if (fclose(f) != 0)
        abort();
    return buf;
}

/* ---- counting and failing ---- */

static struct wrap_backend *wrap_of(struct backend *b)
{
    return (struct wrap_backend *)((char *)b - offsetof(struct wrap_backend, be));
}

/* Count one call; its error when it is the one to fail. */
static int wrap_call(struct backend *b)
{
    struct wrap_backend *w = wrap_of(b);

    w->calls++;
    return w->fail_at && w->calls == w->fail_at ? w->fail_err : 0;
}

#define FORWARD(name, params, args)                                                                \
    static int w_##name params                                                                     \
    {                                                                                              \
        struct wrap_backend *w = wrap_of(b);                                                       \
        int r = wrap_call(b);                                                                      \
                                                                                                   \
        return r ? r : w->inner->ops->name args;                                                   \
    }

FORWARD(begin, (struct backend *b, bool write), (w->inner, write))
FORWARD(push_load, (struct backend *b, const struct store_principal *p,
                    const struct change_record *changes, size_t n, struct push_snapshot *ret),
        (w->inner, p, changes, n, ret))
FORWARD(push_write, (struct backend *b, const struct backend_write *wr, size_t n),
        (w->inner, wr, n))
FORWARD(person_reload, (struct backend *b, const struct store_principal *p,
                        struct backend_person *io), (w->inner, p, io))
FORWARD(field_current, (struct backend *b, const char *tbl, const char *row_id,
                        const char *field, struct field_cur *ret),
        (w->inner, tbl, row_id, field, ret))
FORWARD(base_issued, (struct backend *b, const struct applying *a), (w->inner, a))
FORWARD(field_put, (struct backend *b, const struct applying *a, uint64_t seq), (w->inner, a, seq))
FORWARD(field_history, (struct backend *b, const char *tbl, const char *row_id,
                        const char *field, uint64_t from_hlc,
                        struct backend_journal_entry **ret, size_t *ret_n),
        (w->inner, tbl, row_id, field, from_hlc, ret, ret_n))
FORWARD(row_edits, (struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                    struct backend_journal_entry **ret, size_t *ret_n),
        (w->inner, tbl, row_id, from_hlc, ret, ret_n))
FORWARD(restored_after, (struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                         const char *device), (w->inner, tbl, row_id, hlc, device))
FORWARD(journal_clocks, (struct backend *b, const char *change_id, uint64_t *ret_hlc,
                         uint64_t *ret_sent_hlc), (w->inner, change_id, ret_hlc, ret_sent_hlc))
FORWARD(row_newest, (struct backend *b, const char *tbl, const char *row_id,
                     struct field_cur *ret), (w->inner, tbl, row_id, ret))
FORWARD(journal, (struct backend *b, const struct applying *a, const char *outcome),
        (w->inner, a, outcome))
FORWARD(conflict_add, (struct backend *b, const char *kind, struct applying *a,
                       const char *loser, const char *winner, const char *field),
        (w->inner, kind, a, loser, winner, field))
FORWARD(register_person, (struct backend *b, const struct store_principal *p,
                          const char *person_id), (w->inner, p, person_id))
FORWARD(row_visible, (struct backend *b, const struct store_principal *p,
                      const struct cat_table *t, const char *row_id, const char *person_id),
        (w->inner, p, t, row_id, person_id))
FORWARD(audit_change, (struct backend *b, const struct applying *a, const char *outcome,
                       const char *before), (w->inner, a, outcome, before))
FORWARD(audit_flush, (struct backend *b), (w->inner))
FORWARD(device_open_conflicts, (struct backend *b, const char *device, uint64_t *ret),
        (w->inner, device, ret))
FORWARD(device_synced, (struct backend *b, const struct store_principal *p, int64_t pending,
                        const char *client_version), (w->inner, p, pending, client_version))
FORWARD(pull_load, (struct backend *b, const struct store_principal *p, struct pull_load *io),
        (w->inner, p, io))
FORWARD(pull_facts, (struct backend *b, const struct store_principal *p, struct pull_facts *io),
        (w->inner, p, io))
FORWARD(pull_device, (struct backend *b, const struct store_principal *p,
                      struct pull_device *ret), (w->inner, p, ret))
FORWARD(pull_device_set, (struct backend *b, const struct store_principal *p,
                          const struct pull_device *d), (w->inner, p, d))
FORWARD(expire_closed, (struct backend *b, const char *cutoff_day), (w->inner, cutoff_day))

static int w_commit(struct backend *b)
{
    struct wrap_backend *w = wrap_of(b);
    int r = wrap_call(b);

    if (!r && w->fail_commit)
        r = -EIO;
    if (r) {
        w->inner->ops->rollback(w->inner);
        return r;
    }
    return w->inner->ops->commit(w->inner);
}

static void w_rollback(struct backend *b)
{
    struct wrap_backend *w = wrap_of(b);

    w->inner->ops->rollback(w->inner);
}

static void w_audit_begin(struct backend *b)
{
    struct wrap_backend *w = wrap_of(b);

    w->inner->ops->audit_begin(w->inner);
}

static void w_audit_drop(struct backend *b)
{
    struct wrap_backend *w = wrap_of(b);

    w->inner->ops->audit_drop(w->inner);
}

void wrap_init(struct wrap_backend *w, struct backend *inner)
{
    *w = (struct wrap_backend){.inner = inner};
    w->ops = (struct backend_ops){
        .name = "wrap",
        .begin = w_begin,
        .commit = w_commit,
        .rollback = w_rollback,
        .push_load = w_push_load,
        .push_write = w_push_write,
        .person_reload = w_person_reload,
        .field_current = w_field_current,
        .base_issued = w_base_issued,
        .field_put = w_field_put,
        .field_history = w_field_history,
        .row_edits = w_row_edits,
        .restored_after = w_restored_after,
        .journal_clocks = w_journal_clocks,
        .row_newest = w_row_newest,
        .journal = w_journal,
        .conflict_add = w_conflict_add,
        .register_person = w_register_person,
        .row_visible = w_row_visible,
        .audit_change = w_audit_change,
        .audit_begin = w_audit_begin,
        .audit_flush = w_audit_flush,
        .audit_drop = w_audit_drop,
        .device_open_conflicts = w_device_open_conflicts,
        .device_synced = w_device_synced,
        .pull_load = w_pull_load,
        .pull_facts = w_pull_facts,
        .pull_device = w_pull_device,
        .pull_device_set = w_pull_device_set,
        .expire_closed = w_expire_closed,
    };
    w->be.ops = &w->ops;
    w->be.seq = inner->seq;
    w->be.hlc = inner->hlc;
}
