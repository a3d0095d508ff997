/* SPDX-License-Identifier: MIT */
/* test-fhir.c - the FHIR R4 export of one person (docs/internals/fhir.md): a hand-built tree
 * with a row of every table, visits in every status and deleted rows, checked for the Bundle's
 * structure (PUT Type/id, unique fullUrls), references that all resolve inside the Bundle, the
 * required elements and status value sets of every resource type, and the mapping itself. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fhir.h"
#include "harness.h"
#include "util.h"
#include "wire.h"

#define ID(n) "0190a1b2-0000-7000-8000-0000000000" n

#define PERSON   ID("01")
#define SON      ID("02")
#define NEIGHBOUR ID("03")
#define BANNED   ID("04")
#define PLAN     ID("10")
#define G_WALK   ID("11")
#define G_GATE   ID("12")
#define G_GONE   ID("13") /* deleted */
#define A_SELF   ID("14")
#define A_NURSE  ID("15")
#define A_GONE   ID("16") /* deleted */
#define V_DONE   ID("20")
#define V_MISSED ID("21")
#define V_PLAN   ID("22")
#define V_NOW    ID("23")
#define V_CANCEL ID("24")
#define V_GONE   ID("25") /* deleted */
#define O_BP     ID("30")
#define O_WRONG  ID("31")
#define O_WEIGHT ID("32")
#define O_PAIN   ID("33")
#define O_GLUC   ID("34")
#define GP_1     ID("40")
#define N_1      ID("50")
#define N_GONE   ID("51") /* deleted */
#define N_SAFE   ID("52")
#define C_PERMIT ID("60")
#define C_DENY   ID("61")
#define AL_CAT   ID("70")
#define AL_OLD   ID("71")
#define REVIEW   ID("80")

/* The person as `caresync show PERSON --json` prints them. */
static const char tree_json[] =
        "{\"id\":\"" PERSON "\",\"person_id\":\"" PERSON "\",\"name\":\"Doreen Ashworth\","
        "\"preferred_name\":\"Dot\",\"birth_date\":\"1941-06-01\",\"phone\":\"0161 496 0000\","
        "\"address\":\"3 Mill Lane, Northbrook NB1 2AA\",\"email\":null,\"gender\":\"Female\","
        "\"language\":\"en\",\"interpreter_needed\":\"0\","
        "\"communication_needs\":\"Hard of hearing: face her when speaking\","
        "\"access_instructions\":\"Key safe by the back door\",\"nhs_number\":\"9434765919\","
        "\"gp_practice\":\"Northbrook Medical Centre\",\"status\":\"active\",\"_deleted\":\"0\","
        "\"about_me\":{\"id\":\"" PERSON "\",\"person_id\":\"" PERSON "\","
        "  \"what_matters\":\"My cat Bramble and the allotment club\",\"people_important\":null,"
        "  \"please_do\":\"Knock loudly and wait\",\"wellness\":\"   \","
        "  \"shareable_with_vcse\":\"1\"},"
        "\"contacts\":["
        " {\"id\":\"" SON "\",\"person_id\":\"" PERSON "\",\"name\":\"Mark Ashworth\","
        "  \"relationship\":\"son\",\"relationship_code\":\"CHILD\",\"is_next_of_kin\":\"1\","
        "  \"is_emergency_contact\":\"1\",\"lpa_health_welfare\":\"1\",\"phone\":\"07700 900123\"},"
        " {\"id\":\"" NEIGHBOUR "\",\"person_id\":\"" PERSON "\",\"name\":\"Jo Neighbour\","
        "  \"relationship_code\":\"NBOR\",\"is_unpaid_carer\":\"1\",\"do_not_contact\":\"0\"},"
        " {\"id\":\"" BANNED "\",\"person_id\":\"" PERSON "\",\"name\":\"Former partner\","
        "  \"relationship\":\"ex-partner\",\"relationship_code\":\"O\",\"do_not_contact\":\"1\"}],"
        "\"care_plans\":[{\"id\":\"" PLAN "\",\"person_id\":\"" PERSON "\",\"title\":\"My plan\","
        "  \"status\":\"active\",\"summary\":\"Stay at home and get out more\","
        "  \"kind\":\"pcsp\",\"start_date\":\"2026-01-05\",\"review_due\":\"2026-07-01\","
        "  \"agreed_with\":\"Doreen\",\"agreed_on\":\"2026-01-05\",\"review_by\":\"cora\"}],"
        "\"goals\":["
        " {\"id\":\"" G_WALK "\",\"person_id\":\"" PERSON "\",\"care_plan_id\":\"" PLAN "\","
        "  \"description\":\"Walk to the post office with my frame by June\","
        "  \"lifecycle_status\":\"active\",\"achievement_status\":\"improving\","
        "  \"importance\":\"9\",\"target_date\":\"2026-06-30\",\"expressed_by\":\"person\"},"
        " {\"id\":\"" G_GATE "\",\"person_id\":\"" PERSON "\",\"care_plan_id\":\"" PLAN "\","
        "  \"parent_goal_id\":\"" G_WALK "\",\"description\":\"To the garden gate by May\","
        "  \"lifecycle_status\":\"completed\",\"achievement_status\":\"achieved\"},"
        " {\"id\":\"" G_GONE "\",\"person_id\":\"" PERSON "\",\"care_plan_id\":\"" PLAN "\","
        "  \"description\":\"A goal made by mistake\",\"lifecycle_status\":\"active\","
        "  \"_deleted\":\"1\"}],"
        "\"actions\":["
        " {\"id\":\"" A_SELF "\",\"person_id\":\"" PERSON "\",\"goal_id\":\"" G_WALK "\","
        "  \"what\":\"Daily exercises\",\"who\":\"Doreen\",\"who_kind\":\"person\","
        "  \"status\":\"in-progress\",\"when_text\":\"every morning\",\"confidence\":\"6\"},"
        " {\"id\":\"" A_NURSE "\",\"person_id\":\"" PERSON "\",\"goal_id\":\"" G_GONE "\","
        "  \"what\":\"Check leg dressing twice weekly\",\"who\":\"nina\",\"who_kind\":\"worker\","
        "  \"status\":\"not-started\",\"due_date\":\"2026-02-01\"},"
        " {\"id\":\"" A_GONE "\",\"person_id\":\"" PERSON "\",\"goal_id\":\"" G_WALK "\","
        "  \"what\":\"Deleted action\",\"who\":\"nina\",\"status\":\"not-started\","
        "  \"_deleted\":\"1\"}],"
        "\"visits\":["
        " {\"id\":\"" V_DONE "\",\"person_id\":\"" PERSON "\",\"status\":\"completed\","
        "  \"planned_start\":\"2026-03-02T09:00\",\"planned_end\":\"2026-03-02T09:45\","
        "  \"actual_start\":\"2026-03-02T09:05\",\"actual_end\":\"2026-03-02T09:40\","
        "  \"mode\":\"home\",\"visit_type\":\"dressing\",\"outcome\":\"Healing well\","
        "  \"assigned_to\":\"nina\",\"follow_up_needed\":\"0\"},"
        " {\"id\":\"" V_MISSED "\",\"person_id\":\"" PERSON "\",\"status\":\"missed\","
        "  \"planned_start\":\"2026-03-02T13:00\",\"missed_reason\":\"no-answer\","
        "  \"mode\":\"home\",\"assigned_to\":\"nina\"},"
        " {\"id\":\"" V_PLAN "\",\"person_id\":\"" PERSON "\",\"status\":\"planned\","
        "  \"planned_start\":\"2026-03-09T09:00+00:00\",\"planned_end\":\"2026-03-09T09:30Z\","
        "  \"mode\":\"phone\"},"
        " {\"id\":\"" V_NOW "\",\"person_id\":\"" PERSON "\",\"status\":\"in-progress\","
        "  \"planned_start\":\"2026-07-01T09:00\",\"actual_start\":\"2026-07-01T09:10:30\","
        "  \"mode\":\"video\"},"
        " {\"id\":\"" V_CANCEL "\",\"person_id\":\"" PERSON "\",\"status\":\"cancelled\","
        "  \"planned_start\":\"2026-03-04T10:00\"},"
        " {\"id\":\"" V_GONE "\",\"person_id\":\"" PERSON "\",\"status\":\"planned\","
        "  \"planned_start\":\"2026-03-05T10:00\",\"_deleted\":\"1\"}],"
        "\"notes\":["
        " {\"id\":\"" N_1 "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_DONE "\","
        "  \"text\":\"Dressing changed; healing well\",\"category\":\"visit\","
        "  \"author\":\"nina\",\"occurred_at\":\"2026-03-02T09:30\","
        "  \"recorded_at\":\"2026-03-02T09:41:00Z\",\"status\":\"final\"},"
        " {\"id\":\"" N_GONE "\",\"person_id\":\"" PERSON "\",\"text\":\"deleted\","
        "  \"_deleted\":\"1\"},"
        " {\"id\":\"" N_SAFE "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_MISSED "\","
        "  \"text\":\"Worried about bruising\",\"category\":\"safeguarding-concern\","
        "  \"status\":\"entered-in-error\",\"error_reason\":\"wrong person\","
        "  \"recorded_at\":\"2026-03-02T13:20Z\"}],"
        "\"observations\":["
        " {\"id\":\"" O_BP "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_DONE "\","
        "  \"kind\":\"blood-pressure\",\"value\":\"130/80\",\"unit\":\"mmHg\","
        "  \"occurred_at\":\"2026-03-02T09:10\",\"recorded_at\":\"2026-03-02T09:11Z\","
        "  \"status\":\"final\",\"author\":\"nina\"},"
        " {\"id\":\"" O_WRONG "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_DONE "\","
        "  \"kind\":\"weight\",\"value\":\"612\",\"unit\":\"kg\",\"status\":\"entered-in-error\","
        "  \"error_reason\":\"typo: 61.2 kg\"},"
        " {\"id\":\"" O_WEIGHT "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_DONE "\","
        "  \"kind\":\"weight\",\"value\":\"61.2\",\"unit\":\"kg\",\"status\":\"final\"},"
        " {\"id\":\"" O_PAIN "\",\"person_id\":\"" PERSON "\",\"visit_id\":\"" V_MISSED "\","
        "  \"kind\":\"pain-score\",\"value\":\"mild\",\"status\":\"final\"},"
        " {\"id\":\"" O_GLUC "\",\"person_id\":\"" PERSON "\","
        "  \"kind\":\"blood-glucose\",\"value\":\"6.1\",\"unit\":\"mmol/L\"}],"
        "\"progress\":[{\"id\":\"" GP_1 "\",\"person_id\":\"" PERSON "\",\"goal_id\":\"" G_WALK "\","
        "  \"rating\":\"6\",\"in_own_words\":\"Made it to the gate and back\","
        "  \"achievement_status\":\"improving\",\"occurred_at\":\"2026-03-02T09:20\","
        "  \"status\":\"final\"}],"
        "\"consents\":["
        " {\"id\":\"" C_PERMIT "\",\"person_id\":\"" PERSON "\",\"sector\":\"all\","
        "  \"decision\":\"permit\",\"basis\":\"explicit\",\"status\":\"active\","
        "  \"recorded_at\":\"2026-01-05T10:00Z\"},"
        " {\"id\":\"" C_DENY "\",\"person_id\":\"" PERSON "\",\"sector\":\"vcse\","
        "  \"decision\":\"deny\",\"data_class\":\"clinical\",\"basis\":\"explicit\","
        "  \"status\":\"inactive\",\"withdrawn_at\":\"2026-02-01T10:00Z\"}],"
        "\"alerts\":["
        " {\"id\":\"" AL_CAT "\",\"person_id\":\"" PERSON "\",\"category\":\"animal\","
        "  \"text\":\"Cat: keep the door shut\",\"status\":\"active\","
        "  \"period_start\":\"2026-01-05\"},"
        " {\"id\":\"" AL_OLD "\",\"person_id\":\"" PERSON "\",\"category\":\"animal\","
        "  \"text\":\"Dog in the garden\",\"status\":\"inactive\"}],"
        "\"reviews\":[{\"id\":\"" REVIEW "\",\"person_id\":\"" PERSON "\","
        "  \"care_plan_id\":\"" PLAN "\",\"review_date\":\"2026-02-15\",\"outcome\":\"continue\","
        "  \"summary\":\"Six-week review\",\"next_review_date\":\"2026-07-01\","
        "  \"with_person\":\"1\",\"status\":\"final\"}],"
        "\"team\":[{\"user\":\"nina\",\"role\":\"nurse\",\"assignment\":\"contributor\"},"
        "          {\"user\":\"cora\",\"role\":\"coordinator\",\"assignment\":\"contributor\"}]"
        "}";

