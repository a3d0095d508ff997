/* SPDX-License-Identifier: MIT */
/* store_sync.c - POST /v1/sync on the store: apply a pushed batch in one transaction, then read
 * the device's next pull page; and the conflict log (list, resolve). docs/internals/merge.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "engine.h"
#include "hlc.h"
#include "merge.h"
#include "store_int.h"

/* The engine's refusal as the store's error (the HTTP layer maps it to status and code). */
static int refused(struct store_error *err, const struct engine_refusal *e)
{
    err->status = engine_refusal_status(e->code);
    err->code = e->code;
    err->index = e->index;
    copy_text(err->message, sizeof(err->message), e->message);
    return e->err;
}

static int store_failure(struct store_error *err, int r)
{
    struct engine_refusal e = {0};

    engine_failure(&e, r);
    return refused(err, &e);
}

static int bad_cursor(struct store_error *err, const char *cursor)
{
    struct engine_refusal e = {0};

    engine_refused(&e, "invalid_value", -1, -EINVAL,
                   "cursor %s is not one this server gave out; send \"\" to start again",
                   cursor);
    return refused(err, &e);
}

/* ---- pull ---- */

static int add_field_state(struct proto_sync_reply *reply, sqlite3_stmt *st)
{
    /* Columns: tbl, row_id, field, person_id, value, hlc, device. */
    const struct cat_table *t = catalogue_table((const char *)sqlite3_column_text(st, 0));
    const struct cat_field *f =
            t ? catalogue_field(t, (const char *)sqlite3_column_text(st, 2)) : NULL;

    /* Every stored field was checked against the catalogue when it was written. */
    if (!f)
        return -EIO;
    return proto_sync_reply_add_change(
            reply, t, f, (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
            (uint64_t)sqlite3_column_int64(st, 5), (const char *)sqlite3_column_text(st, 6));
}

/*
 * What one pull page may show its device (docs/internals/access.md): rows and fields filtered by
 * the role's rules, with per-page caches of row visibility and of people whose consent
 * provisions deny the worker's sector.
 */
struct viewer {
    struct store *s;
    const struct store_principal *p;
    struct proto_sync_reply *reply; /* changes, purge and drop are added to it */
    size_t *count;
    uint64_t pushed_after; /* field versions after this sequence number are this request's */
    struct vis_row {
        char key[96]; /* table/row_id; "" = a free slot */
        bool fresh;   /* just added: visibility not decided yet */
        bool visible;
        bool whole;   /* every field already in this page */
    } *rows;          /* a hash table of cap_rows slots (a power of two) */
    size_t n_rows, cap_rows;
    struct vis_person {
        char id[UUID_STR_MAX];
        int denied;   /* -1 unknown */
        bool resent;  /* whole state already in this page */
        bool purged;
    } *people;
    size_t n_people, cap_people;
};

static void viewer_done(struct viewer *v)
{
    free(v->rows);
    free(v->people);
}

static struct vis_person *viewer_person(struct viewer *v, const char *person_id)
{
    for (size_t i = 0; i < v->n_people; i++)
        if (streq(v->people[i].id, person_id))
            return &v->people[i];
    if (array_grow((void **)&v->people, &v->cap_people, v->n_people, sizeof(*v->people), 16) < 0)
        return NULL;
    memset(&v->people[v->n_people], 0, sizeof(v->people[0]));
    copy_text(v->people[v->n_people].id, UUID_STR_MAX, person_id);
    v->people[v->n_people].denied = -1;
    return &v->people[v->n_people++];
}

/* 1 when the person's record was closed longer ago than field devices keep it, 0, -errno. */
static int person_expired(struct store *s, const char *person_id)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM person_expiry WHERE person_id = ?"
                                     " AND reopened_seq IS NULL");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * Records closed on or before STORE_CLOSED_KEEP_DAYS ago (their server-written closed_on) leave
 * field workers' devices: one new sequence number for all found now, which the pull streams
 * turn into purges (load_events()). Coordinators keep them. 0 or -errno.
 */
