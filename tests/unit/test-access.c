/* SPDX-License-Identifier: MIT */
/* test-access.c - the security rules of common/access.c, case by case from the matrix of
 * shared/reference/domain-model.md §4.3 and docs/internals/access.md ("Who writes what", "Who may
 * delete what"): roles and classes, which rows and fields each role sees, what decides a row's
 * visibility, authorship, and what each role may write and delete. The expectations are written
 * from the documents, not read back from the code. */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "catalogue.h"
#include "harness.h"

static const char *const roles[] = {"nurse",     "occupational_therapist", "physiotherapist",
                                    "social_worker", "link_worker",        "volunteer",
                                    "personal_assistant", "coordinator",   "admin"};
#define N_ROLES (sizeof(roles) / sizeof(roles[0]))

/* A row as key=value pairs; get() answers NULL for a field not given. */
struct kv_row {
    const char *kv[16];
};

static const char *kv_get(void *ctx, const char *field)
{
    const struct kv_row *r = ctx;

    for (size_t i = 0; i + 1 < 16 && r->kv[i]; i += 2)
        if (strcmp(r->kv[i], field) == 0)
            return r->kv[i + 1];
    return NULL;
}

#define ROW(...) (&(struct access_row){kv_get, &(struct kv_row){{__VA_ARGS__, NULL}}})
#define NOROW    (&(struct access_row){kv_get, &(struct kv_row){{NULL}}})

static const struct cat_table *T(const char *name)
{
    const struct cat_table *t = catalogue_table(name);

    if (!t) {
        fprintf(stderr, "no table %s in the catalogue\n", name);
        abort();
    }
    return t;
}

static const struct cat_field *F(const char *table, const char *field)
{
    const struct cat_field *f = catalogue_field(T(table), field);

    if (!f) {
        fprintf(stderr, "no field %s.%s in the catalogue\n", table, field);
        abort();
    }
    return f;
}

static bool visible(const char *role, const char *user, const char *table,
                    const struct access_row *row)
{
    return access_row_visible(role, user, T(table), row, false, false);
}

static bool writes(const char *role, const char *user, const char *table, const char *field,
                   const struct access_row *row, bool is_new)
{
    const char *why = NULL;
    bool ok = access_may_write(role, user, T(table), F(table, field), row, is_new, &why);

    /* A refusal always says why, in a sentence; a permission never sets a reason. */
    if (!ok && (!why || strlen(why) < 10)) {
        fprintf(stderr, "%s writing %s.%s refused without a reason\n", role, table, field);
        abort();
    }
    return ok;
}

TEST(roles_and_classes)
{
    ASSERT_EQ(access_class_of("nurse"), ACCESS_CLINICIAN);
    ASSERT_EQ(access_class_of("occupational_therapist"), ACCESS_CLINICIAN);
    ASSERT_EQ(access_class_of("physiotherapist"), ACCESS_CLINICIAN);
    ASSERT_EQ(access_class_of("social_worker"), ACCESS_SOCIAL);
    ASSERT_EQ(access_class_of("link_worker"), ACCESS_LINK);
    ASSERT_EQ(access_class_of("volunteer"), ACCESS_VCSE);
    ASSERT_EQ(access_class_of("personal_assistant"), ACCESS_VCSE);
    ASSERT_EQ(access_class_of("coordinator"), ACCESS_COORDINATOR);
    ASSERT_EQ(access_class_of("admin"), ACCESS_ADMIN);
    /* Names are exact: no case folding, no trimming, nothing for an absent role. */
    ASSERT_EQ(access_class_of("Nurse"), ACCESS_NONE);
    ASSERT_EQ(access_class_of("nurse "), ACCESS_NONE);
    ASSERT_EQ(access_class_of(""), ACCESS_NONE);
    ASSERT_EQ(access_class_of(NULL), ACCESS_NONE);
    ASSERT_EQ(access_class_of("doctor"), ACCESS_NONE);
}