/* ---- walking the Bundle ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *resource(const cJSON *bundle, const char *type, const char *id)
{
    const cJSON *e;

    cJSON_ArrayForEach (e, get(bundle, "entry")) {
        const cJSON *r = get(e, "resource");

        if (strcmp(str(r, "resourceType"), type) == 0 && strcmp(str(r, "id"), id) == 0)
            return r;
    }
    return NULL;
}

/* Is "Type/id" @ref the resource of an entry of @bundle before @upto (or @upto itself)? */
static bool entry_before(const cJSON *bundle, const char *ref, const cJSON *upto)
{
    const cJSON *e;
    char key[128];

    cJSON_ArrayForEach (e, get(bundle, "entry")) {
        const cJSON *r = get(e, "resource");

        snprintf(key, sizeof(key), "%s/%s", str(r, "resourceType"), str(r, "id"));
        if (strcmp(key, ref) == 0)
            return true;
        if (e == upto)
            return false;
    }
    return false;
}

/* Every reference under @node (of entry @entry) is "Type/id" of an entry at or before it: the
 * Bundle is in load order, so any slice loads once the slices before it have. */
static void check_references(const cJSON *bundle, const cJSON *entry, const cJSON *node, int *n)
{
    const cJSON *c;

    cJSON_ArrayForEach (c, node) {
        /* Consent.provision.actor.reference is itself a Reference (an object). */
        if (c->string && strcmp(c->string, "reference") == 0 && !cJSON_IsObject(c)) {
            ASSERT_TRUE(cJSON_IsString(c));
            if (!entry_before(bundle, c->valuestring, entry))
                TEST_FAIL_("reference %s is no entry before the one that refers to it",
                           c->valuestring);
            (*n)++;
        }
        check_references(bundle, entry, c, n);
        CHECK_PASSING();
    }
}

/* FHIR has no empty strings, objects or arrays, and no JSON nulls. */
static void check_no_empties(const cJSON *node, const char *where)
{
    const cJSON *c;

    cJSON_ArrayForEach (c, node) {
        if (cJSON_IsNull(c) || (cJSON_IsString(c) && !c->valuestring[0]) ||
            ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !c->child))
            TEST_FAIL_("%s: empty or null member '%s'", where, c->string ? c->string : "[]");
        check_no_empties(c, where);
        CHECK_PASSING();
    }
}

static bool in_list(const char *v, const char *const *list)
{
    for (; v && *list; list++)
        if (strcmp(v, *list) == 0)
            return true;
    return false;
}

static bool fhir_id(const char *s)
{
    size_t n = 0;

    for (; s && s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '.')
            return false;
    return n >= 1 && n <= 64;
}

/* "YYYY-MM-DDTHH:MM:SS" and a zone: what an R4 instant needs. */
static bool instant(const char *s)
{
    return s && strlen(s) >= 20 && datetime_valid(s) && s[16] == ':' &&
           (s[19] == 'Z' || s[19] == '+' || s[19] == '-' || s[19] == '.');
}

