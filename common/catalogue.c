/* SPDX-License-Identifier: MIT */
/* catalogue.c - the synced domain (reference: shared/reference/domain-model.md §2.3): tables,
 * fields, merge kinds and value rules. Keep it in step with schema/client/ (test-schema checks
 * every field is a column of the replica). */
#include "catalogue.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define TEXT(n, k, len)  { n, k, CAT_TEXT, len, NULL }
#define DATE(n, k)       { n, k, CAT_DATE, 0, NULL }
#define DATETIME(n, k)   { n, k, CAT_DATETIME, 0, NULL }
#define ENUM(n, k, v)    { n, k, CAT_ENUM, 0, v }
#define UUIDF(n, k)      { n, k, CAT_UUID, 0, NULL }
#define BOOL(n, k)       { n, k, CAT_BOOL, 0, NULL }
#define INT(n, k, max)   { n, k, CAT_INT, max, NULL }

/* FHIR R4 value sets where one exists (CarePlan, Goal, CarePlan.activity, Consent, Flag). */
static const char *const plan_status[] = {"draft", "active", "on-hold", "revoked", "completed",
                                          "entered-in-error", NULL};
static const char *const plan_kind[] = {"pcsp", "contingency", "additional", NULL};
static const char *const goal_lifecycle[] = {"proposed", "planned", "accepted", "active",
                                             "on-hold", "completed", "cancelled",
                                             "entered-in-error", "rejected", NULL};
static const char *const goal_achievement[] = {"in-progress", "improving", "worsening",
                                               "no-change", "achieved", "sustaining",
                                               "not-achieved", "no-progress", "not-attainable",
                                               NULL};
static const char *const action_status[] = {"not-started", "scheduled", "in-progress", "on-hold",
                                            "completed", "cancelled", "stopped", NULL};
static const char *const who_kind[] = {"worker", "role", "team", "person", "carer", "volunteer",
                                       "personal_assistant", NULL};
static const char *const visit_status[] = {"planned", "in-progress", "completed", "missed",
                                           "cancelled", NULL};
static const char *const missed_reason[] = {"no-answer", "declined", "in-hospital",
                                            "access-problem", "worker-unable", "other", NULL};
static const char *const visit_mode[] = {"home", "phone", "video", "clinic", "community", NULL};
static const char *const record_status[] = {"final", "entered-in-error", NULL};
static const char *const note_category[] = {"visit", "phone", "handover", "clinical",
                                            "social-care", "safeguarding-concern", NULL};
static const char *const obs_kind[] = {"blood-pressure", "pulse", "spo2", "temperature",
                                       "weight", "respiratory-rate", "blood-glucose",
                                       "wound-size", "pain-score", "ons4", "swemwbs",
                                       "timed-up-and-go", "falls", NULL};
static const char *const review_outcome[] = {"continue", "revise", "close", NULL};
static const char *const consent_sector[] = {"all", "health", "social-care", "vcse", NULL};
static const char *const consent_decision[] = {"permit", "deny", NULL};
static const char *const consent_status[] = {"active", "inactive", "rejected",
                                             "entered-in-error", NULL};
static const char *const consent_basis[] = {"explicit", "implied", "best-interests", "attorney",
                                            NULL};
static const char *const alert_category[] = {"animal", "access", "lone-worker", "infection",
                                             "communication", "safeguarding", "clinical",
                                             "other", NULL};
static const char *const alert_status[] = {"active", "inactive", "entered-in-error", NULL};
static const char *const alert_audience[] = {"all", "professionals", NULL};
static const char *const person_status[] = {"active", "referred", "closed", "deceased", NULL};
static const char *const closed_reason[] = {"deceased", "moved-away", "discharged", "declined",
                                            "duplicate", "other", NULL};
static const char *const relationship[] = {"NOK", "ECON", "CAREGIVER", "GUARD", "POWATT",
                                           "SPS", "CHILD", "PRN", "SIB", "FAMMEMB", "FRND",
                                           "NBOR", "O", NULL};

