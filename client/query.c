/* SPDX-License-Identifier: MIT */
/* query.c - offline reads of the replica as JSON: rows, one person's whole plan (show), status;
 * the helpers day.c and export.c build on. */
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

int query_rows(sqlite3 *db, const struct cat_table *t, const char *where, const char *arg,
               const char *order, cJSON *arr)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_(sqlite3_freep) char *cond = NULL;
    int r;

    cond = sqlite3_mprintf("_deleted = 0 AND (%s)", where);
    if (!cond)
        return -ENOMEM;
    r = prepare_select(db, t, !streq(t->name, "person"), cond, order, &st);
    if (r < 0)
        return r;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    return rows_to_array(st, arr);
}

int query_row(sqlite3 *db, const struct cat_table *t, const char *id, cJSON **ret)
{
    _cleanup_json_ cJSON *arr = cJSON_CreateArray();
    cJSON *o;
    int r;

    if (!arr)
        return -ENOMEM;
    r = query_rows(db, t, "id = ?1", id, "id", arr);
    if (r < 0)
        return r;
    o = cJSON_DetachItemFromArray(arr, 0);
    if (!o)
        return 0;
    *ret = o;
    return 1;
}

int query_need_row(struct caresync *c, const char *table, const char *id, cJSON **ret)
{
    const struct cat_table *t = catalogue_table(table);
    int r;

    if (!t)
        return cs_fail(c, CARESYNC_EUSAGE, "unknown table '%s'", table);
    if (!id || !uuid_valid(id))
        return cs_fail(c, CARESYNC_EUSAGE, "'%s' is not a %s id (a lower-case UUID)",
                       id ? id : "", t->name);
    r = query_row(c->db, t, id, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica");
    if (r == 0)
        return cs_fail(c, CARESYNC_ENOTFOUND, "%s %s is not in this replica; see %s, or sync",
                       t->name, id,
                       streq(t->name, "person") ? "'caresync caseload'"
                                                : "'caresync show PERSON_ID'");
    return CARESYNC_OK;
}

const char *query_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int query_user(struct caresync *c, char **ret)
{
    char *v = NULL;
    int r = db_meta_get(c->db, "user", &v);

    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's settings");
    if (!v && !(v = strdup("")))
        return cs_fail_errno(c, -ENOMEM, "cannot read the replica's settings");
    *ret = v;
    return CARESYNC_OK;
}

int query_person_tree(sqlite3 *db, const char *person_id, cJSON **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = query_row(db, catalogue_table("person"), person_id, &o);
    if (r <= 0)
        return r < 0 ? r : -ENOENT;
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];
        _cleanup_json_ cJSON *arr = NULL;
        cJSON *one;

        if (streq(t->name, "person"))
            continue;
        arr = cJSON_CreateArray();
        if (!arr)
            return -ENOMEM;
        /* A singleton is one object (or null): the row whose id is the person's. */
        r = query_rows(db, t, t->singleton ? "person_id = ?1 AND id = person_id" : "person_id = ?1",
                       person_id, "id", arr);
        if (r < 0)
            return r;
        if (t->singleton) {
            one = cJSON_DetachItemFromArray(arr, 0);
            if (!one)
                one = cJSON_CreateNull();
            if (wire_add_item(o, t->label, one) < 0)
                return -ENOMEM;
        } else if (!cJSON_AddItemToObject(o, t->label, arr)) {
            return -ENOMEM;
        } else {
            arr = NULL; /* now owned by o */
        }
    }
    *ret = TAKE_PTR(o);
    return 0;
}

int cs_begin_person(struct caresync *c, const char *person_id)
{
    int r = cs_begin(c);

    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    if (!person_id || !uuid_valid(person_id))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "'%s' is not a person id (a lower-case UUID); see 'caresync caseload'",
                       person_id ? person_id : "");
    return CARESYNC_OK;
}

int cs_person_tree(struct caresync *c, const char *person_id, cJSON **ret)
{
    int r = cs_begin_person(c, person_id);

    if (r != CARESYNC_OK)
        return r;
    /* One read transaction, so the person and their rows are one consistent snapshot. */
    r = db_begin(c->db, false);
    if (r >= 0) {
        r = query_person_tree(c->db, person_id, ret);
        db_rollback(c->db);
    }
    if (r == -ENOENT)
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "person %s is not in this replica; see 'caresync caseload', or sync",
                       person_id);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the person");
    return CARESYNC_OK;
}

int caresync_person_json(struct caresync *c, const char *person_id, char **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = cs_person_tree(c, person_id, &o);
    if (r != CARESYNC_OK)
        return r;
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

/* The lock policy and the conflict-log notices, added to the status object. */
static int status_lock(struct caresync *c, cJSON *o)
{
    uint64_t lost = 0;
    struct cs_lock l;
    int r;

    r = db_meta_get_u64(c->db, "lost_values", &lost);
    if (r >= 0)
        r = cs_lock_state(c, &l);
    if (r < 0)
        return r;
    if (!cJSON_AddNumberToObject(o, "lost_values", (double)lost) ||
        !(l.known ? cJSON_AddNumberToObject(o, "lock_after_days", (double)l.after_days)
                  : cJSON_AddNullToObject(o, "lock_after_days")) ||
        !(l.synced ? cJSON_AddNumberToObject(o, "days_since_sync",
                                             (double)(l.since_ms / CS_DAY_MS))
                   : cJSON_AddNullToObject(o, "days_since_sync")) ||
        !cJSON_AddBoolToObject(o, "locked", l.locked))
        return -ENOMEM;
    return 0;
}

int caresync_status_json(struct caresync *c, char **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_enrolled(c); /* status works on a locked device: it says why */
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, false);
    if (r >= 0) {
        r = status_tree(c->db, &o);
        if (r >= 0)
            r = status_lock(c, o);
        db_rollback(c->db);
    }
    if (r >= 0)
        r = json_take_string(o, ret);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's status");
    return CARESYNC_OK;
}