/* A FHIR dateTime: a date, or a date-time with seconds and a zone. */
static bool fhir_datetime(const char *s)
{
    return s && (date_valid(s) || instant(s));
}

struct rule {
    const char *type;
    const char *required[4];
    const char *const *statuses; /* NULL: no status element to check */
};

static const char *const appointment_st[] = {"proposed", "pending",   "booked",  "arrived",
                                             "fulfilled", "cancelled", "noshow",
                                             "entered-in-error", "checked-in", "waitlist", NULL};
static const char *const encounter_st[] = {"planned",  "arrived",   "triaged",
                                           "in-progress", "onleave", "finished",
                                           "cancelled", "entered-in-error", "unknown", NULL};
static const char *const task_st[] = {"draft",     "requested", "received",  "accepted",
                                      "rejected",  "ready",     "cancelled", "in-progress",
                                      "on-hold",   "failed",    "completed", "entered-in-error",
                                      NULL};
static const char *const careplan_st[] = {"draft",     "active",           "on-hold", "revoked",
                                          "completed", "entered-in-error", "unknown", NULL};
static const char *const observation_st[] = {"registered", "preliminary", "final", "amended",
                                             "corrected",  "cancelled",   "entered-in-error",
                                             "unknown",    NULL};
static const char *const docref_st[] = {"current", "superseded", "entered-in-error", NULL};
static const char *const consent_st[] = {"draft",    "proposed",         "active", "rejected",
                                         "inactive", "entered-in-error", NULL};
static const char *const flag_st[] = {"active", "inactive", "entered-in-error", NULL};
static const char *const qr_st[] = {"in-progress", "completed", "amended", "entered-in-error",
                                    "stopped", NULL};
static const char *const careteam_st[] = {"proposed", "active", "suspended", "inactive",
                                          "entered-in-error", NULL};
static const char *const goal_lifecycle[] = {"proposed",  "planned",   "accepted",
                                             "active",    "on-hold",   "completed",
                                             "cancelled", "entered-in-error", "rejected", NULL};
static const char *const activity_st[] = {"not-started", "scheduled", "in-progress", "on-hold",
                                          "completed",   "cancelled", "stopped",     "unknown",
                                          "entered-in-error", NULL};

/* R4 elements of minimum cardinality 1 (and a few invariants) of what the export makes. */
static const struct rule rules[] = {
        {"Patient", {NULL}, NULL},
        {"RelatedPerson", {"patient"}, NULL},
        {"CareTeam", {NULL}, careteam_st},
        {"QuestionnaireResponse", {"status"}, qr_st},
        {"CarePlan", {"status", "intent", "subject"}, careplan_st},
        {"Goal", {"lifecycleStatus", "description", "subject"}, NULL},
        {"Appointment", {"status", "participant"}, appointment_st},
        {"Encounter", {"status", "class"}, encounter_st},
        {"Task", {"status", "intent"}, task_st},
        {"Observation", {"status", "code"}, observation_st},
        {"DocumentReference", {"status", "content"}, docref_st},
        {"Consent", {"status", "scope", "category"}, consent_st},
        {"Flag", {"status", "code", "subject"}, flag_st},
        {"CodeSystem", {"status", "content"}, (const char *const[]){"draft", "active", "retired", "unknown", NULL}},
        {"Questionnaire", {"status"}, (const char *const[]){"draft", "active", "retired", "unknown", NULL}},
        {"Practitioner", {NULL}, NULL},
        {"PractitionerRole", {NULL}, NULL},
        {"Organization", {NULL}, NULL},
};

static void check_resource(const cJSON *r)
{
    const char *type = str(r, "resourceType");
    const struct rule *rule = NULL;
    const cJSON *c;

    for (size_t i = 0; i < ELEMENTSOF(rules); i++)
        if (strcmp(rules[i].type, type) == 0)
            rule = &rules[i];
    if (!rule)
        TEST_FAIL_("unexpected resource type %s", type);
    for (size_t i = 0; i < ELEMENTSOF(rule->required) && rule->required[i]; i++)
        if (!get(r, rule->required[i]))
            TEST_FAIL_("%s/%s has no %s", type, str(r, "id"), rule->required[i]);
    if (rule->statuses && !in_list(str(r, "status"), rule->statuses))
        TEST_FAIL_("%s/%s status '%s' is not in its value set", type, str(r, "id"),
                   str(r, "status"));
    if (strcmp(type, "Goal") == 0) {
        ASSERT_TRUE(in_list(str(r, "lifecycleStatus"), goal_lifecycle));
        ASSERT_NOT_NULL(str(get(r, "description"), "text"));
    } else if (strcmp(type, "CarePlan") == 0) {
        ASSERT_TRUE(in_list(str(r, "intent"), (const char *const[]){"proposal", "plan", "order",
                                                                    "option", NULL}));
        cJSON_ArrayForEach (c, get(r, "activity")) {
            /* cpl-3: a reference or a detail, not both; a detail has a status. */
            ASSERT_FALSE(get(c, "reference") && get(c, "detail"));
            if (get(c, "detail"))
                ASSERT_TRUE(in_list(str(get(c, "detail"), "status"), activity_st));
        }
    } else if (strcmp(type, "Task") == 0) {
        ASSERT_STREQ(str(r, "intent"), "order");
    } else if (strcmp(type, "Appointment") == 0) {
        const char *st = str(r, "status");

        cJSON_ArrayForEach (c, get(r, "participant")) {
            ASSERT_NOT_NULL(str(c, "status"));
            ASSERT_TRUE(get(c, "actor") || get(c, "type"));
        }
        /* app-2 and app-3: both times or neither; only proposed/cancelled may have neither. */
        ASSERT_EQ(!get(r, "start"), !get(r, "end"));
        ASSERT_TRUE(get(r, "start") || strcmp(st, "proposed") == 0 ||
                    strcmp(st, "cancelled") == 0);
        if (get(r, "start"))
            ASSERT_TRUE(instant(str(r, "start")) && instant(str(r, "end")));
        /* app-4: a cancelation reason only when cancelled or a no-show. */
        if (get(r, "cancelationReason"))
            ASSERT_TRUE(strcmp(st, "noshow") == 0 || strcmp(st, "cancelled") == 0);
    } else if (strcmp(type, "Encounter") == 0) {
        ASSERT_STREQ(str(get(r, "class"), "system"),
                     "http://terminology.hl7.org/CodeSystem/v3-ActCode");
        ASSERT_NOT_NULL(str(get(r, "class"), "code"));
    } else if (strcmp(type, "DocumentReference") == 0) {
        cJSON_ArrayForEach (c, get(r, "content"))
            ASSERT_TRUE(cJSON_IsObject(get(c, "attachment")));
        if (get(r, "date"))
            ASSERT_TRUE(instant(str(r, "date")));
    } else if (strcmp(type, "Observation") == 0) {
        if (get(r, "issued"))
            ASSERT_TRUE(instant(str(r, "issued")));
        if (get(r, "effectiveDateTime"))
            ASSERT_TRUE(fhir_datetime(str(r, "effectiveDateTime")));
        /* obs-6: dataAbsentReason only without a value. */
        if (get(r, "dataAbsentReason"))
            ASSERT_FALSE(get(r, "valueQuantity") || get(r, "valueString") ||
                         get(r, "valueInteger"));
    } else if (strcmp(type, "Consent") == 0) {
        /* ppc-1: a policy or a policy rule. */
        ASSERT_TRUE(get(r, "policy") || get(r, "policyRule"));
        ASSERT_TRUE(get(r, "patient"));
    }
}

