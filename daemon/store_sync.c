/* SPDX-License-Identifier: MIT */
/* store_sync.c - POST /v1/sync on the store: apply a pushed batch in one transaction, then read
 * the device's next pull page; and the conflict log (list, resolve). docs/internals/merge.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hlc.h"
#include "merge.h"
#include "store_int.h"

_printf_(6, 7) static int set_err(struct store_error *err, int status, const char *code,
                                   long index, int r, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return r;
}

static int store_failure(struct store_error *err, int r)
{
    if (r == -EBUSY)
        return set_err(err, 503, "busy", -1, r,
                       "the store is busy; nothing was written, retry in a few seconds");
    return set_err(err, 500, "internal_error", -1, r,
                   "the server could not complete the request; nothing was written, retry later");
}

static int add_version(cJSON *o, const char *value, uint64_t hlc, const char *device)
{
    int r = 0;

    r |= wire_add_string(o, "value", value);
    r |= wire_add_hlc(o, "hlc", hlc);
    r |= wire_add_string(o, "device", device);
    return r ? -ENOMEM : 0;
}

/* Build one element of "outcomes". @current is only read for "lost". */
static int outcome_obj(cJSON *outcomes, const char *change_id, const char *outcome, uint64_t hlc,
                       bool clamped, bool conflict, const struct field_cur *current)
{
    cJSON *o = cJSON_CreateObject();
    int r = 0;

    if (!o || !cJSON_AddItemToArray(outcomes, o)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    r |= wire_add_string(o, "change_id", change_id);
    r |= wire_add_string(o, "outcome", outcome);
    r |= wire_add_hlc(o, "hlc", hlc);
    if (clamped)
        r |= !cJSON_AddTrueToObject(o, "clamped");
    if (conflict)
        r |= !cJSON_AddTrueToObject(o, "conflict");
    if (current && current->exists && streq(outcome, "lost")) {
        cJSON *c = cJSON_AddObjectToObject(o, "current");

        r |= !c || add_version(c, current->value, current->hlc, current->device) < 0;
    }
    return r ? -ENOMEM : 0;
}

static bool same_text(const unsigned char *a, const char *b)
{
    if (!a || !b)
        return !a && !b;
    return streq((const char *)a, b);
}

/*
 * A change id seen before: 1 with the stored outcome added (same content), 0 when new, or a
 * negative errno (-EEXIST: same id, different content).
 */
static int replayed(struct store *s, const struct store_principal *p, const struct change_record *c,
                    cJSON *outcomes)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT device, tbl, row_id, field, value, sent_hlc, base_hlc,"
                                     " base_device, outcome, hlc, conflict, person_id"
                                     " FROM change_log WHERE change_id = ?");
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    char outcome[16], tbl[64], row[UUID_STR_MAX], field[64];
    uint64_t hlc;
    bool same, conflict;
    int rc, r;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, c->change_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : db_errno(rc);
    }
    same = same_text(sqlite3_column_text(st, 0), p->device_id) &&
           same_text(sqlite3_column_text(st, 1), c->table->name) &&
           same_text(sqlite3_column_text(st, 2), c->row_id) &&
           same_text(sqlite3_column_text(st, 3), c->field->name) &&
           same_text(sqlite3_column_text(st, 4), c->value) &&
           (uint64_t)sqlite3_column_int64(st, 5) == c->hlc &&
           (uint64_t)sqlite3_column_int64(st, 6) == c->base_hlc &&
           same_text(sqlite3_column_text(st, 7), c->base_device) &&
           same_text(sqlite3_column_text(st, 11), c->person_id);
    snprintf(outcome, sizeof(outcome), "%s", sqlite3_column_text(st, 8));
    hlc = (uint64_t)sqlite3_column_int64(st, 9);
    conflict = sqlite3_column_int(st, 10) != 0;
    snprintf(tbl, sizeof(tbl), "%s", sqlite3_column_text(st, 1));
    snprintf(row, sizeof(row), "%s", sqlite3_column_text(st, 2));
    snprintf(field, sizeof(field), "%s", sqlite3_column_text(st, 3));
    sqlite3_reset(st);
    if (!same)
        return -EEXIST;
    r = store_field_current(s, tbl, row, field, &cur);
    if (r < 0)
        return r;
    r = outcome_obj(outcomes, c->change_id, outcome, hlc, hlc != c->hlc, conflict, &cur);
    return r < 0 ? r : 1;
}

