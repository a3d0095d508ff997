/* SPDX-License-Identifier: MIT */
/* record.c - what a worker records, offline: notes, observations, goal progress, consent,
 * contacts, alerts, registering someone met in the field, and marking an append-only record
 * entered in error. One local transaction per call, through outbox.c. */
#include "caresync.h"

#include <stdio.h>
#include <string.h>

#include "caresync_int.h"

/* Evaluate @call (a *_tx function below) inside one write transaction; the result code. */
#define RUN_TX(c, call)                                      \
    ({                                                       \
        int _r = outbox_tx_begin(c);                         \
        _r == CARESYNC_OK ? outbox_tx_end((c), (call)) : _r; \
    })

/* Insert a new row of @table for @person_id with @fs; its id in @id. */
static int insert_new(struct caresync *c, const char *table, const char *person_id,
                      const struct outbox_field *fs, size_t n, char id[static UUID_STR_MAX])
{
    int r = outbox_new_id(c, id);

    return r == CARESYNC_OK ? outbox_insert(c, table, person_id, id, fs, n) : r;
}

static void copy_id(int r, const char *id, char ret_id[static CARESYNC_ID_MAX])
{
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
}

/* ---- notes and observations ---- */

static int note_tx(struct caresync *c, const char *person_id, const char *text,
                   const char *visit_id, const char *category, const char *at,
                   char id[static UUID_STR_MAX])
{
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX], zoned[WHEN_ZONED_MAX];
    int r;

    when_now_iso(now);
    r = outbox_need(c, "note", "text", text, "the note's text");
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r != CARESYNC_OK)
        return r;
    return insert_new(c, "note", person_id,
                      (const struct outbox_field[]){
                              {"visit_id", visit_id},
                              {"text", text},
                              {"category", category ? category : "visit"},
                              {"author", me},
                              {"occurred_at", at ? when_zone(at, zoned) : now},
                              {"recorded_at", now},
                              {"status", "final"},
                      },
                      7, id);
}

int caresync_note_add(struct caresync *c, const char *person_id, const char *text,
                      const char *visit_id, const char *category, const char *at,
                      char ret_id[static CARESYNC_ID_MAX])
{
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, note_tx(c, person_id, text, visit_id, category, at, id));

    copy_id(r, id, ret_id);
    return r;
}

static int observe_tx(struct caresync *c, const char *person_id, const char *kind,
                      const char *value, const char *unit, const char *visit_id, const char *at,
                      char id[static UUID_STR_MAX])
{
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX], zoned[WHEN_ZONED_MAX];
    int r;

    when_now_iso(now);
    r = outbox_need(c, "observation", "kind", kind, "the kind of observation");
    if (r == CARESYNC_OK)
        r = outbox_need(c, "observation", "value", value, "the observed value");
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r != CARESYNC_OK)
        return r;
    return insert_new(c, "observation", person_id,
                      (const struct outbox_field[]){
                              {"visit_id", visit_id},
                              {"kind", kind},
                              {"value", value},
                              {"unit", unit},
                              {"author", me},
                              {"occurred_at", at ? when_zone(at, zoned) : now},
                              {"recorded_at", now},
                              {"status", "final"},
                      },
                      8, id);
}

int caresync_observe(struct caresync *c, const char *person_id, const char *kind, const char *value,
                     const char *unit, const char *visit_id, const char *at,
                     char ret_id[static CARESYNC_ID_MAX])
{
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, observe_tx(c, person_id, kind, value, unit, visit_id, at, id));

    copy_id(r, id, ret_id);
    return r;
}

/* ---- goal progress ---- */

static int progress_tx(struct caresync *c, const char *goal_id, const char *text,
                       const char *rating, const char *achievement, char id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *g = NULL;
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX];
    int r;

    when_now_iso(now);
    r = outbox_need(c, "goal_progress", "in_own_words", text,
                    "the progress, in the person's words,");
    if (r == CARESYNC_OK)
        r = query_need_row(c, "goal", goal_id, &g);
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r == CARESYNC_OK)
        r = insert_new(c, "goal_progress", query_str(g, "person_id"),
                       (const struct outbox_field[]){
                               {"goal_id", goal_id},
                               {"in_own_words", text},
                               {"rating", rating},
                               {"achievement_status", achievement},
                               {"author", me},
                               {"occurred_at", now},
                               {"recorded_at", now},
                               {"status", "final"},
                       },
                       8, id);
    if (r == CARESYNC_OK && achievement)
        r = outbox_set(c, "goal", goal_id, "achievement_status", achievement);
    return r;
}