/* The structural rules every export meets, whatever its content. Returns the entry count. */
static void check_bundle(const cJSON *b, int *ret_refs)
{
    const cJSON *e, *e2;
    int n = 0;

    ASSERT_STREQ(str(b, "resourceType"), "Bundle");
    ASSERT_STREQ(str(b, "type"), "transaction");
    ASSERT_TRUE(cJSON_IsArray(get(b, "entry")));
    cJSON_ArrayForEach (e, get(b, "entry")) {
        const cJSON *r = get(e, "resource"), *req = get(e, "request");
        const char *type = str(r, "resourceType"), *id = str(r, "id"), *url = str(e, "fullUrl");
        char want[128];

        ASSERT_NOT_NULL(type);
        ASSERT_TRUE(fhir_id(id));
        snprintf(want, sizeof(want), "%s/%s", type, id);
        ASSERT_STREQ(str(req, "method"), "PUT");
        ASSERT_STREQ(str(req, "url"), want);
        ASSERT_TRUE(url && strncmp(url, "urn:uuid:", 9) == 0 && uuid_valid(url + 9));
        for (e2 = e->next; e2; e2 = e2->next) {
            const cJSON *r2 = get(e2, "resource");

            if (strcmp(str(e2, "fullUrl"), url) == 0)
                TEST_FAIL_("fullUrl %s is used twice", url);
            if (strcmp(str(r2, "resourceType"), type) == 0 && strcmp(str(r2, "id"), id) == 0)
                TEST_FAIL_("%s appears twice", want);
        }
        check_resource(r);
        CHECK_PASSING();
        check_no_empties(r, want);
        CHECK_PASSING();
    }
    cJSON_ArrayForEach (e, get(b, "entry")) {
        check_references(b, e, get(e, "resource"), &n);
        CHECK_PASSING();
    }
    *ret_refs = n;
}

static cJSON *parse_tree(void)
{
    cJSON *t = cJSON_Parse(tree_json);

    if (!t)
        fprintf(stderr, "tree_json does not parse near: %.40s\n", cJSON_GetErrorPtr());
    return t;
}

/* The fullUrl that references to @type/@id use. */
static const char *url_of(const cJSON *b, const char *type, const char *id)
{
    const cJSON *e;

    cJSON_ArrayForEach (e, get(b, "entry")) {
        const cJSON *r = get(e, "resource");

        if (strcmp(str(r, "resourceType"), type) == 0 && strcmp(str(r, "id"), id) == 0)
            return str(e, "fullUrl");
    }
    return NULL;
}

/* Does some "reference" under @node equal @url? */
static bool refers_to(const cJSON *node, const char *url)
{
    const cJSON *c;

    if (!url)
        return false;
    cJSON_ArrayForEach (c, node) {
        if (c->string && strcmp(c->string, "reference") == 0 && cJSON_IsString(c) &&
            strcmp(c->valuestring, url) == 0)
            return true;
        if (refers_to(c, url))
            return true;
    }
    return false;
}

/* Does some CodeableConcept under @node carry system|code? */
static bool has_coding(const cJSON *node, const char *system, const char *code)
{
    const cJSON *c;

    cJSON_ArrayForEach (c, node) {
        if (c->string && strcmp(c->string, "code") == 0 && cJSON_IsString(c) &&
            strcmp(c->valuestring, code) == 0 && strcmp(str(node, "system"), system) == 0)
            return true;
        if (has_coding(c, system, code))
            return true;
    }
    return false;
}

#define THO "http://terminology.hl7.org/CodeSystem/"

static int count_type(const cJSON *b, const char *type)
{
    const cJSON *e;
    int n = 0;

    cJSON_ArrayForEach (e, get(b, "entry"))
        n += strcmp(str(get(e, "resource"), "resourceType"), type) == 0;
    return n;
}

/* ---- tests ---- */

TEST(structure_and_references)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    int refs = 0, n = 0;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, "2026-03-03T10:00:00Z");
    ASSERT_NOT_NULL(b);
    check_bundle(b, &refs);
    CHECK_PASSING();
    ASSERT_STREQ(str(b, "timestamp"), "2026-03-03T10:00:00Z");
    ASSERT_GT(refs, 40);
    n = cJSON_GetArraySize(get(b, "entry"));
    /* Patient, 3 RelatedPerson, 2 person Flags, CareTeam, QR, CarePlan, 2 Goals, 5 visits (5
     * Appointments, 5 Tasks, 2 Encounters), a review Encounter, 5 + 1 Observations, 2
     * DocumentReferences, 2 Consents, 2 Flags; and the 10 CodeSystems of our own codes, the
     * About Me Questionnaire, the GP practice's Organization and a Practitioner per member of
     * staff named (nina, cora and the worker of an action). */
    ASSERT_EQ(n, 1 + 3 + 2 + 1 + 1 + 1 + 2 + 12 + 1 + 6 + 2 + 2 + 2 + 10 + 1 + 1 +
                         count_type(b, "Practitioner") + count_type(b, "PractitionerRole"));
    ASSERT_EQ(count_type(b, "CodeSystem"), 10);
    ASSERT_GE(count_type(b, "Practitioner"), 2);
}

TEST(deleted_rows_are_left_out)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    _cleanup_free_ char *text = NULL;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    text = cJSON_PrintUnformatted(b);
    ASSERT_NOT_NULL(text);
    for (const char *const *id = (const char *const[]){G_GONE, A_GONE, V_GONE, N_GONE, NULL};
         *id; id++)
        if (strstr(text, *id))
            TEST_FAIL_("deleted row %s is in the export", *id);
    ASSERT_NULL(strstr(text, "Deleted action"));
    ASSERT_NULL(get(b, "timestamp"));
    /* The action whose goal was deleted stays in the plan, without the goal. */
    ASSERT_NOT_NULL(strstr(text, A_NURSE));
}

TEST(patient)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *p, *n;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    p = resource(b, "Patient", PERSON);
    ASSERT_NOT_NULL(p);
    ASSERT_STREQ(url_of(b, "Patient", PERSON), "urn:uuid:" PERSON);
    n = cJSON_GetArrayItem(get(p, "identifier"), 0);
    ASSERT_STREQ(str(n, "system"), "https://fhir.nhs.uk/Id/nhs-number");
    ASSERT_STREQ(str(n, "value"), "9434765919");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "name"), 0), "use"), "official");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "name"), 0), "text"), "Doreen Ashworth");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "name"), 1), "use"), "usual");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "name"), 1), "text"), "Dot");
    ASSERT_STREQ(str(p, "gender"), "female");
    ASSERT_STREQ(str(p, "birthDate"), "1941-06-01");
    ASSERT_TRUE(cJSON_IsTrue(get(p, "active")));
    ASSERT_EQ(cJSON_GetArraySize(get(p, "telecom")), 1); /* email is null */
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "address"), 0), "text"),
                 "3 Mill Lane, Northbrook NB1 2AA");
    ASSERT_TRUE(has_coding(get(p, "communication"), "urn:ietf:bcp:47", "en"));
    n = cJSON_GetArrayItem(get(p, "extension"), 0);
    ASSERT_STREQ(str(n, "url"), "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired");
    ASSERT_TRUE(cJSON_IsFalse(get(n, "valueBoolean")));
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(p, "generalPractitioner"), 0), "display"),
                 "Northbrook Medical Centre");
}

TEST(closed_person_is_inactive)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    int refs;

    ASSERT_NOT_NULL(t);
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("closed"));
    cJSON_ReplaceItemInObject(t, "gender", cJSON_CreateString("prefers not to say"));
    cJSON_ReplaceItemInObject(t, "nhs_number", cJSON_CreateString("12345"));
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    check_bundle(b, &refs);
    CHECK_PASSING();
    ASSERT_TRUE(cJSON_IsFalse(get(resource(b, "Patient", PERSON), "active")));
    ASSERT_NULL(get(resource(b, "Patient", PERSON), "gender"));     /* not mapped: omitted */
    ASSERT_NULL(get(resource(b, "Patient", PERSON), "identifier")); /* not an NHS number */
}