static bool conflict_logged(struct store *s, const char *change_id)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT conflict FROM change_log WHERE change_id = ?");
    bool v = false;

    if (!st)
        return false;
    store_bind_text(st, 1, change_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    return v;
}

/*
 * A worker registering a person met in the field: the first change to a person row that does not
 * exist yet creates that person with status "referred" (for a coordinator to review) on the
 * worker's caseload, so the worker keeps what they record. Returns 1 when it did, 0 otherwise.
 */
static int register_person(struct store *s, const struct store_principal *p,
                           const struct change_record *c)
{
    char cid[UUID_STR_MAX], ts[ISO_TIME_MAX];
    sqlite3_stmt *st;
    int r;

    if (!streq(c->table->name, "person"))
        return 0;
    r = store_person_exists(s, c->person_id);
    if (r != 0)
        return r < 0 ? r : 0;
    st = store_stmt(s, "INSERT OR IGNORE INTO assignments(person_id, user_id, start_seq,"
                       " started_at) VALUES(?, ?, ?, ?)");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, c->person_id);
    sqlite3_bind_int64(st, 2, p->user_id);
    sqlite3_bind_int64(st, 3, (int64_t)store_next_seq(s));
    store_bind_text(st, 4, iso_time(hlc_wall_ms(), ts));
    r = store_step_done(st);
    if (r >= 0)
        r = store_write_field(s, store_node_id(s), 0, "person", c->person_id, c->person_id,
                              "status", "referred", cid);
    return r < 0 ? r : 1;
}

static int push_one(struct store *s, const struct store_principal *p, const struct change_record *c,
                    long index, cJSON *outcomes, struct store_error *err)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    struct applying a = {0};
    char owner[UUID_STR_MAX];
    uint64_t wall = hlc_wall_ms();
    bool clamped = false, applied = false;
    int r;

    r = replayed(s, p, c, outcomes);
    if (r == -EEXIST)
        return set_err(err, 409, "change_id_reused", index, r,
                       "change %s was already stored with different content; give every change "
                       "a new id",
                       c->change_id);
    if (r != 0)
        return r < 0 ? store_failure(err, r) : 0;

    a.change_id = c->change_id;
    a.tbl = c->table->name;
    a.field = c->field;
    a.row_id = c->row_id;
    a.person_id = c->person_id;
    a.value = c->value;
    a.sent_hlc = c->hlc;
    a.device = p->device_id;
    a.user_id = p->user_id;
    a.base_hlc = c->base_hlc;
    a.base_device = c->base_device;
    /* Far-future rule (docs/internals/hlc.md): restamp instead of letting a wrong clock win. */
    if (hlc_plausible(c->hlc, wall, s->max_forward_ms)) {
        a.hlc = c->hlc;
        hlc_recv(&s->txn_hlc, c->hlc, wall);
    } else {
        a.hlc = store_tick(s);
        clamped = true;
    }

    if (c->field->kind == CAT_S)
        return set_err(err, 403, "forbidden", index, -EPERM,
                       "%s.%s is set centrally and cannot be changed from a device; ask a "
                       "coordinator", a.tbl, a.field->name);
    if (c->table->singleton && !streq(c->row_id, c->person_id))
        return set_err(err, 400, "invalid_value", index, -EINVAL,
                       "a %s row's id must be its person's id", a.tbl);

    r = register_person(s, p, c);
    if (r < 0)
        return store_failure(err, r);
    r = store_in_scope(s, p, c->person_id);
    if (r < 0)
        return store_failure(err, r);
    if (r == 0) {
        /* Not applied, not dropped: journaled and put before a coordinator. */
        r = store_field_current(s, a.tbl, a.row_id, a.field->name, &cur);
        if (r >= 0)
            r = store_journal(s, &a, "out_of_scope");
        if (r >= 0)
            r = store_conflict_add(s, "out_of_scope", &a, a.change_id,
                                   cur.exists ? cur.change_id : NULL, a.field->name);
        if (r < 0)
            return store_failure(err, r);
        r = outcome_obj(outcomes, a.change_id, "out_of_scope", a.hlc, clamped, true, NULL);
        return r < 0 ? store_failure(err, r) : 0;
    }

    r = store_row_owner(s, a.tbl, a.row_id, owner);
    if (r < 0)
        return store_failure(err, r);
    if (r > 0 && !streq(owner, a.person_id))
        return set_err(err, 400, "row_owner_mismatch", index, -EINVAL,
                       "row %s belongs to another person; a row cannot move between people",
                       a.row_id);

    r = store_apply_change(s, &a, &applied);
    if (r >= 0 && !applied)
        r = store_field_current(s, a.tbl, a.row_id, a.field->name, &cur);
    if (r >= 0)
        r = outcome_obj(outcomes, a.change_id, applied ? "applied" : "lost", a.hlc,
                        clamped || a.hlc != c->hlc, conflict_logged(s, a.change_id), &cur);
    return r < 0 ? store_failure(err, r) : 0;
}

