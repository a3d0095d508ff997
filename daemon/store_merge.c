/* SPDX-License-Identifier: MIT */
/*
 * store_merge.c - the store's merge operations (backend.h): a field's current version and
 * history, the journal, the field state and the conflict log, as engine_merge.c reads and writes
 * them, over the SQL driver (sql.h), so any driver runs them. docs/internals/backend.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

static struct store *store_of(struct backend *b)
{
    return (struct store *)((char *)b - offsetof(struct store, be));
}

int store_field_current(struct store *s, const char *tbl, const char *row_id, const char *field,
                        struct field_cur *ret)
{
    struct sql_stmt *st = store_sql(s, "SELECT value, hlc, device, change_id FROM field_state"
                                       " WHERE tbl = ? AND row_id = ? AND field = ?");
    bool oom = false;
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    sql_bind_text(st, 3, field);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        ret->exists = true;
        ret->value = store_column_strdup(st, 0, &oom);
        ret->hlc = (uint64_t)sql_column_int64(st, 1);
        copy_text(ret->device, sizeof(ret->device), sql_column_text(st, 2));
        copy_text(ret->change_id, sizeof(ret->change_id), sql_column_text(st, 3));
    }
    sql_reset(st);
    if (oom)
        return -ENOMEM;
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

int store_conflict_add(struct store *s, const char *kind, struct applying *a,
                       const char *loser_change_id, const char *winner_change_id,
                       const char *field)
{
    /* A "missed" already before a coordinator as missed-vs-completed is not logged again as a
     * plain concurrent edit when the visit's later "completed" overwrites it too. */
    struct sql_stmt *st = store_sql(
            s, "INSERT INTO conflicts(kind, review, tbl, row_id, field,"
               " person_id, loser_change_id, winner_change_id, created_ms)"
               " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE ?1 <> 'concurrent_edit'"
               " OR NOT EXISTS (SELECT 1 FROM conflicts WHERE loser_change_id = ?7"
               " AND kind = 'missed_vs_completed')"
               " ON CONFLICT (loser_change_id, kind) DO NOTHING");
    const struct cat_table *t = catalogue_table(a->tbl);
    const struct cat_field *f = catalogue_field(t, field);
    int r;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, kind);
    sql_bind_int64(st, 2, f && f->kind == CAT_LR);
    sql_bind_text(st, 3, a->tbl);
    sql_bind_text(st, 4, a->row_id);
    sql_bind_text(st, 5, field);
    sql_bind_text(st, 6, a->person_id);
    sql_bind_text(st, 7, loser_change_id);
    sql_bind_text(st, 8, winner_change_id);
    sql_bind_int64(st, 9, (int64_t)hlc_wall_ms());
    r = sql_step_done(st);
    if (r < 0)
        return r;
    if (sql_changes(s->sql) == 0)
        return 0;
    st = store_sql(s, "UPDATE change_log SET conflict = 1 WHERE change_id = ?");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, loser_change_id);
    r = sql_step_done(st);
    return r < 0 ? r : 1;
}

int store_journal(struct store *s, const struct applying *a, const char *outcome)
{
    struct sql_stmt *st = store_sql(
            s, "INSERT INTO change_log(change_id, device, user_id, tbl, row_id,"
               " field, person_id, value, hlc, sent_hlc, base_hlc, base_device,"
               " outcome, received_ms, sent_base_hlc, sent_base_device)"
               " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, a->change_id);
    sql_bind_text(st, 2, a->device);
    if (a->user_id)
        sql_bind_int64(st, 3, a->user_id);
    sql_bind_text(st, 4, a->tbl);
    sql_bind_text(st, 5, a->row_id);
    sql_bind_text(st, 6, a->field->name);
    sql_bind_text(st, 7, a->person_id);
    sql_bind_text(st, 8, a->value);
    sql_bind_int64(st, 9, (int64_t)a->hlc);
    sql_bind_int64(st, 10, (int64_t)a->sent_hlc);
    sql_bind_int64(st, 11, (int64_t)a->base_hlc);
    sql_bind_text(st, 12, a->base_device ? a->base_device : "");
    sql_bind_text(st, 13, outcome);
    sql_bind_int64(st, 14, (int64_t)hlc_wall_ms());
    if (a->base_untrusted) {
        sql_bind_int64(st, 15, (int64_t)a->sent_base_hlc);
        sql_bind_text(st, 16, a->sent_base_device ? a->sent_base_device : "");
    }
    return sql_step_done(st);
}

int store_field_put(struct backend *b, const struct applying *a, uint64_t seq)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(
            s, "INSERT INTO field_state(tbl, row_id, field, person_id, value,"
               " hlc, device, change_id, seq) VALUES(?,?,?,?,?,?,?,?,?)"
               " ON CONFLICT(tbl, row_id, field) DO UPDATE SET"
               " value = excluded.value, hlc = excluded.hlc,"
               " device = excluded.device, change_id = excluded.change_id,"
               " seq = excluded.seq");

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, a->tbl);
    sql_bind_text(st, 2, a->row_id);
    sql_bind_text(st, 3, a->field->name);
    sql_bind_text(st, 4, a->person_id);
    sql_bind_text(st, 5, a->value);
    sql_bind_int64(st, 6, (int64_t)a->hlc);
    sql_bind_text(st, 7, a->device);
    sql_bind_text(st, 8, a->change_id);
    sql_bind_int64(st, 9, (int64_t)seq);
    return sql_step_done(st);
}