int caresync_progress_add(struct caresync *c, const char *goal_id, const char *text,
                          const char *rating, const char *achievement,
                          char ret_id[static CARESYNC_ID_MAX])
{
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, progress_tx(c, goal_id, text, rating, achievement, id));

    copy_id(r, id, ret_id);
    return r;
}

/* ---- consent ---- */

static int consent_tx(struct caresync *c, const char *person_id, const struct caresync_consent *k,
                      char id[static UUID_STR_MAX])
{
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX];
    int r;

    when_now_iso(now);
    r = outbox_need(c, "consent", "sector", k->sector, "the sector the consent covers (--sector)");
    if (r == CARESYNC_OK)
        r = outbox_need(c, "consent", "decision", k->decision, "the decision (--decision)");
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r != CARESYNC_OK)
        return r;
    return insert_new(c, "consent", person_id,
                      (const struct outbox_field[]){
                              {"sector", k->sector},
                              {"decision", k->decision},
                              {"basis", k->basis},
                              {"data_class", k->data_class},
                              {"notes", k->notes},
                              {"recorded_by", me},
                              {"recorded_at", now},
                              {"status", "active"},
                      },
                      8, id);
}

int caresync_consent_record(struct caresync *c, const char *person_id,
                            const struct caresync_consent *k, char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_consent none = {0};
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, consent_tx(c, person_id, k ? k : &none, id));

    copy_id(r, id, ret_id);
    return r;
}

static int withdraw_tx(struct caresync *c, const char *id)
{
    _cleanup_json_ cJSON *k = NULL;
    const char *status;
    char now[WHEN_ISO_MAX];
    int r;

    r = query_need_row(c, "consent", id, &k);
    if (r != CARESYNC_OK)
        return r;
    status = query_str(k, "status");
    if (status && streq(status, "inactive"))
        return CARESYNC_OK; /* already withdrawn: keep the first withdrawal's time */
    if (status && !streq(status, "active"))
        return cs_fail(c, CARESYNC_EUSAGE, "consent %s is %s, not active; nothing to withdraw", id,
                       status);
    r = outbox_set(c, "consent", id, "withdrawn_at", when_now_iso(now));
    if (r == CARESYNC_OK)
        r = outbox_set(c, "consent", id, "status", "inactive");
    return r;
}

int caresync_consent_withdraw(struct caresync *c, const char *consent_id)
{
    return RUN_TX(c, withdraw_tx(c, consent_id));
}

/* ---- contacts ---- */

static int contact_tx(struct caresync *c, const char *person_id, const struct caresync_contact *k,
                      char id[static UUID_STR_MAX])
{
    int r = outbox_need(c, "related_person", "name", k->name, "the contact's name (--name)");

    if (r != CARESYNC_OK)
        return r;
    /* Flags not given stay unset (unknown), rather than a "no" nobody said. */
    return insert_new(c, "related_person", person_id,
                      (const struct outbox_field[]){
                              {"name", k->name},
                              {"relationship", k->relationship},
                              {"relationship_code", k->relationship_code},
                              {"phone", k->phone},
                              {"email", k->email},
                              {"is_unpaid_carer", k->carer ? "1" : NULL},
                              {"is_next_of_kin", k->next_of_kin ? "1" : NULL},
                              {"is_emergency_contact", k->emergency ? "1" : NULL},
                              {"lpa_health_welfare", k->lpa ? "1" : NULL},
                              {"do_not_contact", k->do_not_contact ? "1" : NULL},
                      },
                      10, id);
}

int caresync_contact_add(struct caresync *c, const char *person_id,
                         const struct caresync_contact *k, char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_contact none = {0};
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, contact_tx(c, person_id, k ? k : &none, id));

    copy_id(r, id, ret_id);
    return r;
}

/* ---- alerts ---- */

static int alert_tx(struct caresync *c, const char *person_id, const char *text,
                    const char *category, const char *audience, char id[static UUID_STR_MAX])
{
    _cleanup_free_ char *me = NULL;
    char today[WHEN_DATE_MAX];
    int r;

    when_today(today);
    r = outbox_need(c, "alert", "text", text, "the alert's text");
    if (r == CARESYNC_OK)
        r = outbox_need(c, "alert", "category", category, "the alert's category (--category)");
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r != CARESYNC_OK)
        return r;
    return insert_new(c, "alert", person_id,
                      (const struct outbox_field[]){
                              {"category", category},
                              {"text", text},
                              {"audience", audience},
                              {"period_start", today},
                              {"raised_by", me},
                              {"status", "active"},
                      },
                      6, id);
}