TEST(related_people)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *son, *nb, *banned;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    son = resource(b, "RelatedPerson", SON);
    nb = resource(b, "RelatedPerson", NEIGHBOUR);
    banned = resource(b, "RelatedPerson", BANNED);
    ASSERT_TRUE(son && nb && banned);
    ASSERT_TRUE(refers_to(get(son, "patient"), "Patient/" PERSON) ||
                strcmp(str(get(son, "patient"), "reference"), "Patient/" PERSON) == 0);
    ASSERT_TRUE(has_coding(son, THO "v3-RoleCode", "CHILD"));
    ASSERT_TRUE(has_coding(son, THO "v2-0131", "N"));
    ASSERT_TRUE(has_coding(son, THO "v2-0131", "C"));
    ASSERT_TRUE(has_coding(son, THO "v3-RoleCode", "HPOWATT"));
    ASSERT_FALSE(has_coding(son, THO "v3-RoleCode", "CAREGIVER"));
    ASSERT_TRUE(has_coding(nb, THO "v3-RoleCode", "NBOR"));
    ASSERT_TRUE(has_coding(nb, "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole", "Carer"));
    ASSERT_FALSE(has_coding(nb, THO "v3-RoleCode", "CAREGIVER")); /* a RoleClass code */
    ASSERT_FALSE(has_coding(nb, THO "v2-0131", "N"));
    ASSERT_TRUE(cJSON_IsTrue(get(son, "active")));
    ASSERT_TRUE(cJSON_IsTrue(get(nb, "active")));
    ASSERT_TRUE(cJSON_IsFalse(get(banned, "active")));
    ASSERT_TRUE(has_coding(banned, THO "v2-0131", "O"));
    ASSERT_NOT_NULL(strstr(str(cJSON_GetArrayItem(get(banned, "extension"), 0), "url"),
                           "do-not-contact"));
}

TEST(care_team_id_is_name_based)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *e, *team = NULL;
    char ref[128];

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    cJSON_ArrayForEach (e, get(b, "entry"))
        if (strcmp(str(get(e, "resource"), "resourceType"), "CareTeam") == 0)
            team = get(e, "resource");
    ASSERT_NOT_NULL(team);
    /* uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:caresync:fhir"), "CareTeam/" + PERSON) */
    ASSERT_STREQ(str(team, "id"), "2e4ae92e-7bb5-590b-a522-fa035af776d7");
    ASSERT_EQ(cJSON_GetArraySize(get(team, "participant")), 3);
    ASSERT_TRUE(refers_to(get(team, "participant"), "Patient/" PERSON));
    ASSERT_TRUE(has_coding(get(team, "participant"),
                           "https://fhir.caresync.org.uk/CodeSystem/assignment-role",
                           "contributor"));
    snprintf(ref, sizeof(ref), "CareTeam/%s", str(team, "id"));
    ASSERT_TRUE(refers_to(resource(b, "CarePlan", PLAN), ref));
}

TEST(plan_goals_and_actions)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *cp, *walk, *gate, *act, *self = NULL, *nurse = NULL, *rev = NULL;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    cp = resource(b, "CarePlan", PLAN);
    walk = resource(b, "Goal", G_WALK);
    gate = resource(b, "Goal", G_GATE);
    ASSERT_TRUE(cp && walk && gate);
    ASSERT_STREQ(str(cp, "status"), "active");
    ASSERT_STREQ(str(cp, "intent"), "plan");
    ASSERT_STREQ(str(cp, "description"), "Stay at home and get out more");
    ASSERT_STREQ(str(get(cp, "period"), "start"), "2026-01-05");
    ASSERT_TRUE(refers_to(get(cp, "subject"), "Patient/" PERSON));
    ASSERT_TRUE(refers_to(get(cp, "goal"), "Goal/" G_WALK));
    ASSERT_TRUE(refers_to(get(cp, "goal"), "Goal/" G_GATE));
    ASSERT_EQ(cJSON_GetArraySize(get(cp, "goal")), 2);
    ASSERT_NOT_NULL(strstr(str(cJSON_GetArrayItem(get(cp, "note"), 0), "text"), "Agreed with"));
    cJSON_ArrayForEach (act, get(cp, "activity")) {
        if (str(act, "id") && strcmp(str(act, "id"), A_SELF) == 0)
            self = get(act, "detail");
        else if (str(act, "id") && strcmp(str(act, "id"), A_NURSE) == 0)
            nurse = get(act, "detail");
        else if (has_coding(act, "http://snomed.info/sct", "425268008"))
            rev = act;
    }
    ASSERT_TRUE(self && nurse && rev);
    ASSERT_STREQ(str(self, "description"), "Daily exercises");
    ASSERT_STREQ(str(self, "status"), "in-progress");
    ASSERT_STREQ(str(self, "scheduledString"), "every morning");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(self, "performer"), 0), "display"), "Doreen");
    ASSERT_TRUE(refers_to(get(self, "goal"), "Goal/" G_WALK));
    ASSERT_STREQ(str(nurse, "status"), "not-started");
    ASSERT_NULL(get(nurse, "goal")); /* its goal was deleted */
    ASSERT_STREQ(str(get(nurse, "scheduledPeriod"), "end"), "2026-02-01");
    ASSERT_TRUE(refers_to(get(rev, "outcomeReference"), "Encounter/" REVIEW));
    ASSERT_STREQ(str(get(get(rev, "detail"), "scheduledPeriod"), "end"), "2026-07-01");

    ASSERT_STREQ(str(walk, "lifecycleStatus"), "active");
    ASSERT_TRUE(has_coding(get(walk, "achievementStatus"), THO "goal-achievement", "improving"));
    ASSERT_STREQ(str(get(walk, "description"), "text"),
                 "Walk to the post office with my frame by June");
    ASSERT_TRUE(refers_to(get(walk, "expressedBy"), "Patient/" PERSON));
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(walk, "target"), 0), "dueDate"), "2026-06-30");
    /* References point one way (load order): progress points at the goal, not back. */
    ASSERT_NULL(get(walk, "outcomeReference"));
    ASSERT_FALSE(has_coding(walk, THO "goal-relationship-type", "milestone"));
    ASSERT_STREQ(str(gate, "lifecycleStatus"), "completed");
    ASSERT_TRUE(refers_to(get(gate, "extension"), "Goal/" G_WALK));
}

