/* SPDX-License-Identifier: MIT */
/* store_demo.c - bulk writes for the demo-data generator: one transaction, brand-new rows
 * written straight into the journal and the field state, assignments, and edits through the
 * real merge to seed the conflict log. See store_demo.h. */
#include "store_demo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

int store_demo_begin(struct store *s)
{
    struct sql_stmt *st;
    int r, rc;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_sql(s, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM field_state)"
                       " + (SELECT count(*) FROM assignments)");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        r = rc;
        goto fail;
    }
    r = sql_column_int64(st, 0) > 0 ? -EEXIST : 0;
    sql_reset(st);
    if (r < 0)
        goto fail;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

int store_demo_commit(struct store *s)
{
    return store_txn_commit(s);
}

void store_demo_rollback(struct store *s)
{
    store_txn_rollback(s);
}

int store_demo_user_add(struct store *s, const char *name, const char *role,
                        const struct store_user_profile *p, int64_t *ret_id)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    struct sql_stmt *st;
    char ts[ISO_TIME_MAX];
    size_t n = name ? strlen(name) : 0;
    int r;

    /* store_user_add() runs its own transaction; this is the same insert inside ours. */
    if (n == 0 || n > STORE_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
        !store_role_valid(role))
        return -EINVAL;
    if (!d || wire_add_string(d, "user", name) < 0 || wire_add_string(d, "role", role) < 0)
        return -ENOMEM;
    if (store_user_profile_invalid(p))
        return -EINVAL;
    st = store_sql(s, "INSERT INTO users(name, role, created_at, display_name, nmc_pin,"
                       " hcpc_number, swe_number) VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, name);
    sql_bind_text(st, 2, role);
    sql_bind_text(st, 3, iso_time(hlc_wall_ms(), ts));
    sql_bind_text(st, 4, p->display_name);
    sql_bind_text(st, 5, p->nmc_pin);
    sql_bind_text(st, 6, p->hcpc_number);
    sql_bind_text(st, 7, p->swe_number);
    r = sql_step(st);
    if (r == SQL_ROW)
        *ret_id = sql_column_int64(st, 0);
    sql_reset(st);
    if (r != SQL_ROW)
        return r < 0 ? r : -EPROTO;
    return store_audit(s, "user_add", 0, NULL, NULL, d);
}

int store_demo_field(struct store *s, const char *tbl, const char *row_id, const char *person_id,
                     const char *field, const char *value)
{
    const struct cat_table *t = catalogue_table(tbl);
    const struct cat_field *f = catalogue_field(t, field);
    char cid[UUID_STR_MAX];
    const char *why = NULL;
    struct applying a = {0};
    struct sql_stmt *st;
    int r;

    if (!f || f == &catalogue_deleted_field || !value || !uuid_valid(row_id) ||
        !uuid_valid(person_id) || catalogue_check_value(f, value, &why) < 0 ||
        !utf8_valid(value, strlen(value)))
        return -EINVAL;
    if ((t->singleton || streq(tbl, "person")) && !streq(row_id, person_id))
        return -EINVAL;
    r = uuid_v7(hlc_wall_ms(), cid);
    if (r < 0)
        return r;
    a.change_id = cid;
    a.tbl = t->name;
    a.field = f;
    a.row_id = row_id;
    a.person_id = person_id;
    a.value = value;
    a.hlc = a.sent_hlc = store_tick(s);
    a.device = s->node_id;
    a.base_device = "";

    /* A plain INSERT, not the merge's upsert: a field that already has a state fails here
     * (-EEXIST), so a row that was not new can never be written without the merge. */
    st = store_sql(s, "INSERT INTO field_state(tbl, row_id, field, person_id, value, hlc, device,"
                       " change_id, seq) VALUES(?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, a.tbl);
    sql_bind_text(st, 2, a.row_id);
    sql_bind_text(st, 3, f->name);
    sql_bind_text(st, 4, a.person_id);
    sql_bind_text(st, 5, a.value);
    sql_bind_int64(st, 6, (int64_t)a.hlc);
    sql_bind_text(st, 7, a.device);
    sql_bind_text(st, 8, a.change_id);
    sql_bind_int64(st, 9, (int64_t)store_next_seq(s));
    r = sql_step_done(st);
    if (r < 0)
        return r;
    return store_journal(s, &a, "applied");
}

int store_demo_assign(struct store *s, const char *person_id, int64_t user_id, const char *name,
                      const char *started_at)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    struct sql_stmt *st = store_sql(s, "INSERT INTO assignments(person_id, user_id, start_seq,"
                                     " started_at) VALUES(?, ?, ?, ?)");
    int r;

    if (!d || wire_add_string(d, "user", name) < 0)
        return -ENOMEM;
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, user_id);
    sql_bind_int64(st, 3, (int64_t)store_next_seq(s));
    sql_bind_text(st, 4, started_at);
    r = sql_step_done(st);
    if (r < 0)
        return r;
    return store_audit(s, "assign", 0, NULL, person_id, d);
}

