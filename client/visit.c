/* SPDX-License-Identifier: MIT */
/* visit.c - visits as a worker lives them, offline: book one, start it, complete it (and book
 * the next), or record it as missed. Each call is one local transaction through outbox.c. */
#include "caresync.h"

#include <string.h>

#include "caresync_int.h"

/* Book a visit; @id receives its id. In the caller's transaction. */
static int book(struct caresync *c, const char *person_id, const struct caresync_visit *v,
                char id[static UUID_STR_MAX])
{
    _cleanup_free_ char *me = NULL;
    char zs[WHEN_ZONED_MAX], ze[WHEN_ZONED_MAX];
    const char *start, *end;
    int64_t s, e;
    int r;

    r = outbox_need(c, "visit", "planned_start", v->planned_start,
                    "the visit's date and time (--at)");
    if (r != CARESYNC_OK)
        return r;
    start = when_zone(v->planned_start, zs);
    end = when_zone(v->planned_end, ze);
    if (end && when_parse(start, &s) == 0 && when_parse(end, &e) == 0 && e < s)
        return cs_fail(c, CARESYNC_EUSAGE, "the visit would end (%s) before it starts (%s)",
                       v->planned_end, v->planned_start);
    if (!v->assigned_to) {
        r = query_user(c, &me);
        if (r != CARESYNC_OK)
            return r;
    }
    r = outbox_new_id(c, id);
    if (r != CARESYNC_OK)
        return r;
    return outbox_insert(c, "visit", person_id, id,
                         (const struct outbox_field[]){
                                 {"planned_start", start},
                                 {"planned_end", end},
                                 {"visit_type", v->visit_type},
                                 {"mode", v->mode},
                                 {"assigned_to", v->assigned_to ? v->assigned_to : me},
                                 {"status", "planned"},
                         },
                         6);
}

int caresync_visit_add(struct caresync *c, const char *person_id, const struct caresync_visit *v,
                       char ret_id[static CARESYNC_ID_MAX])
{
    static const struct caresync_visit none = {0};
    char id[UUID_STR_MAX];
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, book(c, person_id, v ? v : &none, id));
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
    return r;
}

/*
 * Load visit @id into *ret for @doing, refusing one that is over: a completed visit stays
 * completed (evidence of contact) and a cancelled one is not worked.
 */
static int load_open_visit(struct caresync *c, const char *id, const char *doing, cJSON **ret)
{
    _cleanup_json_ cJSON *v = NULL;
    const char *status;
    int r;

    r = query_need_row(c, "visit", id, &v);
    if (r != CARESYNC_OK)
        return r;
    status = query_str(v, "status");
    if (status && (streq(status, "completed") || streq(status, "cancelled")))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "visit %s is already %s, so it cannot be %s; to correct it use"
                       " 'caresync edit visit %s FIELD VALUE'",
                       id, status, doing, id);
    *ret = TAKE_PTR(v);
    return CARESYNC_OK;
}

/* ---- start ---- */

static int start_tx(struct caresync *c, const char *id, const char *at)
{
    _cleanup_json_ cJSON *v = NULL;
    char now[WHEN_ISO_MAX], zoned[WHEN_ZONED_MAX];
    int r;

    r = load_open_visit(c, id, "started", &v);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "actual_start",
                       at ? when_zone(at, zoned) : when_now_iso(now));
    if (r == CARESYNC_OK && query_str(v, "missed_reason"))
        r = outbox_set(c, "visit", id, "missed_reason", NULL);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "status", "in-progress");
    return r;
}

int caresync_visit_start(struct caresync *c, const char *visit_id, const char *at)
{
    int r = outbox_tx_begin(c);

    return r == CARESYNC_OK ? outbox_tx_end(c, start_tx(c, visit_id, at)) : r;
}

/* ---- complete ---- */