/* ---- pull ---- */

static int add_field_state(cJSON *arr, sqlite3_stmt *st)
{
    /* Columns: tbl, row_id, field, person_id, value, hlc, device. */
    cJSON *o = cJSON_CreateObject();
    int r = 0;

    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    r |= wire_add_string(o, "table", (const char *)sqlite3_column_text(st, 0));
    r |= wire_add_string(o, "row_id", (const char *)sqlite3_column_text(st, 1));
    r |= wire_add_string(o, "person_id", (const char *)sqlite3_column_text(st, 3));
    r |= wire_add_string(o, "field", (const char *)sqlite3_column_text(st, 2));
    r |= wire_add_string(o, "value", (const char *)sqlite3_column_text(st, 4));
    r |= wire_add_hlc(o, "hlc", (uint64_t)sqlite3_column_int64(st, 5));
    r |= wire_add_string(o, "device", (const char *)sqlite3_column_text(st, 6));
    return r ? -ENOMEM : 0;
}

/* Every field of person @person_id set at or before @upto: their state as of that event. */
static int add_person_state(struct store *s, const char *person_id, uint64_t upto, cJSON *arr,
                            size_t *count)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT tbl, row_id, field, person_id, value, hlc, device"
                                     " FROM field_state WHERE person_id = ? AND seq <= ?"
                                     " ORDER BY seq");
    int rc, r;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, (int64_t)upto);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = add_field_state(arr, st);
        if (r < 0) {
            sqlite3_reset(st);
            return r;
        }
        (*count)++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

enum { EV_START, EV_PURGE };
struct event {
    uint64_t seq;
    int kind;
    char person_id[UUID_STR_MAX];
};

static int event_cmp(const void *a, const void *b)
{
    const struct event *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Assignment events for a worker after @cursor: new people (start) and ended ones (purge). */
static int load_events(struct store *s, const struct store_principal *p, uint64_t cursor,
                       struct event **ret, size_t *ret_n)
{
    sqlite3_stmt *st = store_stmt(
            s, "SELECT person_id, start_seq, 0 FROM assignments"
               " WHERE user_id = ?1 AND end_seq IS NULL AND start_seq > ?2"
               " UNION ALL"
               " SELECT a.person_id, max(a.end_seq), 1 FROM assignments a"
               " WHERE a.user_id = ?1 AND a.end_seq > ?2 AND NOT EXISTS (SELECT 1 FROM"
               "  assignments b WHERE b.user_id = ?1 AND b.person_id = a.person_id"
               "  AND b.end_seq IS NULL) GROUP BY a.person_id");
    _cleanup_free_ struct event *ev = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, p->user_id);
    sqlite3_bind_int64(st, 2, (int64_t)cursor);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct event *t = realloc(ev, ncap * sizeof(*ev));

            if (!t) {
                sqlite3_reset(st);
                return -ENOMEM;
            }
            ev = t;
            cap = ncap;
        }
        snprintf(ev[n].person_id, UUID_STR_MAX, "%s", sqlite3_column_text(st, 0));
        ev[n].seq = (uint64_t)sqlite3_column_int64(st, 1);
        ev[n].kind = sqlite3_column_int(st, 2) ? EV_PURGE : EV_START;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    if (n > 1)
        qsort(ev, n, sizeof(*ev), event_cmp);
    *ret = TAKE_PTR(ev);
    *ret_n = n;
    return 0;
}