static const struct cat_field person_fields[] = {
    TEXT("name", CAT_LR, 200),
    TEXT("preferred_name", CAT_L, 100),
    DATE("birth_date", CAT_LR),
    TEXT("phone", CAT_L, 64),
    TEXT("address", CAT_L, 500), /* one register: a merge never mixes two addresses */
    TEXT("pronouns", CAT_L, 40),
    TEXT("gender", CAT_LR, 40),
    TEXT("email", CAT_L, 200),
    TEXT("preferred_contact_method", CAT_L, 100),
    TEXT("language", CAT_L, 60),
    BOOL("interpreter_needed", CAT_L),
    TEXT("communication_needs", CAT_L, 2000),
    TEXT("access_instructions", CAT_L, 2000),
    TEXT("nhs_number", CAT_S, 10),
    TEXT("gp_practice", CAT_S, 200),
    ENUM("status", CAT_S, person_status),
    DATE("created_on", CAT_A),
    ENUM("closed_reason", CAT_S, closed_reason), /* set with status closed or deceased */
    DATE("closed_on", CAT_S),
    /* The name and address in parts, for FHIR and for matching (docs/internals/fhir.md); name
     * and address above stay the whole, as written. */
    TEXT("family_name", CAT_LR, 100),
    TEXT("given_names", CAT_LR, 100), /* space separated */
    TEXT("name_prefix", CAT_L, 40),   /* Mrs, Dr, Revd */
    TEXT("address_line1", CAT_L, 200),
    TEXT("address_line2", CAT_L, 200),
    TEXT("address_city", CAT_L, 100),
    TEXT("address_postcode", CAT_L, 10),
    TEXT("gp_ods_code", CAT_S, 10), /* the GP practice's ODS code (gp_practice: its name) */
};
static const struct cat_field related_person_fields[] = {
    TEXT("name", CAT_L, 200),
    TEXT("relationship", CAT_L, 100),
    ENUM("relationship_code", CAT_L, relationship),
    TEXT("phone", CAT_L, 64),
    TEXT("email", CAT_L, 200),
    TEXT("address", CAT_L, 500),
    TEXT("involvement_notes", CAT_L, 2000),
    BOOL("is_unpaid_carer", CAT_LR),
    BOOL("is_next_of_kin", CAT_LR),
    BOOL("is_emergency_contact", CAT_LR),
    BOOL("lpa_health_welfare", CAT_LR),
    BOOL("do_not_contact", CAT_LR),
};
static const struct cat_field about_me_fields[] = {
    TEXT("what_matters", CAT_LR, 4000),       /* What is most important to me */
    TEXT("people_important", CAT_LR, 4000),   /* People who are important to me */
    TEXT("communication", CAT_LR, 4000),      /* How I communicate and how to communicate with me */
    TEXT("wellness", CAT_LR, 4000),           /* My wellness */
    TEXT("please_do", CAT_LR, 4000),          /* Please do and please do not */
    TEXT("how_to_support", CAT_LR, 4000),     /* How and when to support me */
    TEXT("worth_knowing", CAT_LR, 4000),      /* Also worth knowing about me */
    TEXT("appreciate", CAT_LR, 4000),         /* What people appreciate about me (one-page) */
    TEXT("supported_to_write_by", CAT_L, 200),
    BOOL("shareable_with_vcse", CAT_LR),
};
static const struct cat_field care_plan_fields[] = {
    TEXT("title", CAT_L, 200),
    ENUM("status", CAT_LR, plan_status),
    TEXT("summary", CAT_LR, 4000),
    DATE("review_due", CAT_LR),
    ENUM("kind", CAT_A, plan_kind),
    TEXT("agreed_with", CAT_LR, 200),
    DATE("agreed_on", CAT_LR),
    TEXT("review_by", CAT_LR, 200),
    TEXT("funding_source", CAT_L, 200),
    DATE("start_date", CAT_L),
};
static const struct cat_field goal_fields[] = {
    UUIDF("care_plan_id", CAT_A),
    TEXT("description", CAT_LR, 2000),
    ENUM("lifecycle_status", CAT_LR, goal_lifecycle),
    ENUM("achievement_status", CAT_LR, goal_achievement),
    UUIDF("parent_goal_id", CAT_A),
    INT("importance", CAT_L, 10),
    DATE("target_date", CAT_L),
    TEXT("domain", CAT_L, 100),
    TEXT("expressed_by", CAT_A, 200),
    DATE("start_date", CAT_L),
};
static const struct cat_field plan_action_fields[] = {
    UUIDF("goal_id", CAT_A),
    TEXT("what", CAT_L, 2000),
    TEXT("who", CAT_LR, 200),
    DATE("due_date", CAT_L),
    ENUM("status", CAT_LR, action_status),
    ENUM("who_kind", CAT_LR, who_kind),
    TEXT("when_text", CAT_L, 200),
    TEXT("status_reason", CAT_LR, 500),
    INT("confidence", CAT_L, 10),
    DATE("review_date", CAT_L),
};
static const struct cat_field plan_review_fields[] = {
    UUIDF("care_plan_id", CAT_A),
    DATE("review_date", CAT_A),
    ENUM("outcome", CAT_A, review_outcome),
    TEXT("summary", CAT_A, 4000),
    DATE("next_review_date", CAT_A),
    TEXT("reviewed_by", CAT_A, 200),
    BOOL("with_person", CAT_A),
    ENUM("status", CAT_LR, record_status),
};
static const struct cat_field visit_fields[] = {
    DATETIME("planned_start", CAT_L),
    DATETIME("actual_start", CAT_L),
    DATETIME("actual_end", CAT_L),
    ENUM("status", CAT_LR, visit_status),
    ENUM("missed_reason", CAT_LR, missed_reason),
    TEXT("outcome", CAT_L, 4000),
    DATETIME("planned_end", CAT_L),
    TEXT("visit_type", CAT_L, 100),
    ENUM("mode", CAT_L, visit_mode),
    TEXT("assigned_to", CAT_L, 64),
    BOOL("follow_up_needed", CAT_L),
    DATETIME("recorded_at", CAT_L),
};
static const struct cat_field note_fields[] = {
    UUIDF("visit_id", CAT_A),
    TEXT("text", CAT_A, CAT_VALUE_MAX),
    ENUM("category", CAT_A, note_category),
    TEXT("author", CAT_A, 64),
    DATETIME("occurred_at", CAT_A),
    DATETIME("recorded_at", CAT_A),
    ENUM("status", CAT_LR, record_status),
    TEXT("error_reason", CAT_LR, 500),
};
static const struct cat_field observation_fields[] = {
    UUIDF("visit_id", CAT_A),
    ENUM("kind", CAT_A, obs_kind),
    TEXT("value", CAT_A, 100),
    TEXT("unit", CAT_A, 20),
    TEXT("author", CAT_A, 64),
    DATETIME("occurred_at", CAT_A),
    DATETIME("recorded_at", CAT_A),
    ENUM("status", CAT_LR, record_status),
    TEXT("error_reason", CAT_LR, 500),
};
static const struct cat_field goal_progress_fields[] = {
    UUIDF("goal_id", CAT_A),
    INT("rating", CAT_A, 10),
    TEXT("in_own_words", CAT_A, 4000),
    ENUM("achievement_status", CAT_A, goal_achievement),
    TEXT("author", CAT_A, 64),
    DATETIME("occurred_at", CAT_A),
    DATETIME("recorded_at", CAT_A),
    ENUM("status", CAT_LR, record_status),
    TEXT("error_reason", CAT_LR, 500),
};
static const struct cat_field consent_fields[] = {
    ENUM("sector", CAT_A, consent_sector),
    ENUM("decision", CAT_A, consent_decision),
    TEXT("data_class", CAT_A, 100),
    ENUM("basis", CAT_A, consent_basis),
    TEXT("recorded_by", CAT_A, 64),
    DATETIME("recorded_at", CAT_A),
    TEXT("notes", CAT_A, 2000),
    ENUM("status", CAT_LR, consent_status),
    DATETIME("withdrawn_at", CAT_LR),
};
static const struct cat_field alert_fields[] = {
    ENUM("category", CAT_L, alert_category),
    TEXT("text", CAT_L, 2000),
    ENUM("audience", CAT_L, alert_audience),
    ENUM("status", CAT_LR, alert_status),
    DATE("period_start", CAT_L),
    DATE("period_end", CAT_L),
    TEXT("raised_by", CAT_A, 64),
};

#define TABLE(n, l, f)     { n, l, false, f, sizeof(f) / sizeof((f)[0]) }
#define SINGLETON(n, l, f) { n, l, true, f, sizeof(f) / sizeof((f)[0]) }
const struct cat_table catalogue_tables[] = {
    TABLE("person", "people", person_fields),
    TABLE("care_plan", "care_plans", care_plan_fields),
    TABLE("goal", "goals", goal_fields),
    TABLE("plan_action", "actions", plan_action_fields),
    TABLE("visit", "visits", visit_fields),
    TABLE("note", "notes", note_fields),
    TABLE("related_person", "contacts", related_person_fields),
    SINGLETON("about_me", "about_me", about_me_fields),
    TABLE("plan_review", "reviews", plan_review_fields),
    TABLE("observation", "observations", observation_fields),
    TABLE("goal_progress", "progress", goal_progress_fields),
    TABLE("consent", "consents", consent_fields),
    TABLE("alert", "alerts", alert_fields),
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
    case CAT_INT: {
        uint64_t v;

        if (parse_u64(value, &v) == 0 && v <= f->max_len && (value[0] != '0' || !value[1]))
            return 0;
        *why = "expected a whole number in the field's range (e.g. 0 to 10)";
        return -EINVAL;
    }
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
