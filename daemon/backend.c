/* SPDX-License-Identifier: MIT */
/* backend.c - what every storage backend shares: the push snapshot's keys and lookups, and the
 * pull's structs. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static int row_cmp(const void *a, const void *b)
{
    const struct backend_row *x = a, *y = b;
    int c = strcmp(x->table->name, y->table->name);

    return c ? c : strcmp(x->row_id, y->row_id);
}

static int person_cmp(const void *a, const void *b)
{
    const struct backend_person *x = a, *y = b;

    return strcmp(x->person_id, y->person_id);
}

void backend_push_snapshot_done(struct push_snapshot *s)
{
    for (size_t i = 0; i < s->n_seen; i++)
        free(s->seen[i].value);
    for (size_t i = 0; i < s->n_rows; i++) {
        struct backend_row *row = &s->rows[i];

        store_row_done(&row->fields);
        for (size_t k = 0; k < row->n_versions; k++)
            store_field_cur_done(&row->versions[k].cur);
        free(row->versions);
        backend_history_free(row->journal, row->n_journal);
        free(row->conflicts);
    }
    backend_push_writes_done(s);
    free(s->seen);
    free(s->rows);
    free(s->people);
    *s = (struct push_snapshot){0};
}

struct backend_row *backend_snapshot_row(struct push_snapshot *s, const struct cat_table *t,
                                         const char *row_id)
{
    struct backend_row key = {.table = t, .row_id = row_id};

    if (!s->n_rows)
        return NULL;
    return bsearch(&key, s->rows, s->n_rows, sizeof(*s->rows), row_cmp);
}

struct backend_person *backend_snapshot_person(struct push_snapshot *s, const char *person_id)
{
    struct backend_person key = {.person_id = person_id};

    if (!s->n_people)
        return NULL;
    return bsearch(&key, s->people, s->n_people, sizeof(*s->people), person_cmp);
}

int backend_snapshot_keys(const struct change_record *changes, size_t n, struct push_snapshot *ret)
{
    size_t k;

    ret->seen = calloc(n ? n : 1, sizeof(*ret->seen));
    ret->rows = calloc(n ? n : 1, sizeof(*ret->rows));
    ret->people = calloc(n ? n : 1, sizeof(*ret->people));
    if (!ret->seen || !ret->rows || !ret->people)
        return -ENOMEM;
    ret->n_seen = n;
    for (size_t i = 0; i < n; i++) {
        ret->rows[i].table = changes[i].table;
        ret->rows[i].row_id = changes[i].row_id;
        ret->people[i].person_id = changes[i].person_id;
    }
    if (n > 1) {
        qsort(ret->rows, n, sizeof(*ret->rows), row_cmp);
        qsort(ret->people, n, sizeof(*ret->people), person_cmp);
    }
    for (k = 0; k < n; k++)
        if (k == 0 || row_cmp(&ret->rows[ret->n_rows - 1], &ret->rows[k]) != 0)
            ret->rows[ret->n_rows++] = ret->rows[k];
    for (k = 0; k < n; k++)
        if (k == 0 || person_cmp(&ret->people[ret->n_people - 1], &ret->people[k]) != 0)
            ret->people[ret->n_people++] = ret->people[k];
    for (k = 0; k < ret->n_rows; k++)
        ret->rows[k].journal_from = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        /* What the merge of change i reads of its row's journal starts at its base (or at its
         * own clock, if older): its field's history, the row's other edits. No base: all. */
        const struct change_record *c = &changes[i];
        struct backend_row *row = backend_snapshot_row_named(ret, c->table->name, c->row_id);
        uint64_t from = c->base_hlc < c->hlc ? c->base_hlc : c->hlc;

        if (row && from < row->journal_from)
            row->journal_from = from;
    }
    return 0;
}