/* 1 when a restore (_deleted = "0") newer than version (@hlc, @device) exists for the row. */
int store_restored_after(struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                         const char *device)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, "SELECT 1 FROM change_log WHERE tbl = ? AND row_id = ?"
                                       " AND field = '_deleted' AND value = '0'"
                                       " AND outcome IN ('applied', 'lost')"
                                       " AND " HLC_SQL_AFTER("?3", "?4") " LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    sql_bind_int64(st, 3, (int64_t)hlc);
    sql_bind_text(st, 4, device);
    rc = sql_step(st);
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

static int hist_read(struct sql_stmt *st, struct backend_journal_entry **h, size_t *n, size_t *cap)
{
    int rc;

    while ((rc = sql_step(st)) == SQL_ROW) {
        const char *v = sql_column_text(st, 4);
        struct backend_journal_entry *e;

        if (array_grow((void **)h, cap, *n, sizeof(**h), 8) < 0) {
            rc = -ENOMEM;
            break;
        }
        e = &(*h)[*n];
        copy_text(e->change_id, sizeof(e->change_id), sql_column_text(st, 0));
        copy_text(e->device, sizeof(e->device), sql_column_text(st, 1));
        copy_text(e->base_device, sizeof(e->base_device), sql_column_type(st, 2) == SQL_NULL ? "" :
                 sql_column_text(st, 2));
        copy_text(e->field, sizeof(e->field), sql_column_text(st, 3));
        e->tombstone = streq(e->field, CAT_DELETED_FIELD);
        e->value = v ? strdup(v) : NULL;
        if (v && !e->value) {
            rc = -ENOMEM;
            break;
        }
        e->hlc = (uint64_t)sql_column_int64(st, 5);
        e->sent_hlc = (uint64_t)sql_column_int64(st, 6);
        e->base_hlc = (uint64_t)sql_column_int64(st, 7);
        (*n)++;
    }
    sql_reset(st);
    return rc == SQL_DONE ? 0 : rc;
}

int store_field_history(struct backend *b, const char *tbl, const char *row_id,
                        const char *field, uint64_t from_hlc,
                        struct backend_journal_entry **ret, size_t *ret_n)
{
    struct store *s = store_of(b);
    struct backend_journal_entry *h = NULL;
    size_t n = 0, cap = 0;
    struct sql_stmt *st;
    int r;

    /* Two index seeks: an IN list over the field would build a temporary table per change. */
    st = store_sql(s, "SELECT change_id, device, base_device, field, value, hlc, sent_hlc,"
                      " base_hlc FROM change_log WHERE tbl = ? AND row_id = ? AND field = ?"
                      " AND hlc >= ? AND outcome IN ('applied', 'lost')");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    sql_bind_text(st, 3, field);
    sql_bind_int64(st, 4, (int64_t)from_hlc);
    r = hist_read(st, &h, &n, &cap);
    if (r >= 0 && !streq(field, CAT_DELETED_FIELD)) {
        st = store_sql(s, "SELECT change_id, device, base_device, field, value, hlc, sent_hlc,"
                          " base_hlc FROM change_log WHERE tbl = ? AND row_id = ?"
                          " AND field = '_deleted' AND outcome IN ('applied', 'lost')");
        if (!st)
            r = -EIO;
        else {
            sql_bind_text(st, 1, tbl);
            sql_bind_text(st, 2, row_id);
            r = hist_read(st, &h, &n, &cap);
        }
    }
    if (r < 0) {
        backend_history_free(h, n);
        return r;
    }
    *ret = h;
    *ret_n = n;
    return 0;
}

int store_row_edits(struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                    struct backend_journal_entry **ret, size_t *ret_n)
{
    struct store *s = store_of(b);
    struct backend_journal_entry *h = NULL;
    size_t n = 0, cap = 0;
    struct sql_stmt *st = store_sql(s, "SELECT change_id, device, base_device, field, value, hlc,"
                                       " sent_hlc, base_hlc FROM change_log WHERE tbl = ?"
                                       " AND row_id = ? AND field <> '_deleted' AND hlc >= ?"
                                       " AND outcome IN ('applied', 'lost')");
    int r;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    sql_bind_int64(st, 3, (int64_t)from_hlc);
    r = hist_read(st, &h, &n, &cap);
    if (r < 0) {
        backend_history_free(h, n);
        return r;
    }
    *ret = h;
    *ret_n = n;
    return 0;
}

int store_journal_clocks(struct backend *b, const char *change_id, uint64_t *ret_hlc,
                         uint64_t *ret_sent_hlc)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, "SELECT sent_hlc, hlc FROM change_log WHERE change_id = ?");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, change_id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        *ret_sent_hlc = (uint64_t)sql_column_int64(st, 0);
        *ret_hlc = (uint64_t)sql_column_int64(st, 1);
    }
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

/* The newest version of any field of a row, in @ret (exists false for a new row). */
int store_row_newest(struct backend *b, const char *tbl, const char *row_id,
                     struct field_cur *ret)
{
    struct store *s = store_of(b);
    struct sql_stmt *st = store_sql(s, "SELECT hlc, device FROM field_state WHERE tbl = ?"
                                       " AND row_id = ? ORDER BY " HLC_SQL_NEWEST " LIMIT 1");
    int rc;

    store_field_cur_done(ret);
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        ret->exists = true;
        ret->hlc = (uint64_t)sql_column_int64(st, 0);
        copy_text(ret->device, sizeof(ret->device), sql_column_text(st, 1));
    }
    sql_reset(st);
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}
