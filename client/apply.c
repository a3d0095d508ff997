/* SPDX-License-Identifier: MIT */
/* apply.c - the device side of the merge: apply field versions from the server by the merge
 * rule, carry out purges, and apply a whole /v1/sync response in one local transaction. */
#include "caresync.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"
#include "hlc.h"
#include "log.h"
#include "merge.h"
#include "wire.h"

/* Run a cached statement that returns no rows, then reset it (bindings point at the caller's
 * memory). Returns 0 or a negative errno. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int replica_read_version(struct caresync *c, const char *tbl, const char *row_id,
                         const char *field, uint64_t *ret_hlc, char ret_dev[static UUID_STR_MAX])
{
    sqlite3_stmt *st;
    const char *d;
    int r, rc;

    r = db_cache_get(&c->stmts, c->db,
                     field ? "SELECT hlc, device FROM field_version"
                             " WHERE tbl = ?1 AND row_id = ?2 AND field = ?3"
                           : "SELECT hlc, device FROM field_version WHERE tbl = ?1 AND row_id = ?2"
                             " ORDER BY " HLC_SQL_NEWEST " LIMIT 1",
                     &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, row_id, -1, SQLITE_STATIC);
    if (field)
        sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    *ret_hlc = 0;
    ret_dev[0] = '\0';
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : db_errno(rc);
    }
    d = (const char *)sqlite3_column_text(st, 1);
    if (!d || strlen(d) >= UUID_STR_MAX) {
        sqlite3_reset(st);
        return -EUCLEAN;
    }
    *ret_hlc = (uint64_t)sqlite3_column_int64(st, 0);
    memcpy(ret_dev, d, strlen(d) + 1);
    sqlite3_reset(st);
    return 1;
}

/* ---- applying field versions, a row at a time ---- */

/*
 * The pulled versions of one row are applied together: the versions the replica holds are read
 * once, each incoming version is decided by the merge rule against them (and against the ones
 * decided before it), and row_flush() writes the row with one statement and one version per
 * field that won. A first sync is almost all new rows of 6 to 18 fields, so this replaces four
 * statements per field (read the version, create the row, update the column, write the version)
 * by one and a bit.
 */
#define ROW_SLOTS  63 /* fields of a table, _deleted included: one bit each in a 64-bit mask */
#define ROW_TABLES 32 /* tables whose row statement is remembered (the catalogue has 13) */

struct row_slot {
    uint64_t hlc;
    char device[UUID_STR_MAX];
    char *value; /* owned; NULL = clear the field */
};

struct row_apply {
    const struct cat_table *t; /* NULL: no row open */
    char row_id[UUID_STR_MAX];
    char person_id[UUID_STR_MAX];
    uint64_t held;               /* slots with a version: in the replica, or decided here */
    uint64_t won;                /* slots to write */
    struct row_slot slot[ROW_SLOTS];
    /* Statements of the cache (c->stmts), looked up once per response. */
    sqlite3_stmt *versions, *version_set, *upsert[ROW_TABLES];
};

/* The slot of @f in a row of @t: the catalogue's order, _deleted after the last field. */
static size_t slot_of(const struct cat_table *t, const struct cat_field *f)
{
    size_t i = f == &catalogue_deleted_field ? t->n_fields : (size_t)(f - t->fields);

    assert(t->n_fields < ROW_SLOTS && i <= t->n_fields);
    return i;
}

static void row_reset(struct row_apply *w)
{
    if (w->t)
        for (size_t i = 0; i <= w->t->n_fields; i++) {
            free(w->slot[i].value);
            w->slot[i].value = NULL;
        }
    w->t = NULL;
    w->held = w->won = 0;
}

/* @memo, or the cached statement for @sql remembered in it. */
static int stmt_memo(struct caresync *c, sqlite3_stmt **memo, const char *sql)
{
    return *memo ? 0 : db_cache_get(&c->stmts, c->db, sql, memo);
}

