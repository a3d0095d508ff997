/* SPDX-License-Identifier: MIT */
/* test-catalogue.c - the synced domain's allow-list: lookups, the _deleted pseudo-field, sane
 * limits, and value checks for every value type. */
#include <stdio.h>
#include <string.h>

#include "catalogue.h"
#include "harness.h"

TEST(lookups)
{
    const struct cat_table *person = catalogue_table("person");

    ASSERT_NOT_NULL(person);
    ASSERT_STREQ(person->name, "person");
    ASSERT_NULL(catalogue_table("Person"));
    ASSERT_NULL(catalogue_table("person "));
    ASSERT_NULL(catalogue_table(""));
    ASSERT_NULL(catalogue_table(NULL));
    ASSERT_NOT_NULL(catalogue_field(person, "phone"));
    ASSERT_NULL(catalogue_field(person, "description"));
    ASSERT_NULL(catalogue_field(NULL, "phone"));
    ASSERT_NULL(catalogue_field(person, NULL));
    ASSERT_TRUE(catalogue_field(person, "_deleted") == &catalogue_deleted_field);
    ASSERT_TRUE(catalogue_field(catalogue_table("goal"), "_deleted") == &catalogue_deleted_field);
    for (const char *const *t = (const char *const[]){"person", "care_plan", "goal",
                                                        "plan_action", "visit", "note", NULL};
         *t; t++)
        ASSERT_NOT_NULL(catalogue_table(*t));
}

TEST(tables_are_well_formed)
{
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];

        ASSERT_TRUE(catalogue_table(t->name) == t);
        ASSERT_NOT_NULL(t->label);
        ASSERT_GT(t->n_fields, 0);
        for (size_t j = 0; j < t->n_fields; j++) {
            const struct cat_field *f = &t->fields[j];

            /* names are SQL identifiers: lower-case letters, digits and '_' */
            for (const char *p = f->name; *p; p++)
                ASSERT_TRUE((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
            ASSERT_TRUE(f->name[0] != '_');
            ASSERT_TRUE(catalogue_field(t, f->name) == f); /* unique names */
            ASSERT_FALSE(strcmp(f->name, "id") == 0 || strcmp(f->name, "person_id") == 0);
            if (f->type == CAT_TEXT) {
                ASSERT_GT(f->max_len, 0);
                ASSERT_LE(f->max_len, CAT_VALUE_MAX);
            }
            if (f->type == CAT_ENUM) {
                ASSERT_NOT_NULL(f->values);
                ASSERT_NOT_NULL(f->values[0]);
            }
        }
    }
}

TEST(check_value_each_type)
{
    const struct cat_table *person = catalogue_table("person");
    const struct cat_table *goal = catalogue_table("goal");
    const struct cat_table *visit = catalogue_table("visit");
    const struct cat_field *phone = catalogue_field(person, "phone");
    const struct cat_field *dob = catalogue_field(person, "birth_date");
    const struct cat_field *status = catalogue_field(goal, "lifecycle_status");
    const struct cat_field *plan = catalogue_field(goal, "care_plan_id");
    const struct cat_field *start = catalogue_field(visit, "planned_start");
    const struct cat_field *del = &catalogue_deleted_field;
    const struct cat_field *text = catalogue_field(catalogue_table("note"), "text");
    const char *why = NULL;
    char buf[CAT_VALUE_MAX + 2];

    ASSERT_OK(catalogue_check_value(phone, NULL, &why)); /* clearing is always allowed */
    ASSERT_OK(catalogue_check_value(phone, "", &why));
    memset(buf, '1', phone->max_len);
    buf[phone->max_len] = '\0';
    ASSERT_OK(catalogue_check_value(phone, buf, &why));
    buf[phone->max_len] = '1';
    buf[phone->max_len + 1] = '\0';
    ASSERT_ERRNO(catalogue_check_value(phone, buf, &why), -E2BIG);
    ASSERT_NOT_NULL(why);

    memset(buf, 'x', CAT_VALUE_MAX);
    buf[CAT_VALUE_MAX] = '\0';
    ASSERT_OK(catalogue_check_value(text, buf, &why));
    buf[CAT_VALUE_MAX] = 'x';
    buf[CAT_VALUE_MAX + 1] = '\0';
    ASSERT_ERRNO(catalogue_check_value(text, buf, &why), -E2BIG);

    ASSERT_OK(catalogue_check_value(dob, "1944-02-29", &why));
    ASSERT_ERRNO(catalogue_check_value(dob, "1943-02-29", &why), -EINVAL);
    ASSERT_OK(catalogue_check_value(status, "active", &why));
    ASSERT_ERRNO(catalogue_check_value(status, "Active", &why), -EINVAL);
    ASSERT_ERRNO(catalogue_check_value(status, "", &why), -EINVAL);
    ASSERT_OK(catalogue_check_value(plan, "0193c6b2-6a4e-7c4d-9b1e-3f2a1c0d9e8f", &why));
    ASSERT_ERRNO(catalogue_check_value(plan, "not-a-row", &why), -EINVAL);
    ASSERT_OK(catalogue_check_value(start, "2026-01-05T09:00", &why));
    ASSERT_ERRNO(catalogue_check_value(start, "2026-01-05", &why), -EINVAL);
    ASSERT_OK(catalogue_check_value(del, "1", &why));
    ASSERT_OK(catalogue_check_value(del, "0", &why));
    ASSERT_ERRNO(catalogue_check_value(del, "yes", &why), -EINVAL);
}
