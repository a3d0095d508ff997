/* SPDX-License-Identifier: MIT */
/* store_console.c - the web console's staff sign-in and sessions (schema 0008_console.sql):
 * password hashes and TOTP secrets as the console's code made them, the last TOTP step used,
 * sessions by the hash of their cookie, and the audit of every sign-in, failure and sign-out. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "catalogue.h"
#include "hlc.h"
#include "store_int.h"

int store_staff_login_get(struct store *s, const char *name, struct store_staff_login *ret)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    struct store_staff_login l = {0};
    int r, rc;

    r = sql_prepare(s->sql,
                   "SELECT u.id, u.name, u.role, CASE WHEN u.disabled_at IS NULL THEN 0 ELSE 1 END,"
                   " l.password_hash,"
                   " l.totp_secret, l.totp_last_step FROM users u"
                   " LEFT JOIN staff_logins l ON l.user_id = u.id WHERE u.name = ?",
                   &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sql_step(st);
    if (rc != SQL_ROW)
        return rc == SQL_DONE ? -ENOENT : rc;
    l.user_id = sql_column_int64(st, 0);
    copy_text(l.user, sizeof(l.user), sql_column_text(st, 1));
    copy_text(l.role, sizeof(l.role), sql_column_text(st, 2));
    l.disabled = (int)sql_column_int64(st, 3);
    l.has_login = sql_column_type(st, 4) != SQL_NULL;
    copy_text(l.password_hash, sizeof(l.password_hash), sql_column_text(st, 4));
    copy_text(l.totp_secret, sizeof(l.totp_secret), sql_column_text(st, 5));
    l.totp_last_step = sql_column_int64(st, 6);
    *ret = l;
    return 0;
}

int store_staff_login_set(struct store *s, const char *name, const char *password_hash,
                          const char *totp_secret)
{
    _cleanup_sql_ struct sql_stmt *st = NULL, *del = NULL;
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    struct store_staff_login l;
    char ts[ISO_TIME_MAX];
    int r;

    if (!d)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = store_staff_login_get(s, name, &l);
    if (r < 0)
        goto fail;
    r = sql_prepare(s->sql,
                   "INSERT INTO staff_logins (user_id, password_hash, totp_secret, totp_last_step,"
                   " set_at) VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT (user_id) DO UPDATE SET"
                   " password_hash = ?2, totp_secret = ?3, totp_last_step = 0, set_at = ?4",
                   &st);
    if (r < 0)
        goto fail;
    sql_bind_int64(st, 1, l.user_id);
    sql_bind_text(st, 2, password_hash);
    sql_bind_text(st, 3, totp_secret);
    sql_bind_text(st, 4, iso_time(hlc_wall_ms(), ts));
    r = sql_step_done(st);
    if (r < 0)
        goto fail;
    /* New credentials end every session signed in with the old ones. */
    r = sql_prepare(s->sql, "DELETE FROM console_sessions WHERE user_id = ?", &del);
    if (r < 0)
        goto fail;
    sql_bind_int64(del, 1, l.user_id);
    r = sql_step_done(del);
    if (r >= 0)
        r = wire_add_string(d, "user", l.user) < 0
                    ? -ENOMEM
                    : store_audit(s, "console_credentials", 0, store_node_id(s), NULL, d);
    if (r < 0)
        goto fail;
    return store_txn_commit(s);
fail:
    store_txn_rollback(s);
    return r;
}

int store_staff_totp_use(struct store *s, int64_t user_id, int64_t step)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(s->sql,
                   "UPDATE staff_logins SET totp_last_step = ?2 WHERE user_id = ?1"
                   " AND totp_last_step < ?2",
                   &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, user_id);
    sql_bind_int64(st, 2, step);
    rc = sql_step(st);
    if (rc != SQL_DONE)
        return rc;
    return sql_changes(s->sql) > 0;
}

int store_console_audit(struct store *s, const char *kind, int64_t user_id, const cJSON *detail)
{
    int r = store_txn_begin(s);

    if (r < 0)
        return r;
    r = store_audit(s, kind, user_id, store_node_id(s), NULL, detail);
    if (r < 0) {
        store_txn_rollback(s);
        return r;
    }
    return store_txn_commit(s);
}

int store_console_session_new(struct store *s, int64_t user_id, const char *id_hash,
                              const char *csrf, const char *addr, int64_t now_ms)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int r;

    if (!d || wire_add_string(d, "addr", addr) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = sql_prepare(s->sql,
                   "INSERT INTO console_sessions (id_hash, user_id, csrf, addr, created_ms,"
                   " seen_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   &st);
    if (r < 0)
        goto fail;
    sql_bind_text(st, 1, id_hash);
    sql_bind_int64(st, 2, user_id);
    sql_bind_text(st, 3, csrf);
    sql_bind_text(st, 4, addr);
    sql_bind_int64(st, 5, now_ms);
    sql_bind_int64(st, 6, now_ms);
    r = sql_step_done(st);
    if (r >= 0)
        r = store_audit(s, "console_sign_in", user_id, store_node_id(s), NULL, d);
    if (r < 0)
        goto fail;
    return store_txn_commit(s);
fail:
    store_txn_rollback(s);
    return r;
}

/* Delete session @id_hash and audit @kind ("console_sign_out", "console_session_expired") for
 * its user, in the caller's transaction. */
static int session_end(struct store *s, const char *id_hash, int64_t user_id, const char *kind,
                       const char *why)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int r;

    if (!d || (why && wire_add_string(d, "reason", why) < 0))
        return -ENOMEM;
    r = sql_prepare(s->sql, "DELETE FROM console_sessions WHERE id_hash = ?", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, id_hash);
    r = sql_step_done(st);
    return r < 0 ? r : store_audit(s, kind, user_id, store_node_id(s), NULL, d);
}

