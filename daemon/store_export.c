/* SPDX-License-Identifier: MIT */
/* store_export.c - one person's whole current record read from the field state as the tree
 * `caresync show PERSON --json` prints (the input of fhir_bundle()), and the audit event of an
 * export. docs/internals/fhir.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalogue.h"
#include "fhir.h"
#include "store_int.h"

/* A new row object {id, person_id, every field of @t: null} (what the replica's columns are). */
static cJSON *new_row(const struct cat_table *t, const char *row_id, const char *person_id)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "id", row_id) ||
        !cJSON_AddStringToObject(o, "person_id", person_id))
        return NULL;
    for (size_t i = 0; i < t->n_fields; i++)
        if (!cJSON_AddNullToObject(o, t->fields[i].name))
            return NULL;
    return TAKE_PTR(o);
}

/* Set @field of @row to @value (NULL = null), replacing the placeholder. */
static int set_field(cJSON *row, const char *field, const char *value)
{
    cJSON *v = value ? cJSON_CreateString(value) : cJSON_CreateNull();

    if (!v)
        return -ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(row, field)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(row, field, v)) {
            cJSON_Delete(v);
            return -ENOMEM;
        }
    } else if (wire_add_item(row, field, v) < 0) {
        return -ENOMEM;
    }
    return 0;
}

/* The tree's skeleton: the person's fields null, an empty array per table, about_me null. */
static int skeleton(const char *person_id, cJSON **ret)
{
    _cleanup_json_ cJSON *o = new_row(catalogue_table("person"), person_id, person_id);

    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];

        if (streq(t->name, "person"))
            continue;
        if (!(t->singleton ? cJSON_AddNullToObject(o, t->label)
                           : cJSON_AddArrayToObject(o, t->label)))
            return -ENOMEM;
    }
    *ret = TAKE_PTR(o);
    return 0;
}

/* Every field state of the person into @o, grouped into rows by (table, row). */
static int read_rows(struct store *s, const char *person_id, cJSON *o)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    const struct cat_table *t = NULL;
    char cur_tbl[64] = "", cur_row[UUID_STR_MAX] = "";
    cJSON *row = NULL;
    int r, rc;

    r = sql_prepare(s->sql, "SELECT tbl, row_id, field, value FROM field_state WHERE person_id = ?"
                          " ORDER BY tbl, row_id, field", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, person_id);
    while ((rc = sql_step(st)) == SQL_ROW) {
        const char *tbl = sql_column_text(st, 0);
        const char *row_id = sql_column_text(st, 1);
        const char *field = sql_column_text(st, 2);
        const char *value = sql_column_text(st, 3);

        if (!tbl || !row_id || !field)
            return -ENOMEM;
        if (!streq(tbl, cur_tbl) || !streq(row_id, cur_row)) {
            copy_text(cur_tbl, sizeof(cur_tbl), tbl);
            copy_text(cur_row, sizeof(cur_row), row_id);
            t = catalogue_table(tbl);
            row = NULL;
            if (!t || !uuid_valid(row_id))
                continue; /* not a synced table (nothing writes one); never exported */
            if (streq(t->name, "person")) {
                row = streq(row_id, person_id) ? o : NULL;
            } else if (t->singleton) {
                if (!streq(row_id, person_id))
                    continue;
                row = new_row(t, row_id, person_id);
                if (!row || !cJSON_ReplaceItemInObjectCaseSensitive(o, t->label, row)) {
                    cJSON_Delete(row);
                    return -ENOMEM;
                }
            } else {
                row = new_row(t, row_id, person_id);
                if (!row || !cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(o, t->label),
                                                  row)) {
                    cJSON_Delete(row);
                    return -ENOMEM;
                }
            }
        }
        /* Only catalogue fields (and _deleted, which fhir_bundle() uses to leave rows out). */
        if (!row || !catalogue_field(t, field))
            continue;
        r = set_field(row, field, value);
        if (r < 0)
            return r;
    }
    return rc == SQL_DONE ? 0 : rc;
}