static int closed_sweep(struct store *s)
{
    sqlite3_stmt *st = store_stmt(
            s, "SELECT count(*) FROM field_state c JOIN field_state st ON st.tbl = 'person'"
               " AND st.row_id = c.row_id AND st.field = 'status'"
               " AND st.value IN ('closed', 'deceased')"
               " WHERE c.tbl = 'person' AND c.field = 'closed_on'"
               " AND c.value <= ?9"
               " AND c.row_id NOT IN (SELECT person_id FROM person_expiry"
               "  WHERE reopened_seq IS NULL)");
    char cutoff[ISO_TIME_MAX];
    int64_t n = 0;
    int rc;

    if (!st)
        return -EIO;
    iso_time(hlc_wall_ms() - (uint64_t)STORE_CLOSED_KEEP_DAYS * 86400 * 1000, cutoff);
    cutoff[10] = '\0'; /* YYYY-MM-DD, as closed_on */
    store_bind_text(st, 9, cutoff);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    if (n == 0)
        return 0;
    st = store_stmt(
            s, "INSERT INTO person_expiry(person_id, expired_seq) SELECT c.row_id, ?1"
               " FROM field_state c JOIN field_state st ON st.tbl = 'person'"
               " AND st.row_id = c.row_id AND st.field = 'status'"
               " AND st.value IN ('closed', 'deceased')"
               " WHERE c.tbl = 'person' AND c.field = 'closed_on'"
               " AND c.value <= ?9"
               " AND c.row_id NOT IN (SELECT person_id FROM person_expiry"
               "  WHERE reopened_seq IS NULL)"
               " ON CONFLICT(person_id) DO UPDATE SET expired_seq = ?1, reopened_seq = NULL");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, (int64_t)store_next_seq(s));
    store_bind_text(st, 9, cutoff);
    return store_step_done(st);
}

/* 1 when the person is off this worker's devices by a consent provision, 0, or -errno. */
static int viewer_denied(struct viewer *v, const char *person_id)
{
    struct vis_person *vp = viewer_person(v, person_id);

    if (!vp)
        return -ENOMEM;
    if (vp->denied < 0) {
        int r = store_denied(v->s, v->p->role, person_id);

        if (r == 0 && !store_role_is_coordinator(v->p->role))
            r = person_expired(v->s, person_id);
        if (r < 0)
            return r;
        vp->denied = r;
    }
    return vp->denied;
}

/* The row cache's slot for table/row (open addressing; a page holds a few hundred rows). */
static struct vis_row *viewer_slot(struct viewer *v, const struct cat_table *t,
                                   const char *row_id, bool create)
{
    char key[96];
    size_t i, tl = strlen(t->name);

    /* table/row_id; a row id is a UUID, so it always fits */
    memcpy(key, t->name, tl);
    key[tl] = '/';
    copy_text(key + tl + 1, sizeof(key) - tl - 1, row_id);
    if (create && (v->n_rows + 1) * 2 > v->cap_rows) {
        size_t cap = v->cap_rows ? v->cap_rows * 2 : 256;
        struct vis_row *tab = calloc(cap, sizeof(*tab));

        if (!tab)
            return NULL;
        for (size_t j = 0; j < v->cap_rows; j++) {
            if (!v->rows[j].key[0])
                continue;
            for (i = (size_t)fnv1a(v->rows[j].key) & (cap - 1); tab[i].key[0]; i = (i + 1) & (cap - 1))
                ;
            tab[i] = v->rows[j];
        }
        free(v->rows);
        v->rows = tab;
        v->cap_rows = cap;
    }
    if (!v->cap_rows)
        return NULL;
    for (i = (size_t)fnv1a(key) & (v->cap_rows - 1); v->rows[i].key[0];
         i = (i + 1) & (v->cap_rows - 1))
        if (streq(v->rows[i].key, key))
            return &v->rows[i];
    if (!create)
        return NULL;
    memcpy(v->rows[i].key, key, sizeof(key));
    v->rows[i].fresh = true;
    v->n_rows++;
    return &v->rows[i];
}

/* 1 when the row is visible, 0, or -errno; @fresh re-evaluates (a deciding field changed). */
static int viewer_row(struct viewer *v, const struct cat_table *t, const char *row_id,
                      const char *person_id, bool fresh)
{
    struct vis_row *vr = viewer_slot(v, t, row_id, true);
    int r;

    if (!vr)
        return -ENOMEM;
    if (!vr->fresh && !fresh)
        return vr->visible;
    r = store_row_visible(v->s, v->p, t, row_id, person_id);
    if (r < 0)
        return r;
    if (vr->fresh)
        vr->whole = false;
    vr->fresh = false;
    vr->visible = r;
    return r;
}

/* The cache entry of a row, or NULL. */
static struct vis_row *viewer_find(struct viewer *v, const struct cat_table *t, const char *row_id)
{
    return viewer_slot(v, t, row_id, false);
}

/* Send every visible field of a row (columns of field_state rows as in add_field_state); later
 * changes to the row in the same page are then already there. */