TEST(consent_sectors)
{
    ASSERT_STREQ(access_sector("nurse"), "health");
    ASSERT_STREQ(access_sector("physiotherapist"), "health");
    ASSERT_STREQ(access_sector("link_worker"), "health"); /* PCN link workers are NHS */
    ASSERT_STREQ(access_sector("social_worker"), "social-care");
    ASSERT_STREQ(access_sector("volunteer"), "vcse");
    ASSERT_STREQ(access_sector("personal_assistant"), "vcse");
    /* Consent provisions do not remove people from coordinators or admins. */
    ASSERT_NULL(access_sector("coordinator"));
    ASSERT_NULL(access_sector("admin"));
    ASSERT_NULL(access_sector("unknown"));
}

TEST(admin_and_unknown_roles_see_and_write_no_person_data)
{
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];

        ASSERT_FALSE(access_row_visible("admin", "root", t, NOROW, true, true));
        ASSERT_FALSE(access_row_visible("doctor", "x", t, NOROW, true, true));
        for (size_t j = 0; j < t->n_fields; j++) {
            const char *why = NULL;

            ASSERT_FALSE(access_may_write("admin", "root", t, &t->fields[j], NOROW, true, &why));
            ASSERT_NOT_NULL(why);
            ASSERT_FALSE(access_may_write("doctor", "x", t, &t->fields[j], NOROW, true, &why));
        }
    }
}

TEST(server_fields_are_written_by_nobody)
{
    size_t n = 0;

    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];

        for (size_t j = 0; j < t->n_fields; j++) {
            if (t->fields[j].kind != CAT_S)
                continue;
            n++;
            for (size_t r = 0; r < N_ROLES; r++) {
                const char *why = NULL;

                ASSERT_FALSE(access_may_write(roles[r], "u", t, &t->fields[j], NOROW, false,
                                              &why));
                ASSERT_FALSE(access_may_write(roles[r], "u", t, &t->fields[j], NOROW, true,
                                              &why));
                ASSERT_NOT_NULL(why);
            }
        }
    }
    /* nhs_number, gp_practice, status, closed_reason, closed_on at least. */
    ASSERT_GE(n, 5);
    ASSERT_EQ(F("person", "nhs_number")->kind, CAT_S);
    ASSERT_EQ(F("person", "status")->kind, CAT_S);
}

/* D10: a safeguarding concern is read by social care and coordinators (and its author). */
TEST(safeguarding_notes)
{
    const struct access_row *row = ROW("category", "safeguarding-concern", "author", "vol.sam");

    ASSERT_TRUE(visible("social_worker", "sw.kim", "note", row));
    ASSERT_TRUE(visible("coordinator", "coord.ann", "note", row));
    ASSERT_TRUE(visible("volunteer", "vol.sam", "note", row)); /* its author */
    ASSERT_FALSE(visible("volunteer", "vol.other", "note", row));
    ASSERT_FALSE(visible("nurse", "nurse.amira", "note", row));
    ASSERT_FALSE(visible("link_worker", "lw.jo", "note", row));
    ASSERT_FALSE(visible("personal_assistant", "pa.lee", "note", row));
    /* Everyone may raise one (write-only for most). */
    ASSERT_TRUE(writes("volunteer", "vol.sam", "note", "text", row, true));
    ASSERT_TRUE(writes("link_worker", "lw.jo", "note", "text",
                       ROW("category", "safeguarding-concern", "author", "lw.jo"), true));
}

/* D9: clinical notes and observations go to clinicians and social workers only. */
TEST(clinical_records)
{
    const struct access_row *note = ROW("category", "clinical", "author", "nurse.amira");
    const struct access_row *bp = ROW("kind", "blood_pressure", "author", "nurse.amira");

    for (const char *const *r = (const char *const[]){"nurse", "occupational_therapist",
                                                        "physiotherapist", "social_worker", NULL};
         *r; r++) {
        ASSERT_TRUE(visible(*r, "someone", "note", note));
        ASSERT_TRUE(visible(*r, "someone", "observation", bp));
    }
    for (const char *const *r = (const char *const[]){"link_worker", "volunteer",
                                                        "personal_assistant", "coordinator", NULL};
         *r; r++) {
        ASSERT_FALSE(visible(*r, "someone", "note", note));
        ASSERT_FALSE(visible(*r, "someone", "observation", bp));
    }
    /* What one wrote oneself stays visible whatever the class. */
    ASSERT_TRUE(visible("link_worker", "nurse.amira", "note", note));
    /* Writing: only clinicians record clinical observations and notes. */
    ASSERT_TRUE(writes("nurse", "nurse.amira", "observation", "value", bp, true));
    ASSERT_FALSE(writes("social_worker", "nurse.amira", "observation", "value", bp, true));
    ASSERT_FALSE(writes("link_worker", "nurse.amira", "observation", "value", bp, true));
    ASSERT_FALSE(writes("link_worker", "nurse.amira", "note", "text", note, true));
    ASSERT_TRUE(writes("social_worker", "nurse.amira", "note", "text", note, true));
}

