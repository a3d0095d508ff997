/* SPDX-License-Identifier: MIT */
/* query.c - offline reads of the replica as JSON: the caseload, one person's plan, status. */
#include "caresync.h"

#include <errno.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"
#include "wire.h"

/*
 * Prepare "SELECT id[, person_id], <every catalogue field> FROM <table> WHERE <where> ORDER BY
 * <order>". Table and column names come from the catalogue only.
 */
static int prepare_select(sqlite3 *db, const struct cat_table *t, bool with_person,
                          const char *where, const char *order, sqlite3_stmt **ret)
{
    sqlite3_str *s = sqlite3_str_new(db);
    _cleanup_(sqlite3_freep) char *sql = NULL;

    sqlite3_str_appendall(s, with_person ? "SELECT id, person_id" : "SELECT id");
    for (size_t i = 0; i < t->n_fields; i++)
        sqlite3_str_appendf(s, ", \"%w\"", t->fields[i].name);
    sqlite3_str_appendf(s, " FROM \"%w\" WHERE %s ORDER BY %s", t->name, where, order);
    sql = sqlite3_str_finish(s);
    if (!sql)
        return -ENOMEM;
    return db_prepare(db, sql, ret);
}

/* Add every column of the current row of @st to @obj: text as strings, NULL as null. */
static int row_to_json(sqlite3_stmt *st, cJSON *obj)
{
    int n = sqlite3_column_count(st);

    for (int i = 0; i < n; i++) {
        const char *v = (const char *)sqlite3_column_text(st, i);

        if (!v && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
            return -ENOMEM;
        if (wire_add_string(obj, sqlite3_column_name(st, i), v) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Append one object per remaining row of @st to array @arr. */
static int rows_to_array(sqlite3_stmt *st, cJSON *arr)
{
    int rc, r;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        r = row_to_json(st, o);
        if (r < 0)
            return r;
    }
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int caresync_caseload_json(struct caresync *c, char **ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_json_ cJSON *arr = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    arr = cJSON_CreateArray();
    if (!arr)
        return cs_fail_errno(c, -ENOMEM, "cannot list the caseload");
    r = prepare_select(c->db, catalogue_table("person"), false, "_deleted = 0",
                       "name COLLATE NOCASE, id", &st);
    if (r >= 0)
        r = rows_to_array(st, arr);
    if (r >= 0)
        r = json_take_string(arr, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot list the caseload");
    return CARESYNC_OK;
}

static int person_tree(sqlite3 *db, const char *person_id, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    int r, rc;

    if (!o)
        return -ENOMEM;
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = prepare_select(db, catalogue_table("person"), false, "id = ?1 AND _deleted = 0", "id",
                           &st);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            return -ENOENT;
        if (rc != SQLITE_ROW)
            return db_errno(rc);
        r = row_to_json(st, o);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        cJSON *arr;

        if (streq(t->name, "person"))
            continue;
        arr = cJSON_AddArrayToObject(o, t->label);
        if (!arr)
            return -ENOMEM;
        r = prepare_select(db, t, true, "person_id = ?1 AND _deleted = 0", "id", &st);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
        r = rows_to_array(st, arr);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(o);
    return 0;
}

int caresync_person_json(struct caresync *c, const char *person_id, char **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    if (!person_id || !uuid_valid(person_id))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "'%s' is not a person id (a lower-case UUID); see 'caresync caseload'",
                       person_id ? person_id : "");
    /* One read transaction, so the person and their rows are one consistent snapshot. */
    r = db_begin(c->db, false);
    if (r >= 0) {
        r = person_tree(c->db, person_id, &o);
        db_rollback(c->db);
    }
    if (r == -ENOENT)
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "person %s is not in this replica; see 'caresync caseload', or sync",
                       person_id);
    if (r >= 0)
        r = json_take_string(o, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the person");
    return CARESYNC_OK;
}

static int add_meta(sqlite3 *db, cJSON *o, const char *key, const char *meta_key, bool empty_null)
{
    _cleanup_free_ char *v = NULL;
    int r = db_meta_get(db, meta_key, &v);

    if (r < 0)
        return r;
    if (empty_null && v && !*v)
        return wire_add_string(o, key, NULL);
    return wire_add_string(o, key, v);
}

static int status_tree(sqlite3 *db, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    uint64_t pending, purges;
    int r;

    if (!o)
        return -ENOMEM;
    r = replica_count(db, "SELECT count(*) FROM outbox", &pending);
    if (r >= 0)
        r = replica_count(db, "SELECT count(*) FROM pending_purge", &purges);
    if (r >= 0)
        r = add_meta(db, o, "server", "server_url", false);
    if (r >= 0)
        r = add_meta(db, o, "user", "user", false);
    if (r >= 0)
        r = add_meta(db, o, "role", "role", false);
    if (r >= 0)
        r = add_meta(db, o, "device_id", "device_id", false);
    if (r < 0)
        return r;
    if (!cJSON_AddNumberToObject(o, "pending", (double)pending) ||
        !cJSON_AddNumberToObject(o, "pending_purges", (double)purges))
        return -ENOMEM;
    r = add_meta(db, o, "last_sync", "last_sync_at", true);
    if (r >= 0)
        r = add_meta(db, o, "last_error", "last_error", true);
    if (r >= 0)
        r = add_meta(db, o, "cursor", "cursor", false);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(o);
    return 0;
}

int caresync_status_json(struct caresync *c, char **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, false);
    if (r >= 0) {
        r = status_tree(c->db, &o);
        db_rollback(c->db);
    }
    if (r >= 0)
        r = json_take_string(o, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's status");
    return CARESYNC_OK;
}