static int send_row(struct viewer *v, const struct cat_table *t, const char *row_id)
{
    struct vis_row *vr = viewer_find(v, t, row_id);
    sqlite3_stmt *st = store_stmt(v->s, "SELECT tbl, row_id, field, person_id, value, hlc, device"
                                        " FROM field_state WHERE tbl = ? AND row_id = ?");
    int rc, r = 0;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, t->name);
    store_bind_text(st, 2, row_id);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct cat_field *f = catalogue_field(t, (const char *)sqlite3_column_text(st, 2));

        if (!f || !access_field_visible(v->p->role, t, f))
            continue;
        r = add_field_state(v->reply, st);
        (*v->count)++;
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (vr)
        vr->whole = true;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int drop_row(struct viewer *v, const struct cat_table *t, const char *row_id)
{
    (*v->count)++;
    return proto_sync_reply_add_drop(v->reply, t, row_id);
}

static int purge_person(struct viewer *v, const char *person_id)
{
    struct vis_person *vp = viewer_person(v, person_id);

    if (!vp)
        return -ENOMEM;
    if (vp->purged)
        return 0;
    vp->purged = true;
    (*v->count)++;
    return proto_sync_reply_add_purge(v->reply, person_id);
}

/* The person's visible state: every visible field of every visible row set at or before @upto. */
static int send_person(struct viewer *v, const char *person_id, uint64_t upto)
{
    sqlite3_stmt *st = store_stmt(v->s, "SELECT tbl, row_id, field, person_id, value, hlc, device"
                                        " FROM field_state WHERE person_id = ? AND seq <= ?"
                                        " ORDER BY seq");
    int rc = SQLITE_DONE, r;

    r = viewer_denied(v, person_id);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    sqlite3_bind_int64(st, 2, upto > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)upto);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct cat_table *t = catalogue_table((const char *)sqlite3_column_text(st, 0));
        const struct cat_field *f = catalogue_field(t, (const char *)sqlite3_column_text(st, 2));
        char row_id[UUID_STR_MAX];

        if (!t || !f || !access_field_visible(v->p->role, t, f))
            continue;
        copy_text(row_id, sizeof(row_id), sqlite3_column_text(st, 1));
        r = viewer_row(v, t, row_id, person_id, false);
        if (r > 0) {
            r = add_field_state(v->reply, st);
            (*v->count)++;
        }
        if (r < 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * 1 when the field's current version was written by this device's push in this same request
 * (columns as in view_field): the outcomes of this response already tell the device that
 * version (with any re-stamped clock, or the winning value when its change lost), so it is not
 * sent back. Versions from earlier requests are sent as usual: a device whose replica went back
 * to an older copy gets them again.
 */
static bool pushed_now(const struct viewer *v, sqlite3_stmt *fs)
{
    const unsigned char *dev = sqlite3_column_text(fs, 6);

    return (uint64_t)sqlite3_column_int64(fs, 7) > v->pushed_after && dev &&
           streq((const char *)dev, v->p->device_id);
}

/*
 * One changed field from the stream (columns as in add_field_state, seq in 7). A consent change
 * re-decides whether the person is on this worker's devices (purge, or their whole visible state
 * again); a change to a field that decides a row's visibility sends the whole row or withdraws
 * it; any other field is sent when its row and the field itself are visible.
 */
static int view_field(struct viewer *v, sqlite3_stmt *st)
{
    const struct cat_table *t = catalogue_table((const char *)sqlite3_column_text(st, 0));
    const struct cat_field *f = catalogue_field(t, (const char *)sqlite3_column_text(st, 2));
    char row_id[UUID_STR_MAX], person_id[UUID_STR_MAX];
    bool coordinator = store_role_is_coordinator(v->p->role);
    int r;

    if (!t || !f)
        return 0;
    copy_text(row_id, sizeof(row_id), sqlite3_column_text(st, 1));
    copy_text(person_id, sizeof(person_id), sqlite3_column_text(st, 3));
    if (!coordinator && streq(t->name, "consent")) {
        struct vis_person *vp = viewer_person(v, person_id);

        if (!vp)
            return -ENOMEM;
        vp->denied = -1;
        r = viewer_denied(v, person_id);
        if (r < 0)
            return r;
        if (r > 0)
            return purge_person(v, person_id);
        if (!vp->resent) {
            vp->resent = true;
            vp->purged = false;
            return send_person(v, person_id, UINT64_MAX);
        }
        return 0;
    }
    if (!coordinator) {
        r = viewer_denied(v, person_id);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    if (access_field_decides(t, f)) {
        r = viewer_row(v, t, row_id, person_id, true);
        if (r < 0)
            return r;
        /* The device that wrote a deciding field of a row it still sees holds the row (its
         * client writes only rows it holds; one that wrote a row it could not see gets the
         * other fields as they next change). */
        if (!r)
            r = drop_row(v, t, row_id);
        else if (!pushed_now(v, st))
            r = send_row(v, t, row_id);
        else
            r = 0;
        if (r < 0 || !streq(t->name, "plan_action"))
            return r;
        /* A volunteer sees a goal through their actions: re-decide the goal too. */
        {
            _cleanup_(store_row_done) struct store_row row = {0};
            const struct cat_table *g = catalogue_table("goal");
            const char *goal;

            r = store_row_load(v->s, t->name, row_id, &row);
            goal = r >= 0 ? store_row_get(&row, "goal_id") : NULL;
            if (r < 0 || !goal)
                return r < 0 ? r : 0;
            r = viewer_row(v, g, goal, person_id, true);
            if (r < 0)
                return r;
            return r ? send_row(v, g, goal) : drop_row(v, g, goal);
        }
    }
    if (!access_field_visible(v->p->role, t, f))
        return 0;
    if (pushed_now(v, st))
        return 0;
    r = viewer_row(v, t, row_id, person_id, false);
    if (r <= 0)
        return r;
    {
        struct vis_row *vr = viewer_find(v, t, row_id);

        if (vr && vr->whole)
            return 0;
    }
    r = add_field_state(v->reply, st);
    if (r < 0)
        return r;
    (*v->count)++;
    return 0;
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
               "  AND b.end_seq IS NULL) GROUP BY a.person_id"
               /* closed records leave field devices, and come back whole when reopened */
               " UNION ALL"
               " SELECT e.person_id, e.expired_seq, 1 FROM person_expiry e JOIN assignments a"
               " ON a.person_id = e.person_id AND a.user_id = ?1 AND a.end_seq IS NULL"
               " WHERE e.reopened_seq IS NULL AND e.expired_seq > ?2"
               " UNION ALL"
               " SELECT e.person_id, e.reopened_seq, 0 FROM person_expiry e JOIN assignments a"
               " ON a.person_id = e.person_id AND a.user_id = ?1 AND a.end_seq IS NULL"
               " WHERE e.reopened_seq > ?2");
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
        copy_text(ev[n].person_id, UUID_STR_MAX, sqlite3_column_text(st, 0));
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
 * A re-decision's start of assignment (the worker's role changed): the person's visible state as
 * for any start, and a drop of every row of theirs the new role may not see (a volunteer's
 * device then holds no clinical notes); a purge when consent now denies the role's sector.
 */
static int redecide_person(struct viewer *v, const char *person_id, uint64_t upto)
{
    sqlite3_stmt *st;
    int rc, r;

    r = viewer_denied(v, person_id);
    if (r != 0)
        return r < 0 ? r : purge_person(v, person_id);
    r = send_person(v, person_id, upto);
    if (r < 0)
        return r;
    st = store_stmt(v->s, "SELECT DISTINCT tbl, row_id FROM field_state WHERE person_id = ?");
    if (!st)
        return -EIO;
    store_bind_text(st, 1, person_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct cat_table *t = catalogue_table((const char *)sqlite3_column_text(st, 0));
        char row_id[UUID_STR_MAX];

        if (!t)
            continue;
        copy_text(row_id, sizeof(row_id), sqlite3_column_text(st, 1));
        r = viewer_row(v, t, row_id, person_id, false);
        if (r == 0)
            r = drop_row(v, t, row_id);
        if (r < 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * A re-decision's first page, for a worker who was a coordinator (@all): a purge of every person
 * not on their caseload now. Purges are not counted against the page, so the first page always
 * carries them all.
 */
static int redecide_purge(struct viewer *v)
{
    sqlite3_stmt *st = store_stmt(
            v->s, "SELECT DISTINCT row_id FROM field_state WHERE tbl = 'person' AND row_id NOT IN"
                  " (SELECT person_id FROM assignments WHERE user_id = ? AND end_seq IS NULL)");
    size_t count = *v->count;
    int rc, r = 0;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, v->p->user_id);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = purge_person(v, (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    *v->count = count;
    if (r < 0)
        return r;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * The next page after @cursor. A worker's stream, in server order: a start of assignment sends
 * the person's whole state as of that event; later field writes to people on the caseload are
 * sent one by one; an ended assignment sends a purge. The page ends after the event that
 * reaches STORE_PULL_PAGE items (a person is never split), and the cursor is the last event
 * sent, or the newest sequence number when nothing is left.
 */
static int pull_page(struct store *s, const struct store_principal *p, uint64_t cursor,
                     uint64_t pushed_after, int redecide, struct proto_sync_reply *resp,
                     uint64_t *ret_cursor)
{
    _cleanup_free_ struct event *ev = NULL;
    _cleanup_(viewer_done) struct viewer v = {0};
    sqlite3_stmt *st;
    size_t n_ev = 0, i_ev = 0, count = 0;
    uint64_t last = cursor, limit_seq = UINT64_MAX;
    bool coordinator = store_role_is_coordinator(p->role), more = false, fields_done = false;
    char buf[24];
    int rc = SQLITE_DONE, r;

    v.s = s;
    v.p = p;
    v.reply = resp;
    v.count = &count;
    v.pushed_after = pushed_after;
    if (!coordinator) {
        r = load_events(s, p, cursor, &ev, &n_ev);
        if (r >= 0 && redecide == 2 && cursor == 0)
            r = redecide_purge(&v);
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
            if (ev[i_ev].kind == EV_START && redecide)
                r = redecide_person(&v, ev[i_ev].person_id, ev[i_ev].seq);
            else if (ev[i_ev].kind == EV_START)
                r = send_person(&v, ev[i_ev].person_id, ev[i_ev].seq);
            else
                r = purge_person(&v, ev[i_ev].person_id);
            if (r < 0)
                goto out;
            last = ev[i_ev].seq;
            i_ev++;
            continue;
        }
        if (fseq == UINT64_MAX)
            break;
        r = view_field(&v, st);
        if (r < 0)
            goto out;
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
    *ret_cursor = last;
    r = proto_sync_reply_set_cursor(resp, buf);
    resp->more = more;
out:
    sqlite3_reset(st);
    return r;
}

/* Audit which people a pull page sent to which device: one event per person, with the number
 * of fields sent and whether it was a purge. */
static int audit_pull(struct store *s, const struct store_principal *p,
                      const struct proto_sync_reply *resp)
{
    _cleanup_free_ size_t *first = NULL, *fields = NULL; /* per person, in order of appearance */
    size_t n_people = 0;
    int r;

    first = calloc(resp->n_changes + 1, sizeof(*first));
    fields = calloc(resp->n_changes + 1, sizeof(*fields));
    if (!first || !fields)
        return -ENOMEM;
    for (size_t i = 0; i < resp->n_changes; i++) {
        const char *pid = resp->changes[i].person_id;
        size_t k = n_people;

        /* A page holds each person's fields together, mostly: look from the latest back. */
        while (k > 0 && !streq(resp->changes[first[k - 1]].person_id, pid))
            k--;
        if (k == 0) {
            first[n_people] = i;
            fields[n_people++] = 1;
        } else {
            fields[k - 1]++;
        }
    }
    for (size_t k = 0; k < n_people; k++) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        if (!d || wire_add_string(d, "device", p->device_id) < 0 ||
            !cJSON_AddNumberToObject(d, "fields", (double)fields[k]))
            return -ENOMEM;
        r = store_audit(s, "pull", p->user_id, p->device_id, resp->changes[first[k]].person_id, d);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < resp->n_purge; i++) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        if (!d || wire_add_string(d, "device", p->device_id) < 0)
            return -ENOMEM;
        r = store_audit(s, "purge", p->user_id, p->device_id, resp->purge[i], d);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The device's report and its notices, inside the sync's transaction. */
static int sync_notices(struct store *s, const struct store_principal *p,
                        const struct store_device_report *rep, int64_t pending,
                        struct proto_sync_reply *resp)
{
    struct store_device_report done = *rep;
    int n;

    /* The sync recorded the pending count; with nothing left the oldest age is 0. */
    done.pending = -1;
    if (pending <= 0 && done.oldest_pending_ms > 0)
        done.oldest_pending_ms = 0;
    n = store_device_report_txn(s, p, &done, true, resp);
    if (n < 0)
        return n;
    resp->has_notices = true;
    resp->lost_values = (uint64_t)n;
    return 0;
}

/* ---- cursors, and a store that went back in time (docs/internals/audit.md, "Rewinds") ---- */

#define CURSOR_HASH_HEX 16 /* hex digits of the audit chain head a cursor carries */

/* A device's cursor: "SEQ:EPOCH:AUDIT_ID:HASH" (what this server gives out), or plain "SEQ"
 * (an older server's), or "" (start). */
struct dev_cursor {
    uint64_t seq;
    bool full; /* epoch and head present */
    char epoch[UUID_STR_MAX];
    int64_t head_id;
    char head_hash[CURSOR_HASH_HEX + 1];
};

static int cursor_parse(const char *text, struct dev_cursor *ret)
{
    char seq[24], epoch[UUID_STR_MAX + 1], id[24], hash[CURSOR_HASH_HEX + 2];
    uint64_t u;
    int n = 0;

    *ret = (struct dev_cursor){0};
    if (!text || !*text)
        return 0;
    if (!strchr(text, ':'))
        return parse_u64(text, &ret->seq);
    if (strlen(text) > 23 + 1 + 36 + 1 + 23 + 1 + CURSOR_HASH_HEX ||
        sscanf(text, "%23[0-9]:%36[0-9a-f-]:%23[0-9]:%17[0-9a-f]%n", seq, epoch, id, hash, &n) !=
            4 ||
        text[n] || strlen(hash) != CURSOR_HASH_HEX || !uuid_valid(epoch) ||
        parse_u64(seq, &ret->seq) < 0 || parse_u64(id, &u) < 0 || u > INT64_MAX)
        return -EINVAL;
    ret->full = true;
    memcpy(ret->epoch, epoch, UUID_STR_MAX);
    ret->head_id = (int64_t)u;
    memcpy(ret->head_hash, hash, sizeof(ret->head_hash));
    return 0;
}

/*
 * 1 when @dc is not a point of this store's history: a cursor ahead of its sequence, another
 * incarnation (a restore made a new epoch), or an audit chain head this store does not hold (a
 * copied file that went back, then went on). 0 when it is, or -errno.
 */
static int cursor_rewound(struct store *s, const struct dev_cursor *dc)
{
    int r;

    if (dc->seq > s->txn_seq)
        return 1;
    if (!dc->full)
        return 0;
    if (!streq(dc->epoch, s->epoch))
        return 1;
    r = store_audit_holds(s, dc->head_id, dc->head_hash);
    return r < 0 ? r : !r;
}

/*
 * Device @p showed that this store went back in time. Lift the sequence above everything the
 * device was told (and above store_seq_floor()), and audit what the chain lost. The device is
 * answered from cursor "" with "rewound": it sends again what it kept and re-reads.
 */
static int rewind_seen(struct store *s, const struct store_principal *p,
                       const struct dev_cursor *dc)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    uint64_t before = s->txn_seq, floor = store_seq_floor();
    char num[24];
    cJSON *lost;
    int r = 0;

    if (s->txn_seq < dc->seq)
        s->txn_seq = dc->seq;
    if (s->txn_seq < floor)
        s->txn_seq = floor;
    s->txn_seq += 1000; /* a gap: nothing is numbered next to a number someone holds */
    if (!d)
        return -ENOMEM;
    snprintf(num, sizeof(num), "%" PRIu64, dc->seq);
    r |= wire_add_string(d, "device_seq", num) < 0;
    r |= wire_add_string(d, "device_epoch", dc->full ? dc->epoch : NULL) < 0;
    r |= wire_add_string(d, "store_epoch", s->epoch) < 0;
    snprintf(num, sizeof(num), "%" PRIu64, before);
    r |= wire_add_string(d, "store_seq_before", num) < 0;
    snprintf(num, sizeof(num), "%" PRIu64, s->txn_seq);
    r |= wire_add_string(d, "store_seq_after", num) < 0;
    lost = cJSON_AddObjectToObject(d, "lost");
    r |= !lost;
    if (lost && dc->full && streq(dc->epoch, s->epoch)) {
        /* The same incarnation: the device saw rows this file no longer has. */
        r |= !cJSON_AddNumberToObject(lost, "after_row", (double)s->open_audit_id);
        r |= !cJSON_AddNumberToObject(lost, "through_row_at_least", (double)dc->head_id);
        r |= wire_add_string(lost, "hash_of_that_row", dc->head_hash) < 0;
    } else if (lost) {
        /* Another incarnation: its `restore` event names the span. */
        r |= wire_add_string(lost, "see", dc->full ? "restore" : "sequence") < 0;
    }
    if (r)
        return -ENOMEM;
    return store_audit(s, "rewind", 0, p->device_id, NULL, d);
}

/* The reply's cursor, with this store's epoch and audit chain head after this request's own
 * events (the device sends them back: cursor_rewound()). */
static int cursor_seal(struct store *s, struct proto_sync_reply *resp)
{
    char hash[SHA256_HEX_MAX], text[160];
    const char *seq = resp->cursor;
    int64_t id;
    int r;

    if (!seq || !*seq)
        return 0;
    r = store_audit_head(s, &id, hash);
    if (r < 0)
        return r;
    snprintf(text, sizeof(text), "%s:%s:%" PRId64 ":%.*s", seq, s->epoch, id, CURSOR_HASH_HEX,
             hash);
    return proto_sync_reply_set_cursor(resp, text);
}

/* The highest cursor this server gave device @p in a committed reply (0: none yet). */
static int device_given_cursor(struct store *s, const struct store_principal *p, uint64_t *ret)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT given_cursor FROM devices WHERE id = ?");
    int rc;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, p->device_id);
    rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * Whether this pull re-decides the device's replica after its user's role changed
 * (docs/internals/access.md, "Role changes"): 0 no; 1 (or 2: the user was a coordinator, whose
 * device may hold anyone) yes, pulling from *cur. A re-decision starts at cursor 0 and goes on
 * while the device sends back the cursor of its last re-decision page; it ends when the device
 * sends the cursor of the last page, so a lost reply only starts it again.
 */
static int redecide_state(struct store *s, const struct store_principal *p, const char *cursor,
                          uint64_t *cur)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT redecide, redecide_cursor, redecide_done"
                                     " FROM devices WHERE id = ?");
    char given[160] = ""; /* a whole cursor, as cursor_seal() writes it */
    int rc, redecide = 0;
    bool done = false, ours;

    if (!st)
        return -EIO;
    store_bind_text(st, 1, p->device_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        redecide = sqlite3_column_int(st, 0);
        copy_text(given, sizeof(given), sqlite3_column_text(st, 1));
        done = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_errno(rc);
    if (!redecide)
        return 0;
    ours = given[0] && cursor && streq(cursor, given);
    if (ours && done) {
        st = store_stmt(s, "UPDATE devices SET redecide = 0, redecide_cursor = NULL,"
                           " redecide_done = 0 WHERE id = ?");
        if (!st)
            return -EIO;
        store_bind_text(st, 1, p->device_id);
        rc = store_step_done(st);
        return rc < 0 ? rc : 0;
    }
    if (!ours)
        *cur = 0;
    return redecide;
}

/* Remember the cursor of a re-decision page just given and whether it was the last. */
static int redecide_given(struct store *s, const struct store_principal *p,
                          const struct proto_sync_reply *resp)
{
    sqlite3_stmt *st = store_stmt(s, "UPDATE devices SET redecide_cursor = ?, redecide_done = ?"
                                     " WHERE id = ?");

    if (!st)
        return -EIO;
    store_bind_text(st, 1, resp->cursor);
    sqlite3_bind_int(st, 2, !resp->more);
    store_bind_text(st, 3, p->device_id);
    return store_step_done(st);
}

int store_sync(struct store *s, const struct store_principal *p, const struct change_record *changes,
               size_t n, const char *cursor, bool pull, int64_t pending, const char *client_version,
               cJSON **ret, struct store_error *err)
{
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply reply = {0};
    int r;

    r = store_sync_reported(s, p, changes, n, cursor, pull, pending, client_version, NULL, &reply,
                            err);
    if (r < 0)
        return r;
    *ret = proto_sync_reply_encode(&reply);
    return *ret ? 0 : -ENOMEM;
}

int store_sync_reported(struct store *s, const struct store_principal *p,
                        const struct change_record *changes, size_t n, const char *cursor,
                        bool pull, int64_t pending, const char *client_version,
                        const struct store_device_report *rep, struct proto_sync_reply *ret,
                        struct store_error *err)
{
    struct engine e = {.b = &s->be, .node_id = s->node_id, .max_forward_ms = s->max_forward_ms,
                       .grace_ms = s->grace_ms, .max_device_conflicts = s->max_device_conflicts};
    struct engine_refusal refusal = {.index = -1};
    struct proto_sync_reply *resp = ret;
    struct dev_cursor dc;
    uint64_t cur = 0, pushed_after, given_before = 0;
    int redecide = 0, r;

    if (cursor_parse(cursor, &dc) < 0)
        return bad_cursor(err, cursor);
    cur = dc.seq;
    r = s->be.ops->begin(&s->be, true);
    if (r < 0)
        return store_failure(err, r);
    /* Sequence numbers start at least at the wall clock in ms x 1000 (store_seq_floor()) and
     * grow by one per write: a cursor far beyond that was given out by no server of ours, and
     * believing it would lift the sequence to where it overflows. */
    if (dc.seq > s->txn_seq && dc.seq > store_seq_floor() + STORE_CURSOR_AHEAD_MAX) {
        s->be.ops->rollback(&s->be);
        return bad_cursor(err, cursor);
    }
    r = cursor_rewound(s, &dc);
    if (r > 0) {
        /* Not a point of this store's history: the store went back in time. */
        r = rewind_seen(s, p, &dc);
        cur = 0;
        resp->rewound = true;
    }
    if (r < 0) {
        s->be.ops->rollback(&s->be);
        return store_failure(err, r);
    }
    pushed_after = s->txn_seq;
    r = device_given_cursor(s, p, &given_before);
    if (r < 0) {
        r = store_failure(err, r);
        goto fail;
    }
    r = engine_push(&e, p, changes, n, ret, pending, client_version, &refusal);
    if (r < 0) {
        r = refused(err, &refusal);
        goto fail;
    }
    if (pull) {
        uint64_t given = 0;

        redecide = redecide_state(s, p, cursor, &cur);
        r = redecide < 0 ? redecide : closed_sweep(s);
        if (r >= 0)
            r = pull_page(s, p, cur, pushed_after, redecide, resp, &given);
        /* A re-decision starts: the device re-reads, and what the pull does not send it again
         * (a field its new role may not see) leaves it when the pull ends. */
        if (r >= 0 && redecide > 0 && cur == 0)
            resp->reread = true;
        if (r >= 0)
            r = audit_pull(s, p, resp);
        if (r >= 0 && given > given_before) {
            /* Committed with the reply: from now on the device has been told this much. */
            sqlite3_stmt *st = store_stmt(s, "UPDATE devices SET given_cursor = ? WHERE id = ?");
            r = st ? 0 : -EIO;
            if (st) {
                sqlite3_bind_int64(st, 1, (int64_t)given);
                store_bind_text(st, 2, p->device_id);
                r = store_step_done(st);
            }
        }
    } else {
        r = proto_sync_reply_set_cursor(resp, cursor ? cursor : "");
        resp->more = false;
    }
    if (r >= 0 && rep)
        r = sync_notices(s, p, rep, pending, resp);
    if (r >= 0)
        resp->server_hlc = store_tick(s);
    if (r >= 0 && pull)
        r = cursor_seal(s, resp);
    /* After the seal: the device sends back the cursor exactly as the reply gives it. */
    if (r >= 0 && pull && redecide > 0)
        r = redecide_given(s, p, resp);
    if (r < 0) {
        r = store_failure(err, r);
        goto fail;
    }
    r = s->be.ops->commit(&s->be);
    if (r < 0)
        return store_failure(err, r);
    return 0;
fail:
    store_audit_batch_drop(s);
    s->be.ops->rollback(&s->be);
    return r;
}

/* ---- a coordinator's restore of a deleted row ---- */

int store_row_restore(struct store *s, const struct store_principal *p, const char *tbl,
                      const char *row_id, const char *reason, struct proto_restore_reply *ret,
                      const char **why)
{
    _cleanup_(store_field_cur_done) struct field_cur del = {0};
    _cleanup_json_ cJSON *d = NULL;
    char person[UUID_STR_MAX] = "", cid[UUID_STR_MAX];
    size_t n = reason ? strlen(reason) : 0;
    sqlite3_stmt *st;
    int rc, r;

    if (!catalogue_table(tbl)) {
        *why = "unknown table";
        return -EINVAL;
    }
    if (n == 0 || strspn(reason, " \t") == n) {
        *why = "a restore needs a reason: say in a few words why";
        return -EINVAL;
    }
    if (n > STORE_REASON_MAX || !utf8_valid(reason, n)) {
        *why = "the reason must be UTF-8 of at most 500 bytes";
        return -EINVAL;
    }
    if (!uuid_valid(row_id))
        return -ENOENT;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT person_id FROM field_state WHERE tbl = ? AND row_id = ? LIMIT 1");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    store_bind_text(st, 1, tbl);
    store_bind_text(st, 2, row_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_text(person, sizeof(person), sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = db_errno(rc);
        goto fail;
    }
    if (rc == SQLITE_DONE || !uuid_valid(person)) {
        r = -ENOENT;
        goto fail;
    }
    r = store_field_current(s, tbl, row_id, CAT_DELETED_FIELD, &del);
    if (r < 0)
        goto fail;
    if (!del.exists || !del.value || !streq(del.value, "1")) {
        r = -EALREADY;
        goto fail;
    }
    r = store_write_field(s, p->device_id, p->user_id, tbl, row_id, person, CAT_DELETED_FIELD,
                          "0", cid);
    if (r < 0)
        goto fail;
    d = cJSON_CreateObject();
    if (!d || wire_add_string(d, "table", tbl) < 0 || wire_add_string(d, "row_id", row_id) < 0 ||
        wire_add_string(d, "change_id", cid) < 0 || wire_add_string(d, "deleted_by_change",
                                                                    del.change_id) < 0 ||
        wire_add_string(d, "reason", reason) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    r = store_audit(s, "restore", p->user_id, p->device_id, person, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    copy_text(ret->table, sizeof(ret->table), tbl);
    copy_text(ret->row_id, sizeof(ret->row_id), row_id);
    copy_text(ret->person_id, sizeof(ret->person_id), person);
    copy_text(ret->change_id, sizeof(ret->change_id), cid);
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}