/*
 * The next page after @cursor. A worker's stream, in server order: a start of assignment sends
 * the person's whole state as of that event; later field writes to people on the caseload are
 * sent one by one; an ended assignment sends a purge. The page ends after the event that
 * reaches STORE_PULL_PAGE items (a person is never split), and the cursor is the last event
 * sent, or the newest sequence number when nothing is left.
 */
static int pull_page(struct store *s, const struct store_principal *p, uint64_t cursor,
                     cJSON *resp)
{
    _cleanup_free_ struct event *ev = NULL;
    cJSON *changes, *purge;
    sqlite3_stmt *st;
    size_t n_ev = 0, i_ev = 0, count = 0;
    uint64_t last = cursor, limit_seq = UINT64_MAX;
    bool coordinator = store_role_is_coordinator(p->role), more = false, fields_done = false;
    char buf[24];
    int rc = SQLITE_DONE, r;

    changes = cJSON_AddArrayToObject(resp, "changes");
    purge = cJSON_AddArrayToObject(resp, "purge");
    if (!changes || !purge)
        return -ENOMEM;
    if (!coordinator) {
        r = load_events(s, p, cursor, &ev, &n_ev);
        if (r < 0)
            return r;
        st = store_stmt(s, "SELECT f.tbl, f.row_id, f.field, f.person_id, f.value, f.hlc,"
                           " f.device, f.seq FROM field_state f JOIN assignments a"
                           " ON a.person_id = f.person_id AND a.user_id = ?1"
                           " AND a.end_seq IS NULL"
                           " WHERE f.seq > ?2 AND f.seq > a.start_seq ORDER BY f.seq LIMIT ?3");
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, p->user_id);
    } else {
        st = store_stmt(s, "SELECT tbl, row_id, field, person_id, value, hlc, device, seq"
                           " FROM field_state WHERE seq > ?2 ORDER BY seq LIMIT ?3");
        if (!st)
            return -EIO;
    }
    sqlite3_bind_int64(st, 2, (int64_t)cursor);
    sqlite3_bind_int64(st, 3, STORE_PULL_PAGE + 1);

    /* Merge the field stream with the assignment events by sequence number. */
    rc = sqlite3_step(st);
    for (size_t fetched = 0;;) {
        uint64_t fseq = UINT64_MAX;

        if (!fields_done && rc == SQLITE_ROW) {
            if (fetched == STORE_PULL_PAGE) {
                /* Events past the last fetched field may hide unfetched fields before them. */
                limit_seq = last > cursor ? last : cursor;
                more = true;
                fields_done = true;
            } else {
                fseq = (uint64_t)sqlite3_column_int64(st, 7);
            }
        } else {
            fields_done = true;
        }
        if (fseq == UINT64_MAX && i_ev == n_ev)
            break;
        if (count >= STORE_PULL_PAGE) {
            more = true;
            break;
        }
        if (i_ev < n_ev && ev[i_ev].seq < fseq) {
            if (ev[i_ev].seq > limit_seq) {
                more = true;
                break;
            }
            if (ev[i_ev].kind == EV_START) {
                r = add_person_state(s, ev[i_ev].person_id, ev[i_ev].seq, changes, &count);
                if (r < 0)
                    goto out;
            } else {
                cJSON *id = cJSON_CreateString(ev[i_ev].person_id);

                if (!id || !cJSON_AddItemToArray(purge, id)) {
                    cJSON_Delete(id);
                    r = -ENOMEM;
                    goto out;
                }
                count++;
            }
            last = ev[i_ev].seq;
            i_ev++;
            continue;
        }
        if (fseq == UINT64_MAX)
            break;
        r = add_field_state(changes, st);
        if (r < 0)
            goto out;
        count++;
        fetched++;
        last = fseq;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            r = db_errno(rc);
            goto out;
        }
    }
    if (!more)
        last = s->txn_seq > last ? s->txn_seq : last;
    snprintf(buf, sizeof(buf), "%" PRIu64, last);
    r = wire_add_string(resp, "cursor", buf);
    if (r >= 0 && !cJSON_AddBoolToObject(resp, "more", more))
        r = -ENOMEM;