TEST(visits)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *a, *enc, *task;
    const char *enc_url;

    ASSERT_NOT_NULL(t);
    setenv("TZ", "CET-1", 1); /* local times are an hour ahead of UTC, all year */
    tzset();
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);

    /* completed: Appointment fulfilled, Encounter finished at home, Task completed. */
    a = resource(b, "Appointment", V_DONE);
    ASSERT_NOT_NULL(a);
    ASSERT_STREQ(url_of(b, "Appointment", V_DONE), "urn:uuid:" V_DONE);
    ASSERT_STREQ(str(a, "status"), "fulfilled");
    ASSERT_STREQ(str(a, "start"), "2026-03-02T08:00:00Z");
    ASSERT_STREQ(str(a, "end"), "2026-03-02T08:45:00Z");
    ASSERT_TRUE(refers_to(get(a, "participant"), "Patient/" PERSON));
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(a, "participant"), 0), "status"), "accepted");
    enc = resource(b, "Encounter", V_DONE);
    ASSERT_NOT_NULL(enc);
    enc_url = url_of(b, "Encounter", V_DONE);
    /* It shares the visit's id, so its fullUrl is name-based: uuid5(ns, "Encounter/" + id). */
    ASSERT_STREQ(enc_url, "urn:uuid:6a15438f-559f-5be9-a556-adcd98fbed3e");
    ASSERT_STREQ(str(enc, "status"), "finished");
    ASSERT_STREQ(str(get(enc, "class"), "code"), "HH");
    ASSERT_STREQ(str(get(enc, "period"), "start"), "2026-03-02T08:05:00Z");
    ASSERT_STREQ(str(get(enc, "period"), "end"), "2026-03-02T08:40:00Z");
    ASSERT_TRUE(refers_to(get(enc, "appointment"), "Appointment/" V_DONE));
    task = resource(b, "Task", V_DONE);
    ASSERT_NOT_NULL(task);
    ASSERT_STREQ(str(task, "status"), "completed");
    ASSERT_TRUE(refers_to(get(task, "encounter"), "Encounter/" V_DONE));

    /* missed: Appointment noshow with the reason, no Encounter, Task failed. */
    a = resource(b, "Appointment", V_MISSED);
    ASSERT_NOT_NULL(a);
    ASSERT_STREQ(str(a, "status"), "noshow");
    ASSERT_TRUE(has_coding(get(a, "cancelationReason"),
                           "https://fhir.caresync.org.uk/CodeSystem/missed-reason", "no-answer"));
    ASSERT_NOT_NULL(str(get(a, "cancelationReason"), "text"));
    ASSERT_STREQ(str(a, "end"), str(a, "start")); /* no planned end recorded */
    ASSERT_NULL(resource(b, "Encounter", V_MISSED));
    task = resource(b, "Task", V_MISSED);
    ASSERT_STREQ(str(task, "status"), "failed");
    ASSERT_TRUE(has_coding(get(task, "businessStatus"),
                           "https://fhir.caresync.org.uk/CodeSystem/missed-reason", "no-answer"));

    /* planned (by phone, times with zones): booked, no Encounter, Task ready. */
    a = resource(b, "Appointment", V_PLAN);
    ASSERT_STREQ(str(a, "status"), "booked");
    ASSERT_STREQ(str(a, "start"), "2026-03-09T09:00:00Z");
    ASSERT_STREQ(str(a, "end"), "2026-03-09T09:30:00Z");
    ASSERT_NULL(resource(b, "Encounter", V_PLAN));
    ASSERT_STREQ(str(resource(b, "Task", V_PLAN), "status"), "ready");

    /* in progress by video: arrived, Encounter in-progress and virtual, no end. */
    ASSERT_STREQ(str(resource(b, "Appointment", V_NOW), "status"), "arrived");
    enc = resource(b, "Encounter", V_NOW);
    ASSERT_NOT_NULL(enc);
    ASSERT_STREQ(str(enc, "status"), "in-progress");
    ASSERT_STREQ(str(get(enc, "class"), "code"), "VR");
    ASSERT_STREQ(str(get(enc, "period"), "start"), "2026-07-01T08:10:30Z");
    ASSERT_NULL(get(get(enc, "period"), "end"));

    /* cancelled */
    ASSERT_STREQ(str(resource(b, "Appointment", V_CANCEL), "status"), "cancelled");
    ASSERT_NULL(resource(b, "Encounter", V_CANCEL));
    ASSERT_STREQ(str(resource(b, "Task", V_CANCEL), "status"), "cancelled");

    /* the review */
    enc = resource(b, "Encounter", REVIEW);
    ASSERT_NOT_NULL(enc);
    ASSERT_STREQ(url_of(b, "Encounter", REVIEW), "urn:uuid:" REVIEW);
    ASSERT_STREQ(str(enc, "status"), "finished");
    ASSERT_TRUE(has_coding(get(enc, "type"), "http://snomed.info/sct", "425268008"));
    unsetenv("TZ");
    tzset();
}

TEST(observations)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *o, *c;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    o = resource(b, "Observation", O_BP);
    ASSERT_NOT_NULL(o);
    ASSERT_STREQ(str(o, "status"), "final");
    ASSERT_TRUE(has_coding(get(o, "category"), THO "observation-category", "vital-signs"));
    ASSERT_TRUE(has_coding(get(o, "code"), "http://loinc.org", "85354-9"));
    ASSERT_NULL(get(o, "valueQuantity")); /* a panel: the values are components */
    c = cJSON_GetArrayItem(get(o, "component"), 0);
    ASSERT_TRUE(has_coding(get(c, "code"), "http://loinc.org", "8480-6"));
    ASSERT_EQ(cJSON_GetNumberValue(get(get(c, "valueQuantity"), "value")), 130);
    ASSERT_STREQ(str(get(c, "valueQuantity"), "code"), "mm[Hg]");
    ASSERT_STREQ(str(get(c, "valueQuantity"), "unit"), "millimeter of mercury");
    c = cJSON_GetArrayItem(get(o, "component"), 1);
    ASSERT_TRUE(has_coding(get(c, "code"), "http://loinc.org", "8462-4"));
    ASSERT_EQ(cJSON_GetNumberValue(get(get(c, "valueQuantity"), "value")), 80);
    ASSERT_TRUE(refers_to(get(o, "encounter"), "Encounter/" V_DONE));
    ASSERT_STREQ(str(o, "issued"), "2026-03-02T09:11:00Z");
    ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(get(get(o, "meta"), "profile"), 0)),
                 "http://hl7.org/fhir/StructureDefinition/bp");

    ASSERT_STREQ(str(resource(b, "Observation", O_WRONG), "status"), "entered-in-error");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(resource(b, "Observation", O_WRONG), "note"), 0),
                     "text"),
                 "typo: 61.2 kg");
    o = resource(b, "Observation", O_WEIGHT);
    ASSERT_TRUE(has_coding(get(o, "code"), "http://loinc.org", "29463-7"));
    ASSERT_TRUE(cJSON_GetNumberValue(get(get(o, "valueQuantity"), "value")) == 61.2);
    ASSERT_STREQ(str(get(o, "valueQuantity"), "system"), "http://unitsofmeasure.org");
    ASSERT_STREQ(str(get(o, "valueQuantity"), "code"), "kg");
    ASSERT_TRUE(has_coding(get(o, "code"), "http://snomed.info/sct", "27113001"));
    /* no time recorded: vs-1 fails, so no vital-signs profile is claimed */
    ASSERT_NULL(get(o, "meta"));

    /* LOINC's 0-10 pain score; not a number: a string; a missed visit: no encounter */
    o = resource(b, "Observation", O_PAIN);
    ASSERT_TRUE(has_coding(get(o, "code"), "http://loinc.org", "72514-3"));
    ASSERT_STREQ(str(get(o, "code"), "text"), "Pain score");
    ASSERT_NULL(get(o, "meta")); /* no vital sign: no profile claimed */
    ASSERT_STREQ(str(o, "valueString"), "mild");
    ASSERT_NULL(get(o, "encounter"));
    /* blood glucose in mmol/L has its own LOINC code */
    o = resource(b, "Observation", O_GLUC);
    ASSERT_TRUE(has_coding(get(o, "code"), "http://loinc.org", "15074-8"));
    ASSERT_FALSE(has_coding(get(o, "code"), "http://loinc.org", "2339-0"));
    ASSERT_STREQ(str(get(o, "code"), "text"), "Blood glucose"); /* names no other code */
    ASSERT_STREQ(str(o, "status"), "final"); /* no status recorded */

    o = resource(b, "Observation", GP_1);
    ASSERT_NOT_NULL(o);
    ASSERT_STREQ(str(get(o, "code"), "text"), "Goal progress");
    ASSERT_TRUE(refers_to(get(o, "focus"), "Goal/" G_WALK));
    ASSERT_EQ(cJSON_GetNumberValue(get(o, "valueInteger")), 6);
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(o, "note"), 0), "text"), "Made it to the gate and back");
    ASSERT_TRUE(has_coding(get(o, "component"), THO "goal-achievement", "improving"));
}

/* A UCUM unit is written with its display name, as HL7's ucum-common value set and UK Core
 * give it ("millimeter of mercury", not the "mmHg" the worker typed), keeping system and code;
 * a unit UCUM does not know stays as typed, with no code. */
