/* SPDX-License-Identifier: MIT */
/* store_people.c - who may still work and the record's lifecycle: an administrator disables a
 * user (every device revoked, every outstanding enrolment code void) or changes their role (their
 * devices' replicas are re-decided at the next sync); a coordinator accepts a referral, closes a
 * record with a reason, reopens it, and sets the server-authoritative NHS number and GP practice;
 * and the people list with its search. Every change is audited; field writes are ordinary
 * server writes (store_write_field()), so every device in scope converges on them.
 * docs/internals/access.md ("Users leaving and changing role", "The record's lifecycle"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

/* The user's id and whether they are disabled: 0, -ENOENT or -errno. */
static int user_find(struct store *s, const char *name, int64_t *ret_id, char ret_role[static STORE_ROLE_MAX],
                     bool *ret_disabled)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(s->sql,
                    "SELECT id, role, CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END"
                    " FROM users WHERE name = ?", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sql_step(st);
    if (rc != SQL_ROW)
        return rc == SQL_DONE ? -ENOENT : rc;
    *ret_id = sql_column_int64(st, 0);
    copy_text(ret_role, STORE_ROLE_MAX, sql_column_text(st, 1));
    *ret_disabled = (int)sql_column_int64(st, 2);
    return 0;
}

int store_user_disabled(struct store *s, const char *name)
{
    char role[STORE_ROLE_MAX];
    bool disabled = false;
    int64_t id;
    int r = user_find(s, name, &id, role, &disabled);

    return r < 0 ? r : disabled;
}

/* Run @sql (binding ?1 = @uid, ?2 = @text) and return the number of rows changed or -errno. */
static int exec_user(struct store *s, const char *sql, int64_t uid, const char *text)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r;

    r = sql_prepare(s->sql, sql, &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, uid);
    sql_bind_text(st, 2, text);
    r = sql_step(st);
    if (r != SQL_DONE)
        return r;
    return sql_changes(s->sql);
}

void store_leaver_done(struct store_leaver *l)
{
    for (size_t i = 0; i < l->n_devices_revoked; i++)
        free(l->devices_revoked[i]);
    free(l->devices_revoked);
    *l = (struct store_leaver){0};
}