out:
    sqlite3_reset(st);
    return r;
}

int store_sync(struct store *s, const struct store_principal *p, const struct change_record *changes,
               size_t n, const char *cursor, bool pull, int64_t pending, const char *client_version,
               cJSON **ret, struct store_error *err)
{
    _cleanup_json_ cJSON *resp = cJSON_CreateObject();
    cJSON *outcomes;
    uint64_t cur = 0;
    char ts[ISO_TIME_MAX];
    sqlite3_stmt *st;
    int r;

    if (!resp)
        return store_failure(err, -ENOMEM);
    if (cursor && *cursor && parse_u64(cursor, &cur) < 0)
        return set_err(err, 400, "invalid_value", -1, -EINVAL,
                       "cursor %s is not one this server gave out; send \"\" to start again",
                       cursor);
    outcomes = cJSON_AddArrayToObject(resp, "outcomes");
    if (!outcomes)
        return store_failure(err, -ENOMEM);
    r = store_txn_begin(s);
    if (r < 0)
        return store_failure(err, r);
    if (cur > s->txn_seq) {
        db_rollback(s->db);
        return set_err(err, 400, "invalid_value", -1, -EINVAL,
                       "cursor %s is ahead of this server; send \"\" to start again", cursor);
    }
    for (size_t i = 0; i < n; i++) {
        r = push_one(s, p, &changes[i], (long)i, outcomes, err);
        if (r < 0)
            goto fail;
    }
    st = store_stmt(s, "UPDATE devices SET last_seen_at = ?1, last_sync_at = ?1,"
                       " pending = coalesce(?2, pending),"
                       " client_version = coalesce(?3, client_version) WHERE id = ?4");
    if (!st) {
        r = store_failure(err, -EIO);
        goto fail;
    }
    store_bind_text(st, 1, iso_time(hlc_wall_ms(), ts));
    if (pending >= 0)
        sqlite3_bind_int64(st, 2, pending);
    store_bind_text(st, 3, client_version);
    store_bind_text(st, 4, p->device_id);
    r = store_step_done(st);
    if (r < 0) {
        r = store_failure(err, r);
        goto fail;
    }
    if (pull) {
        r = pull_page(s, p, cur, resp);
    } else {
        r = 0;
        if (!cJSON_AddArrayToObject(resp, "changes") || !cJSON_AddArrayToObject(resp, "purge") ||
            wire_add_string(resp, "cursor", cursor ? cursor : "") < 0 ||
            !cJSON_AddFalseToObject(resp, "more"))
            r = -ENOMEM;
    }
    if (r >= 0)
        r = wire_add_hlc(resp, "server_hlc", store_tick(s));
    if (r < 0) {
        r = store_failure(err, r);
        goto fail;
    }
    r = store_txn_commit(s);
    if (r < 0)
        return store_failure(err, r);
    *ret = TAKE_PTR(resp);
    return 0;
fail:
    db_rollback(s->db);
    return r;
}

/* ---- conflicts ---- */