TEST(ucum_unit_display_names)
{
    static const struct {
        const char *kind, *value, *typed, *code, *display;
    } cases[] = {
            {"pulse", "72", "bpm", "/min", "per minute"},
            {"pulse", "72", "/min", "/min", "per minute"},
            {"respiratory-rate", "16", "breaths/min", "/min", "per minute"},
            {"spo2", "97", "%", "%", "percent"},
            {"temperature", "36.8", "\xc2\xb0" "C", "Cel", "degree Celsius"},
            {"temperature", "36.8", "Cel", "Cel", "degree Celsius"},
            {"weight", "61.2", "kg", "kg", "kilogram"},
            {"weight", "700", "g", "g", "gram"},
            {"weight", "135", "lb", "[lb_av]", "pound (US and British)"},
            {"blood-glucose", "6.1", "mmol/l", "mmol/L", "millimole per liter"},
            {"blood-glucose", "110", "mg/dl", "mg/dL", "milligram per deciliter"},
            {"wound-size", "3", "cm", "cm", "centimeter"},
            {"wound-size", "5", "mm", "mm", "millimeter"},
            {"wound-size", "6", "cm2", "cm2", "square centimeter"},
            {"timed-up-and-go", "12", "seconds", "s", "second"},
            {"blood-pressure", "130/80", "mmHg", "mm[Hg]", "millimeter of mercury"},
            {"blood-pressure", "130/80", NULL, "mm[Hg]", "millimeter of mercury"},
            {"wound-size", "2", "inches", NULL, "inches"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_json_ cJSON *t = NULL, *b = NULL;
        const cJSON *o, *q;
        char tree[1024];

        snprintf(tree, sizeof(tree),
                 "{\"id\":\"" PERSON "\",\"name\":\"A Person\",\"observations\":[{\"id\":\"" O_BP
                 "\",\"person_id\":\"" PERSON "\",\"kind\":\"%s\",\"value\":\"%s\"%s%s%s,"
                 "\"occurred_at\":\"2026-03-02T09:10\",\"status\":\"final\"}]}",
                 cases[i].kind, cases[i].value, cases[i].typed ? ",\"unit\":\"" : "",
                 cases[i].typed ? cases[i].typed : "", cases[i].typed ? "\"" : "");
        t = cJSON_Parse(tree);
        ASSERT_NOT_NULL(t);
        b = fhir_bundle(t, NULL);
        ASSERT_NOT_NULL(b);
        o = resource(b, "Observation", O_BP);
        ASSERT_NOT_NULL(o);
        q = get(o, "valueQuantity");
        if (streq(cases[i].kind, "blood-pressure")) {
            ASSERT_NULL(q);
            ASSERT_EQ(cJSON_GetArraySize(get(o, "component")), 2);
            q = get(cJSON_GetArrayItem(get(o, "component"), 1), "valueQuantity");
        }
        ASSERT_NOT_NULL(q);
        ASSERT_STREQ(str(q, "unit"), cases[i].display);
        if (cases[i].code) {
            ASSERT_STREQ(str(q, "system"), "http://unitsofmeasure.org");
            ASSERT_STREQ(str(q, "code"), cases[i].code);
        } else {
            ASSERT_NULL(get(q, "system"));
            ASSERT_NULL(get(q, "code"));
        }
    }
}

TEST(notes_consents_alerts_about_me)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    const cJSON *d, *c, *qr, *it;
    const char *data;
    bool found = false;

    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    d = resource(b, "DocumentReference", N_1);
    ASSERT_NOT_NULL(d);
    ASSERT_STREQ(str(d, "status"), "current");
    data = str(get(cJSON_GetArrayItem(get(d, "content"), 0), "attachment"), "data");
    /* base64 of "Dressing changed; healing well" */
    ASSERT_STREQ(data, "RHJlc3NpbmcgY2hhbmdlZDsgaGVhbGluZyB3ZWxs");
    ASSERT_TRUE(refers_to(get(d, "context"), "Encounter/" V_DONE));
    d = resource(b, "DocumentReference", N_SAFE);
    ASSERT_STREQ(str(d, "status"), "entered-in-error");
    ASSERT_TRUE(has_coding(get(d, "meta"), THO "v3-Confidentiality", "R"));
    ASSERT_TRUE(refers_to(get(d, "context"), "Appointment/" V_MISSED)); /* no Encounter: related */

    c = resource(b, "Consent", C_PERMIT);
    ASSERT_STREQ(str(c, "status"), "active");
    ASSERT_TRUE(has_coding(get(c, "scope"), THO "consentscope", "patient-privacy"));
    ASSERT_TRUE(has_coding(get(c, "category"), "http://loinc.org", "59284-0"));
    ASSERT_STREQ(str(get(c, "provision"), "type"), "permit");
    ASSERT_NULL(get(get(c, "provision"), "actor")); /* everyone */
    c = resource(b, "Consent", C_DENY);
    ASSERT_STREQ(str(c, "status"), "inactive");
    ASSERT_STREQ(str(get(c, "provision"), "type"), "deny");
    ASSERT_NOT_NULL(strstr(str(get(cJSON_GetArrayItem(get(get(c, "provision"), "actor"), 0),
                                   "reference"),
                               "display"),
                           "Voluntary"));

    ASSERT_STREQ(str(resource(b, "Flag", AL_CAT), "status"), "active");
    ASSERT_STREQ(str(get(resource(b, "Flag", AL_CAT), "code"), "text"), "Cat: keep the door shut");
    ASSERT_TRUE(has_coding(resource(b, "Flag", AL_CAT), THO "flag-category", "safety"));
    ASSERT_STREQ(str(resource(b, "Flag", AL_OLD), "status"), "inactive");

    qr = resource(b, "QuestionnaireResponse", PERSON);
    ASSERT_NOT_NULL(qr);
    ASSERT_STREQ(str(qr, "status"), "completed");
    ASSERT_FALSE(strcmp(url_of(b, "QuestionnaireResponse", PERSON), "urn:uuid:" PERSON) == 0);
    ASSERT_EQ(cJSON_GetArraySize(get(qr, "item")), 3); /* two sections and the sharing choice */
    cJSON_ArrayForEach (it, get(qr, "item"))
        if (strcmp(str(it, "linkId"), "what_matters") == 0) {
            ASSERT_STREQ(str(it, "text"), "What is most important to me");
            ASSERT_STREQ(str(cJSON_GetArrayItem(get(it, "answer"), 0), "valueString"),
                         "My cat Bramble and the allotment club");
            found = true;
        }
    ASSERT_TRUE(found);
}

TEST(minimal_and_invalid_trees)
{
    _cleanup_json_ cJSON *t = NULL, *b = NULL, *bad = NULL;
    int refs;

    t = cJSON_Parse("{\"id\":\"" PERSON "\",\"name\":\"A Person\",\"about_me\":null,"
                    "\"goals\":[],\"visits\":{\"not\":\"an array\"},\"notes\":[null, 3, \"x\"]}");
    ASSERT_NOT_NULL(t);
    b = fhir_bundle(t, "not a time");
    ASSERT_NOT_NULL(b);
    check_bundle(b, &refs);
    CHECK_PASSING();
    ASSERT_NULL(get(b, "timestamp"));
    /* Patient and CareTeam only, with the 10 CodeSystems. */
    ASSERT_EQ(cJSON_GetArraySize(get(b, "entry")), 2 + 10);
    ASSERT_NULL(resource(b, "QuestionnaireResponse", PERSON));

    bad = cJSON_Parse("{\"id\":\"Person-1\",\"name\":\"A Person\"}");
    ASSERT_NOT_NULL(bad);
    ASSERT_NULL(fhir_bundle(bad, NULL));
    ASSERT_NULL(fhir_bundle(NULL, NULL));
}

TEST(deterministic)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b1 = NULL, *b2 = NULL;
    _cleanup_free_ char *s1 = NULL, *s2 = NULL;

    ASSERT_NOT_NULL(t);
    b1 = fhir_bundle(t, "2026-03-03T10:00:00Z");
    b2 = fhir_bundle(t, "2026-03-03T10:00:00Z");
    ASSERT_TRUE(b1 && b2);
    s1 = cJSON_PrintUnformatted(b1);
    s2 = cJSON_PrintUnformatted(b2);
    ASSERT_STREQ(s1, s2);
}