int caresync_alert_raise(struct caresync *c, const char *person_id, const char *text,
                         const char *category, const char *audience,
                         char ret_id[static CARESYNC_ID_MAX])
{
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, alert_tx(c, person_id, text, category, audience, id));

    copy_id(r, id, ret_id);
    return r;
}

static int deactivate_tx(struct caresync *c, const char *id)
{
    _cleanup_json_ cJSON *a = NULL;
    const char *status;
    char today[WHEN_DATE_MAX];
    int r;

    r = query_need_row(c, "alert", id, &a);
    if (r != CARESYNC_OK)
        return r;
    status = query_str(a, "status");
    if (status && !streq(status, "active"))
        return CARESYNC_OK; /* inactive or entered in error already */
    r = outbox_set(c, "alert", id, "period_end", when_today(today));
    if (r == CARESYNC_OK)
        r = outbox_set(c, "alert", id, "status", "inactive");
    return r;
}

int caresync_alert_deactivate(struct caresync *c, const char *alert_id)
{
    return RUN_TX(c, deactivate_tx(c, alert_id));
}

/* ---- registering someone met in the field ---- */

static int register_tx(struct caresync *c, const struct caresync_registration *p,
                       char id[static UUID_STR_MAX])
{
    char today[WHEN_DATE_MAX];
    int r;

    r = outbox_need(c, "person", "name", p->name, "the person's name (--name)");
    if (r == CARESYNC_OK)
        r = outbox_new_id(c, id);
    if (r != CARESYNC_OK)
        return r;
    /* A person row is its own person. The server, seeing a person it does not know, puts them
     * on this user's caseload as "referred" (docs/PROTOCOL.md); status is not ours to write. */
    return outbox_insert(c, "person", id, id,
                         (const struct outbox_field[]){
                                 {"name", p->name},
                                 {"preferred_name", p->preferred_name},
                                 {"birth_date", p->birth_date},
                                 {"phone", p->phone},
                                 {"address", p->address},
                                 {"created_on", when_today(today)},
                                 {"family_name", p->family_name},
                                 {"given_names", p->given_names},
                                 {"name_prefix", p->name_prefix},
                                 {"address_line1", p->address_line1},
                                 {"address_line2", p->address_line2},
                                 {"address_city", p->address_city},
                                 {"address_postcode", p->address_postcode},
                         },
                         13);
}

int caresync_register(struct caresync *c, const struct caresync_registration *p,
                      char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_registration none = {0};
    char id[UUID_STR_MAX];
    int r = RUN_TX(c, register_tx(c, p ? p : &none, id));

    copy_id(r, id, ret_id);
    return r;
}

/* ---- entered in error ---- */

static const char *const error_tables[] = {"note", "observation", "goal_progress", "plan_review"};

static int error_tx(struct caresync *c, const char *table, const char *row_id, const char *reason)
{
    const struct cat_table *t = catalogue_table(table);
    _cleanup_json_ cJSON *row = NULL;
    const char *status;
    bool ok = false;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(error_tables) && table; i++)
        ok = ok || streq(table, error_tables[i]);
    if (!ok)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "'%s' records are not marked entered-in-error; the tables are: note,"
                       " observation, goal_progress, plan_review",
                       table ? table : "");
    r = outbox_need(c, table, "error_reason", reason, "the reason (--reason)");
    if (r == CARESYNC_OK)
        r = query_need_row(c, table, row_id, &row);
    if (r != CARESYNC_OK)
        return r;
    status = query_str(row, "status");
    if (status && streq(status, "entered-in-error"))
        return cs_fail(c, CARESYNC_EUSAGE, "%s %s is already marked entered-in-error", table,
                       row_id);
    /* The reason first, then the status. (A table without error_reason keeps only the
     * status: see the catalogue.) */
    if (catalogue_field(t, "error_reason"))
        r = outbox_set(c, table, row_id, "error_reason", reason);
    if (r == CARESYNC_OK)
        r = outbox_set(c, table, row_id, "status", "entered-in-error");
    return r;
}

int caresync_entered_in_error(struct caresync *c, const char *table, const char *row_id,
                              const char *reason)
{
    return RUN_TX(c, error_tx(c, table, row_id, reason));
}