struct backend_row *backend_snapshot_row_named(struct push_snapshot *s, const char *tbl,
                                               const char *row_id)
{
    size_t lo = 0, hi = s->n_rows;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(tbl, s->rows[mid].table->name);

        if (!c)
            c = strcmp(row_id, s->rows[mid].row_id);
        if (!c)
            return &s->rows[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct field_cur *backend_row_version(struct backend_row *row, const char *field)
{
    for (size_t i = 0; i < row->n_versions; i++)
        if (streq(row->versions[i].field, field))
            return &row->versions[i].cur;
    return NULL;
}

int backend_row_put(struct backend_row *row, const char *field, const char *value, uint64_t hlc,
                    const char *device, const char *change_id)
{
    struct field_cur *c = backend_row_version(row, field);
    char *v = NULL;

    if (value && !(v = strdup(value)))
        return -ENOMEM;
    if (!c) {
        if (array_grow((void **)&row->versions, &row->cap_versions, row->n_versions,
                       sizeof(*row->versions), 8) < 0) {
            free(v);
            return -ENOMEM;
        }
        row->versions[row->n_versions] = (struct backend_version){0};
        copy_text(row->versions[row->n_versions].field, sizeof(row->versions[0].field), field);
        c = &row->versions[row->n_versions++].cur;
    }
    free(c->value);
    c->value = v;
    c->exists = true;
    c->hlc = hlc;
    copy_text(c->device, sizeof(c->device), device);
    copy_text(c->change_id, sizeof(c->change_id), change_id);
    return 0;
}

int backend_row_journal_add(struct backend_row *row, const struct backend_journal_entry *e,
                            const char *value)
{
    struct backend_journal_entry *d;
    char *v = NULL;

    if (value && !(v = strdup(value)))
        return -ENOMEM;
    if (array_grow((void **)&row->journal, &row->cap_journal, row->n_journal,
                   sizeof(*row->journal), 8) < 0) {
        free(v);
        return -ENOMEM;
    }
    d = &row->journal[row->n_journal++];
    *d = *e;
    d->value = v;
    d->tombstone = streq(d->field, CAT_DELETED_FIELD);
    return 0;
}

int backend_row_conflict_add(struct backend_row *row, const char *loser, const char *kind)
{
    struct backend_conflict_key *k;

    if (array_grow((void **)&row->conflicts, &row->cap_conflicts, row->n_conflicts,
                   sizeof(*row->conflicts), 8) < 0)
        return -ENOMEM;
    k = &row->conflicts[row->n_conflicts++];
    copy_text(k->loser, sizeof(k->loser), loser);
    copy_text(k->kind, sizeof(k->kind), kind);
    return 0;
}

void backend_push_writes_done(struct push_snapshot *s)
{
    for (size_t i = 0; i < s->n_writes; i++) {
        free(s->writes[i].value);
        free(s->writes[i].before);
    }
    free(s->writes);
    s->writes = NULL;
    s->n_writes = s->cap_writes = 0;
}

void backend_write_applying(const struct backend_write *w, struct applying *ret)
{
    *ret = w->a;
    ret->change_id = w->change_id;
    ret->tbl = w->tbl;
    ret->row_id = w->row_id;
    ret->person_id = w->has_person ? w->person_id : NULL;
    ret->value = w->value;
    ret->device = w->device;
    ret->base_device = w->has_base_device ? w->base_device : NULL;
    ret->sent_base_device = w->has_sent_base_device ? w->sent_base_device : NULL;
}

int backend_write_each(struct backend *b, const struct backend_write *w, size_t n)
{
    int r = 0;

    for (size_t i = 0; r >= 0 && i < n; i++) {
        struct applying a;

        backend_write_applying(&w[i], &a);
        switch (w[i].kind) {
        case BACKEND_WRITE_JOURNAL:
            r = b->ops->journal(b, &a, w[i].outcome);
            break;
        case BACKEND_WRITE_FIELD:
            r = b->ops->field_put(b, &a, w[i].seq);
            break;
        case BACKEND_WRITE_CONFLICT:
            r = b->ops->conflict_add(b, w[i].conflict_kind, &a,
                                     w[i].has_loser ? w[i].loser : NULL,
                                     w[i].has_winner ? w[i].winner : NULL, w[i].field);
            break;
        case BACKEND_WRITE_AUDIT:
            r = b->ops->audit_change(b, &a, w[i].outcome, w[i].before);
            break;
        }
    }
    return r < 0 ? r : 0;
}

/* ---- the pull's structs ---- */

void backend_pull_fields_free(struct pull_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].value);
    free(f);
}

void backend_pull_load_done(struct pull_load *l)
{
    backend_pull_fields_free(l->fields, l->n_fields);
    free(l->events);
    free(l->others_ids);
    l->fields = NULL;
    l->events = NULL;
    l->others_ids = NULL;
    l->n_fields = l->cap_fields = l->n_events = l->cap_events = 0;
    l->n_others = l->cap_others = 0;
}

void backend_pull_facts_done(struct pull_facts *f)
{
    for (size_t i = 0; i < f->n_people; i++) {
        backend_pull_fields_free(f->people[i].state, f->people[i].n_state);
        f->people[i].state = NULL;
        f->people[i].n_state = f->people[i].cap_state = 0;
    }
    for (size_t i = 0; i < f->n_rows; i++) {
        backend_pull_fields_free(f->rows[i].fields, f->rows[i].n_fields);
        backend_pull_fields_free(f->rows[i].actions, f->rows[i].n_actions);
        f->rows[i].fields = f->rows[i].actions = NULL;
        f->rows[i].n_fields = f->rows[i].cap_fields = 0;
        f->rows[i].n_actions = f->rows[i].cap_actions = 0;
    }
}

int backend_pull_field_add(struct pull_field **arr, size_t *n, size_t *cap, const char *tbl,
                           const char *row_id, const char *field, const char *person_id,
                           const char *value, uint64_t hlc, const char *device, uint64_t seq)
{
    struct pull_field *f;

    if (array_grow((void **)arr, cap, *n, sizeof(**arr), 16) < 0)
        return -ENOMEM;
    f = &(*arr)[*n];
    *f = (struct pull_field){.hlc = hlc, .seq = seq};
    f->table = tbl ? catalogue_table(tbl) : NULL;
    f->field = f->table && field ? catalogue_field(f->table, field) : NULL;
    copy_text(f->row_id, sizeof(f->row_id), row_id);
    copy_text(f->person_id, sizeof(f->person_id), person_id);
    copy_text(f->device, sizeof(f->device), device);
    if (value && !(f->value = strdup(value)))
        return -ENOMEM;
    (*n)++;
    return 0;
}
