/* SPDX-License-Identifier: MIT */
/* gen.h - deterministic synthetic care records for the benchmarks: a person with a full care and
 * support plan and 90 days of visits, notes and observations, shaped like
 * reference/domain-model.md §5 (the 'load' profile), using only tables and fields that exist in
 * common/catalogue.c. Rows are handed to a callback, which writes them to the server store (as
 * pushed changes) or to a device replica (caresync_add). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "wire.h"

#define GEN_FIELDS_MAX 16

/* One new row: its table, id, person and fields. */
struct gen_row {
    const char *table;
    char id[UUID_STR_MAX];
    char person_id[UUID_STR_MAX];
    size_t n;
    const char *fields[GEN_FIELDS_MAX];
    char values[GEN_FIELDS_MAX][512];
};

/* Called once per row. May replace row->id (a device makes its own ids); later rows that refer
 * to this one use the id as it is when the callback returns. Returns 0 or a negative errno. */
typedef int (*gen_row_fn)(void *userdata, struct gen_row *row);

struct gen {
    uint64_t rng;
    uint64_t now_ms; /* "today": visits run from 90 days before to 14 days after */
};

void gen_init(struct gen *g, uint64_t seed);
uint64_t gen_rand(struct gen *g);
/* gen_uuid() - a UUIDv7 (from the kernel's random source). */
void gen_uuid(char out[static UUID_STR_MAX]);

/* How much of a person to make. */
struct gen_person_opts {
    unsigned visits;     /* visits over the 90 days (+ 2 planned ahead); 0 for a light person */
    bool observations;   /* nursing-style observations at about a third of the visits */
    const char *author;  /* worker name written in notes */
};

/*
 * gen_person() - a person (whose id is @person_id, made if empty) with About Me, two contacts,
 * a personalised care and support plan with 3 goals and 2 actions each, progress entries, a
 * consent, an alert for one person in four, and @o->visits visits with a note per completed
 * visit and observations. Returns the number of fields written, or the callback's error.
 */
long gen_person(struct gen *g, char person_id[static UUID_STR_MAX],
                const struct gen_person_opts *o, gen_row_fn fn, void *userdata);

/* gen_visit_with_note() - one completed visit of today with a note (what a worker records at a
 * visit: 10 + 7 fields). Returns the number of fields, or the callback's error. */
long gen_visit_with_note(struct gen *g, const char *person_id, const char *author, gen_row_fn fn,
                         void *userdata);

/* gen_text() - @n bytes (roughly) of plausible words into @buf (size > n). */
void gen_text(struct gen *g, char *buf, size_t n);

/* gen_edit_value() - a new value for an editable field (table, field), e.g. a new phone number
 * or a goal's achievement status. NULL when the field is not one we edit. */
const char *gen_edit_value(struct gen *g, const char *table, const char *field, char *buf,
                           size_t size);

/* ---- to the server store: rows as pushed change records ---- */

/* A growing array of change records (push form, base "no version"). */
struct gen_batch {
    struct change_record *v;
    size_t n, cap;
    uint64_t hlc; /* the sending device's clock: ticks per change */
};

/* gen_batch_add_row() - a gen_row_fn: one change per field of the row. */
int gen_batch_add_row(void *batch, struct gen_row *row);
/* gen_batch_add() - one change (value copied). */
int gen_batch_add(struct gen_batch *b, const char *table, const char *row_id, const char *person_id,
                  const char *field, const char *value, uint64_t base_hlc, const char *base_device);
/* gen_batch_clear() - free the values and empty the batch (keeps the array). */
void gen_batch_clear(struct gen_batch *b);
void gen_batch_done(struct gen_batch *b);