int store_user_disable(struct store *s, const char *name, struct store_leaver *ret)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    _cleanup_sql_ struct sql_stmt *sel = NULL;
    char role[STORE_ROLE_MAX], ts[ISO_TIME_MAX];
    cJSON *devs;
    bool disabled = false;
    int64_t uid;
    int r, rc, codes;

    if (!d || wire_add_string(d, "user", name) < 0 ||
        !(devs = cJSON_AddArrayToObject(d, "devices_revoked")))
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = user_find(s, name, &uid, role, &disabled);
    if (r < 0)
        goto fail;
    iso_time(hlc_wall_ms(), ts);
    r = sql_prepare(s->sql, "SELECT id FROM devices WHERE user_id = ? AND revoked_at IS NULL"
                          " ORDER BY created_at, id", &sel);
    if (r < 0)
        goto fail;
    sql_bind_int64(sel, 1, uid);
    while ((rc = sql_step(sel)) == SQL_ROW)
    {
        const char *dev = sql_column_text(sel, 0);
        char **grown = reallocarray(ret->devices_revoked, ret->n_devices_revoked + 1,
                                    sizeof(*grown));
        cJSON *id = cJSON_CreateString(dev);

        if (!id || !cJSON_AddItemToArray(devs, id)) {
            cJSON_Delete(id);
            r = -ENOMEM;
            goto fail;
        }
        if (grown)
            ret->devices_revoked = grown;
        if (!grown || !(grown[ret->n_devices_revoked] = strdup(dev))) {
            r = -ENOMEM;
            goto fail;
        }
        ret->n_devices_revoked++;
    }
    if (rc != SQL_DONE) {
        r = rc;
        goto fail;
    }
    r = exec_user(s, "UPDATE devices SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                  uid, ts);
    if (r < 0)
        goto fail;
    /* A leaver's unused code must not enrol a new device: it expires now. */
    codes = exec_user(s, "UPDATE enrol_codes SET expires_ms = 0 WHERE user_id = ?1"
                         " AND used_at IS NULL AND expires_ms > 0 AND CAST(?2 AS TEXT) IS NOT NULL",
                      uid, ts);
    if (codes < 0) {
        r = codes;
        goto fail;
    }
    r = exec_user(s, "UPDATE users SET disabled_at = coalesce(disabled_at, ?2) WHERE id = ?1",
                  uid, ts);
    if (r < 0)
        goto fail;
    if (!cJSON_AddNumberToObject(d, "codes_voided", codes) ||
        !cJSON_AddBoolToObject(d, "was_disabled", disabled)) {
        r = -ENOMEM;
        goto fail;
    }
    r = store_audit(s, "user_disable", 0, NULL, NULL, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    ret->codes_voided = codes;
    ret->was_disabled = disabled;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

int store_user_role_set(struct store *s, const char *name, const char *role, int *ret_devices)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char old[STORE_ROLE_MAX];
    bool disabled = false;
    int64_t uid;
    int r, n;

    if (!store_role_valid(role))
        return -EINVAL;
    if (!d)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = user_find(s, name, &uid, old, &disabled);
    if (r < 0)
        goto fail;
    if (streq(old, role)) {
        store_txn_rollback(s);
        *ret_devices = 0;
        return 0;
    }
    if (streq(role, "admin") || streq(old, "admin")) {
        /* An admin account holds no caseload; changing to or from one is a new account. */
        r = -EPERM;
        goto fail;
    }
    r = exec_user(s, "UPDATE users SET role = ?2 WHERE id = ?1", uid, role);
    if (r < 0)
        goto fail;
    /* Every device of theirs re-reads its caseload under the new role at its next sync. */
    n = exec_user(s, "UPDATE devices SET redecide = ?2, redecide_cursor = NULL, redecide_done = 0"
                     " WHERE user_id = ?1 AND revoked_at IS NULL",
                  uid, store_role_is_coordinator(old) ? "2" : "1");
    if (n < 0) {
        r = n;
        goto fail;
    }
    /* A new sequence number: the first re-decision page's cursor differs from every cursor
     * given before the change. */
    (void)store_next_seq(s);
    if (wire_add_string(d, "user", name) < 0 || wire_add_string(d, "from", old) < 0 ||
        wire_add_string(d, "to", role) < 0 || !cJSON_AddNumberToObject(d, "devices", n)) {
        r = -ENOMEM;
        goto fail;
    }
    r = store_audit(s, "user_role", 0, NULL, NULL, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    *ret_devices = n;
    return 1;
fail:
    store_txn_rollback(s);
    return r;
}

/* ---- the record's lifecycle ---- */

bool store_nhs_number_valid(const char *nhs)
{
    int sum = 0, check;

    if (!nhs || strlen(nhs) != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if (nhs[i] < '0' || nhs[i] > '9')
            return false;
    for (int i = 0; i < 9; i++)
        sum += (nhs[i] - '0') * (10 - i);
    check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    return check != 10 && check == nhs[9] - '0';
}

/* An ODS code of a GP practice: a letter and five letters or digits (A81001), upper case. */
static bool gp_code_valid(const char *gp)
{
    if (!gp || strlen(gp) != 6 || gp[0] < 'A' || gp[0] > 'Z')
        return false;
    for (int i = 1; i < 6; i++)
        if (!((gp[i] >= 'A' && gp[i] <= 'Z') || (gp[i] >= '0' && gp[i] <= '9')))
            return false;
    return true;
}

static const char *const close_reasons[] = {"deceased", "moved-away", "discharged", "declined",
                                            "duplicate", "other", NULL};

bool store_close_reason_valid(const char *reason)
{
    for (const char *const *p = close_reasons; reason && *p; p++)
        if (streq(*p, reason))
            return true;
    return false;
}

static const char *const actions[] = {
        [STORE_PERSON_ACCEPT] = "accept", [STORE_PERSON_CLOSE] = "close",
        [STORE_PERSON_REOPEN] = "reopen", [STORE_PERSON_SET_NHS] = "set_nhs_number",
        [STORE_PERSON_SET_GP] = "set_gp_practice",
};

/* One person field's current value (NULL when unset) into @buf. */
static int person_value(struct store *s, const char *person_id, const char *field, char *buf,
                        size_t size, bool *ret_set)
{
    _cleanup_(store_field_cur_done) struct field_cur cur = {0};
    int r = store_field_current(s, "person", person_id, field, &cur);

    if (r < 0)
        return r;
    *ret_set = cur.exists && cur.value;
    copy_text(buf, size, (*ret_set ? cur.value : ""));
    return 0;
}

int store_person_lifecycle(struct store *s, const struct store_principal *p, const char *person_id,
                           enum store_person_action action, const char *arg,
                           struct proto_person *ret, const char **why)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char status[32], cid[UUID_STR_MAX], today[ISO_TIME_MAX], before[256];
    const char *device = p && *p->device_id ? p->device_id : store_node_id(s);
    int64_t uid = p ? p->user_id : 0;
    bool set, changed = true;
    int r;

    *why = NULL;
    if (!d)
        return -ENOMEM;
    switch (action) {
    case STORE_PERSON_CLOSE:
        if (!store_close_reason_valid(arg)) {
            *why = "the reason must be one of deceased, moved-away, discharged, declined, "
                   "duplicate or other";
            return -EINVAL;
        }
        break;
    case STORE_PERSON_SET_NHS:
        if (!store_nhs_number_valid(arg)) {
            *why = "an NHS number is 10 digits whose last is the modulus 11 check digit of the "
                   "first nine; check the number";
            return -EINVAL;
        }
        break;
    case STORE_PERSON_SET_GP:
        if (!gp_code_valid(arg)) {
            *why = "a GP practice is its ODS code: a capital letter and five capital letters or "
                   "digits, such as A81001";
            return -EINVAL;
        }
        break;
    default:
        break;
    }
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = store_person_exists(s, person_id);
    if (r == 0)
        r = -ENOENT;
    if (r < 0)
        goto fail;
    r = person_value(s, person_id, "status", status, sizeof(status), &set);
    if (r < 0)
        goto fail;
    if (!set)
        copy_text(status, sizeof(status), "active");
    before[0] = '\0';
    switch (action) {
    case STORE_PERSON_ACCEPT:
        if (!streq(status, "referred")) {
            *why = streq(status, "active") ? "the person is active already: only a referral can "
                                             "be accepted"
                                           : "the record is closed; reopen it instead";
            r = -EALREADY;
            goto fail;
        }
        r = store_write_field(s, device, uid, "person", person_id, person_id, "status", "active",
                              cid);
        break;
    case STORE_PERSON_CLOSE:
        if (streq(status, "closed") || streq(status, "deceased")) {
            *why = "the record is closed already; reopen it first to close it for another reason";
            r = -EALREADY;
            goto fail;
        }
        iso_time(hlc_wall_ms(), today);
        today[10] = '\0'; /* YYYY-MM-DD, the server's UTC date */
        r = store_write_field(s, device, uid, "person", person_id, person_id, "closed_reason",
                              arg, cid);
        if (r >= 0)
            r = store_write_field(s, device, uid, "person", person_id, person_id, "closed_on",
                                  today, cid);
        if (r >= 0)
            r = store_write_field(s, device, uid, "person", person_id, person_id, "status",
                                  streq(arg, "deceased") ? "deceased" : "closed", cid);
        break;
    case STORE_PERSON_REOPEN:
        if (!streq(status, "closed") && !streq(status, "deceased")) {
            *why = "the record is not closed";
            r = -EALREADY;
            goto fail;
        }
        r = store_write_field(s, device, uid, "person", person_id, person_id, "status", "active",
                              cid);
        if (r >= 0)
            r = store_write_field(s, device, uid, "person", person_id, person_id,
                                  "closed_reason", NULL, cid);
        if (r >= 0)
            r = store_write_field(s, device, uid, "person", person_id, person_id, "closed_on",
                                  NULL, cid);
        if (r >= 0) {
            /* Purged from field devices already: the stream sends the person whole again. */
            _cleanup_sql_ struct sql_stmt *st = NULL;

            r = sql_prepare(s->sql, "UPDATE person_expiry SET reopened_seq = ? WHERE person_id = ?"
                                  " AND reopened_seq IS NULL", &st);
            if (r >= 0) {
                sql_bind_int64(st, 1, (int64_t)store_next_seq(s));
                sql_bind_text(st, 2, person_id);
                r = sql_step_done(st);
            }
        }
        break;
    case STORE_PERSON_SET_NHS:
    case STORE_PERSON_SET_GP: {
        const char *field = action == STORE_PERSON_SET_NHS ? "nhs_number" : "gp_practice";

        r = person_value(s, person_id, field, before, sizeof(before), &set);
        if (r < 0)
            goto fail;
        if (set && streq(before, arg)) {
            changed = false;
            break;
        }
        r = store_write_field(s, device, uid, "person", person_id, person_id, field, arg, cid);
        break;
    }
    default:
        r = -EINVAL;
    }
    if (r < 0)
        goto fail;
    if (wire_add_string(d, "person_id", person_id) < 0 ||
        wire_add_string(d, "action", actions[action]) < 0 ||
        wire_add_string(d, "status_before", status) < 0 ||
        (arg && wire_add_string(d, "value", arg) < 0) ||
        (before[0] && wire_add_string(d, "value_before", before) < 0) ||
        !cJSON_AddBoolToObject(d, "changed", changed)) {
        r = -ENOMEM;
        goto fail;
    }
    if (changed) {
        r = store_audit(s, "person_lifecycle", uid, p && *p->device_id ? p->device_id : NULL,
                        person_id, d);
        if (r < 0)
            goto fail;
    }
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    return store_person_get(s, person_id, ret);
fail:
    store_txn_rollback(s);
    return r;
}

/* ---- the people list ---- */

#define PF(field) "(SELECT value FROM field_state WHERE tbl = 'person' AND row_id = p.row_id" \
                  " AND field = '" field "')"
/* The list's one query; the team's names joined by each dialect's aggregate and the order by
 * name without case in each one's words (sql.h: no group_concat() in the portable subset). */
#define PEOPLE_SQL(agg, text, nocase)                                                              \
    "SELECT * FROM (SELECT p.row_id AS id, " PF("name") " AS name, " PF("birth_date") ","          \
    " coalesce(" PF("status") ", 'active') AS status, " PF("closed_reason") ","                    \
    " " PF("closed_on") ", " PF("nhs_number") " AS nhs, " PF("gp_practice") ","                    \
    " (SELECT " agg " FROM assignments a JOIN users u"                                             \
    "  ON u.id = a.user_id WHERE a.person_id = p.row_id AND a.end_seq IS NULL),"                   \
    " " PF("_deleted") " AS del"                                                                   \
    " FROM (SELECT DISTINCT row_id FROM field_state WHERE tbl = 'person') p) AS l"                 \
    " WHERE (del IS NULL OR del <> '1')"                                                           \
    " AND (" text("?1") " IS NULL OR id = ?1)"                                                     \
    " AND (" text("?2") " IS NULL OR lower(name) LIKE ?2 ESCAPE '\\')"                             \
    " AND (" text("?3") " IS NULL OR nhs = ?3)"                                                    \
    " ORDER BY " nocase ", id"
#define AS_IS(p) p
#define AS_TEXT(p) "CAST(" p " AS TEXT)"

int store_people_list(struct store *s, const struct store_people_filter *f,
                      struct proto_people *ret)
{
    _cleanup_(proto_people_done) struct proto_people a = {0};
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_free_ char *like = NULL;
    bool oom = false;
    int r, rc;

    r = sql_prepare(s->sql,
                    sql_dialect(s->sql) == SQL_POSTGRESQL
                            ? PEOPLE_SQL("string_agg(u.name, ',')", AS_TEXT, "lower(name)")
                            : PEOPLE_SQL("group_concat(u.name, ',')", AS_IS, "name COLLATE NOCASE"),
                    &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, f->person_id);
    if (f->name) {
        size_t n = strlen(f->name), j = 0;

        like = malloc(2 * n + 3);
        if (!like)
            return -ENOMEM;
        like[j++] = '%';
        for (size_t i = 0; i < n; i++) {
            char c = f->name[i];

            if (c == '%' || c == '_' || c == '\\')
                like[j++] = '\\';
            like[j++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        like[j++] = '%';
        like[j] = '\0';
    }
    sql_bind_text(st, 2, like);
    sql_bind_text(st, 3, f->nhs_number);
    while (!oom && (rc = sql_step(st)) == SQL_ROW) {
        struct proto_person *p = proto_people_add(&a);

        if (!p)
            return -ENOMEM;
        p->person_id = store_column_strdup(st, 0, &oom);
        p->name = store_column_strdup(st, 1, &oom);
        p->birth_date = store_column_strdup(st, 2, &oom);
        p->status = store_column_strdup(st, 3, &oom);
        p->closed_reason = store_column_strdup(st, 4, &oom);
        p->closed_on = store_column_strdup(st, 5, &oom);
        p->nhs_number = store_column_strdup(st, 6, &oom);
        p->gp_practice = store_column_strdup(st, 7, &oom);
        p->assigned = store_column_strdup(st, 8, &oom);
    }
    if (oom)
        return -ENOMEM;
    if (rc != SQL_DONE)
        return rc;
    *ret = a;
    a = (struct proto_people){0};
    return 0;
}

int store_person_get(struct store *s, const char *person_id, struct proto_person *ret)
{
    _cleanup_(proto_people_done) struct proto_people a = {0};
    int r = store_people_list(s, &(struct store_people_filter){.person_id = person_id}, &a);

    if (r < 0)
        return r;
    if (a.n_people == 0)
        return -ENOENT;
    *ret = a.people[0];
    a.people[0] = (struct proto_person){0};
    return 0;
}