/* Values past the catalogue's limits (a tree need not come from a replica) are carried whole. */
TEST(long_values)
{
    _cleanup_json_ cJSON *t = parse_tree(), *b = NULL;
    _cleanup_free_ char *big = malloc(100001);
    cJSON *plan, *note;
    const char *data;
    int refs;

    ASSERT_TRUE(t && big);
    memset(big, 'a', 100000);
    big[100000] = '\0';
    plan = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "care_plans"), 0);
    note = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "notes"), 0);
    cJSON_ReplaceItemInObject(plan, "agreed_with", cJSON_CreateString(big));
    cJSON_ReplaceItemInObject(note, "text", cJSON_CreateString(big));
    cJSON_ReplaceItemInObject(t, "access_instructions", cJSON_CreateString(big));
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    check_bundle(b, &refs);
    CHECK_PASSING();
    ASSERT_EQ(strlen(str(cJSON_GetArrayItem(get(resource(b, "CarePlan", PLAN), "note"), 0),
                         "text")),
              strlen("Agreed with ") + 100000 + strlen(" on 2026-01-05"));
    data = str(get(cJSON_GetArrayItem(get(resource(b, "DocumentReference", N_1), "content"), 0),
                   "attachment"),
               "data");
    ASSERT_EQ(strlen(data), 4 * ((100000 + 2) / 3));
}

/* The server's tree: staff with display names and registrations, a GP practice by ODS code
 * (what the API sets), the name and address in parts, a language by name, About Me's time. */
TEST(staff_names_and_organisations)
{
    _cleanup_json_ cJSON *t = NULL, *b = NULL, *parts = NULL;
    const cJSON *pat, *pr, *role, *e, *s, *qr, *name, *addr;
    int refs = 0;
    size_t n = 0, seen = 0;

    t = cJSON_Parse(
            "{\"id\":\"" PERSON "\",\"name\":\"Doreen May Ashworth\",\"family_name\":\"Ashworth\","
            "\"given_names\":\" Doreen  May \",\"name_prefix\":\"Mrs\",\"language\":\"Polish\","
            "\"address\":\"3 Mill Lane, Northbrook NB1 2AA\",\"address_line1\":\"3 Mill Lane\","
            "\"address_city\":\"Northbrook\",\"address_postcode\":\"NB1 2AA\","
            "\"gp_practice\":\"A81001\","
            "\"about_me\":{\"id\":\"" PERSON "\",\"person_id\":\"" PERSON "\","
            "\"what_matters\":\"My garden\"},"
            "\"observations\":[{\"id\":\"" O_BP "\",\"person_id\":\"" PERSON "\","
            "\"kind\":\"pulse\",\"value\":\"72\",\"unit\":\"bpm\",\"author\":\"nurse.amira\","
            "\"occurred_at\":\"2026-03-02T09:10Z\"}],"
            "\"team\":[{\"user\":\"nurse.amira\",\"role\":\"nurse\",\"assignment\":\"contributor\"}],"
            "\"staff\":[{\"user\":\"nurse.amira\",\"role\":\"nurse\",\"display_name\":\"Amira Khan\","
            "\"nmc\":\"12A3456B\",\"hcpc\":null,\"swe\":null,\"disabled\":\"0\"}]}");
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(fhir_set_authored(t, (uint64_t)1772442600000 << 16), 0);
    b = fhir_bundle(t, NULL);
    ASSERT_NOT_NULL(b);
    check_bundle(b, &refs);
    CHECK_PASSING();

    pat = resource(b, "Patient", PERSON);
    name = cJSON_GetArrayItem(get(pat, "name"), 0);
    ASSERT_STREQ(str(name, "family"), "Ashworth");
    ASSERT_EQ(cJSON_GetArraySize(get(name, "given")), 2);
    ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(get(name, "given"), 1)), "May");
    ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(get(name, "prefix"), 0)), "Mrs");
    ASSERT_STREQ(str(name, "text"), "Doreen May Ashworth");
    addr = cJSON_GetArrayItem(get(pat, "address"), 0);
    ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(get(addr, "line"), 0)), "3 Mill Lane");
    ASSERT_STREQ(str(addr, "postalCode"), "NB1 2AA");
    ASSERT_STREQ(str(addr, "city"), "Northbrook");
    ASSERT_TRUE(has_coding(get(pat, "communication"), "urn:ietf:bcp:47", "pl"));
    /* gp_practice an ODS code: the Organization is found by it */
    cJSON_ArrayForEach (e, get(b, "entry"))
        if (strcmp(str(get(e, "resource"), "resourceType"), "Organization") == 0) {
            s = cJSON_GetArrayItem(get(get(e, "resource"), "identifier"), 0);
            ASSERT_STREQ(str(s, "system"), "https://fhir.nhs.uk/Id/ods-organization-code");
            ASSERT_STREQ(str(s, "value"), "A81001");
            seen++;
        }
    ASSERT_EQ(seen, 1);

    /* The nurse: a Practitioner with her name and NMC PIN, and her role in SNOMED CT. */
    pr = NULL;
    role = NULL;
    cJSON_ArrayForEach (e, get(b, "entry")) {
        const cJSON *r = get(e, "resource");

        if (strcmp(str(r, "resourceType"), "Practitioner") == 0)
            pr = r;
        if (strcmp(str(r, "resourceType"), "PractitionerRole") == 0)
            role = r;
    }
    ASSERT_NOT_NULL(pr);
    ASSERT_NOT_NULL(role);
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(pr, "name"), 0), "text"), "Amira Khan");
    ASSERT_STREQ(str(cJSON_GetArrayItem(get(pr, "identifier"), 1), "system"),
                 "https://fhir.hl7.org.uk/Id/nmc-number");
    ASSERT_TRUE(has_coding(get(role, "code"), "http://snomed.info/sct", "106292003"));
    s = cJSON_GetArrayItem(get(resource(b, "Observation", O_BP), "performer"), 0);
    ASSERT_STREQ(str(s, "display"), "Amira Khan");
    ASSERT_TRUE(strncmp(str(s, "reference"), "Practitioner/", 13) == 0);
    ASSERT_STREQ(str(s, "reference") + 13, str(pr, "id"));
    ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(get(get(resource(b, "Observation", O_BP),
                                                                   "meta"), "profile"), 0)),
                 "http://hl7.org/fhir/StructureDefinition/heartrate");

    /* About Me: its Questionnaire, and when it was written. */
    qr = resource(b, "QuestionnaireResponse", PERSON);
    ASSERT_STREQ(str(qr, "questionnaire"), "https://fhir.caresync.org.uk/Questionnaire/about-me");
    ASSERT_STREQ(str(qr, "authored"), "2026-03-02T09:10:00Z");
    ASSERT_STREQ(str(resource(b, "Questionnaire", "caresync-about-me"), "url"),
                 str(qr, "questionnaire"));
    ASSERT_STREQ(str(resource(b, "CodeSystem", "caresync-staff-role"), "url"),
                 "https://fhir.caresync.org.uk/CodeSystem/staff-role");

    /* Slices of 4: the whole Bundle in order, each reference loaded by then. */
    parts = fhir_split(b, 4);
    ASSERT_NOT_NULL(parts);
    ASSERT_EQ(cJSON_GetArraySize(parts),
              (cJSON_GetArraySize(get(b, "entry")) + 3) / 4);
    cJSON_ArrayForEach (s, parts) {
        ASSERT_STREQ(str(s, "type"), "transaction");
        ASSERT_LE(cJSON_GetArraySize(get(s, "entry")), 4);
        n += (size_t)cJSON_GetArraySize(get(s, "entry"));
    }
    ASSERT_EQ(n, (size_t)cJSON_GetArraySize(get(b, "entry")));
    ASSERT_NULL(fhir_split(b, 0));
}