/* D8: wellbeing measures are read by every professional, and by a volunteer only their own. */
TEST(wellbeing_measures)
{
    const struct access_row *ons4 = ROW("kind", "ons4", "author", "lw.jo");
    const struct access_row *swemwbs = ROW("kind", "swemwbs", "author", "vol.sam");

    ASSERT_TRUE(visible("link_worker", "lw.other", "observation", ons4));
    ASSERT_TRUE(visible("coordinator", "coord.ann", "observation", ons4));
    ASSERT_TRUE(visible("nurse", "nurse.amira", "observation", ons4));
    ASSERT_FALSE(visible("volunteer", "vol.sam", "observation", ons4));
    ASSERT_TRUE(visible("volunteer", "vol.sam", "observation", swemwbs));
    ASSERT_TRUE(writes("link_worker", "lw.jo", "observation", "value", ons4, true));
    ASSERT_TRUE(writes("social_worker", "lw.jo", "observation", "value", ons4, true));
}

/* D7: volunteers and PAs read their own notes only; everyone else reads ordinary notes. */
TEST(ordinary_notes)
{
    const struct access_row *mine = ROW("category", "visit", "author", "vol.sam");
    const struct access_row *nurses = ROW("category", "visit", "author", "nurse.amira");

    ASSERT_TRUE(visible("volunteer", "vol.sam", "note", mine));
    ASSERT_FALSE(visible("volunteer", "vol.sam", "note", nurses));
    ASSERT_FALSE(visible("personal_assistant", "pa.lee", "note", nurses));
    ASSERT_TRUE(visible("link_worker", "lw.jo", "note", nurses));
    ASSERT_TRUE(visible("coordinator", "coord.ann", "note", nurses));
}

/* Volunteers and PAs: need to know only (D1-D6, D11). */
TEST(vcse_rows)
{
    for (const char *const *r = (const char *const[]){"volunteer", "personal_assistant", NULL};
         *r; r++) {
        const char *u = "vol.sam";

        ASSERT_TRUE(visible(*r, u, "person", NOROW));
        ASSERT_TRUE(visible(*r, u, "alert", ROW("audience", "all-visiting")));
        ASSERT_FALSE(visible(*r, u, "alert", ROW("audience", "professionals")));
        ASSERT_TRUE(visible(*r, u, "related_person", ROW("is_emergency_contact", "1")));
        ASSERT_FALSE(visible(*r, u, "related_person",
                             ROW("is_emergency_contact", "1", "do_not_contact", "1")));
        ASSERT_FALSE(visible(*r, u, "related_person", ROW("is_next_of_kin", "1")));
        ASSERT_TRUE(visible(*r, u, "plan_action", ROW("who", "vol.sam")));
        ASSERT_FALSE(visible(*r, u, "plan_action", ROW("who", "nurse.amira")));
        ASSERT_TRUE(access_row_visible(*r, u, T("goal"), NOROW, true, false));
        ASSERT_FALSE(access_row_visible(*r, u, T("goal"), NOROW, false, false));
        ASSERT_TRUE(visible(*r, u, "visit", ROW("assigned_to", "vol.sam")));
        ASSERT_FALSE(visible(*r, u, "visit", ROW("assigned_to", "nurse.amira")));
        ASSERT_TRUE(visible(*r, u, "goal_progress", ROW("author", "vol.sam")));
        ASSERT_FALSE(visible(*r, u, "goal_progress", ROW("author", "nurse.amira")));
        /* D3: About Me only with the person's permission and the row's shareable flag. */
        ASSERT_TRUE(access_row_visible(*r, u, T("about_me"), ROW("shareable_with_vcse", "1"),
                                       false, true));
        ASSERT_FALSE(access_row_visible(*r, u, T("about_me"), ROW("shareable_with_vcse", "1"),
                                        false, false));
        ASSERT_FALSE(access_row_visible(*r, u, T("about_me"), ROW("shareable_with_vcse", "0"),
                                        false, true));
        /* Never synced to them: the plan itself, its reviews, consent records. */
        ASSERT_FALSE(visible(*r, u, "care_plan", NOROW));
        ASSERT_FALSE(visible(*r, u, "plan_review", NOROW));
        ASSERT_FALSE(visible(*r, u, "consent", NOROW));
    }
    /* Professionals see those rows. */
    ASSERT_TRUE(visible("nurse", "nurse.amira", "care_plan", NOROW));
    ASSERT_TRUE(visible("link_worker", "lw.jo", "plan_action", ROW("who", "nurse.amira")));
    ASSERT_TRUE(visible("coordinator", "coord.ann", "consent", NOROW));
}