/* Open row @row_id of @t (nothing of it written yet): read the versions it holds. */
static int row_open(struct caresync *c, struct row_apply *w, const struct cat_table *t,
                    const char *row_id, const char *person_id)
{
    sqlite3_stmt *st;
    int r, rc;

    row_reset(w);
    /* Re-reading after a rewind: only a field with a change still to send keeps its version
     * against the server's (which then replaces the rest, whatever their clocks). */
    r = c->reread ? db_cache_get(&c->stmts, c->db,
                                 "SELECT field, hlc, device FROM field_version v"
                                 " WHERE tbl = ?1 AND row_id = ?2 AND EXISTS(SELECT 1 FROM"
                                 " outbox o WHERE o.tbl = ?1 AND o.row_id = ?2"
                                 " AND o.field = v.field)",
                                 &w->versions)
                  : stmt_memo(c, &w->versions,
                              "SELECT field, hlc, device FROM field_version"
                              " WHERE tbl = ?1 AND row_id = ?2");
    if (r < 0)
        return r;
    w->t = t;
    memcpy(w->row_id, row_id, UUID_STR_MAX);
    memcpy(w->person_id, person_id, UUID_STR_MAX);
    st = w->versions;
    sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, row_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct cat_field *f = catalogue_field(t, (const char *)sqlite3_column_text(st, 0));
        const char *d = (const char *)sqlite3_column_text(st, 2);
        struct row_slot *s;
        size_t i;

        if (!d || strlen(d) >= UUID_STR_MAX) {
            sqlite3_reset(st);
            return -EUCLEAN;
        }
        if (!f) /* a column this version of the catalogue no longer has */
            continue;
        i = slot_of(t, f);
        s = &w->slot[i];
        s->hlc = (uint64_t)sqlite3_column_int64(st, 1);
        memcpy(s->device, d, strlen(d) + 1);
        w->held |= UINT64_C(1) << i;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * Decide version (@hlc, @device) of @f by the merge rule. When it wins it takes *@value (the
 * caller's pointer is set to NULL) and returns 1; otherwise returns 0 and leaves it alone.
 */
static int row_offer(struct row_apply *w, const struct cat_field *f, char **value, uint64_t hlc,
                     const char *device)
{
    size_t i = slot_of(w->t, f);
    uint64_t bit = UINT64_C(1) << i;
    struct row_slot *s = &w->slot[i];
    struct merge_version cur = {s->hlc, s->device};

    if (!merge_wins((struct merge_version){hlc, device}, w->held & bit ? &cur : NULL))
        return 0;
    free(s->value);
    s->value = TAKE_PTR(*value);
    s->hlc = hlc;
    memcpy(s->device, device, strlen(device) + 1);
    w->held |= bit;
    w->won |= bit;
    return 1;
}

/*
 * The statement that writes a row of @t: ?1 id, ?2 person_id, ?3.. the fields in slot order,
 * then the mask of the fields to write. A new row is inserted with them; an existing row keeps
 * its person and every field whose bit is clear.
 */
static int upsert_stmt(struct caresync *c, struct row_apply *w, sqlite3_stmt **ret)
{
    size_t ti = (size_t)(w->t - catalogue_tables), n = w->t->n_fields + 1; /* slots */
    sqlite3_stmt **memo = ti < ROW_TABLES ? &w->upsert[ti] : ret;
    sqlite3_str *q;
    char *sql;
    int r;

    if (ti < ROW_TABLES && *memo) {
        *ret = *memo;
        return 0;
    }
    /* Names come from the catalogue only. */
    q = sqlite3_str_new(c->db);
    sqlite3_str_appendf(q, "INSERT INTO \"%w\"(id, person_id", w->t->name);
    for (size_t i = 0; i < n; i++)
        sqlite3_str_appendf(q, ", \"%w\"",
                            i < w->t->n_fields ? w->t->fields[i].name : CAT_DELETED_FIELD);
    sqlite3_str_appendall(q, ") VALUES(?1, ?2");
    for (size_t i = 0; i < n; i++)
        sqlite3_str_appendf(q, ", ?%d", (int)i + 3);
    sqlite3_str_appendall(q, ") ON CONFLICT(id) DO UPDATE SET ");
    for (size_t i = 0; i < n; i++) {
        const char *name = i < w->t->n_fields ? w->t->fields[i].name : CAT_DELETED_FIELD;

        /* sqlite3 printf: no %zu (its %z frees the argument) */
        sqlite3_str_appendf(q, "%s\"%w\" = CASE WHEN ?%d & %lld THEN excluded.\"%w\"",
                            i ? ", " : "", name, (int)n + 3, (long long)(1ULL << i), name);
        sqlite3_str_appendf(q, " ELSE \"%w\" END", name);
    }
    sql = sqlite3_str_finish(q);
    if (!sql)
        return -ENOMEM;
    r = db_cache_get(&c->stmts, c->db, sql, memo);
    sqlite3_free(sql);
    if (r < 0)
        return r;
    *ret = *memo;
    return 0;
}

/* Write the open row: the row once, then the version of each field that won. Closes it. */
static int row_flush(struct caresync *c, struct row_apply *w)
{
    const struct cat_table *t = w->t;
    size_t n;
    sqlite3_stmt *st;
    int r;

    if (!t || !w->won) {
        row_reset(w);
        return 0;
    }
    n = t->n_fields;
    r = upsert_stmt(c, w, &st);
    if (r >= 0)
        r = stmt_memo(c, &w->version_set,
                      "INSERT INTO field_version(tbl, row_id, field, hlc, device)"
                      " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(tbl, row_id, field)"
                      " DO UPDATE SET hlc = excluded.hlc, device = excluded.device");
    if (r < 0) {
        row_reset(w);
        return r;
    }
    sqlite3_bind_text(st, 1, w->row_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w->person_id, -1, SQLITE_STATIC);
    for (size_t i = 0; i < n; i++) {
        if ((w->won >> i & 1) && w->slot[i].value)
            sqlite3_bind_text(st, (int)i + 3, w->slot[i].value, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, (int)i + 3);
    }
    sqlite3_bind_int(st, (int)n + 3,
                     (w->won >> n & 1) && w->slot[n].value && streq(w->slot[n].value, "1"));
    sqlite3_bind_int64(st, (int)n + 4, (sqlite3_int64)w->won);
    r = step_done(st);
    for (size_t i = 0; i <= n && r >= 0; i++) {
        const struct cat_field *f = i < n ? &t->fields[i] : &catalogue_deleted_field;

        if (!(w->won >> i & 1))
            continue;
        st = w->version_set;
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, w->row_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)w->slot[i].hlc);
        sqlite3_bind_text(st, 5, w->slot[i].device, -1, SQLITE_STATIC);
        r = step_done(st);
    }
    row_reset(w);
    return r;
}