int store_demo_audit(struct store *s, const char *person_id, const cJSON *detail)
{
    return store_audit(s, "demo_import", 0, NULL, person_id, detail);
}

int store_demo_version(struct store *s, const char *tbl, const char *row_id, const char *field,
                       struct store_demo_version *ret)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    int r = store_field_current(s, tbl, row_id, field, &cur);

    if (r < 0)
        return r;
    if (!cur.exists)
        return -ENOENT;
    ret->hlc = cur.hlc;
    memcpy(ret->device, cur.device, UUID_STR_MAX);
    return 0;
}

int store_demo_edit(struct store *s, const char *device, int64_t user_id, const char *tbl,
                    const char *row_id, const char *person_id, const char *field, const char *value,
                    const struct store_demo_version *base)
{
    const struct cat_table *t = catalogue_table(tbl);
    const struct cat_field *f = catalogue_field(t, field);
    char cid[UUID_STR_MAX];
    const char *why = NULL;
    struct applying a = {0};
    bool applied = false;
    int r;

    if (!f || (value && catalogue_check_value(f, value, &why) < 0))
        return -EINVAL;
    r = uuid_v7(hlc_wall_ms(), cid);
    if (r < 0)
        return r;
    a.change_id = cid;
    a.tbl = t->name;
    a.field = f;
    a.row_id = row_id;
    a.person_id = person_id;
    a.value = value;
    a.hlc = a.sent_hlc = store_tick(s);
    a.device = device;
    a.user_id = user_id;
    a.base_hlc = base ? base->hlc : 0;
    a.base_device = base ? base->device : "";
    r = store_apply_change(s, &a, &applied, NULL);
    if (r < 0)
        return r;
    return applied ? 1 : 0;
}

/* Add the single integer result of @sql to @o under @key. */
static int add_count(struct store *s, cJSON *o, const char *key, const char *sql)
{
    struct sql_stmt *st = store_sql(s, sql);
    int rc;

    if (!st)
        return -EIO;
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        return rc;
    }
    if (!cJSON_AddNumberToObject(o, key, (double)sql_column_int64(st, 0))) {
        sql_reset(st);
        return -ENOMEM;
    }
    sql_reset(st);
    return 0;
}

int store_demo_counts(struct store *s, cJSON **ret)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    struct sql_stmt *st;
    cJSON *tables;
    int rc, r;

    if (!o || !(tables = cJSON_AddObjectToObject(o, "tables")))
        return -ENOMEM;
    for (size_t i = 0; i < catalogue_n_tables; i++)
        if (!cJSON_AddNumberToObject(tables, catalogue_tables[i].name, 0))
            return -ENOMEM;
    st = store_sql(s, "SELECT tbl, count(DISTINCT row_id) FROM field_state GROUP BY tbl");
    if (!st)
        return -EIO;
    while ((rc = sql_step(st)) == SQL_ROW) {
        cJSON *n =
                cJSON_GetObjectItemCaseSensitive(tables, sql_column_text(st, 0));

        if (n)
            cJSON_SetNumberValue(n, (double)sql_column_int64(st, 1));
    }
    sql_reset(st);
    if (rc != SQL_DONE)
        return rc;
    r = add_count(s, o, "fields", "SELECT count(*) FROM field_state");
    if (r >= 0)
        r = add_count(s, o, "changes", "SELECT count(*) FROM change_log");
    if (r >= 0)
        r = add_count(s, o, "assignments",
                      "SELECT count(*) FROM assignments WHERE end_seq IS NULL");
    if (r >= 0)
        r = add_count(s, o, "conflicts", "SELECT count(*) FROM conflicts WHERE status = 'open'");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(o);
    return 0;
}