/* D1: a volunteer sees a person's name, address and phone, never an NHS number, DOB or GP. */
TEST(vcse_person_fields)
{
    const struct cat_table *person = T("person");

    for (const char *const *f = (const char *const[]){"name", "preferred_name", "phone",
                                                        "address", "access_instructions",
                                                        /* the same name and address in parts */
                                                        "family_name", "given_names",
                                                        "name_prefix", "address_line1",
                                                        "address_line2", "address_city",
                                                        "address_postcode", NULL};
         *f; f++)
        ASSERT_TRUE(access_field_visible("volunteer", person, F("person", *f)));
    for (const char *const *f = (const char *const[]){"nhs_number", "birth_date", "gp_practice",
                                                        "gp_ods_code", "email", "gender", NULL};
         *f; f++) {
        ASSERT_FALSE(access_field_visible("volunteer", person, F("person", *f)));
        ASSERT_FALSE(access_field_visible("personal_assistant", person, F("person", *f)));
        ASSERT_TRUE(access_field_visible("nurse", person, F("person", *f)));
        ASSERT_TRUE(access_field_visible("coordinator", person, F("person", *f)));
    }
    /* Other tables' fields are not cut for them (their rows are). */
    ASSERT_TRUE(access_field_visible("volunteer", T("visit"), F("visit", "outcome")));
}

TEST(fields_that_decide_visibility)
{
    ASSERT_TRUE(access_field_decides(T("note"), F("note", "category")));
    ASSERT_TRUE(access_field_decides(T("note"), F("note", "author")));
    ASSERT_TRUE(access_field_decides(T("observation"), F("observation", "kind")));
    ASSERT_TRUE(access_field_decides(T("plan_action"), F("plan_action", "who")));
    ASSERT_TRUE(access_field_decides(T("visit"), F("visit", "assigned_to")));
    ASSERT_TRUE(access_field_decides(T("alert"), F("alert", "audience")));
    ASSERT_TRUE(access_field_decides(T("about_me"), F("about_me", "shareable_with_vcse")));
    ASSERT_TRUE(access_field_decides(T("related_person"), F("related_person", "do_not_contact")));
    ASSERT_FALSE(access_field_decides(T("note"), F("note", "text")));
    ASSERT_FALSE(access_field_decides(T("visit"), F("visit", "status")));
    ASSERT_FALSE(access_field_decides(T("person"), F("person", "name")));
    /* Every field a rule reads for visibility decides it: a row whose visibility depends on
     * field X must be re-sent whole when X changes. */
    ASSERT_FALSE(access_row_needs_fields("nurse", T("person")));
    ASSERT_TRUE(access_row_needs_fields("nurse", T("note")));
    ASSERT_TRUE(access_row_needs_fields("coordinator", T("observation")));
    ASSERT_TRUE(access_row_needs_fields("volunteer", T("visit")));
    ASSERT_FALSE(access_row_needs_fields("volunteer", T("person")));
    ASSERT_FALSE(access_row_needs_fields("social_worker", T("visit")));
}

