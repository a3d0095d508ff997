/* SPDX-License-Identifier: MIT */
/* backend.c - what every storage backend shares: the push snapshot's keys and lookups. */
#include <errno.h>
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
    for (size_t i = 0; i < s->n_rows; i++)
        store_row_done(&s->rows[i].fields);
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
    return 0;
}