int store_console_session_get(struct store *s, const char *id_hash, int64_t now_ms,
                              int64_t idle_ms, int64_t lifetime_ms,
                              struct store_console_session *ret)
{
    _cleanup_sql_ struct sql_stmt *st = NULL, *upd = NULL;
    struct store_console_session v = {0};
    const char *why = NULL;
    bool disabled;
    int r, rc;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = sql_prepare(s->sql,
                   "SELECT c.user_id, u.name, u.role, CASE WHEN u.disabled_at IS NULL THEN 0 ELSE 1 END,"
                   " c.csrf,"
                   " c.created_ms, c.seen_ms FROM console_sessions c"
                   " JOIN users u ON u.id = c.user_id WHERE c.id_hash = ?",
                   &st);
    if (r < 0)
        goto fail;
    sql_bind_text(st, 1, id_hash);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        r = rc == SQL_DONE ? -ENOENT : rc;
        goto fail;
    }
    v.user_id = sql_column_int64(st, 0);
    copy_text(v.user, sizeof(v.user), sql_column_text(st, 1));
    copy_text(v.role, sizeof(v.role), sql_column_text(st, 2));
    disabled = (int)sql_column_int64(st, 3);
    copy_text(v.csrf, sizeof(v.csrf), sql_column_text(st, 4));
    v.created_ms = sql_column_int64(st, 5);
    v.seen_ms = sql_column_int64(st, 6);
    sql_reset(st);
    if (disabled)
        why = "the account was disabled";
    else if (!store_role_is_coordinator(v.role) && !streq(v.role, "admin"))
        why = "the account's role no longer signs in to the console";
    else if (now_ms - v.seen_ms > idle_ms)
        why = "idle timeout";
    else if (now_ms - v.created_ms > lifetime_ms)
        why = "lifetime reached";
    if (why) {
        r = session_end(s, id_hash, v.user_id, "console_session_expired", why);
        if (r >= 0)
            r = store_txn_commit(s);
        return r < 0 ? r : -ETIMEDOUT;
    }
    r = sql_prepare(s->sql, "UPDATE console_sessions SET seen_ms = ? WHERE id_hash = ?", &upd);
    if (r < 0)
        goto fail;
    sql_bind_int64(upd, 1, now_ms);
    sql_bind_text(upd, 2, id_hash);
    r = sql_step_done(upd);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    v.seen_ms = now_ms;
    *ret = v;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

int store_console_session_end(struct store *s, const char *id_hash)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int64_t user_id;
    int r, rc;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = sql_prepare(s->sql, "SELECT user_id FROM console_sessions WHERE id_hash = ?", &st);
    if (r < 0)
        goto fail;
    sql_bind_text(st, 1, id_hash);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        r = rc == SQL_DONE ? -ENOENT : rc;
        goto fail;
    }
    user_id = sql_column_int64(st, 0);
    sql_reset(st);
    r = session_end(s, id_hash, user_id, "console_sign_out", NULL);
    if (r < 0)
        goto fail;
    return store_txn_commit(s);
fail:
    store_txn_rollback(s);
    return r;
}

int store_person_record(struct store *s, const struct store_principal *p, const char *person_id,
                        cJSON **ret)
{
    _cleanup_json_ cJSON *tree = NULL;
    const struct cat_table *person = catalogue_table("person");
    cJSON *item, *next;
    int r;

    r = store_person_tree(s, person_id, &tree);
    if (r < 0)
        return r;
    /* The person's own fields: those @p's role may see. */
    for (size_t i = 0; i < person->n_fields; i++)
        if (!access_field_visible(p->role, person, &person->fields[i]))
            cJSON_DeleteItemFromObjectCaseSensitive(tree, person->fields[i].name);
    for (size_t i = 0; i < catalogue_n_tables; i++) {
        const struct cat_table *t = &catalogue_tables[i];
        cJSON *rows = cJSON_GetObjectItemCaseSensitive(tree, t->label);
        cJSON *one = NULL;

        if (t == person || !rows || cJSON_IsNull(rows))
            continue;
        if (cJSON_IsObject(rows)) { /* a singleton (About Me): judged as an array of one */
            one = cJSON_DetachItemViaPointer(tree, rows);
            rows = cJSON_CreateArray();
            if (!rows || !cJSON_AddItemToArray(rows, one)) {
                cJSON_Delete(one);
                cJSON_Delete(rows);
                return -ENOMEM;
            }
        }
        for (item = rows->child; item; item = next) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
            const cJSON *del = cJSON_GetObjectItemCaseSensitive(item, "_deleted");

            next = item->next;
            r = cJSON_IsString(del) && streq(del->valuestring, "1")
                        ? 0
                        : store_row_visible(s, p, t, cJSON_IsString(id) ? id->valuestring : "",
                                            person_id);
            if (r < 0) {
                if (one)
                    cJSON_Delete(rows);
                return r;
            }
            if (r == 0) {
                cJSON_Delete(cJSON_DetachItemViaPointer(rows, item));
                continue;
            }
            for (size_t f = 0; f < t->n_fields; f++)
                if (!access_field_visible(p->role, t, &t->fields[f]))
                    cJSON_DeleteItemFromObjectCaseSensitive(item, t->fields[f].name);
        }
        if (one) {
            cJSON *back = cJSON_DetachItemFromArray(rows, 0);

            cJSON_Delete(rows);
            if (!cJSON_AddItemToObject(tree, t->label, back ? back : cJSON_CreateNull()))
                return -ENOMEM;
        }
    }
    *ret = TAKE_PTR(tree);
    return 0;
}