TEST(authorship)
{
    ASSERT_STREQ(access_author_field(T("note")), "author");
    ASSERT_STREQ(access_author_field(T("observation")), "author");
    ASSERT_STREQ(access_author_field(T("goal_progress")), "author");
    ASSERT_STREQ(access_author_field(T("consent")), "recorded_by");
    ASSERT_STREQ(access_author_field(T("alert")), "raised_by");
    ASSERT_NULL(access_author_field(T("person")));
    ASSERT_NULL(access_author_field(T("visit")));
    /* A record's author is the writer's own name, whoever writes. */
    for (size_t r = 0; r < N_ROLES - 1; r++) { /* all but admin */
        ASSERT_FALSE(writes(roles[r], "me", "note", "author",
                            ROW("category", "visit", "author", "someone.else"), true));
        ASSERT_FALSE(writes(roles[r], "me", "alert", "raised_by",
                            ROW("raised_by", "someone.else"), true));
    }
    ASSERT_TRUE(writes("nurse", "nurse.amira", "note", "author",
                       ROW("category", "visit", "author", "nurse.amira"), true));
}

TEST(coordinators_write_admin_fields_not_the_plan)
{
    ASSERT_TRUE(writes("coordinator", "c", "person", "phone", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "visit", "assigned_to", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "alert", "text", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "related_person", "phone", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "consent", "status", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "care_plan", "review_due", NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "care_plan", "review_by", NOROW, false));
    ASSERT_FALSE(writes("coordinator", "c", "care_plan", "title", NOROW, false));
    ASSERT_FALSE(writes("coordinator", "c", "goal", "description", NOROW, true));
    ASSERT_FALSE(writes("coordinator", "c", "plan_action", "status", NOROW, false));
    ASSERT_FALSE(writes("coordinator", "c", "about_me", "what_matters", NOROW, false));
}

TEST(vcse_writes)
{
    const char *u = "vol.sam";

    /* Notes: new visit/phone/handover/safeguarding notes; never clinical or social-care ones;
     * once written only the author marks one entered in error. */
    ASSERT_TRUE(writes("volunteer", u, "note", "text", ROW("category", "visit"), true));
    ASSERT_FALSE(writes("volunteer", u, "note", "text", ROW("category", "clinical"), true));
    ASSERT_FALSE(writes("volunteer", u, "note", "text", ROW("category", "social-care"), true));
    ASSERT_FALSE(writes("volunteer", u, "note", "text", ROW("author", u), false));
    ASSERT_TRUE(writes("volunteer", u, "note", "status", ROW("author", u), false));
    ASSERT_FALSE(writes("volunteer", u, "note", "status", ROW("author", "nurse.amira"), false));
    /* Alerts: raise, not change. */
    ASSERT_TRUE(writes("volunteer", u, "alert", "text", ROW("raised_by", u), true));
    ASSERT_FALSE(writes("volunteer", u, "alert", "status", ROW("raised_by", u), false));
    /* Visits: their own; the hand-over is a coordinator's. */
    ASSERT_TRUE(writes("volunteer", u, "visit", "outcome", ROW("assigned_to", u), false));
    ASSERT_FALSE(writes("volunteer", u, "visit", "outcome", ROW("assigned_to", "nurse.a"),
                        false));
    ASSERT_FALSE(writes("volunteer", u, "visit", "assigned_to", ROW("assigned_to", u), false));
    /* Actions: the status and confidence of their own, nothing else, nothing new. */
    ASSERT_TRUE(writes("volunteer", u, "plan_action", "status", ROW("who", u), false));
    ASSERT_TRUE(writes("volunteer", u, "plan_action", "confidence", ROW("who", u), false));
    ASSERT_FALSE(writes("volunteer", u, "plan_action", "what", ROW("who", u), false));
    ASSERT_FALSE(writes("volunteer", u, "plan_action", "status", ROW("who", "nurse.a"), false));
    ASSERT_FALSE(writes("volunteer", u, "plan_action", "status", ROW("who", u), true));
    /* Progress on goals they support: new entries; an entry is then only marked in error. */
    ASSERT_TRUE(writes("volunteer", u, "goal_progress", "in_own_words", ROW("author", u), true));
    ASSERT_FALSE(writes("volunteer", u, "goal_progress", "in_own_words", ROW("author", u),
                        false));
    ASSERT_TRUE(writes("volunteer", u, "goal_progress", "status", ROW("author", u), false));
    /* Nothing else. */
    ASSERT_FALSE(writes("volunteer", u, "goal", "description", NOROW, true));
    ASSERT_FALSE(writes("volunteer", u, "about_me", "what_matters", NOROW, false));
    ASSERT_FALSE(writes("personal_assistant", "pa.lee", "person", "phone", NOROW, false));
    ASSERT_FALSE(writes("volunteer", u, "consent", "status", NOROW, false));
}

