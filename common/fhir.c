/* SPDX-License-Identifier: MIT */
/* fhir.c - one person's record as a FHIR R4 transaction Bundle: the catalogue's tables mapped to
 * Patient, RelatedPerson, CareTeam, CarePlan, Goal, Appointment, Encounter, Task, Observation,
 * DocumentReference, Consent, Flag and QuestionnaireResponse. docs/internals/fhir.md is the
 * mapping, table by table and field by field. Pure: reads one tree, builds another; never logs.
 *
 * One file of about 2,000 lines, longer than the house style's usual 1,000, on purpose: it is
 * one mapping that reads top to bottom, a section per resource (and the code systems, staff and
 * organisations they refer to), and every function is static; splitting it would mean a
 * private header exporting some thirty small JSON helpers. The load order and the slicing,
 * which only read a Bundle, are fhir_order.c. */
#include "fhir.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalogue.h"
#include "hlc.h"
#include "macro.h"
#include "util.h"
#include "wire.h"

/* Code systems and extensions defined by others. */
#define SYS_THO          "http://terminology.hl7.org/CodeSystem/"
#define SYS_NHS_NUMBER   "https://fhir.nhs.uk/Id/nhs-number"
#define SYS_LOINC        "http://loinc.org"
#define SYS_SNOMED       "http://snomed.info/sct"
#define SYS_UCUM         "http://unitsofmeasure.org"
#define SYS_BCP47        "urn:ietf:bcp:47"
#define SYS_ROLECODE     SYS_THO "v3-RoleCode"
#define SYS_V2_0131      SYS_THO "v2-0131"
#define SYS_ACTCODE      SYS_THO "v3-ActCode"
#define SYS_PARTICIPATION SYS_THO "v3-ParticipationType"
#define SYS_CONFIDENTIALITY SYS_THO "v3-Confidentiality"
#define SYS_OBS_CATEGORY SYS_THO "observation-category"
#define SYS_GOAL_ACHIEVEMENT SYS_THO "goal-achievement"
#define SYS_GOAL_RELATIONSHIP SYS_THO "goal-relationship-type"
#define SYS_CONSENT_SCOPE SYS_THO "consentscope"
#define SYS_FLAG_CATEGORY SYS_THO "flag-category"
#define SYS_DATA_ABSENT  SYS_THO "data-absent-reason"
#define EXT_HL7          "http://hl7.org/fhir/StructureDefinition/"

#define SYS_ODS          "https://fhir.nhs.uk/Id/ods-organization-code"
#define SYS_NMC          "https://fhir.hl7.org.uk/Id/nmc-number"
#define SYS_HCPC         "https://fhir.hl7.org.uk/Id/hcpc-number"
#define SYS_UK_RELATION  "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole"
#define SYS_TASK_CODE    "http://hl7.org/fhir/CodeSystem/task-code"
#define PROFILE_HL7      "http://hl7.org/fhir/StructureDefinition/"

/* caresync's own code systems, identifiers and extensions (docs/internals/fhir.md, "caresync's
 * own URLs"): a domain the project registers for them, never a placeholder. */
#define CS_BASE          "https://fhir.caresync.org.uk/"
#define CS_CODE          CS_BASE "CodeSystem/"
#define CS_EXT           CS_BASE "StructureDefinition/"
#define CS_ID            CS_BASE "Id/"
#define CS_QUESTIONNAIRE CS_BASE "Questionnaire/about-me"

/* "urn:uuid:" and a UUID, or "QuestionnaireResponse/" and a UUID, with room to spare. */
#define FHIR_URL_MAX     96
#define FHIR_PATH_MAX    FHIR_URL_MAX

/*
 * The namespace of caresync's name-based ids: UUIDv5(NAMESPACE_URL, "urn:caresync:fhir"),
 * i.e. 1ff43fa7-1f6a-5011-bd8d-2d4dcf5f2864.
 */
static const unsigned char fhir_namespace[16] = {0x1f, 0xf4, 0x3f, 0xa7, 0x1f, 0x6a, 0x50, 0x11,
                                                 0xbd, 0x8d, 0x2d, 0x4d, 0xcf, 0x5f, 0x28, 0x64};

/* One export in progress. Builders never stop early: an allocation failure sets @oom and the
 * rest turns into no-ops (every helper ignores a NULL parent), so error paths stay simple. */
struct fx {
    const cJSON *tree;
    const char *pid;
    cJSON *entries;
    bool oom;
    char patient[FHIR_URL_MAX];  /* "Patient/<person id>" */
    char careteam[FHIR_URL_MAX]; /* "CareTeam/<id>" */
    char default_plan[UUID_STR_MAX]; /* "" when the person has no plan */
    const char **staff;          /* user names referenced, in the order first seen */
    size_t n_staff, cap_staff;
};

/* ---- building JSON ---- */

/* Attach @item under @key of @parent (appended when @key is NULL). Returns @item, or NULL after
 * freeing it when out of memory or when @parent is NULL because of an earlier failure. */
static cJSON *attach(struct fx *x, cJSON *parent, const char *key, cJSON *item)
{
    bool ok;

    if (!item || !parent) {
        x->oom = true; /* a NULL parent only ever follows a failed allocation */
        cJSON_Delete(item);
        return NULL;
    }
    ok = key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item);
    if (!ok) {
        x->oom = true;
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

static cJSON *add_obj(struct fx *x, cJSON *p, const char *key)
{
    return attach(x, p, key, cJSON_CreateObject());
}

/* The array under @key of @p, made if missing. */
static cJSON *add_arr(struct fx *x, cJSON *p, const char *key)
{
    cJSON *a = p ? cJSON_GetObjectItemCaseSensitive(p, key) : NULL;

    return cJSON_IsArray(a) ? a : attach(x, p, key, cJSON_CreateArray());
}

/* @v under @key; nothing when @v is NULL (FHIR has no empty strings). */
static void add_str(struct fx *x, cJSON *p, const char *key, const char *v)
{
    if (v)
        (void)attach(x, p, key, cJSON_CreateString(v));
}

/* printf() into a string of its own length under @key (no fixed buffer to cut UTF-8 short). */
_printf_(4, 5) static void add_fmt(struct fx *x, cJSON *p, const char *key, const char *fmt, ...)
{
    _cleanup_free_ char *s = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = malloc((size_t)n + 1))) {
        x->oom = true;
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    add_str(x, p, key, s);
}

static void add_bool(struct fx *x, cJSON *p, const char *key, bool v)
{
    (void)attach(x, p, key, cJSON_CreateBool(v));
}

static void add_num(struct fx *x, cJSON *p, const char *key, double v)
{
    (void)attach(x, p, key, cJSON_CreateNumber(v));
}

/* A Reference {reference, display} under @key (appended to array @p when @key is NULL). */
static void add_ref(struct fx *x, cJSON *p, const char *key, const char *url, const char *display)
{
    cJSON *r;

    if (!url && !display)
        return;
    r = add_obj(x, p, key);
    add_str(x, r, "reference", url);
    add_str(x, r, "display", display);
}

static void add_coding(struct fx *x, cJSON *array, const char *system, const char *code,
                       const char *display)
{
    cJSON *c = add_obj(x, array, NULL);

    add_str(x, c, "system", system);
    add_str(x, c, "code", code);
    add_str(x, c, "display", display);
}

/* A CodeableConcept {coding: [{system, code, display}], text} (coding only with a @code). */
static cJSON *add_concept(struct fx *x, cJSON *p, const char *key, const char *system,
                          const char *code, const char *display, const char *text)
{
    cJSON *cc = add_obj(x, p, key);

    if (code)
        add_coding(x, add_arr(x, cc, "coding"), system, code, display);
    add_str(x, cc, "text", text);
    return cc;
}

/* A new extension {url} in @p's "extension" array; the caller adds its value[x]. */
static cJSON *add_ext(struct fx *x, cJSON *p, const char *url)
{
    cJSON *e = add_obj(x, add_arr(x, p, "extension"), NULL);

    add_str(x, e, "url", url);
    return e;
}

/* An Annotation {text} in @p's "note" array. */
static void add_note(struct fx *x, cJSON *p, const char *text)
{
    if (text)
        add_str(x, add_obj(x, add_arr(x, p, "note"), NULL), "text", text);
}

/* Drop empty objects and arrays, which FHIR forbids, left by values that were absent. */
static void prune(cJSON *node)
{
    cJSON *c = node->child, *next;

    for (; c; c = next) {
        next = c->next;
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c))
            continue;
        prune(c);
        if (!c->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
    }
}

/* ---- reading the tree ---- */

/* The value of @key in @row: NULL when absent, null, not a string or only white space. */
static const char *val(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    if (!cJSON_IsString(v) || !v->valuestring)
        return NULL;
    for (const char *p = v->valuestring; *p; p++)
        if (!isspace((unsigned char)*p))
            return v->valuestring;
    return NULL;
}

static bool is_true(const cJSON *row, const char *key)
{
    const char *v = val(row, key);

    return v && streq(v, "1");
}

static bool eq(const char *a, const char *b)
{
    return a && b && streq(a, b);
}

/* The array @label of the tree (NULL when missing or not an array). */
static const cJSON *rows(const struct fx *x, const char *label)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x->tree, label);

    return cJSON_IsArray(a) ? a : NULL;
}

/* A row that is exported: an object with a valid id, of this person, not deleted. */
static bool is_live(const struct fx *x, const cJSON *row)
{
    const char *id = val(row, "id"), *pid = val(row, "person_id");

    return cJSON_IsObject(row) && id && uuid_valid(id) && (!pid || streq(pid, x->pid)) &&
           !is_true(row, CAT_DELETED_FIELD);
}

/* The exported row @id of array @label, or NULL. */
static const cJSON *find_row(const struct fx *x, const char *label, const char *id)
{
    const cJSON *row;

    if (!id)
        return NULL;
    cJSON_ArrayForEach (row, rows(x, label))
        if (is_live(x, row) && streq(val(row, "id"), id))
            return row;
    return NULL;
}

/* @v if it is one of @allowed, else @fallback. */
static const char *pick(const char *v, const char *const *allowed, const char *fallback)
{
    for (; v && *allowed; allowed++)
        if (streq(v, *allowed))
            return v;
    return fallback;
}

static bool parse_int(const char *s, int64_t *ret)
{
    return s && parse_i64(s, ret) == 0;
}

/* A plain decimal "-12.5" (FHIR decimal without exponent) into *ret. */
static bool parse_decimal(const char *s, double *ret)
{
    const char *p = s;

    if (!s)
        return false;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    *ret = strtod(s, NULL);
    return true;
}

/* ---- dates and times ---- */

/*
 * A catalogue date-time (no zone = local time, as the client records it) as a FHIR instant in
 * UTC, "YYYY-MM-DDTHH:MM:SSZ", in @out. Returns @out, or NULL when @in is not a date-time.
 */