int apply_version(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                  const char *row_id, const char *person_id, const char *value, uint64_t hlc,
                  const char *device)
{
    _cleanup_free_ char *v = NULL;
    struct row_apply w = {0};
    int r, k;

    if (value && !(v = strdup(value)))
        return -ENOMEM;
    r = row_open(c, &w, t, row_id, person_id);
    if (r < 0)
        return r;
    k = row_offer(&w, f, &v, hlc, device);
    r = row_flush(c, &w);
    return r < 0 ? r : k;
}

/* ---- purges ---- */

/* Run @sql with ?1 = @person_id. Returns the number of rows changed or a negative errno. */
static int exec_person(sqlite3 *db, const char *sql, const char *person_id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!sql)
        return -ENOMEM;
    r = db_prepare(db, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : db_errno(rc);
}

/*
 * Delete every row of the person from every table, with the versions of those rows. Returns 1
 * when anything was deleted, 0 when the replica held nothing of theirs, or a negative errno.
 */
static int purge_now(sqlite3 *db, const char *person_id)
{
    int r, rows = 0;

    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];
        _cleanup_(sqlite3_freep) char *fv = NULL, *sql = NULL;

        fv = sqlite3_mprintf("DELETE FROM field_version WHERE tbl = %Q AND row_id IN"
                             " (SELECT id FROM \"%w\" WHERE person_id = ?1)",
                             t->name, t->name);
        r = exec_person(db, fv, person_id);
        if (r < 0)
            return r;
        sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE person_id = ?1", t->name);
        r = exec_person(db, sql, person_id);
        if (r < 0)
            return r;
        rows += r;
    }
    r = exec_person(db, "DELETE FROM pending_purge WHERE person_id = ?1", person_id);
    /* What was sent of theirs goes too: a rewind cannot bring back what the device no longer
     * may hold. */
    if (r >= 0)
        r = exec_person(db, "DELETE FROM sent WHERE person_id = ?1", person_id);
    if (r < 0)
        return r;
    log_debug("purged person %s (%d rows)", person_id, rows);
    return rows > 0;
}