static int complete_tx(struct caresync *c, const char *id, const struct caresync_visit_outcome *o,
                       char next_id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *v = NULL;
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX], zoned[WHEN_ZONED_MAX];
    const char *at;
    int r;

    when_now_iso(now);
    at = o->at ? when_zone(o->at, zoned) : now;
    r = load_open_visit(c, id, "completed", &v);
    if (r != CARESYNC_OK)
        return r;
    /* Everything before the status, which goes last: the server merges "completed" against a
     * concurrent "missed" by whether the visit has a start time (evidence of contact). */
    if (!query_str(v, "actual_start"))
        r = outbox_set(c, "visit", id, "actual_start", at);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "actual_end", at);
    if (r == CARESYNC_OK && o->outcome)
        r = outbox_set(c, "visit", id, "outcome", o->outcome);
    if (r == CARESYNC_OK && o->follow_up)
        r = outbox_set(c, "visit", id, "follow_up_needed", "1");
    if (r == CARESYNC_OK && query_str(v, "missed_reason"))
        r = outbox_set(c, "visit", id, "missed_reason", NULL);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "recorded_at", now);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "status", "completed");
    if (r != CARESYNC_OK || !o->next)
        return r;
    r = query_user(c, &me);
    if (r != CARESYNC_OK)
        return r;
    return book(c, query_str(v, "person_id"),
                &(struct caresync_visit){
                        .planned_start = o->next,
                        .visit_type = query_str(v, "visit_type"),
                        .mode = query_str(v, "mode"),
                        .assigned_to = me,
                },
                next_id);
}

int caresync_visit_complete(struct caresync *c, const char *visit_id,
                            const struct caresync_visit_outcome *o, char *ret_next_id)
{
    static const struct caresync_visit_outcome none = {0};
    char next[UUID_STR_MAX] = "";
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, complete_tx(c, visit_id, o ? o : &none, next));
    if (r == CARESYNC_OK && ret_next_id)
        memcpy(ret_next_id, next, UUID_STR_MAX);
    return r;
}

/* ---- missed ---- */

static int miss_tx(struct caresync *c, const char *id, const char *reason, const char *note,
                   char note_id[static UUID_STR_MAX])
{
    _cleanup_json_ cJSON *v = NULL;
    _cleanup_free_ char *me = NULL;
    char now[WHEN_ISO_MAX];
    int r;

    when_now_iso(now);
    r = outbox_need(c, "visit", "missed_reason", reason, "the reason the visit was missed");
    if (r == CARESYNC_OK)
        r = load_open_visit(c, id, "missed", &v);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "missed_reason", reason);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "recorded_at", now);
    if (r == CARESYNC_OK)
        r = outbox_set(c, "visit", id, "status", "missed");
    if (r != CARESYNC_OK || !note)
        return r;
    r = outbox_need(c, "note", "text", note, "the note");
    if (r == CARESYNC_OK)
        r = query_user(c, &me);
    if (r == CARESYNC_OK)
        r = outbox_new_id(c, note_id);
    if (r != CARESYNC_OK)
        return r;
    return outbox_insert(c, "note", query_str(v, "person_id"), note_id,
                         (const struct outbox_field[]){
                                 {"visit_id", id},
                                 {"text", note},
                                 {"category", "visit"},
                                 {"author", me},
                                 {"occurred_at", now},
                                 {"recorded_at", now},
                                 {"status", "final"},
                         },
                         7);
}

int caresync_visit_miss(struct caresync *c, const char *visit_id, const char *reason,
                        const char *note, char *ret_note_id)
{
    char note_id[UUID_STR_MAX] = "";
    int r;

    r = outbox_tx_begin(c);
    if (r == CARESYNC_OK)
        r = outbox_tx_end(c, miss_tx(c, visit_id, reason, note, note_id));
    if (r == CARESYNC_OK && ret_note_id)
        memcpy(ret_note_id, note_id, UUID_STR_MAX);
    return r;
}