/* "team": who has the person on their caseload now. */
static int read_team(struct store *s, const char *person_id, cJSON *o)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    cJSON *team = cJSON_AddArrayToObject(o, "team"), *m;
    int r, rc;

    if (!team)
        return -ENOMEM;
    r = sql_prepare(s->sql, "SELECT u.name, u.role FROM assignments a JOIN users u"
                          " ON u.id = a.user_id WHERE a.person_id = ? AND a.end_seq IS NULL"
                          " ORDER BY u.name", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, person_id);
    while ((rc = sql_step(st)) == SQL_ROW) {
        m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(team, m)) {
            cJSON_Delete(m);
            return -ENOMEM;
        }
        if (store_add_column(m, "user", st, 0) < 0 || store_add_column(m, "role", st, 1) < 0 ||
            !cJSON_AddStringToObject(m, "assignment", "contributor"))
            return -ENOMEM;
    }
    return rc == SQL_DONE ? 0 : rc;
}

/* When the About Me was last written: its fields' highest clock. */
static int read_authored(struct store *s, const char *person_id, cJSON *o)
{
    int64_t hlc = 0;
    int r = store_query_i64(s, "SELECT max(hlc) FROM field_state WHERE tbl = 'about_me'"
                                " AND row_id = ?1 AND person_id = ?1 AND field <> '_deleted'",
                         person_id, &hlc);

    return r < 0 ? r : fhir_set_authored(o, (uint64_t)hlc);
}

/* "staff": every user, as exports show them (fhir.c makes a Practitioner of those named). */
static int read_staff(struct store *s, cJSON *o)
{
    static const char *const keys[] = {"user", "role", "display_name", "nmc", "hcpc", "swe",
                                       "disabled", NULL};
    _cleanup_sql_ struct sql_stmt *st = NULL;
    cJSON *staff = NULL;
    int r;

    r = sql_prepare(s->sql, "SELECT name, role, display_name, nmc_pin, hcpc_number, swe_number,"
                          " CASE WHEN disabled_at IS NULL THEN '0' ELSE '1' END"
                          " FROM users ORDER BY name", &st);
    if (r < 0)
        return r;
    r = store_rows_to_array(st, keys, &staff);
    if (r < 0)
        return r;
    if (!cJSON_AddItemToObject(o, "staff", staff)) {
        cJSON_Delete(staff);
        return -ENOMEM;
    }
    return 0;
}

int store_person_tree(struct store *s, const char *person_id, cJSON **ret)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    if (!person_id || !uuid_valid(person_id))
        return -ENOENT;
    /* One read transaction: the person and their rows are one consistent snapshot. */
    r = store_plain_begin(s, false);
    if (r < 0)
        return r;
    r = store_person_exists(s, person_id);
    if (r == 0)
        r = -ENOENT;
    if (r >= 0)
        r = skeleton(person_id, &o);
    if (r >= 0)
        r = read_rows(s, person_id, o);
    if (r >= 0)
        r = read_team(s, person_id, o);
    if (r >= 0)
        r = read_staff(s, o);
    if (r >= 0)
        r = read_authored(s, person_id, o);
    if (r >= 0)
        r = store_plain_commit(s);
    if (r < 0) {
        store_txn_rollback(s);
        return r;
    }
    *ret = TAKE_PTR(o);
    return 0;
}

int store_export_audit(struct store *s, const struct store_principal *p, const char *person_id,
                       const char *format)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int r;

    if (!d || !cJSON_AddStringToObject(d, "format", format) ||
        !cJSON_AddStringToObject(d, "via", p ? "api" : "caresyncd export"))
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = store_audit(s, "export", p ? p->user_id : 0, p ? p->device_id : NULL, person_id, d);
    if (r < 0) {
        store_txn_rollback(s);
        return r;
    }
    return store_txn_commit(s);
}