#define CONFLICT_SELECT                                                                            \
    "SELECT c.id, c.kind, c.review, c.status, c.tbl, c.row_id, c.person_id, pn.value, c.field,"    \
    " w.value, w.hlc, w.device, wu.name, l.value, l.hlc, l.device, lu.name, c.loser_change_id,"    \
    " fs.value, c.created_ms, c.resolution, c.resolved_value, ru.name, c.resolved_ms"              \
    " FROM conflicts c JOIN change_log l ON l.change_id = c.loser_change_id"                      \
    " LEFT JOIN change_log w ON w.change_id = c.winner_change_id"                                 \
    " LEFT JOIN users lu ON lu.id = l.user_id LEFT JOIN users wu ON wu.id = w.user_id"             \
    " LEFT JOIN users ru ON ru.id = c.resolved_by"                                                 \
    " LEFT JOIN field_state fs ON fs.tbl = c.tbl AND fs.row_id = c.row_id AND fs.field = c.field" \
    " LEFT JOIN field_state pn ON pn.tbl = 'person' AND pn.row_id = c.person_id"                  \
    "  AND pn.field = 'name'"

static int conflict_row(sqlite3_stmt *st, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    char ts[ISO_TIME_MAX], hb[HLC_STR_MAX];
    int r = 0;

    if (!o)
        return -ENOMEM;
    r |= store_add_column(o, "id", st, 0);
    r |= store_add_column(o, "kind", st, 1);
    r |= !cJSON_AddBoolToObject(o, "review", sqlite3_column_int(st, 2));
    r |= store_add_column(o, "status", st, 3);
    r |= store_add_column(o, "table", st, 4);
    r |= store_add_column(o, "row_id", st, 5);
    r |= store_add_column(o, "person_id", st, 6);
    r |= store_add_column(o, "person_name", st, 7);
    r |= store_add_column(o, "field", st, 8);
    r |= store_add_column(o, "winner_value", st, 9);
    r |= wire_add_string(o, "winner_hlc", sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL :
                         hlc_format((uint64_t)sqlite3_column_int64(st, 10), hb));
    r |= store_add_column(o, "winner_device", st, 11);
    r |= store_add_column(o, "winner_user", st, 12);
    r |= store_add_column(o, "loser_value", st, 13);
    r |= wire_add_hlc(o, "loser_hlc", (uint64_t)sqlite3_column_int64(st, 14));
    r |= store_add_column(o, "loser_device", st, 15);
    r |= store_add_column(o, "loser_user", st, 16);
    r |= store_add_column(o, "loser_change_id", st, 17);
    r |= store_add_column(o, "current_value", st, 18);
    r |= wire_add_string(o, "created_at", iso_time((uint64_t)sqlite3_column_int64(st, 19), ts));
    if (sqlite3_column_type(st, 20) != SQLITE_NULL) {
        r |= store_add_column(o, "resolution", st, 20);
        r |= store_add_column(o, "resolved_value", st, 21);
        r |= store_add_column(o, "resolved_by", st, 22);
        r |= wire_add_string(o, "resolved_at",
                             iso_time((uint64_t)sqlite3_column_int64(st, 23), ts));
    }
    if (r)
        return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

int store_conflicts_list(struct store *s, bool all, cJSON **ret)
{
    _cleanup_json_ cJSON *resp = cJSON_CreateObject();
    sqlite3_stmt *st = store_stmt(s, CONFLICT_SELECT " WHERE ?1 OR c.status = 'open'"
                                                     " ORDER BY c.id");
    cJSON *arr;
    int rc, r = 0;

    if (!resp || !(arr = cJSON_AddArrayToObject(resp, "conflicts")))
        return -ENOMEM;
    if (!st)
        return -EIO;
    sqlite3_bind_int(st, 1, all);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o;

        r = conflict_row(st, &o);
        if (r < 0)
            break;
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    *ret = TAKE_PTR(resp);
    return 0;
}

static int conflict_get(struct store *s, int64_t id, cJSON **ret)
{
    sqlite3_stmt *st = store_stmt(s, CONFLICT_SELECT " WHERE c.id = ?");
    int rc, r;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
    }
    r = conflict_row(st, ret);
    sqlite3_reset(st);
    return r;
}

