/* SPDX-License-Identifier: MIT */
/* catalogue.h - the synced tables and fields: names, merge kinds, value types and limits. The
 * single allow-list from which every table or column name in dynamic SQL is taken. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Merge kinds (DESIGN.md §4). */
enum cat_kind {
    CAT_L,  /* last writer wins; concurrent losers are logged */
    CAT_LR, /* as L, and the conflict is flagged for review */
    CAT_A,  /* set once, when the row is created (append-only records never conflict) */
    CAT_S,  /* server-authoritative: devices read it and never write it */
};

enum cat_type {
    CAT_TEXT,     /* any UTF-8 text up to max_len bytes */
    CAT_DATE,     /* YYYY-MM-DD */
    CAT_DATETIME, /* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM] */
    CAT_ENUM,     /* one of values[] */
    CAT_UUID,     /* a row id in canonical form */
    CAT_BOOL,     /* "0" or "1" */
    CAT_INT,      /* a decimal integer from 0 to max_len */
};

struct cat_field {
    const char *name;
    enum cat_kind kind;
    enum cat_type type;
    size_t max_len;             /* CAT_TEXT: bytes; CAT_INT: largest value */
    const char *const *values;  /* CAT_ENUM only: NULL-terminated */
};

struct cat_table {
    const char *name;
    const char *label;          /* plural label for output, e.g. "goals" */
    bool singleton;             /* one row per person whose id is the person's id (about_me) */
    const struct cat_field *fields;
    size_t n_fields;
};

/* Pseudo-field carried by every table: "1" deletes the row (tombstone), "0" restores it. */
#define CAT_DELETED_FIELD "_deleted"
/* Absolute cap on any value, whatever the field says. */
#define CAT_VALUE_MAX 16384

extern const struct cat_table catalogue_tables[];
extern const size_t catalogue_n_tables;
extern const struct cat_field catalogue_deleted_field;

/* catalogue_table() - the table named @name, or NULL. */
const struct cat_table *catalogue_table(const char *name);

/* catalogue_field() - the field @name of @t (including "_deleted"), or NULL. */
const struct cat_field *catalogue_field(const struct cat_table *t, const char *name);

/*
 * catalogue_check_value() - validate @value (may be NULL = clear the field) for @f.
 * Returns 0, or -E2BIG when too long, or -EINVAL when malformed; *why then points to a static
 * description such as "expected a date YYYY-MM-DD".
 */
int catalogue_check_value(const struct cat_field *f, const char *value, const char **why);