/* docs/internals/access.md, "Who may delete what". */
TEST(deletes)
{
    /* Never deleted from a device, by anyone. */
    for (const char *const *t = (const char *const[]){"person", "note", "observation",
                                                        "goal_progress", "plan_review", "consent",
                                                        "visit", "care_plan", "about_me", NULL};
         *t; t++)
        for (size_t r = 0; r < N_ROLES; r++)
            ASSERT_FALSE(writes(roles[r], "u", *t, CAT_DELETED_FIELD, NOROW, false));
    /* Alerts: coordinators remove duplicates. */
    ASSERT_TRUE(writes("coordinator", "c", "alert", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_FALSE(writes("nurse", "n", "alert", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_FALSE(writes("volunteer", "v", "alert", CAT_DELETED_FIELD, NOROW, false));
    /* Contacts: professionals and coordinators. */
    ASSERT_TRUE(writes("nurse", "n", "related_person", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_TRUE(writes("social_worker", "s", "related_person", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_TRUE(writes("link_worker", "l", "related_person", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_TRUE(writes("coordinator", "c", "related_person", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_FALSE(writes("volunteer", "v", "related_person", CAT_DELETED_FIELD, NOROW, false));
    ASSERT_FALSE(writes("personal_assistant", "p", "related_person", CAT_DELETED_FIELD, NOROW,
                        false));
    /* Goals and actions: the professionals who write the plan. */
    for (const char *const *t = (const char *const[]){"goal", "plan_action", NULL}; *t; t++) {
        ASSERT_TRUE(writes("physiotherapist", "p", *t, CAT_DELETED_FIELD, NOROW, false));
        ASSERT_TRUE(writes("social_worker", "s", *t, CAT_DELETED_FIELD, NOROW, false));
        ASSERT_TRUE(writes("link_worker", "l", *t, CAT_DELETED_FIELD, NOROW, false));
        ASSERT_FALSE(writes("coordinator", "c", *t, CAT_DELETED_FIELD, NOROW, false));
        ASSERT_FALSE(writes("volunteer", "v", *t, CAT_DELETED_FIELD, ROW("who", "v"), false));
    }
}

TEST(role_names_and_list)
{
    for (size_t r = 0; r < N_ROLES; r++) {
        ASSERT_TRUE(access_role_valid(roles[r]));
        ASSERT_TRUE(strstr(access_role_list(), roles[r]) != NULL);
    }
    ASSERT_FALSE(access_role_valid("Nurse"));
    ASSERT_FALSE(access_role_valid(""));
    ASSERT_FALSE(access_role_valid(NULL));
    ASSERT_STREQ(access_role_list(), "nurse, social_worker, occupational_therapist, "
                                     "physiotherapist, link_worker, volunteer, "
                                     "personal_assistant, coordinator, admin");
}

TEST(user_names)
{
    char longest[ACCESS_USER_MAX + 2];

    ASSERT_TRUE(access_user_valid("nurse.amira"));
    ASSERT_TRUE(access_user_valid("A-b_c.9"));
    ASSERT_FALSE(access_user_valid(""));
    ASSERT_FALSE(access_user_valid(NULL));
    ASSERT_FALSE(access_user_valid("nurse amira"));
    ASSERT_FALSE(access_user_valid("amira@nhs.net"));
    ASSERT_FALSE(access_user_valid("ami\xc3\xa9"));
    ASSERT_FALSE(access_user_valid("a/b"));
    memset(longest, 'x', ACCESS_USER_MAX);
    longest[ACCESS_USER_MAX] = '\0';
    ASSERT_TRUE(access_user_valid(longest));
    longest[ACCESS_USER_MAX] = 'x';
    longest[ACCESS_USER_MAX + 1] = '\0';
    ASSERT_FALSE(access_user_valid(longest));
}