/*
 * Delete one row the server says this device may no longer see (docs/internals/access.md), with
 * its field versions. Returns 1 when something was deleted, 0 when the row was not here.
 */
static int drop_row(sqlite3 *db, const struct cat_table *t, const char *row_id)
{
    _cleanup_(sqlite3_freep) char *sql = NULL;
    _cleanup_stmt_ sqlite3_stmt *st = NULL, *fv = NULL;
    int r, rc, n;

    sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE id = ?1", t->name);
    if (!sql)
        return -ENOMEM;
    r = db_prepare(db, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, row_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    n = sqlite3_changes(db);
    r = db_prepare(db, "DELETE FROM field_version WHERE tbl = ?1 AND row_id = ?2", &fv);
    if (r < 0)
        return r;
    sqlite3_bind_text(fv, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(fv, 2, row_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(fv);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    sqlite3_finalize(TAKE_PTR(fv));
    r = db_prepare(db, "DELETE FROM sent WHERE tbl = ?1 AND row_id = ?2", &fv);
    if (r < 0)
        return r;
    sqlite3_bind_text(fv, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(fv, 2, row_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(fv);
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    return n > 0;
}

int apply_purge(sqlite3 *db, const char *person_id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(db, "SELECT EXISTS(SELECT 1 FROM outbox WHERE person_id = ?1)", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    if (sqlite3_column_int(st, 0) == 0)
        return purge_now(db, person_id);
    /* Edits of theirs are still unsent: keep everything until the outbox has drained. */
    r = exec_person(db, "INSERT OR IGNORE INTO pending_purge(person_id) VALUES(?1)", person_id);
    return r < 0 ? r : 0;
}

int apply_pending_purges(sqlite3 *db)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char(*ids)[UUID_STR_MAX] = NULL;
    size_t n = 0, cap = 0;
    int r = 0, rc, purged = 0;

    r = db_prepare(db,
                   "SELECT person_id FROM pending_purge p WHERE NOT EXISTS"
                   " (SELECT 1 FROM outbox o WHERE o.person_id = p.person_id)",
                   &st);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);

        if (!p || !uuid_valid(p))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *nv = reallocarray(ids, ncap, sizeof(*ids));

            if (!nv) {
                free(ids);
                return -ENOMEM;
            }
            ids = nv;
            cap = ncap;
        }
        memcpy(ids[n++], p, UUID_STR_MAX);
    }
    if (rc != SQLITE_DONE) {
        free(ids);
        return db_errno(rc);
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        r = purge_now(db, ids[i]);
        purged += r > 0;
    }
    free(ids);
    return r < 0 ? r : purged;
}

void apply_checkpoint(sqlite3 *db)
{
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

    if (rc != SQLITE_OK)
        log_debug("wal_checkpoint(TRUNCATE) after a purge: %s", sqlite3_errstr(rc));
}

/* ---- a sync response ---- */

struct apply_ctx {
    struct caresync *c;
    struct caresync_sync_stats *stats;
    uint64_t server_hlc; /* the server's clock: the reference for plausibility */
    uint64_t max_remote; /* the highest plausible clock seen, fed into ours at the end */
    bool purged;
    struct row_apply row;            /* the pulled row being applied */
    char unpurged[UUID_STR_MAX];     /* the last person whose pending purge was cancelled */
    sqlite3_stmt *unpurge, *version_fix; /* cached, looked up once per response */
};

static int reread_seen(struct apply_ctx *x, const char *tbl, const char *row_id,
                       const char *field);
static int reread_start(struct apply_ctx *x);

static int bad_reply(struct caresync *c, const char *what)
{
    return cs_fail(c, CARESYNC_ESERVER,
                   "sync failed: the server sent a malformed reply (%s); nothing was applied and"
                   " nothing was lost; try again, and report it if it persists",
                   what);
}

int apply_decode(struct caresync *c, const struct http_reply *rep, struct proto_sync_reply *ret)
{
    const char *why = "";
    int r = proto_sync_reply_decode_json(rep->json, ret, &why);

    if (r == -ENOMEM)
        return cs_fail_errno(c, r, "sync failed");
    if (r < 0)
        return bad_reply(c, why);
    return CARESYNC_OK;
}

/* Remember @h for the clock unless it is implausibly far ahead of the server's own clock. */
static void saw_clock(struct apply_ctx *x, uint64_t h)
{
    uint64_t ref = hlc_wall_ms();

    if (hlc_ms(x->server_hlc) > ref)
        ref = hlc_ms(x->server_hlc);
    if (hlc_plausible(h, ref, HLC_MAX_FORWARD_MS) && h > x->max_remote)
        x->max_remote = h;
}

static int apply_current(struct apply_ctx *x, const struct change_record *sent,
                         const struct proto_outcome *o)
{
    const char *why;
    int r;

    if (!o->has_current)
        return bad_reply(x->c, "outcome \"current\"");
    if (catalogue_check_value(sent->field, o->current_value, &why) < 0)
        return bad_reply(x->c, "outcome \"current\" value");
    r = apply_version(x->c, sent->table, sent->field, sent->row_id, sent->person_id,
                      o->current_value, o->current_hlc, o->current_device);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot apply the winning value");
    saw_clock(x, o->current_hlc);
    return CARESYNC_OK;
}

static int apply_outcome(struct apply_ctx *x, const struct change_record *sent,
                         const struct proto_outcome *o)
{
    const char *outcome = o->outcome;
    bool clamped = o->clamped, conflict = o->conflict;
    uint64_t h = o->hlc;
    sqlite3_stmt *st;
    int r;

    if (!streq(o->change_id, sent->change_id))
        return bad_reply(x->c, "outcomes do not match the changes sent");

    x->stats->pushed++;
    x->stats->conflicts += conflict;

    if (clamped) {
        /* Stored with a server clock instead of ours: that is now our write's version. */
        r = stmt_memo(x->c, &x->version_fix,
                      "UPDATE field_version SET hlc = ?1 WHERE tbl = ?2 AND row_id = ?3 AND"
                      " field = ?4 AND hlc = ?5 AND device = ?6");
        if (r >= 0) {
            st = x->version_fix;
            sqlite3_bind_int64(st, 1, (sqlite3_int64)h);
            sqlite3_bind_text(st, 2, sent->table->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, sent->row_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, sent->field->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, (sqlite3_int64)sent->hlc);
            sqlite3_bind_text(st, 6, x->c->device_id, -1, SQLITE_STATIC);
            r = step_done(st);
        }
        if (r < 0)
            return cs_fail_errno(x->c, r, "sync failed: cannot update a field version");
        saw_clock(x, h);
    }

    if (streq(outcome, "applied")) {
        x->stats->applied++;
    } else if (streq(outcome, "lost")) {
        x->stats->lost++;
        return apply_current(x, sent, o);
    } else if (streq(outcome, "out_of_scope")) {
        x->stats->out_of_scope++;
    } else {
        log_debug("unknown outcome '%s' for change %s", outcome, sent->change_id);
    }
    return CARESYNC_OK;
}

/* The person is on the caseload again: a purge still waiting for them no longer holds. Once per
 * person in a row of pulled changes (a page holds a person's fields together). */
static int unpurge(struct apply_ctx *x, const char *person_id)
{
    int r;

    if (streq(x->unpurged, person_id))
        return 0;
    r = stmt_memo(x->c, &x->unpurge, "DELETE FROM pending_purge WHERE person_id = ?1");
    if (r < 0)
        return r;
    sqlite3_bind_text(x->unpurge, 1, person_id, -1, SQLITE_STATIC);
    r = step_done(x->unpurge);
    if (r >= 0)
        memcpy(x->unpurged, person_id, UUID_STR_MAX);
    return r;
}

/* Offer one decoded pulled version to the open row, flushing and opening another when it
 * belongs to a different row. Returns 1 when it won, 0 when older, or a negative errno. */
static int offer_pulled(struct apply_ctx *x, struct change_record *rec)
{
    struct row_apply *w = &x->row;
    int r;

    if (!w->t || w->t != rec->table || !streq(w->row_id, rec->row_id) ||
        !streq(w->person_id, rec->person_id)) {
        r = row_flush(x->c, w);
        if (r >= 0)
            r = row_open(x->c, w, rec->table, rec->row_id, rec->person_id);
        if (r < 0)
            return r;
    }
    return row_offer(w, rec->field, &rec->value, rec->hlc, rec->device);
}

/* Apply one pulled field state; its value is taken (rec->value is NULL after). */
static int apply_pulled(struct apply_ctx *x, struct change_record *rec)
{
    int r, k;

    r = k = offer_pulled(x, rec);
    if (r >= 0)
        r = unpurge(x, rec->person_id);
    if (r >= 0)
        r = reread_seen(x, rec->table->name, rec->row_id, rec->field->name);
    if (r >= 0)
        saw_clock(x, rec->hlc);
    wire_change_done(rec);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot apply a pulled change");
    x->stats->pulled += k > 0;
    return CARESYNC_OK;
}

/*
 * The server has stored every change of @b durably (their outcomes matched): they leave the
 * outbox, whatever the outcomes. They are the whole seq range of the batch.
 */
static int outbox_drop(struct caresync *c, const struct outbox_batch *b)
{
    sqlite3_stmt *st;
    int r;

    if (b->n == 0)
        return 0;
    /* Kept a while in "sent", to be sent again if the server goes back in time. */
    r = db_cache_get(&c->stmts, c->db,
                     "INSERT OR REPLACE INTO sent(change_id, seq, tbl, row_id, person_id, field,"
                     " value, hlc, base_hlc, base_device, created_ms, sent_ms)"
                     " SELECT change_id, seq, tbl, row_id, person_id, field, value, hlc,"
                     " base_hlc, base_device, created_ms, ?3 FROM outbox"
                     " WHERE seq > ?1 AND seq <= ?2",
                     &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, b->after);
    sqlite3_bind_int64(st, 2, b->last);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc_wall_ms());
    r = step_done(st);
    if (r < 0)
        return r;
    r = db_cache_get(&c->stmts, c->db, "DELETE FROM outbox WHERE seq > ?1 AND seq <= ?2", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, b->after);
    sqlite3_bind_int64(st, 2, b->last);
    r = step_done(st);
    return r < 0 ? r : 0;
}

/* ---- the server went back in time (docs/internals/audit.md, "Rewinds") ---- */

int sent_prune(sqlite3 *db)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    uint64_t now = hlc_wall_ms();
    int r, rc;

    r = db_prepare(db, "DELETE FROM sent WHERE sent_ms < ?1 OR seq <= (SELECT seq FROM sent"
                       " ORDER BY seq DESC LIMIT 1 OFFSET ?2)", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(now > CS_SENT_KEEP_MS ? now - CS_SENT_KEEP_MS : 0));
    sqlite3_bind_int64(st, 2, CS_SENT_KEEP_MAX);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/*
 * The reply says "rewound": the server no longer holds everything it acknowledged. Put every
 * change kept in "sent" back in the outbox (sending one the server still has again is a no-op:
 * change ids), and start re-reading: every field held is listed in "reread" until the server
 * sends it again; what is never sent back leaves the device at the end (reread_finish()).
 */
static int rewound(struct apply_ctx *x)
{
    static const char *const sql[] = {
        "INSERT INTO outbox(change_id, tbl, row_id, person_id, field, value, hlc, base_hlc,"
        " base_device, created_ms) SELECT change_id, tbl, row_id, person_id, field, value, hlc,"
        " base_hlc, base_device, created_ms FROM sent s WHERE NOT EXISTS (SELECT 1 FROM"
        " outbox o WHERE o.change_id = s.change_id) ORDER BY seq",
        "DELETE FROM sent",
    };
    int r = 0;

    for (size_t i = 0; i < ELEMENTSOF(sql) && r >= 0; i++)
        r = db_exec(x->c->db, sql[i]);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot queue what was sent before again");
    log_info("the server went back in time (restored from a backup): sending again what it"
             " lost, and reading the caseload again");
    x->c->rewound = true;
    return reread_start(x);
}

/*
 * Start re-reading the caseload (after a rewind, or when the server re-decides what this
 * device may hold, "reread": true): every field held is listed in "reread" until the server
 * sends it again; what is never sent back leaves the device at the end (reread_finish()).
 */
static int reread_start(struct apply_ctx *x)
{
    static const char *const sql[] = {
        "DELETE FROM reread",
        "INSERT INTO reread(tbl, row_id, field) SELECT tbl, row_id, field FROM field_version",
        "INSERT OR REPLACE INTO meta(key, value) VALUES('reread', '1')",
    };
    int r = 0;

    for (size_t i = 0; i < ELEMENTSOF(sql) && r >= 0; i++)
        r = db_exec(x->c->db, sql[i]);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot start reading the caseload again");
    x->c->reread = true;
    return CARESYNC_OK;
}

/* The server has sent (or acknowledged) field @field of row @row_id: no longer to re-read. */
static int reread_seen(struct apply_ctx *x, const char *tbl, const char *row_id,
                       const char *field)
{
    sqlite3_stmt *st;
    int r;

    if (!x->c->reread)
        return 0;
    r = db_cache_get(&x->c->stmts, x->c->db,
                     "DELETE FROM reread WHERE tbl = ?1 AND row_id = ?2 AND field = ?3", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, row_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    return step_done(st);
}

/*
 * The re-read reached the end: what the server never sent back, and no change in the outbox
 * holds, is not on the server any more. A row none of whose fields came back leaves the
 * device; a field alone is cleared.
 */
static int reread_finish(struct apply_ctx *x)
{
    sqlite3 *db = x->c->db;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_DONE;

    r = db_prepare(db, "SELECT tbl, row_id, field, NOT EXISTS (SELECT 1 FROM field_version v"
                       " WHERE v.tbl = g.tbl AND v.row_id = g.row_id AND NOT EXISTS (SELECT 1"
                       " FROM reread h WHERE h.tbl = v.tbl AND h.row_id = v.row_id"
                       " AND h.field = v.field)) FROM reread g WHERE NOT EXISTS (SELECT 1 FROM"
                       " outbox o WHERE o.tbl = g.tbl AND o.row_id = g.row_id)", &st);
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct cat_table *t = catalogue_table((const char *)sqlite3_column_text(st, 0));
        const char *row = (const char *)sqlite3_column_text(st, 1);
        const char *fname = (const char *)sqlite3_column_text(st, 2);
        const struct cat_field *f = t ? catalogue_field(t, fname) : NULL;
        _cleanup_(sqlite3_freep) char *sql = NULL;

        if (!t || !f || !row)
            continue;
        if (sqlite3_column_int(st, 3)) {
            r = drop_row(db, t, row);
            x->purged |= r > 0;
            continue;
        }
        sql = sqlite3_mprintf("UPDATE \"%w\" SET \"%w\" = %s WHERE id = %Q;"
                              " DELETE FROM field_version WHERE tbl = %Q AND row_id = %Q"
                              " AND field = %Q", t->name, f->name,
                              f == &catalogue_deleted_field ? "0" : "NULL", row, t->name, row,
                              f->name);
        r = sql ? db_exec(db, sql) : -ENOMEM;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = db_errno(rc);
    if (r >= 0)
        r = db_exec(db, "DELETE FROM reread; DELETE FROM meta WHERE key = 'reread'");
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot finish reading the caseload again");
    x->c->reread = false;
    return CARESYNC_OK;
}

static int apply_tx(struct apply_ctx *x, struct proto_sync_reply *resp,
                    const struct outbox_batch *sent, bool *ret_more, bool *ret_cursor_moved)
{
    const char *cursor = resp->cursor;
    _cleanup_free_ char *old_cursor = NULL;
    bool more = resp->more;
    int r;

    if (resp->n_outcomes != sent->n)
        return bad_reply(x->c, "\"outcomes\" missing or of the wrong length");
    if (!cursor || strlen(cursor) > CS_CURSOR_MAX)
        return bad_reply(x->c, "\"cursor\"");
    x->server_hlc = resp->server_hlc;
    if (resp->rewound) {
        r = rewound(x);
        if (r != CARESYNC_OK)
            return r;
    } else if (resp->reread) {
        r = reread_start(x);
        if (r != CARESYNC_OK)
            return r;
    }
    for (size_t i = 0; i < resp->n_outcomes; i++) {
        const struct change_record *cr = &sent->v[i];

        r = apply_outcome(x, cr, &resp->outcomes[i]);
        if (r != CARESYNC_OK)
            return r;
        r = reread_seen(x, cr->table->name, cr->row_id, cr->field->name);
        if (r < 0)
            return cs_fail_errno(x->c, r, "sync failed: cannot apply an outcome");
    }
    r = outbox_drop(x->c, sent);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot update the outbox");
    for (size_t i = 0; i < resp->n_changes; i++) {
        r = apply_pulled(x, &resp->changes[i]);
        if (r != CARESYNC_OK)
            return r;
    }
    r = row_flush(x->c, &x->row);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot apply a pulled change");
    for (size_t i = 0; i < resp->n_drop; i++) {
        r = drop_row(x->c->db, resp->drop[i].table, resp->drop[i].row_id);
        if (r < 0)
            return cs_fail_errno(x->c, r, "sync failed: cannot remove a row this device may no "
                                          "longer hold");
        x->purged |= r > 0;
    }
    for (size_t i = 0; i < resp->n_purge; i++) {
        r = apply_purge(x->c->db, resp->purge[i]);
        if (r < 0)
            return cs_fail_errno(x->c, r, "sync failed: cannot purge a person");
        x->stats->purged += (uint64_t)r;
        x->purged |= r > 0;
    }
    r = apply_pending_purges(x->c->db);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot purge a person");
    x->stats->purged += (uint64_t)r;
    x->purged |= r > 0;
    if (x->c->reread && !more) {
        r = reread_finish(x);
        if (r != CARESYNC_OK)
            return r;
    }

    r = db_meta_get(x->c->db, "cursor", &old_cursor);
    if (r >= 0)
        r = db_meta_set(x->c->db, "cursor", cursor);
    /* The server is the reference clock; every other clock was checked by saw_clock(). */
    if (r >= 0)
        r = db_hlc_recv(x->c->db, x->server_hlc, NULL);
    if (r >= 0 && x->max_remote)
        r = db_hlc_recv(x->c->db, x->max_remote, NULL);
    if (r < 0)
        return cs_fail_errno(x->c, r, "sync failed: cannot save the cursor");
    *ret_more = more;
    /* The position is the part before the first ':' (docs/PROTOCOL.md): the rest, the
     * server's audit chain head, moves with every page. */
    *ret_cursor_moved = !old_cursor || strcspn(old_cursor, ":") != strcspn(cursor, ":") ||
                        strncmp(old_cursor, cursor, strcspn(cursor, ":")) != 0;
    return CARESYNC_OK;
}

int apply_response(struct caresync *c, struct proto_sync_reply *resp,
                   const struct outbox_batch *sent, struct caresync_sync_stats *stats,
                   bool *ret_more, bool *ret_cursor_moved)
{
    struct caresync_sync_stats st = *stats;
    struct apply_ctx x = {.c = c, .stats = &st};
    int r, k;

    k = db_begin(c->db, true);
    if (k < 0)
        return cs_fail_errno(c, k, "sync failed: cannot start a transaction");
    r = apply_tx(&x, resp, sent, ret_more, ret_cursor_moved);
    row_reset(&x.row); /* after a failure, the values of a row never flushed */
    if (r == CARESYNC_OK) {
        k = db_commit(c->db);
        if (k < 0)
            r = cs_fail_errno(c, k, "sync failed: cannot save what was received");
    }
    db_rollback(c->db);
    if (r != CARESYNC_OK)
        return r;
    *stats = st;
    if (x.purged)
        apply_checkpoint(c->db);
    return CARESYNC_OK;
}