static const char *to_instant(const char *in, char out[static ISO_TIME_MAX])
{
    struct iso_parts p;
    struct tm tm, utc;
    time_t t;

    if (iso_time_split(in, &p) < 0)
        return NULL;
    tm = (struct tm){.tm_year = p.year - 1900, .tm_mon = p.month - 1, .tm_mday = p.day,
                     .tm_hour = p.hour, .tm_min = p.minute, .tm_sec = p.second};
    if (p.zoned) {
        t = timegm(&tm) - p.offset_s;
    } else {
        tzset();
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    if (!gmtime_r(&t, &utc) || strftime(out, ISO_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0)
        return NULL;
    return out;
}

/* A FHIR dateTime: a date stays a date, a date-time becomes an instant; else nothing. */
static void add_datetime(struct fx *x, cJSON *p, const char *key, const char *v)
{
    char buf[ISO_TIME_MAX];

    if (v && date_valid(v))
        add_str(x, p, key, v);
    else
        add_str(x, p, key, to_instant(v, buf));
}

static void add_date(struct fx *x, cJSON *p, const char *key, const char *v)
{
    if (v && date_valid(v))
        add_str(x, p, key, v);
}

static void add_instant(struct fx *x, cJSON *p, const char *key, const char *v)
{
    char buf[ISO_TIME_MAX];

    add_str(x, p, key, to_instant(v, buf));
}

/* A Period {start, end} of dateTimes under @key. */
static void add_period(struct fx *x, cJSON *p, const char *key, const char *start, const char *end)
{
    cJSON *per;

    if (!start && !end)
        return;
    per = add_obj(x, p, key);
    add_datetime(x, per, "start", start);
    add_datetime(x, per, "end", end);
}

/* ---- ids and entries ---- */

static const char *urn(const char *id, char buf[static FHIR_URL_MAX])
{
    snprintf(buf, FHIR_URL_MAX, "urn:uuid:%s", id);
    return buf;
}

/* The reference "Type/id" of an entry of the Bundle (NULL when @id is NULL). */
static const char *rel(const char *type, const char *id, char buf[static FHIR_URL_MAX])
{
    if (!id)
        return NULL;
    snprintf(buf, FHIR_URL_MAX, "%s/%s", type, id);
    return buf;
}

/*
 * The name-based UUID (RFC 9562 version 5: SHA-1 of caresync's namespace and @name) of
 * "@kind/@id" in @out. Returns @out, or NULL (and sets oom) if hashing fails.
 */
static const char *name_uuid(struct fx *x, const char *kind, const char *id,
                             char out[static UUID_STR_MAX])
{
    unsigned char buf[16 + FHIR_PATH_MAX], md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[33];
    int len;

    len = snprintf((char *)buf + 16, sizeof(buf) - 16, "%s/%s", kind, id);
    memcpy(buf, fhir_namespace, 16);
    if (len < 0 || (size_t)len >= sizeof(buf) - 16 ||
        !EVP_Digest(buf, 16 + (size_t)len, md, &n, EVP_sha1(), NULL) || n < 16) {
        x->oom = true;
        return NULL;
    }
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    hex_encode(md, 16, hex);
    snprintf(out, UUID_STR_MAX, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return out;
}

/* The fullUrl of a resource that shares its id with another entry of the Bundle: the URN of
 * the name-based UUID of "Type/id" (docs/internals/fhir.md, "Ids and fullUrls"). */
static const char *derived_url(struct fx *x, const char *type, const char *id,
                               char buf[static FHIR_URL_MAX])
{
    char u[UUID_STR_MAX];

    return name_uuid(x, type, id, u) ? urn(u, buf) : NULL;
}

/* A new entry {fullUrl, resource {resourceType, id}, request PUT Type/id}; returns the resource.
 * @full_url NULL = "urn:uuid:<id>". */
static cJSON *entry(struct fx *x, const char *type, const char *id, const char *full_url)
{
    cJSON *e = add_obj(x, x->entries, NULL), *r, *req;
    char url[FHIR_URL_MAX], path[FHIR_PATH_MAX];

    if (!full_url) /* an id that is no UUID (CodeSystem, Questionnaire): a name-based one */
        full_url = uuid_valid(id) ? urn(id, url) : derived_url(x, type, id, url);
    add_str(x, e, "fullUrl", full_url);
    r = add_obj(x, e, "resource");
    add_str(x, r, "resourceType", type);
    add_str(x, r, "id", id);
    req = add_obj(x, e, "request");
    add_str(x, req, "method", "PUT");
    snprintf(path, sizeof(path), "%s/%s", type, id);
    add_str(x, req, "url", path);
    return r;
}

/* ---- caresync's own code systems (exported as CodeSystem resources) ---- */

struct local_code {
    const char *code, *display;
};

struct local_system {
    const char *name, *title;
    const struct local_code *codes;
    size_t n;
};

#define LOCAL(n, t, c) {n, t, c, ELEMENTSOF(c)}

static const struct local_code lc_person_flag[] = {
        {"access_instructions", "Access instructions"},
        {"communication_needs", "Communication needs"},
};
static const struct local_code lc_assignment_role[] = {
        {"contributor", "Has the person on their caseload"},
};
static const struct local_code lc_staff_role[] = {
        {"nurse", "Nurse"},
        {"occupational_therapist", "Occupational therapist"},
        {"physiotherapist", "Physiotherapist"},
        {"social_worker", "Social worker"},
        {"link_worker", "Social prescribing link worker"},
        {"volunteer", "Volunteer"},
        {"personal_assistant", "Personal assistant"},
        {"coordinator", "Care coordinator"},
        {"admin", "Administrator"},
};
static const struct local_code lc_plan_kind[] = {
        {"pcsp", "Personalised care and support plan"},
        {"contingency", "Contingency plan"},
        {"additional", "Additional plan"},
};
static const struct local_code lc_missed_reason[] = {
        {"no-answer", "No answer at the door"},
        {"declined", "The person declined the visit"},
        {"in-hospital", "The person is in hospital"},
        {"access-problem", "Could not get in"},
        {"worker-unable", "The worker could not attend"},
        {"other", "Other reason"},
};
static const struct local_code lc_note_category[] = {
        {"visit", "Visit note"},
        {"phone", "Phone contact note"},
        {"handover", "Handover note"},
        {"clinical", "Clinical note"},
        {"social-care", "Social care note"},
        {"safeguarding-concern", "Safeguarding concern"},
};
static const struct local_code lc_consent_basis[] = {
        {"explicit", "Explicit consent"},
        {"implied", "Implied consent"},
        {"best-interests", "Best interests decision (Mental Capacity Act 2005)"},
        {"attorney", "Consent by a lasting power of attorney"},
};
static const struct local_code lc_data_class[] = {
        {"all", "All of the record"},
        {"clinical", "Clinical information"},
        {"social-care", "Social care information"},
        {"contact", "Contact details"},
};
static const struct local_code lc_alert_category[] = {
        {"animal", "Animal in the home"},
        {"access", "Access to the home"},
        {"lone-worker", "Lone worker risk"},
        {"infection", "Infection risk"},
        {"communication", "Communication"},
        {"safeguarding", "Safeguarding"},
        {"clinical", "Clinical"},
        {"other", "Other"},
};
static const struct local_code lc_observation[] = {
        {"goal-progress", "Goal progress"},
        {"wound-size", "Wound size"},
        {"ons4", "ONS4 personal wellbeing"},
        {"swemwbs", "Short Warwick-Edinburgh Mental Wellbeing Scale"},
        {"falls", "Falls"},
        {"achievement-status", "Achievement status"},
};

static const struct local_system local_systems[] = {
        LOCAL("person-flag", "Person flags", lc_person_flag),
        LOCAL("assignment-role", "Caseload assignment roles", lc_assignment_role),
        LOCAL("staff-role", "Staff roles", lc_staff_role),
        LOCAL("plan-kind", "Care plan kinds", lc_plan_kind),
        LOCAL("missed-reason", "Reasons a visit was missed", lc_missed_reason),
        LOCAL("note-category", "Note categories", lc_note_category),
        LOCAL("consent-basis", "Legal bases of a consent", lc_consent_basis),
        LOCAL("data-class", "Classes of information a consent covers", lc_data_class),
        LOCAL("alert-category", "Alert categories", lc_alert_category),
        LOCAL("observation", "Observations without a SNOMED CT or LOINC code", lc_observation),
};

/* The display of local code @code of system @name, or NULL when it is not one of its codes. */
static const char *local_display(const char *name, const char *code)
{
    for (size_t i = 0; code && i < ELEMENTSOF(local_systems); i++)
        if (streq(local_systems[i].name, name))
            for (size_t j = 0; j < local_systems[i].n; j++)
                if (streq(local_systems[i].codes[j].code, code))
                    return local_systems[i].codes[j].display;
    return NULL;
}

/* A Coding of local system @name in @array, only when @code is one of its codes. */
static bool add_local_coding(struct fx *x, cJSON *array, const char *name, const char *code)
{
    char url[FHIR_URL_MAX];
    const char *d = local_display(name, code);

    if (!d)
        return false;
    snprintf(url, sizeof(url), CS_CODE "%s", name);
    add_coding(x, array, url, code, d);
    return true;
}

/* {coding: [local @name#@code], text} under @key; text only when @code is not one of its. */
static cJSON *add_local_concept(struct fx *x, cJSON *p, const char *key, const char *name,
                                const char *code, const char *text)
{
    cJSON *cc = add_obj(x, p, key);

    if (!add_local_coding(x, add_arr(x, cc, "coding"), name, code) && !text)
        text = code;
    add_str(x, cc, "text", text);
    return cc;
}

static void code_systems(struct fx *x)
{
    for (size_t i = 0; i < ELEMENTSOF(local_systems); i++) {
        const struct local_system *ls = &local_systems[i];
        char id[64], name[64];
        size_t n = 0;
        cJSON *r, *concepts;

        snprintf(id, sizeof(id), "caresync-%s", ls->name);
        r = entry(x, "CodeSystem", id, NULL);
        add_fmt(x, r, "url", CS_CODE "%s", ls->name);
        /* The computable name: "Caresync" and the name in camel case. */
        n = (size_t)snprintf(name, sizeof(name), "Caresync");
        for (const char *p = ls->name; *p && n + 1 < sizeof(name); p++)
            if (isalnum((unsigned char)*p))
                name[n++] = (p == ls->name || !isalnum((unsigned char)p[-1]))
                                    ? (char)toupper((unsigned char)*p)
                                    : *p;
        name[n] = '\0';
        add_str(x, r, "name", name);
        add_str(x, r, "title", ls->title);
        add_str(x, r, "status", "active");
        add_str(x, r, "publisher", "caresync");
        add_bool(x, r, "caseSensitive", true);
        add_str(x, r, "content", "complete");
        add_num(x, r, "count", (double)ls->n);
        concepts = add_arr(x, r, "concept");
        for (size_t j = 0; j < ls->n; j++) {
            cJSON *c = add_obj(x, concepts, NULL);

            add_str(x, c, "code", ls->codes[j].code);
            add_str(x, c, "display", ls->codes[j].display);
        }
    }
}

/* ---- staff: Practitioner, PractitionerRole; services and GP practices: Organization ---- */

/* A user name as caresyncd makes them (letters, digits, '.', '_', '-'). */
static bool user_name(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n > 0 && n <= 64;
}

/* The server's directory entry of @user ("staff" of the tree), or NULL. */
static const cJSON *staff_row(const struct fx *x, const char *user)
{
    const cJSON *m, *staff = cJSON_GetObjectItemCaseSensitive(x->tree, "staff");

    cJSON_ArrayForEach (m, (cJSON_IsArray(staff) ? staff : NULL))
        if (cJSON_IsObject(m) && eq(val(m, "user"), user))
            return m;
    return NULL;
}

static void note_staff(struct fx *x, const char *user)
{
    const char **n;
    size_t cap;

    for (size_t i = 0; i < x->n_staff; i++)
        if (streq(x->staff[i], user))
            return;
    if (x->n_staff == x->cap_staff) {
        cap = x->cap_staff ? 2 * x->cap_staff : 16;
        n = realloc(x->staff, cap * sizeof(*n));
        if (!n) {
            x->oom = true;
            return;
        }
        x->staff = n;
        x->cap_staff = cap;
    }
    x->staff[x->n_staff++] = user;
}

/*
 * A Reference to a member of staff: when @who is a user name, Practitioner/<UUIDv5 of
 * "Practitioner/<user>"> with their display name (the user name when the tree has none), and
 * the Practitioner is exported; anything else (a free-text name) stays {display}.
 */
static void add_staff(struct fx *x, cJSON *p, const char *key, const char *who)
{
    char id[UUID_STR_MAX], url[FHIR_URL_MAX];
    const cJSON *m;

    if (!who)
        return;
    if (!user_name(who) || !name_uuid(x, "Practitioner", who, id)) {
        add_ref(x, p, key, NULL, who);
        return;
    }
    note_staff(x, who);
    m = staff_row(x, who);
    add_ref(x, p, key, rel("Practitioner", id, url),
            val(m, "display_name") ? val(m, "display_name") : who);
}

/* SNOMED CT occupations of caresync's roles, where SNOMED CT has one. */
static const char *const role_snomed[][3] = {
        {"nurse", "106292003", "Professional nurse"},
        {"occupational_therapist", "80546007", "Occupational therapist"},
        {"physiotherapist", "36682004", "Physiotherapist"},
        {"social_worker", "106328005", "Social worker"},
};

/* ODS codes are 3 to 10 capital letters and digits ("A81001", "RX1"). */
static bool ods_code(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    return n >= 3 && n <= 10 && !s[n];
}

/* The Organization {name, ODS code}: its id is UUIDv5 of "Organization/ods/<code>" (or
 * "Organization/name/<name>" without a code), its reference written into @ref. */
static const char *organization(struct fx *x, const char *name, const char *ods,
                                const char *type_code, const char *type_display,
                                char ref[static FHIR_URL_MAX])
{
    char key[256], id[UUID_STR_MAX];
    cJSON *r, *o;

    if (!name && !ods_code(ods))
        return NULL;
    snprintf(key, sizeof(key), "%s/%s", ods_code(ods) ? "ods" : "name", ods_code(ods) ? ods : name);
    if (!name_uuid(x, "Organization", key, id))
        return NULL;
    rel("Organization", id, ref);
    /* One entry per organisation, however many times it is named. */
    cJSON_ArrayForEach (o, x->entries) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "resource");

        if (eq(val(res, "id"), id))
            return ref;
    }
    r = entry(x, "Organization", id, NULL);
    if (ods_code(ods)) {
        o = add_obj(x, add_arr(x, r, "identifier"), NULL);
        add_str(x, o, "system", SYS_ODS);
        add_str(x, o, "value", ods);
    }
    add_bool(x, r, "active", true);
    if (type_code)
        add_concept(x, add_arr(x, r, "type"), NULL, SYS_THO "organization-type", type_code,
                    type_display, NULL);
    add_str(x, r, "name", name ? name : ods);
    return ref;
}

/* The organisation providing the care (the tree's "service", from the server), or NULL. */
static const char *service_org(struct fx *x, char ref[static FHIR_URL_MAX])
{
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(x->tree, "service");

    if (!cJSON_IsObject(svc))
        return NULL;
    return organization(x, val(svc, "name"), val(svc, "ods_code"), "prov",
                        "Healthcare Provider", ref);
}

static void add_identifier(struct fx *x, cJSON *r, const char *system, const char *value)
{
    cJSON *o;

    if (!value)
        return;
    o = add_obj(x, add_arr(x, r, "identifier"), NULL);
    add_str(x, o, "system", system);
    add_str(x, o, "value", value);
}

/* The Practitioner (and, when the role is known, PractitionerRole) of every user referenced. */
static void practitioners(struct fx *x)
{
    const cJSON *team = cJSON_GetObjectItemCaseSensitive(x->tree, "team"), *m;

    for (size_t i = 0; i < x->n_staff; i++) {
        const char *user = x->staff[i], *role, *display;
        char id[UUID_STR_MAX], role_id[UUID_STR_MAX], url[FHIR_URL_MAX], org[FHIR_URL_MAX];
        cJSON *r, *o, *codes;

        m = staff_row(x, user);
        role = val(m, "role");
        cJSON_ArrayForEach (o, (cJSON_IsArray(team) ? team : NULL))
            if (!role && cJSON_IsObject(o) && eq(val(o, "user"), user))
                role = val(o, "role");
        display = val(m, "display_name");
        if (!name_uuid(x, "Practitioner", user, id))
            return;
        r = entry(x, "Practitioner", id, NULL);
        add_identifier(x, r, CS_ID "user", user);
        add_identifier(x, r, SYS_NMC, val(m, "nmc"));
        add_identifier(x, r, SYS_HCPC, val(m, "hcpc"));
        add_identifier(x, r, CS_ID "swe-registration", val(m, "swe"));
        add_bool(x, r, "active", !eq(val(m, "disabled"), "1"));
        o = add_obj(x, add_arr(x, r, "name"), NULL);
        if (display) {
            add_str(x, o, "use", "official");
            add_str(x, o, "text", display);
        } else {
            add_str(x, o, "use", "anonymous"); /* only the user name is known here */
            add_str(x, o, "text", user);
        }
        if (!role || !name_uuid(x, "PractitionerRole", user, role_id))
            continue;
        r = entry(x, "PractitionerRole", role_id, NULL);
        add_bool(x, r, "active", !eq(val(m, "disabled"), "1"));
        add_ref(x, r, "practitioner", rel("Practitioner", id, url), display ? display : user);
        add_ref(x, r, "organization", service_org(x, org), NULL);
        codes = add_obj(x, add_arr(x, r, "code"), NULL);
        for (size_t k = 0; k < ELEMENTSOF(role_snomed); k++)
            if (streq(role, role_snomed[k][0]))
                add_coding(x, add_arr(x, codes, "coding"), SYS_SNOMED, role_snomed[k][1],
                           role_snomed[k][2]);
        add_local_coding(x, add_arr(x, codes, "coding"), "staff-role", role);
        add_str(x, codes, "text",
                local_display("staff-role", role) ? local_display("staff-role", role) : role);
    }
}

/* ---- the About Me Questionnaire ---- */

static const struct {
    const char *field, *title;
} about_me_sections[] = {
        {"what_matters", "What is most important to me"},
        {"people_important", "People who are important to me"},
        {"communication", "How I communicate and how to communicate with me"},
        {"wellness", "My wellness"},
        {"please_do", "Please do and please do not"},
        {"how_to_support", "How and when to support me"},
        {"worth_knowing", "Also worth knowing about me"},
        {"appreciate", "What people appreciate about me"},
        {"supported_to_write_by", "Supported to write this by"},
};
#define ABOUT_ME_SHARE_TEXT "This can be shared with voluntary and community services"

static void about_me_questionnaire(struct fx *x)
{
    cJSON *r = entry(x, "Questionnaire", "caresync-about-me", NULL), *items, *it;

    add_str(x, r, "url", CS_QUESTIONNAIRE);
    add_str(x, r, "name", "CaresyncAboutMe");
    add_str(x, r, "title", "About Me");
    add_str(x, r, "status", "active");
    add_str(x, r, "publisher", "caresync");
    add_str(x, r, "description", "The person's About Me, in the sections of the PRSB About Me "
                                 "standard, in their own words.");
    add_str(x, add_arr(x, r, "subjectType"), NULL, "Patient");
    items = add_arr(x, r, "item");
    for (size_t i = 0; i < ELEMENTSOF(about_me_sections); i++) {
        it = add_obj(x, items, NULL);
        add_str(x, it, "linkId", about_me_sections[i].field);
        add_str(x, it, "text", about_me_sections[i].title);
        add_str(x, it, "type", streq(about_me_sections[i].field, "supported_to_write_by")
                                       ? "string"
                                       : "text");
    }
    it = add_obj(x, items, NULL);
    add_str(x, it, "linkId", "shareable_with_vcse");
    add_str(x, it, "text", ABOUT_ME_SHARE_TEXT);
    add_str(x, it, "type", "boolean");
}

/* ---- Patient (person) ---- */

static const char *gender_code(const char *g)
{
    static const struct {
        const char *in, *code;
    } map[] = {
            {"female", "female"},   {"f", "female"},        {"woman", "female"},
            {"male", "male"},       {"m", "male"},          {"man", "male"},
            {"other", "other"},     {"non-binary", "other"}, {"nonbinary", "other"},
            {"unknown", "unknown"}, {"not known", "unknown"},
    };

    for (size_t i = 0; g && i < ELEMENTSOF(map); i++)
        if (strcasecmp(g, map[i].in) == 0)
            return map[i].code;
    return NULL;
}

/* "en", "pl", "pa-IN": a language tag rather than a language name. */
static bool language_tag(const char *s)
{
    size_t n = 0;

    while (islower((unsigned char)s[n]))
        n++;
    if (n < 2 || n > 3)
        return false;
    for (const char *p = s + n; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    return true;
}

/* The BCP-47 tag of a language written by name ("Polish" → "pl"), or NULL. The languages
 * most spoken in England after English (ONS Census 2021) and British Sign Language. */
static const char *language_of(const char *name)
{
    static const char *const map[][2] = {
            {"English", "en"},  {"Welsh", "cy"},     {"Polish", "pl"},
            {"Romanian", "ro"}, {"Panjabi", "pa"},   {"Punjabi", "pa"},
            {"Urdu", "ur"},     {"Portuguese", "pt"}, {"Spanish", "es"},
            {"Arabic", "ar"},   {"Bengali", "bn"},   {"Gujarati", "gu"},
            {"Italian", "it"},  {"Lithuanian", "lt"}, {"Tamil", "ta"},
            {"Somali", "so"},   {"French", "fr"},    {"Turkish", "tr"},
            {"British Sign Language", "bfi"},
    };

    for (size_t i = 0; name && i < ELEMENTSOF(map); i++)
        if (strcasecmp(name, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static bool nhs_number(const char *s)
{
    if (!s || strlen(s) != 10)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* A Flag made from a free-text person field (access instructions, communication needs). */
static void person_flag(struct fx *x, const cJSON *p, const char *field, const char *title)
{
    const char *v = val(p, field);
    char id[UUID_STR_MAX], name[64 + UUID_STR_MAX];
    cJSON *r;

    /* Not a row of its own: a name-based id from the field and the person. */
    snprintf(name, sizeof(name), "%s/%s", field, x->pid);
    if (!v || !name_uuid(x, "Flag", name, id))
        return;
    r = entry(x, "Flag", id, NULL);
    add_str(x, r, "status", "active");
    add_concept(x, add_arr(x, r, "category"), NULL, SYS_FLAG_CATEGORY, "admin",
                "Administrative", NULL);
    add_fmt(x, add_concept(x, r, "code", CS_CODE "person-flag", field, title, NULL), "text",
            "%s: %s", title, v);
    add_ref(x, r, "subject", x->patient, NULL);
}

/* Each white-space separated word of @v as a string of array @key ("Mary Ann" → given). */
static void add_words(struct fx *x, cJSON *p, const char *key, const char *v)
{
    cJSON *a;

    if (!v)
        return;
    a = add_arr(x, p, key);
    for (const char *w = v; *w;) {
        size_t n;

        while (isspace((unsigned char)*w))
            w++;
        n = 0;
        while (w[n] && !isspace((unsigned char)w[n]))
            n++;
        if (n > 0) {
            add_fmt(x, a, NULL, "%.*s", (int)n, w);
            w += n;
        }
    }
}

static void patient(struct fx *x)
{
    const cJSON *p = x->tree;
    const char *v, *status = val(p, "status");
    cJSON *r = entry(x, "Patient", x->pid, NULL), *a, *o;
    const char *gp_name, *gp_ods;
    char gp[FHIR_URL_MAX];

    if (nhs_number(val(p, "nhs_number"))) {
        o = add_obj(x, add_arr(x, r, "identifier"), NULL);
        add_str(x, o, "system", SYS_NHS_NUMBER);
        add_str(x, o, "value", val(p, "nhs_number"));
    }
    add_bool(x, r, "active", !eq(status, "closed") && !is_true(p, CAT_DELETED_FIELD));
    a = add_arr(x, r, "name");
    if ((v = val(p, "name")) || val(p, "family_name") || val(p, "given_names")) {
        o = add_obj(x, a, NULL);
        add_str(x, o, "use", "official");
        add_str(x, o, "text", v);
        add_str(x, o, "family", val(p, "family_name"));
        add_words(x, o, "given", val(p, "given_names"));
        add_words(x, o, "prefix", val(p, "name_prefix"));
    }
    if ((v = val(p, "preferred_name"))) {
        o = add_obj(x, a, NULL);
        add_str(x, o, "use", "usual");
        add_str(x, o, "text", v);
    }
    a = add_arr(x, r, "telecom");
    if ((v = val(p, "phone"))) {
        o = add_obj(x, a, NULL);
        add_str(x, o, "system", "phone");
        add_str(x, o, "value", v);
    }
    if ((v = val(p, "email"))) {
        o = add_obj(x, a, NULL);
        add_str(x, o, "system", "email");
        add_str(x, o, "value", v);
    }
    add_str(x, r, "gender", gender_code(val(p, "gender")));
    add_date(x, r, "birthDate", val(p, "birth_date"));
    if (eq(status, "deceased"))
        add_bool(x, r, "deceasedBoolean", true);
    if ((v = val(p, "address")) || val(p, "address_line1") || val(p, "address_city") ||
        val(p, "address_postcode")) {
        o = add_obj(x, add_arr(x, r, "address"), NULL);
        add_str(x, o, "use", "home");
        add_str(x, o, "type", "physical");
        add_str(x, o, "text", v);
        add_str(x, add_arr(x, o, "line"), NULL, val(p, "address_line1"));
        add_str(x, add_arr(x, o, "line"), NULL, val(p, "address_line2"));
        add_str(x, o, "city", val(p, "address_city"));
        add_str(x, o, "postalCode", val(p, "address_postcode"));
        add_str(x, o, "country", val(p, "address_postcode") ? "GB" : NULL);
    }
    /* The practice: gp_ods_code, or gp_practice when that is a code (the API sets a code). */
    gp_name = val(p, "gp_practice");
    gp_ods = ods_code(val(p, "gp_ods_code")) ? val(p, "gp_ods_code") : NULL;
    if (!gp_ods && ods_code(gp_name) && strlen(gp_name) == 6 && isupper((unsigned char)*gp_name)) {
        gp_ods = gp_name;
        gp_name = NULL;
    }
    if (gp_name || gp_ods)
        add_ref(x, add_arr(x, r, "generalPractitioner"), NULL,
                organization(x, gp_name, gp_ods, "prov", "Healthcare Provider", gp),
                gp_name ? gp_name : gp_ods);
    if ((v = val(p, "language")) || val(p, "interpreter_needed")) {
        o = add_obj(x, add_arr(x, r, "communication"), NULL);
        if (v && language_tag(v))
            add_concept(x, o, "language", SYS_BCP47, v, NULL, NULL);
        else if (language_of(v))
            add_concept(x, o, "language", SYS_BCP47, language_of(v), v, v);
        else
            add_concept(x, o, "language", NULL, NULL, NULL, v ? v : "not recorded");
        add_bool(x, o, "preferred", true);
    }
    if ((v = val(p, "interpreter_needed")) && (streq(v, "0") || streq(v, "1")))
        add_bool(x, add_ext(x, r, EXT_HL7 "patient-interpreterRequired"), "valueBoolean",
                 streq(v, "1"));

    person_flag(x, p, "access_instructions", "Access instructions");
    person_flag(x, p, "communication_needs", "Communication needs");
}

/* ---- RelatedPerson (related_person) ---- */

struct seen_codes {
    const char *system[8], *code[8];
    size_t n;
};

/* One relationship CodeableConcept, unless that system|code is already there. */
static void relationship(struct fx *x, cJSON *arr, struct seen_codes *s, const char *system,
                         const char *code, const char *display, const char *text)
{
    for (size_t i = 0; code && i < s->n; i++)
        if (streq(s->system[i], system) && streq(s->code[i], code))
            return;
    if (code && s->n < ELEMENTSOF(s->code)) {
        s->system[s->n] = system;
        s->code[s->n++] = code;
    }
    add_concept(x, arr, NULL, system, code, display, text);
}

static void related_person(struct fx *x, const cJSON *row)
{
    static const struct {
        const char *code, *display;
    } codes[] = {
            {"NOK", "next of kin"},    {"ECON", "emergency contact"},
            {"GUARD", "guardian"},
            {"POWATT", "power of attorney"}, {"SPS", "spouse"},
            {"CHILD", "child"},        {"PRN", "parent"},
            {"SIB", "sibling"},        {"FAMMEMB", "family member"},
            {"FRND", "unrelated friend"}, {"NBOR", "neighbor"},
    };
    struct seen_codes seen = {.n = 0};
    const char *code = val(row, "relationship_code"), *text = val(row, "relationship"), *v;
    cJSON *r = entry(x, "RelatedPerson", val(row, "id"), NULL), *rel, *o;
    bool coded = false;

    add_bool(x, r, "active", !is_true(row, "do_not_contact"));
    add_ref(x, r, "patient", x->patient, NULL);
    rel = add_arr(x, r, "relationship");
    for (size_t i = 0; code && i < ELEMENTSOF(codes); i++)
        if (streq(code, codes[i].code)) {
            relationship(x, rel, &seen, SYS_ROLECODE, code, codes[i].display, text);
            coded = true;
        }
    if (eq(code, "O")) {
        relationship(x, rel, &seen, SYS_V2_0131, "O", "Other", text);
        coded = true;
    }
    /* CAREGIVER is a RoleClass, not a RoleCode: a carer is UK Core's additional role Carer. */
    if (eq(code, "CAREGIVER")) {
        relationship(x, rel, &seen, SYS_UK_RELATION, "Carer", "Carer", text);
        coded = true;
    }
    if (!coded && text)
        relationship(x, rel, &seen, NULL, NULL, NULL, text);
    if (is_true(row, "is_emergency_contact"))
        relationship(x, rel, &seen, SYS_V2_0131, "C", "Emergency Contact", NULL);
    if (is_true(row, "is_next_of_kin"))
        relationship(x, rel, &seen, SYS_V2_0131, "N", "Next-of-Kin", NULL);
    if (is_true(row, "is_unpaid_carer"))
        relationship(x, rel, &seen, SYS_UK_RELATION, "Carer", "Carer", "Unpaid carer");
    if (is_true(row, "lpa_health_welfare"))
        relationship(x, rel, &seen, SYS_ROLECODE, "HPOWATT", "healthcare power of attorney",
                     "Lasting power of attorney for health and welfare");
    if ((v = val(row, "name"))) {
        o = add_obj(x, add_arr(x, r, "name"), NULL);
        add_str(x, o, "text", v);
    }
    if ((v = val(row, "phone"))) {
        o = add_obj(x, add_arr(x, r, "telecom"), NULL);
        add_str(x, o, "system", "phone");
        add_str(x, o, "value", v);
    }
    if ((v = val(row, "email"))) {
        o = add_obj(x, add_arr(x, r, "telecom"), NULL);
        add_str(x, o, "system", "email");
        add_str(x, o, "value", v);
    }
    if ((v = val(row, "address")))
        add_str(x, add_obj(x, add_arr(x, r, "address"), NULL), "text", v);
    if (is_true(row, "do_not_contact"))
        add_bool(x, add_ext(x, r, CS_EXT "do-not-contact"), "valueBoolean", true);
    if ((v = val(row, "involvement_notes")))
        add_str(x, add_ext(x, r, CS_EXT "involvement-notes"), "valueString", v);
}

/* ---- CareTeam (assignments) ---- */

static void care_team(struct fx *x, const char *id)
{
    const cJSON *team = cJSON_GetObjectItemCaseSensitive(x->tree, "team"), *m;
    cJSON *r = entry(x, "CareTeam", id, NULL), *parts, *o, *roles;
    char org[FHIR_URL_MAX];
    const char *name = val(x->tree, "preferred_name") ? val(x->tree, "preferred_name")
                                                      : val(x->tree, "name");

    add_str(x, r, "status", "active");
    if (name)
        add_fmt(x, r, "name", "Care team of %s", name);
    add_ref(x, add_arr(x, r, "managingOrganization"), NULL, service_org(x, org), NULL);
    add_ref(x, r, "subject", x->patient, NULL);
    parts = add_arr(x, r, "participant");
    o = add_obj(x, parts, NULL);
    add_concept(x, add_arr(x, o, "role"), NULL, NULL, NULL, NULL,
                "The person, who leads their own plan");
    add_ref(x, o, "member", x->patient, NULL);
    if (!cJSON_IsArray(team))
        team = NULL;
    cJSON_ArrayForEach (m, team) {
        const char *user = val(m, "user");

        if (!cJSON_IsObject(m) || !user)
            continue;
        o = add_obj(x, parts, NULL);
        roles = add_arr(x, o, "role");
        if (val(m, "assignment"))
            add_local_concept(x, roles, NULL, "assignment-role", val(m, "assignment"), NULL);
        if (val(m, "role")) {
            cJSON *cc = add_obj(x, roles, NULL);

            for (size_t k = 0; k < ELEMENTSOF(role_snomed); k++)
                if (streq(val(m, "role"), role_snomed[k][0]))
                    add_coding(x, add_arr(x, cc, "coding"), SYS_SNOMED, role_snomed[k][1],
                               role_snomed[k][2]);
            if (!add_local_coding(x, add_arr(x, cc, "coding"), "staff-role", val(m, "role")))
                add_str(x, cc, "text", val(m, "role"));
        }
        add_staff(x, o, "member", user);
    }
}

/* ---- About Me (QuestionnaireResponse) ---- */

static void about_me(struct fx *x)
{
#define sections about_me_sections
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(x->tree, "about_me");
    const char *share;
    char url[FHIR_URL_MAX];
    cJSON *r, *items, *it;
    bool any = false;

    if (!is_live(x, am) || !streq(val(am, "id"), x->pid))
        return;
    for (size_t i = 0; i < ELEMENTSOF(sections); i++)
        any = any || val(am, sections[i].field);
    share = val(am, "shareable_with_vcse");
    if (!any && !share)
        return;
    /* Its id is the person's (about_me is a singleton), so its fullUrl is a derived one. */
    r = entry(x, "QuestionnaireResponse", x->pid,
              derived_url(x, "QuestionnaireResponse", x->pid, url));
    about_me_questionnaire(x);
    add_str(x, r, "questionnaire", CS_QUESTIONNAIRE);
    add_str(x, r, "status", "completed");
    add_ref(x, r, "subject", x->patient, NULL);
    add_datetime(x, r, "authored", val(am, "_updated_at"));
    add_ref(x, r, "author", x->patient, NULL);
    add_ref(x, r, "source", x->patient, NULL);
    items = add_arr(x, r, "item");
    for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
        const char *v = val(am, sections[i].field);

        if (!v)
            continue;
        it = add_obj(x, items, NULL);
        add_str(x, it, "linkId", sections[i].field);
        add_str(x, it, "text", sections[i].title);
        add_str(x, add_obj(x, add_arr(x, it, "answer"), NULL), "valueString", v);
    }
    if (share && (streq(share, "0") || streq(share, "1"))) {
        it = add_obj(x, items, NULL);
        add_str(x, it, "linkId", "shareable_with_vcse");
        add_str(x, it, "text", ABOUT_ME_SHARE_TEXT);
        add_bool(x, add_obj(x, add_arr(x, it, "answer"), NULL), "valueBoolean",
                 streq(share, "1"));
    }
#undef sections
}

/* ---- CarePlan, Goal (care_plan, goal, plan_action, plan_review) ---- */

/* The plan a goal belongs to in the export: its own when exported, else the default plan. */
static const char *goal_plan(const struct fx *x, const cJSON *goal)
{
    const char *plan = val(goal, "care_plan_id");

    if (find_row(x, "care_plans", plan))
        return plan;
    return x->default_plan[0] ? x->default_plan : NULL;
}

/* The plan an action or review belongs to: through its goal, or @plan_id, or the default. */
static const char *row_plan(const struct fx *x, const cJSON *goal, const char *plan_id)
{
    if (goal)
        return goal_plan(x, goal);
    if (find_row(x, "care_plans", plan_id))
        return plan_id;
    return x->default_plan[0] ? x->default_plan : NULL;
}

static void pick_default_plan(struct fx *x)
{
    const cJSON *row;

    x->default_plan[0] = '\0';
    cJSON_ArrayForEach (row, rows(x, "care_plans"))
        if (is_live(x, row) &&
            (!x->default_plan[0] || (eq(val(row, "status"), "active") &&
                                     !eq(val(find_row(x, "care_plans", x->default_plan),
                                                  "status"),
                                         "active"))))
            snprintf(x->default_plan, sizeof(x->default_plan), "%s", val(row, "id"));
}

static void plan_activity(struct fx *x, cJSON *activities, const cJSON *a)
{
    static const char *const statuses[] = {"not-started", "scheduled", "in-progress",
                                           "on-hold",     "completed", "cancelled",
                                           "stopped",     "unknown",   "entered-in-error",
                                           NULL};
    const cJSON *goal = find_row(x, "goals", val(a, "goal_id"));
    char url[FHIR_URL_MAX];
    cJSON *act = add_obj(x, activities, NULL), *d;
    int64_t n;

    /* Element ids keep the action's row id in the export. */
    add_str(x, act, "id", val(a, "id"));
    d = add_obj(x, act, "detail");
    add_str(x, d, "status", pick(val(a, "status"), statuses, "unknown"));
    if (val(a, "status_reason"))
        add_concept(x, d, "statusReason", NULL, NULL, NULL, val(a, "status_reason"));
    if (goal)
        add_ref(x, add_arr(x, d, "goal"), NULL, rel("Goal", val(goal, "id"), url), NULL);
    if (val(a, "when_text"))
        add_str(x, d, "scheduledString", val(a, "when_text"));
    else
        add_period(x, d, "scheduledPeriod", NULL, val(a, "due_date"));
    if (eq(val(a, "who_kind"), "worker"))
        add_staff(x, add_arr(x, d, "performer"), NULL, val(a, "who"));
    else
        add_ref(x, add_arr(x, d, "performer"), NULL, NULL, val(a, "who"));
    add_str(x, d, "description", val(a, "what"));
    if (parse_int(val(a, "confidence"), &n))
        add_num(x, add_ext(x, act, CS_EXT "action-confidence"), "valueInteger", (double)n);
    if (val(a, "who_kind"))
        add_str(x, add_ext(x, act, CS_EXT "action-who-kind"), "valueCode", val(a, "who_kind"));
    if (date_valid(val(a, "review_date") ? val(a, "review_date") : ""))
        add_str(x, add_ext(x, act, CS_EXT "action-review-date"), "valueDate",
                val(a, "review_date"));
}

/* The review activity: when the next review is due and the reviews held (Encounters). */
static void plan_review_activity(struct fx *x, cJSON *activities, const cJSON *plan)
{
    const char *id = val(plan, "id"), *due = val(plan, "review_due");
    char url[FHIR_URL_MAX];
    const cJSON *rv;
    cJSON *act, *d, *outcomes;
    bool held = false;

    cJSON_ArrayForEach (rv, rows(x, "reviews"))
        held = held || (is_live(x, rv) && eq(row_plan(x, NULL, val(rv, "care_plan_id")), id));
    if (!held && !(due && date_valid(due)))
        return;
    act = add_obj(x, activities, NULL);
    outcomes = add_arr(x, act, "outcomeReference");
    cJSON_ArrayForEach (rv, rows(x, "reviews"))
        if (is_live(x, rv) && eq(row_plan(x, NULL, val(rv, "care_plan_id")), id))
            add_ref(x, outcomes, NULL, rel("Encounter", val(rv, "id"), url), NULL);
    d = add_obj(x, act, "detail");
    add_concept(x, d, "code", SYS_SNOMED, "425268008", "Review of care plan", NULL);
    add_str(x, d, "status", due && date_valid(due) ? "scheduled" : "completed");
    add_period(x, d, "scheduledPeriod", NULL, due);
    add_staff(x, add_arr(x, d, "performer"), NULL, val(plan, "review_by"));
    add_str(x, d, "description", "Review of the plan with the person");
}

static void care_plan(struct fx *x, const cJSON *row)
{
    static const char *const statuses[] = {"draft",     "active",           "on-hold", "revoked",
                                           "completed", "entered-in-error", "unknown", NULL};
    const char *id = val(row, "id"), *kind = val(row, "kind");
    char url[FHIR_URL_MAX];
    cJSON *r = entry(x, "CarePlan", id, NULL), *goals, *acts;
    const cJSON *g, *a;

    add_str(x, r, "status", pick(val(row, "status"), statuses, "unknown"));
    add_str(x, r, "intent", "plan");
    if (local_display("plan-kind", kind))
        add_local_concept(x, add_arr(x, r, "category"), NULL, "plan-kind", kind,
                          local_display("plan-kind", kind));
    add_str(x, r, "title", val(row, "title"));
    add_str(x, r, "description", val(row, "summary"));
    add_ref(x, r, "subject", x->patient, NULL);
    add_period(x, r, "period", val(row, "start_date"), NULL);
    add_ref(x, add_arr(x, r, "contributor"), NULL, x->patient, NULL);
    add_ref(x, add_arr(x, r, "careTeam"), NULL, x->careteam, NULL);
    goals = add_arr(x, r, "goal");
    cJSON_ArrayForEach (g, rows(x, "goals"))
        if (is_live(x, g) && eq(goal_plan(x, g), id))
            add_ref(x, goals, NULL, rel("Goal", val(g, "id"), url), NULL);
    acts = add_arr(x, r, "activity");
    cJSON_ArrayForEach (a, rows(x, "actions"))
        if (is_live(x, a) && eq(row_plan(x, find_row(x, "goals", val(a, "goal_id")), NULL), id))
            plan_activity(x, acts, a);
    plan_review_activity(x, acts, row);
    if (val(row, "agreed_with") || val(row, "agreed_on"))
        add_fmt(x, add_obj(x, add_arr(x, r, "note"), NULL), "text", "Agreed with %s%s%s",
                val(row, "agreed_with") ? val(row, "agreed_with") : "the person",
                val(row, "agreed_on") ? " on " : "",
                val(row, "agreed_on") ? val(row, "agreed_on") : "");
    if (val(row, "funding_source"))
        add_fmt(x, add_obj(x, add_arr(x, r, "note"), NULL), "text", "Funding: %s",
                val(row, "funding_source"));
}

/* The goal-relationship extension {type, target} from Goal @r to goal @target_id. */
static void goal_relationship(struct fx *x, cJSON *r, const char *code, const char *display,
                              const char *text, const char *target_id)
{
    cJSON *e = add_ext(x, r, EXT_HL7 "goal-relationship");
    char url[FHIR_URL_MAX];

    add_concept(x, add_ext(x, e, "type"), "valueCodeableConcept", SYS_GOAL_RELATIONSHIP, code,
                display, text);
    add_ref(x, add_ext(x, e, "target"), "valueReference", rel("Goal", target_id, url), NULL);
}

static void goal(struct fx *x, const cJSON *row)
{
    static const char *const lifecycle[] = {"proposed",  "planned",          "accepted",
                                            "active",    "on-hold",          "completed",
                                            "cancelled", "entered-in-error", "rejected",
                                            NULL};
    static const struct {
        const char *code, *display;
    } achievement[] = {
            {"in-progress", "In Progress"},   {"improving", "Improving"},
            {"worsening", "Worsening"},       {"no-change", "No Change"},
            {"achieved", "Achieved"},         {"sustaining", "Sustaining"},
            {"not-achieved", "Not Achieved"}, {"no-progress", "No Progress"},
            {"not-attainable", "Not Attainable"},
    };
    const char *id = val(row, "id"), *ach = val(row, "achievement_status"), *by;
    const cJSON *parent = find_row(x, "goals", val(row, "parent_goal_id"));
    cJSON *r = entry(x, "Goal", id, NULL);
    int64_t n;

    add_str(x, r, "lifecycleStatus", pick(val(row, "lifecycle_status"), lifecycle, "proposed"));
    for (size_t i = 0; ach && i < ELEMENTSOF(achievement); i++)
        if (streq(ach, achievement[i].code))
            add_concept(x, r, "achievementStatus", SYS_GOAL_ACHIEVEMENT, ach,
                        achievement[i].display, NULL);
    if (val(row, "domain"))
        add_concept(x, add_arr(x, r, "category"), NULL, NULL, NULL, NULL, val(row, "domain"));
    add_concept(x, r, "description", NULL, NULL, NULL,
                val(row, "description") ? val(row, "description") : "(no description)");
    add_ref(x, r, "subject", x->patient, NULL);
    add_date(x, r, "startDate", val(row, "start_date"));
    if (val(row, "target_date") && date_valid(val(row, "target_date")))
        add_str(x, add_obj(x, add_arr(x, r, "target"), NULL), "dueDate", val(row, "target_date"));
    /* expressed_by "person" (what the client records) is the Patient; anyone else by name. */
    by = val(row, "expressed_by");
    if (!by || streq(by, "person"))
        add_ref(x, r, "expressedBy", x->patient, NULL);
    else
        add_ref(x, r, "expressedBy", NULL, by);
    if (parse_int(val(row, "importance"), &n))
        add_num(x, add_ext(x, r, CS_EXT "goal-importance"), "valueInteger", (double)n);
    /* References only ever point one way, so the Bundle has a load order (docs/internals/
     * fhir.md, "Load order"): a stage goal points at its goal, progress at the goal it is about. */
    if (parent && !streq(val(parent, "id"), id))
        goal_relationship(x, r, "other", "Other", "Stage goal of", val(parent, "id"));
}

/* ---- Appointment, Encounter and Task (visit) ---- */

struct visit_map {
    const char *status, *appointment, *encounter, *task;
};

static const struct visit_map visit_maps[] = {
        {"planned", "booked", NULL, "ready"},
        {"in-progress", "arrived", "in-progress", "in-progress"},
        {"completed", "fulfilled", "finished", "completed"},
        {"missed", "noshow", NULL, "failed"},
        {"cancelled", "cancelled", NULL, "cancelled"},
};
static const struct visit_map visit_unknown = {NULL, "proposed", NULL, "requested"};

static const struct visit_map *visit_map(const cJSON *visit)
{
    const char *st = val(visit, "status");

    for (size_t i = 0; st && i < ELEMENTSOF(visit_maps); i++)
        if (streq(st, visit_maps[i].status))
            return &visit_maps[i];
    return &visit_unknown;
}

/* The fullUrl of the Encounter of visit @id when the visit has one (it started), else NULL. */
static const char *visit_encounter(struct fx *x, const char *id, char buf[static FHIR_URL_MAX])
{
    const cJSON *v = find_row(x, "visits", id);

    (void)x;
    return v && visit_map(v)->encounter ? rel("Encounter", id, buf) : NULL;
}

static const char *missed_text(const char *code)
{
    const char *d = local_display("missed-reason", code);

    return d ? d : code;
}

/* What kind of visit: SNOMED CT by its mode where SNOMED CT has one, and visit_type as text. */
static void visit_type(struct fx *x, cJSON *arr, const cJSON *v)
{
    const char *mode = val(v, "mode"), *type = val(v, "visit_type");

    if (!mode || eq(mode, "home"))
        add_concept(x, arr, NULL, SYS_SNOMED, "439708006", "Home visit", type);
    else if (eq(mode, "phone"))
        add_concept(x, arr, NULL, SYS_SNOMED, "185317003", "Telephone encounter", type);
    else if (type)
        add_concept(x, arr, NULL, NULL, NULL, NULL, type);
}

static void appointment(struct fx *x, const cJSON *v, const struct visit_map *m)
{
    const char *id = val(v, "id"), *status = m->appointment, *start, *end, *reason;
    char s[ISO_TIME_MAX], e[ISO_TIME_MAX];
    cJSON *r = entry(x, "Appointment", id, NULL), *parts, *o;
    bool end_assumed = false;

    start = to_instant(val(v, "planned_start"), s);
    end = start ? to_instant(val(v, "planned_end"), e) : NULL;
    if (!start) {
        start = to_instant(val(v, "actual_start"), s);
        end = start ? to_instant(val(v, "actual_end"), e) : NULL;
    }
    if (start && !end) {
        end = start; /* R4 needs both (app-2, app-3); a zero length says "not recorded" */
        end_assumed = true;
    }
    /* With no time at all only proposed (or cancelled) is a valid Appointment (app-3). */
    if (!start && !streq(status, "cancelled"))
        status = "proposed";
    add_str(x, r, "status", status);
    reason = val(v, "missed_reason");
    if ((streq(status, "noshow") || streq(status, "cancelled")) && reason)
        add_local_concept(x, r, "cancelationReason", "missed-reason", reason, missed_text(reason));
    visit_type(x, add_arr(x, r, "serviceType"), v);
    add_str(x, r, "description", val(v, "visit_type") ? val(v, "visit_type") : "Visit");
    add_str(x, r, "start", start);
    add_str(x, r, "end", end);
    if (end_assumed)
        add_str(x, r, "comment", "No planned end time was recorded.");
    parts = add_arr(x, r, "participant");
    o = add_obj(x, parts, NULL);
    add_ref(x, o, "actor", x->patient, NULL);
    add_str(x, o, "required", "required");
    add_str(x, o, "status", "accepted");
    if (val(v, "assigned_to")) {
        o = add_obj(x, parts, NULL);
        add_staff(x, o, "actor", val(v, "assigned_to"));
        add_str(x, o, "status", "accepted");
    }
    if (val(v, "mode"))
        add_str(x, add_ext(x, r, CS_EXT "visit-mode"), "valueCode", val(v, "mode"));
}

static void encounter(struct fx *x, const cJSON *v, const struct visit_map *m)
{
    static const struct {
        const char *mode, *code, *display;
    } classes[] = {
            {"home", "HH", "home health"}, {"phone", "VR", "virtual"},
            {"video", "VR", "virtual"},    {"clinic", "AMB", "ambulatory"},
            {"community", "FLD", "field"},
    };
    const char *id = val(v, "id"), *mode = val(v, "mode");
    size_t k = 0; /* home unless the visit says otherwise */
    char url[FHIR_URL_MAX], app[FHIR_URL_MAX];
    cJSON *r, *o;

    for (size_t i = 0; mode && i < ELEMENTSOF(classes); i++)
        if (streq(mode, classes[i].mode))
            k = i;
    r = entry(x, "Encounter", id, derived_url(x, "Encounter", id, url));
    add_str(x, r, "status", m->encounter);
    o = add_obj(x, r, "class");
    add_str(x, o, "system", SYS_ACTCODE);
    add_str(x, o, "code", classes[k].code);
    add_str(x, o, "display", classes[k].display);
    visit_type(x, add_arr(x, r, "type"), v);
    add_ref(x, r, "subject", x->patient, NULL);
    if (val(v, "assigned_to"))
        add_staff(x, add_obj(x, add_arr(x, r, "participant"), NULL), "individual",
                  val(v, "assigned_to"));
    add_ref(x, add_arr(x, r, "appointment"), NULL, rel("Appointment", id, app), NULL);
    add_period(x, r, "period", val(v, "actual_start"),
               streq(m->encounter, "finished") ? val(v, "actual_end") : NULL);
    if (val(v, "outcome"))
        add_str(x, add_ext(x, r, CS_EXT "visit-outcome"), "valueString", val(v, "outcome"));
    if (val(v, "follow_up_needed"))
        add_bool(x, add_ext(x, r, CS_EXT "visit-follow-up-needed"), "valueBoolean",
                 is_true(v, "follow_up_needed"));
}

static void task(struct fx *x, const cJSON *v, const struct visit_map *m)
{
    const char *id = val(v, "id"), *reason = val(v, "missed_reason");
    char url[FHIR_URL_MAX], app[FHIR_URL_MAX], enc[FHIR_URL_MAX];
    cJSON *r = entry(x, "Task", id, derived_url(x, "Task", id, url)), *o;

    add_str(x, r, "status", m->task);
    if (streq(m->task, "failed") && reason)
        add_local_concept(x, r, "businessStatus", "missed-reason", reason, missed_text(reason));
    add_str(x, r, "intent", "order");
    add_concept(x, r, "code", SYS_TASK_CODE, "fulfill", "Fulfill the focal request", "Visit");
    add_str(x, r, "description", val(v, "visit_type"));
    add_ref(x, r, "focus", rel("Appointment", id, app), NULL);
    add_ref(x, r, "for", x->patient, NULL);
    add_ref(x, r, "encounter", visit_encounter(x, id, enc), NULL);
    add_period(x, r, "executionPeriod", val(v, "actual_start"), val(v, "actual_end"));
    add_datetime(x, r, "lastModified", val(v, "recorded_at"));
    add_staff(x, r, "owner", val(v, "assigned_to"));
    o = add_obj(x, r, "restriction");
    add_period(x, o, "period", val(v, "planned_start"), val(v, "planned_end"));
}

static void visit(struct fx *x, const cJSON *v)
{
    const struct visit_map *m = visit_map(v);

    appointment(x, v, m);
    if (m->encounter)
        encounter(x, v, m);
    task(x, v, m);
}

/* ---- Encounter (plan_review) ---- */

static void review(struct fx *x, const cJSON *row)
{
    const char *date = val(row, "review_date");
    cJSON *r = entry(x, "Encounter", val(row, "id"), NULL), *o;

    add_str(x, r, "status",
            eq(val(row, "status"), "entered-in-error") ? "entered-in-error" : "finished");
    o = add_obj(x, r, "class");
    add_str(x, o, "system", SYS_ACTCODE);
    add_str(x, o, "code", "HH");
    add_str(x, o, "display", "home health");
    add_concept(x, add_arr(x, r, "type"), NULL, SYS_SNOMED, "425268008", "Review of care plan",
                NULL);
    add_ref(x, r, "subject", x->patient, NULL);
    if (val(row, "reviewed_by"))
        add_staff(x, add_obj(x, add_arr(x, r, "participant"), NULL), "individual",
                  val(row, "reviewed_by"));
    add_period(x, r, "period", date, date);
    if (val(row, "outcome"))
        add_str(x, add_ext(x, r, CS_EXT "review-outcome"), "valueCode", val(row, "outcome"));
    if (val(row, "summary"))
        add_str(x, add_ext(x, r, CS_EXT "review-summary"), "valueString", val(row, "summary"));
    if (val(row, "next_review_date") && date_valid(val(row, "next_review_date")))
        add_str(x, add_ext(x, r, CS_EXT "review-next-date"), "valueDate",
                val(row, "next_review_date"));
    if (val(row, "with_person"))
        add_bool(x, add_ext(x, r, CS_EXT "review-with-person"), "valueBoolean",
                 is_true(row, "with_person"));
}

/* ---- Observation (observation, goal_progress) ---- */

struct obs_kind {
    const char *kind, *category, *category_display;
    const char *loinc, *loinc_display;   /* NULL: LOINC has no code we can honestly use */
    const char *loinc2, *loinc2_display; /* a second LOINC code a profile requires */
    const char *snomed, *snomed_display;
    const char *display;                 /* the text */
    const char *profile;                 /* the R4 vital-signs profile, or NULL */
    const char *units[3];                /* the UCUM codes that profile allows */
};

static const struct obs_kind obs_kinds[] = {
        {"blood-pressure", "vital-signs", "Vital Signs", "85354-9",
         "Blood pressure panel with all children optional", NULL, NULL, "75367002",
         "Blood pressure", "Blood pressure", "bp", {"mm[Hg]"}},
        {"pulse", "vital-signs", "Vital Signs", "8867-4", "Heart rate", NULL, NULL, "364075005",
         "Heart rate", "Pulse", "heartrate", {"/min"}},
        /* The vital-signs profile wants 2708-6; 59408-5 says it was by pulse oximetry. */
        {"spo2", "vital-signs", "Vital Signs", "2708-6", "Oxygen saturation in Arterial blood",
         "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "103228002",
         "Hemoglobin saturation with oxygen", "Oxygen saturation", "oxygensat", {"%"}},
        {"temperature", "vital-signs", "Vital Signs", "8310-5", "Body temperature", NULL, NULL,
         "386725007", "Body temperature", "Body temperature", "bodytemp", {"Cel", "[degF]"}},
        {"weight", "vital-signs", "Vital Signs", "29463-7", "Body weight", NULL, NULL,
         "27113001", "Body weight", "Body weight", "bodyweight", {"kg", "g", "[lb_av]"}},
        {"respiratory-rate", "vital-signs", "Vital Signs", "9279-1", "Respiratory rate", NULL,
         NULL, "86290005", "Respiratory rate", "Respiratory rate", "resprate", {"/min"}},
        {"blood-glucose", "laboratory", "Laboratory", "2339-0", "Glucose [Mass/volume] in Blood",
         NULL, NULL, NULL, NULL, "Blood glucose", NULL, {NULL}},
        {"wound-size", "exam", "Exam", NULL, NULL, NULL, NULL, NULL, NULL, "Wound size", NULL,
         {NULL}},
        {"pain-score", "survey", "Survey", "72514-3",
         "Pain severity - 0-10 verbal numeric rating [Score] - Reported", NULL, NULL, NULL, NULL,
         "Pain score", NULL, {NULL}},
        {"ons4", "survey", "Survey", NULL, NULL, NULL, NULL, NULL, NULL,
         "ONS4 personal wellbeing", NULL, {NULL}},
        {"swemwbs", "survey", "Survey", NULL, NULL, NULL, NULL, NULL, NULL,
         "Short Warwick-Edinburgh Mental Wellbeing Scale", NULL, {NULL}},
        {"timed-up-and-go", "exam", "Exam", "89423-8",
         "Time to rise from chair, walk 10 feet and back, and return to sitting [TUG]", NULL,
         NULL, NULL, NULL, "Timed up and go test", NULL, {NULL}},
        {"falls", "survey", "Survey", NULL, NULL, NULL, NULL, NULL, NULL, "Falls", NULL, {NULL}},
};

/* The UCUM code of a unit as written, or NULL when not known. */
static const char *ucum(const char *unit)
{
    static const char *const map[][2] = {
            {"mmHg", "mm[Hg]"},   {"mm[Hg]", "mm[Hg]"},   {"bpm", "/min"},
            {"/min", "/min"},     {"beats/min", "/min"},  {"breaths/min", "/min"},
            {"%", "%"},           {"C", "Cel"},           {"\u00b0C", "Cel"},
            {"degC", "Cel"},      {"Cel", "Cel"},         {"kg", "kg"},
            {"g", "g"},           {"lb", "[lb_av]"},      {"mmol/L", "mmol/L"},
            {"mmol/l", "mmol/L"}, {"mg/dL", "mg/dL"},     {"mg/dl", "mg/dL"},
            {"cm", "cm"},         {"mm", "mm"},           {"cm2", "cm2"},
            {"s", "s"},           {"sec", "s"},           {"seconds", "s"},
    };

    for (size_t i = 0; unit && i < ELEMENTSOF(map); i++)
        if (streq(unit, map[i][0]))
            return map[i][1];
    return NULL;
}

/* The display name of a UCUM code: UCUM's name, as HL7's ucum-common value set gives it and
 * UK Core writes it ("millimeter of mercury", not "mmHg"), or NULL when not known. */
static const char *ucum_display(const char *code)
{
    static const char *const map[][2] = {
            {"mm[Hg]", "millimeter of mercury"},
            {"/min", "per minute"},
            {"%", "percent"},
            {"Cel", "degree Celsius"},
            {"[degF]", "degree Fahrenheit"},
            {"kg", "kilogram"},
            {"g", "gram"},
            {"[lb_av]", "pound (US and British)"},
            {"mmol/L", "millimole per liter"},
            {"mg/dL", "milligram per deciliter"},
            {"cm", "centimeter"},
            {"mm", "millimeter"},
            {"cm2", "square centimeter"},
            {"s", "second"},
    };

    for (size_t i = 0; code && i < ELEMENTSOF(map); i++)
        if (streq(code, map[i][0]))
            return map[i][1];
    return NULL;
}

/* A Quantity: with a UCUM code, its unit is the code's display name (what the worker typed is
 * only the way to the code); without one, the unit as typed. */
static void add_quantity(struct fx *x, cJSON *p, const char *key, double value, const char *unit)
{
    cJSON *q = add_obj(x, p, key);
    const char *code = ucum(unit), *display = ucum_display(code);

    add_num(x, q, "value", value);
    add_str(x, q, "unit", display ? display : unit);
    if (code) {
        add_str(x, q, "system", SYS_UCUM);
        add_str(x, q, "code", code);
    }
}

/* Blood pressure "130/80" as the systolic and diastolic components of the vital-signs panel. */
static bool bp_components(struct fx *x, cJSON *r, const char *value, const char *unit)
{
    char sys[32], dia[32];
    const char *slash = value ? strchr(value, '/') : NULL;
    double s, d;
    cJSON *c, *comps;

    if (!slash || (size_t)(slash - value) >= sizeof(sys) || strlen(slash + 1) >= sizeof(dia))
        return false;
    snprintf(sys, sizeof(sys), "%.*s", (int)(slash - value), value);
    snprintf(dia, sizeof(dia), "%s", slash + 1);
    if (!parse_decimal(sys, &s) || !parse_decimal(dia, &d))
        return false;
    unit = unit ? unit : "mmHg";
    comps = add_arr(x, r, "component");
    c = add_obj(x, comps, NULL);
    add_coding(x, add_arr(x, add_concept(x, c, "code", SYS_LOINC, "8480-6",
                                         "Systolic blood pressure", NULL), "coding"),
               SYS_SNOMED, "271649006", "Systolic blood pressure");
    add_quantity(x, c, "valueQuantity", s, unit);
    c = add_obj(x, comps, NULL);
    add_coding(x, add_arr(x, add_concept(x, c, "code", SYS_LOINC, "8462-4",
                                         "Diastolic blood pressure", NULL), "coding"),
               SYS_SNOMED, "271650006", "Diastolic blood pressure");
    add_quantity(x, c, "valueQuantity", d, unit);
    return true;
}

static void obs_common(struct fx *x, cJSON *r, const cJSON *row)
{
    add_str(x, r, "status",
            eq(val(row, "status"), "entered-in-error") ? "entered-in-error" : "final");
}

/* Does the Observation @r meet R4's vital-signs profile of kind @k (vs-1, vs-2, vs-3, the
 * profile's units)? Only then does it claim the profile. */
static bool vital_signs_conform(const struct obs_kind *k, const cJSON *r)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(r, "valueQuantity"), *c;
    const char *code;

    if (!k->profile || !val(r, "effectiveDateTime"))
        return false;
    if (cJSON_GetObjectItemCaseSensitive(r, "dataAbsentReason"))
        return true;
    if (streq(k->kind, "blood-pressure")) {
        size_t n = 0;

        cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(r, "component")) {
            q = cJSON_GetObjectItemCaseSensitive(c, "valueQuantity");
            n += eq(val(q, "code"), "mm[Hg]") && eq(val(q, "system"), SYS_UCUM);
        }
        return n == 2;
    }
    code = val(q, "code");
    if (!code || !eq(val(q, "system"), SYS_UCUM))
        return false;
    for (size_t i = 0; i < ELEMENTSOF(k->units) && k->units[i]; i++)
        if (streq(code, k->units[i]))
            return true;
    return false;
}

static void observation(struct fx *x, const cJSON *row)
{
    const char *kind = val(row, "kind"), *value = val(row, "value"), *unit = val(row, "unit");
    const struct obs_kind *k = NULL;
    char enc[FHIR_URL_MAX];
    cJSON *r = entry(x, "Observation", val(row, "id"), NULL), *code, *codings;
    double d;

    for (size_t i = 0; kind && i < ELEMENTSOF(obs_kinds); i++)
        if (streq(kind, obs_kinds[i].kind))
            k = &obs_kinds[i];
    obs_common(x, r, row);
    if (k)
        add_concept(x, add_arr(x, r, "category"), NULL, SYS_OBS_CATEGORY, k->category,
                    k->category_display, NULL);
    code = add_obj(x, r, "code");
    codings = add_arr(x, code, "coding");
    if (k && streq(k->kind, "blood-glucose") && eq(ucum(unit), "mmol/L"))
        add_coding(x, codings, SYS_LOINC, "15074-8", "Glucose [Moles/volume] in Blood");
    else if (k && k->loinc)
        add_coding(x, codings, SYS_LOINC, k->loinc, k->loinc_display);
    if (k && k->loinc2)
        add_coding(x, codings, SYS_LOINC, k->loinc2, k->loinc2_display);
    if (k && k->snomed)
        add_coding(x, codings, SYS_SNOMED, k->snomed, k->snomed_display);
    if (k && !k->loinc && !k->snomed)
        add_local_coding(x, codings, "observation", k->kind);
    add_str(x, code, "text", k ? k->display : kind ? kind : "Observation");
    add_ref(x, r, "subject", x->patient, NULL);
    add_ref(x, r, "encounter", visit_encounter(x, val(row, "visit_id"), enc), NULL);
    add_datetime(x, r, "effectiveDateTime", val(row, "occurred_at"));
    add_instant(x, r, "issued", val(row, "recorded_at"));
    add_staff(x, add_arr(x, r, "performer"), NULL, val(row, "author"));
    if (k && streq(k->kind, "blood-pressure") && bp_components(x, r, value, unit))
        ; /* the panel carries its values in components (vital-signs profile) */
    else if (parse_decimal(value, &d))
        add_quantity(x, r, "valueQuantity", d, unit);
    else if (value)
        add_str(x, r, "valueString", value);
    else
        add_concept(x, r, "dataAbsentReason", SYS_DATA_ABSENT, "unknown", "Unknown", NULL);
    add_note(x, r, val(row, "error_reason"));
    if (k && vital_signs_conform(k, r))
        add_fmt(x, add_arr(x, add_obj(x, r, "meta"), "profile"), NULL, PROFILE_HL7 "%s",
                k->profile);
}

static void goal_progress(struct fx *x, const cJSON *row)
{
    const char *ach = val(row, "achievement_status");
    const cJSON *g = find_row(x, "goals", val(row, "goal_id"));
    char url[FHIR_URL_MAX];
    cJSON *r = entry(x, "Observation", val(row, "id"), NULL), *c;
    int64_t n;

    obs_common(x, r, row);
    add_concept(x, add_arr(x, r, "category"), NULL, SYS_OBS_CATEGORY, "survey", "Survey", NULL);
    add_concept(x, r, "code", CS_CODE "observation", "goal-progress", "Goal progress",
                "Goal progress");
    add_ref(x, r, "subject", x->patient, NULL);
    if (g)
        add_ref(x, add_arr(x, r, "focus"), NULL, rel("Goal", val(g, "id"), url), NULL);
    add_datetime(x, r, "effectiveDateTime", val(row, "occurred_at"));
    add_instant(x, r, "issued", val(row, "recorded_at"));
    add_staff(x, add_arr(x, r, "performer"), NULL, val(row, "author"));
    if (parse_int(val(row, "rating"), &n))
        add_num(x, r, "valueInteger", (double)n);
    else if (!ach)
        add_concept(x, r, "dataAbsentReason", SYS_DATA_ABSENT, "unknown", "Unknown", NULL);
    if (ach) {
        c = add_obj(x, add_arr(x, r, "component"), NULL);
        add_local_concept(x, c, "code", "observation", "achievement-status", NULL);
        add_concept(x, c, "valueCodeableConcept", SYS_GOAL_ACHIEVEMENT, ach, NULL, ach);
    }
    add_note(x, r, val(row, "in_own_words"));
    add_note(x, r, val(row, "error_reason"));
}

/* ---- DocumentReference (note) ---- */

static void note(struct fx *x, const cJSON *row)
{
    const char *cat = val(row, "category"), *text = val(row, "text"), *visit = val(row, "visit_id");
    bool error = eq(val(row, "status"), "entered-in-error");
    char enc[FHIR_URL_MAX], app[FHIR_URL_MAX];
    cJSON *r = entry(x, "DocumentReference", val(row, "id"), NULL), *att, *ctx;
    _cleanup_free_ char *b64 = NULL;

    if (eq(cat, "safeguarding-concern"))
        add_coding(x, add_arr(x, add_obj(x, r, "meta"), "security"), SYS_CONFIDENTIALITY, "R",
                   "restricted");
    add_str(x, r, "status", error ? "entered-in-error" : "current");
    add_str(x, r, "docStatus", error ? "entered-in-error" : "final");
    /* LOINC's document ontology: a visit note is a progress note, anything else a note; our
     * category says which kind. */
    if (local_display("note-category", cat)) {
        cJSON *ty = add_obj(x, r, "type"), *codings = add_arr(x, ty, "coding");

        if (streq(cat, "visit"))
            add_coding(x, codings, SYS_LOINC, "11506-3", "Progress note");
        else
            add_coding(x, codings, SYS_LOINC, "34109-9", "Note");
        add_local_coding(x, codings, "note-category", cat);
        add_str(x, ty, "text", local_display("note-category", cat));
    } else {
        add_concept(x, r, "type", SYS_LOINC, "34109-9", "Note", NULL);
    }
    add_ref(x, r, "subject", x->patient, NULL);
    add_instant(x, r, "date", val(row, "recorded_at"));
    add_staff(x, add_arr(x, r, "author"), NULL, val(row, "author"));
    if (error)
        add_fmt(x, r, "description", "Entered in error%s%s", val(row, "error_reason") ? ": " : "",
                val(row, "error_reason") ? val(row, "error_reason") : "");
    att = add_obj(x, add_obj(x, add_arr(x, r, "content"), NULL), "attachment");
    add_str(x, att, "contentType", "text/plain; charset=utf-8");
    if (text) {
        size_t n = strlen(text);

        b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
            x->oom = true;
        else
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)text, (int)n);
        add_str(x, att, "data", b64);
    }
    add_datetime(x, att, "creation", val(row, "occurred_at"));
    ctx = add_obj(x, r, "context");
    if (visit_encounter(x, visit, enc))
        add_ref(x, add_arr(x, ctx, "encounter"), NULL, enc, NULL);
    else if (find_row(x, "visits", visit))
        add_ref(x, add_arr(x, ctx, "related"), NULL, rel("Appointment", visit, app), NULL);
    add_period(x, ctx, "period", val(row, "occurred_at"), NULL);
}

/* ---- Consent ---- */

static void consent(struct fx *x, const cJSON *row)
{
    static const char *const statuses[] = {"active", "inactive", "rejected", "entered-in-error",
                                           NULL};
    static const char *const sectors[][2] = {
            {"health", "Health professionals"},
            {"social-care", "Social care"},
            {"vcse", "Voluntary, community and social enterprise organisations"},
    };
    const char *sector = val(row, "sector"), *basis = val(row, "basis");
    const char *basis_text = local_display("consent-basis", basis);
    cJSON *r = entry(x, "Consent", val(row, "id"), NULL), *prov, *actor;

    add_str(x, r, "status", pick(val(row, "status"), statuses, "active"));
    add_concept(x, r, "scope", SYS_CONSENT_SCOPE, "patient-privacy", "Privacy Consent", NULL);
    add_concept(x, add_arr(x, r, "category"), NULL, SYS_LOINC, "59284-0", "Patient Consent",
                "Information sharing");
    add_ref(x, r, "patient", x->patient, NULL);
    add_datetime(x, r, "dateTime", val(row, "recorded_at"));
    if (eq(basis, "explicit") || eq(basis, "implied"))
        add_ref(x, add_arr(x, r, "performer"), NULL, x->patient, NULL);
    /* ppc-1: a policy or a policyRule; the legal basis is the rule. */
    if (basis_text)
        add_local_concept(x, r, "policyRule", "consent-basis", basis, basis_text);
    else
        add_concept(x, r, "policyRule", NULL, NULL, NULL, "Basis not recorded");
    prov = add_obj(x, r, "provision");
    add_str(x, prov, "type", eq(val(row, "decision"), "deny") ? "deny" : "permit");
    add_period(x, prov, "period", NULL, val(row, "withdrawn_at"));
    for (size_t i = 0; sector && i < ELEMENTSOF(sectors); i++)
        if (streq(sector, sectors[i][0])) {
            actor = add_obj(x, add_arr(x, prov, "actor"), NULL);
            add_concept(x, actor, "role", SYS_PARTICIPATION, "IRCP", "information recipient",
                        NULL);
            add_ref(x, actor, "reference", NULL, sectors[i][1]);
        }
    /* provision.class is a Coding: a code of ours, or (free text the code system lacks) the
     * text in an extension rather than a code that is not one. */
    if (val(row, "data_class") &&
        !add_local_coding(x, add_arr(x, prov, "class"), "data-class", val(row, "data_class")))
        add_str(x, add_ext(x, r, CS_EXT "consent-data-class"), "valueString",
                val(row, "data_class"));
    if (val(row, "notes"))
        add_str(x, add_ext(x, r, CS_EXT "consent-notes"), "valueString", val(row, "notes"));
    if (val(row, "recorded_by"))
        add_str(x, add_ext(x, r, CS_EXT "recorded-by"), "valueString", val(row, "recorded_by"));
}

/* ---- Flag (alert) ---- */

static void alert(struct fx *x, const cJSON *row)
{
    static const char *const statuses[] = {"active", "inactive", "entered-in-error", NULL};
    static const char *const categories[][3] = {
            {"animal", "safety", "Safety"},       {"access", "admin", "Administrative"},
            {"lone-worker", "safety", "Safety"},  {"infection", "safety", "Safety"},
            {"communication", "admin", "Administrative"}, {"safeguarding", "safety", "Safety"},
    };
    const char *cat = val(row, "category");
    cJSON *r = entry(x, "Flag", val(row, "id"), NULL), *cats;

    add_str(x, r, "status", pick(val(row, "status"), statuses, "active"));
    cats = add_arr(x, r, "category");
    for (size_t i = 0; cat && i < ELEMENTSOF(categories); i++)
        if (streq(cat, categories[i][0]))
            add_concept(x, cats, NULL, SYS_FLAG_CATEGORY, categories[i][1], categories[i][2],
                        NULL);
    if (cat)
        add_local_concept(x, cats, NULL, "alert-category", cat, NULL);
    add_concept(x, r, "code", NULL, NULL, NULL, val(row, "text") ? val(row, "text") : "Alert");
    add_ref(x, r, "subject", x->patient, NULL);
    add_period(x, r, "period", val(row, "period_start"), val(row, "period_end"));
    add_staff(x, r, "author", val(row, "raised_by"));
    if (val(row, "audience"))
        add_str(x, add_ext(x, r, CS_EXT "alert-audience"), "valueCode", val(row, "audience"));
}

/* ---- the Bundle ---- */

/* Every exported row of @label through @fn. */
static void each(struct fx *x, const char *label, void (*fn)(struct fx *, const cJSON *))
{
    const cJSON *row;

    cJSON_ArrayForEach (row, rows(x, label))
        if (is_live(x, row))
            fn(x, row);
}

cJSON *fhir_bundle(const cJSON *tree, const char *generated_at)
{
    _cleanup_json_ cJSON *b = NULL;
    struct fx x = {.tree = tree};
    char team[UUID_STR_MAX];

    x.pid = val(tree, "id");
    if (!cJSON_IsObject(tree) || !x.pid || !uuid_valid(x.pid))
        return NULL;
    b = cJSON_CreateObject();
    if (!b)
        return NULL;
    add_str(&x, b, "resourceType", "Bundle");
    add_str(&x, b, "type", "transaction");
    add_instant(&x, b, "timestamp", generated_at);
    x.entries = add_arr(&x, b, "entry");
    rel("Patient", x.pid, x.patient);
    if (!name_uuid(&x, "CareTeam", x.pid, team))
        return NULL;
    rel("CareTeam", team, x.careteam);
    pick_default_plan(&x);

    code_systems(&x);
    patient(&x);
    each(&x, "contacts", related_person);
    care_team(&x, team);
    about_me(&x);
    each(&x, "care_plans", care_plan);
    each(&x, "goals", goal);
    each(&x, "visits", visit);
    each(&x, "reviews", review);
    each(&x, "observations", observation);
    each(&x, "progress", goal_progress);
    each(&x, "notes", note);
    each(&x, "consents", consent);
    each(&x, "alerts", alert);
    practitioners(&x);
    free(x.staff);
    if (!x.oom && fhir_order_entries(x.entries) < 0)
        x.oom = true;

    if (x.oom)
        return NULL;
    prune(b);
    return TAKE_PTR(b);
}

int fhir_set_authored(cJSON *tree, uint64_t hlc)
{
    cJSON *am = cJSON_GetObjectItemCaseSensitive(tree, "about_me");
    char buf[ISO_TIME_MAX];

    if (!cJSON_IsObject(am) || hlc == 0)
        return 0;
    cJSON_DeleteItemFromObjectCaseSensitive(am, "_updated_at");
    return cJSON_AddStringToObject(am, "_updated_at", iso_time(hlc_ms(hlc), buf)) ? 0 : -ENOMEM;
}