int store_conflict_resolve(struct store *s, const struct store_principal *p, int64_t id,
                           const char *action, const char *value, cJSON **ret, const char **why)
{
    _cleanup_json_ cJSON *resp = NULL;
    _cleanup_free_ char *loser_value = NULL;
    char kind[32], tbl[64], row[UUID_STR_MAX], person[UUID_STR_MAX], field[64];
    char cid[UUID_STR_MAX] = "";
    const char *write_value = NULL;
    bool write = true, oom = false;
    const struct cat_field *f;
    sqlite3_stmt *st;
    int rc, r;

    if (streq(action, "keep")) {
        write = false;
    } else if (streq(action, "value")) {
        if (!value) {
            *why = "action \"value\" needs a \"value\"";
            return -EINVAL;
        }
    } else if (!streq(action, "restore")) {
        *why = "action must be \"keep\", \"restore\" or \"value\"";
        return -EINVAL;
    }
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT c.kind, c.tbl, c.row_id, c.person_id, c.field, c.status, l.value"
                       " FROM conflicts c JOIN change_log l ON l.change_id = c.loser_change_id"
                       " WHERE c.id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
        goto fail;
    }
    snprintf(kind, sizeof(kind), "%s", sqlite3_column_text(st, 0));
    snprintf(tbl, sizeof(tbl), "%s", sqlite3_column_text(st, 1));
    snprintf(row, sizeof(row), "%s", sqlite3_column_text(st, 2));
    snprintf(person, sizeof(person), "%s", sqlite3_column_text(st, 3));
    snprintf(field, sizeof(field), "%s", sqlite3_column_text(st, 4));
    r = streq((const char *)sqlite3_column_text(st, 5), "open") ? 0 : -EALREADY;
    loser_value = db_column_strdup(st, 6, &oom);
    sqlite3_reset(st);
    if (oom)
        r = -ENOMEM;
    if (r < 0)
        goto fail;
    f = catalogue_field(catalogue_table(tbl), field);
    if (!f) {
        r = -EIO;
        goto fail;
    }
    write_value = streq(action, "value") ? value : loser_value;
    if (write && streq(action, "value")) {
        if (catalogue_check_value(f, write_value, why) < 0 ||
            (f == &catalogue_deleted_field && !write_value)) {
            if (f == &catalogue_deleted_field && !write_value)
                *why = "_deleted must be \"0\" or \"1\"";
            r = -EINVAL;
            goto fail;
        }
    }
    if (write) {
        /* Undelete first so the restored edit is visible again. */
        if (streq(kind, "edit_after_delete") && !streq(field, CAT_DELETED_FIELD)) {
            r = store_write_field(s, p->device_id, p->user_id, tbl, row, person, CAT_DELETED_FIELD,
                                  "0", cid);
            if (r < 0)
                goto fail;
        }
        r = store_write_field(s, p->device_id, p->user_id, tbl, row, person, field, write_value,
                              cid);
        if (r < 0)
            goto fail;
    }
    st = store_stmt(s, "UPDATE conflicts SET status = 'resolved', resolution = ?, resolved_value = ?,"
                       " resolved_by = ?, resolved_ms = ?, resolution_change_id = ? WHERE id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, action);
    store_bind_text(st, 2, write ? write_value : NULL);
    sqlite3_bind_int64(st, 3, p->user_id);
    sqlite3_bind_int64(st, 4, (int64_t)hlc_wall_ms());
    store_bind_text(st, 5, write ? cid : NULL);
    sqlite3_bind_int64(st, 6, id);
    r = store_step_done(st);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    resp = cJSON_CreateObject();
    if (!resp)
        return -ENOMEM;
    {
        cJSON *c;

        r = conflict_get(s, id, &c);
        if (r < 0)
            return r;
        cJSON_AddItemToObject(resp, "conflict", c);
    }
    *ret = TAKE_PTR(resp);
    return 0;
fail:
    db_rollback(s->db);
    return r;
}
