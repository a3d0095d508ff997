/* SPDX-License-Identifier: MIT */
/* catalogue.c - the synced domain: tables, fields, merge kinds and value rules. Keep it in step
 * with schema/client/ (a unit test checks every field is a column of the replica). */
#include "catalogue.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define TEXT(n, k, len)  { n, k, CAT_TEXT, len, NULL }
#define DATE(n, k)       { n, k, CAT_DATE, 0, NULL }
#define DATETIME(n, k)   { n, k, CAT_DATETIME, 0, NULL }
#define ENUM(n, k, v)    { n, k, CAT_ENUM, 0, v }
#define UUIDF(n, k)      { n, k, CAT_UUID, 0, NULL }

static const char *const plan_status[] = {"draft", "active", "on-hold", "revoked", "completed",
                                          "entered-in-error", NULL};
static const char *const goal_lifecycle[] = {"proposed", "planned", "accepted", "active",
                                             "on-hold", "completed", "cancelled",
                                             "entered-in-error", "rejected", NULL};
static const char *const goal_achievement[] = {"in-progress", "improving", "worsening",
                                               "no-change", "achieved", "sustaining",
                                               "not-achieved", "no-progress", "not-attainable",
                                               NULL};
static const char *const action_status[] = {"not-started", "scheduled", "in-progress", "on-hold",
                                            "completed", "cancelled", "stopped", NULL};
static const char *const visit_status[] = {"planned", "in-progress", "completed", "missed",
                                           "cancelled", NULL};

static const struct cat_field person_fields[] = {
    TEXT("name", CAT_LR, 200),
    TEXT("preferred_name", CAT_L, 100),
    DATE("birth_date", CAT_LR),
    TEXT("phone", CAT_L, 64),
    TEXT("address", CAT_L, 500),
};
static const struct cat_field care_plan_fields[] = {
    TEXT("title", CAT_L, 200),
    ENUM("status", CAT_LR, plan_status),
    TEXT("summary", CAT_LR, 4000),
    DATE("review_due", CAT_LR),
};
static const struct cat_field goal_fields[] = {
    UUIDF("care_plan_id", CAT_A),
    TEXT("description", CAT_LR, 2000),
    ENUM("lifecycle_status", CAT_LR, goal_lifecycle),
    ENUM("achievement_status", CAT_LR, goal_achievement),
};
static const struct cat_field plan_action_fields[] = {
    UUIDF("goal_id", CAT_A),
    TEXT("what", CAT_L, 2000),
    TEXT("who", CAT_LR, 200),
    DATE("due_date", CAT_L),
    ENUM("status", CAT_LR, action_status),
};
static const struct cat_field visit_fields[] = {
    DATETIME("planned_start", CAT_L),
    DATETIME("actual_start", CAT_L),
    DATETIME("actual_end", CAT_L),
    ENUM("status", CAT_LR, visit_status),
    TEXT("missed_reason", CAT_LR, 200),
    TEXT("outcome", CAT_L, 4000),
};
static const struct cat_field note_fields[] = {
    UUIDF("visit_id", CAT_A),
    TEXT("text", CAT_A, CAT_VALUE_MAX),
};

#define TABLE(n, l, f) { n, l, f, sizeof(f) / sizeof((f)[0]) }
const struct cat_table catalogue_tables[] = {
    TABLE("person", "people", person_fields),
    TABLE("care_plan", "care_plans", care_plan_fields),
    TABLE("goal", "goals", goal_fields),
    TABLE("plan_action", "actions", plan_action_fields),
    TABLE("visit", "visits", visit_fields),
    TABLE("note", "notes", note_fields),
};
const size_t catalogue_n_tables = sizeof(catalogue_tables) / sizeof(catalogue_tables[0]);

static const char *const deleted_values[] = {"0", "1", NULL};
const struct cat_field catalogue_deleted_field = ENUM(CAT_DELETED_FIELD, CAT_LR, deleted_values);

const struct cat_table *catalogue_table(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < catalogue_n_tables; i++)
        if (strcmp(catalogue_tables[i].name, name) == 0)
            return &catalogue_tables[i];
    return NULL;
}

const struct cat_field *catalogue_field(const struct cat_table *t, const char *name)
{
    if (!t || !name)
        return NULL;
    if (strcmp(name, CAT_DELETED_FIELD) == 0)
        return &catalogue_deleted_field;
    for (size_t i = 0; i < t->n_fields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return &t->fields[i];
    return NULL;
}

int catalogue_check_value(const struct cat_field *f, const char *value, const char **why)
{
    size_t len;

    if (!value)
        return 0;
    len = strlen(value);
    if (len > CAT_VALUE_MAX || (f->type == CAT_TEXT && len > f->max_len)) {
        *why = "value is longer than the field allows";
        return -E2BIG;
    }
    switch (f->type) {
    case CAT_TEXT:
        return 0;
    case CAT_DATE:
        if (date_valid(value))
            return 0;
        *why = "expected a date YYYY-MM-DD";
        return -EINVAL;
    case CAT_DATETIME:
        if (datetime_valid(value))
            return 0;
        *why = "expected a date and time YYYY-MM-DDTHH:MM[:SS][Z]";
        return -EINVAL;
    case CAT_UUID:
        if (uuid_valid(value))
            return 0;
        *why = "expected a row id (lower-case UUID)";
        return -EINVAL;
    case CAT_BOOL:
        if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)
            return 0;
        *why = "expected 0 or 1";
        return -EINVAL;
    case CAT_ENUM:
        for (const char *const *v = f->values; *v; v++)
            if (strcmp(*v, value) == 0)
                return 0;
        *why = "value is not one of the field's allowed values";
        return -EINVAL;
    }
    *why = "unknown field type";
    return -EINVAL;
}
