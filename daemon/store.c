/* SPDX-License-Identifier: MIT */
/* store.c - the server store on SQLite: staff, devices and enrolment, caseloads, the merge of
 * pushed changes (field-level last-writer-wins with the conflict log), pull pages and conflict
 * resolution. The only file that touches the server's SQL. docs/internals/merge.md. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "merge.h"
#include "store_int.h"


bool store_role_valid(const char *role)
{
    return access_role_valid(role);
}

const char *store_role_list(void)
{
    return access_role_list();
}

bool store_role_is_coordinator(const char *role)
{
    return role && streq(role, "coordinator");
}

static char *now_iso(char buf[static ISO_TIME_MAX])
{
    return iso_time(hlc_wall_ms(), buf);
}

const char *store_node_id(const struct store *s)
{
    return s->node_id;
}

void store_set_max_forward(struct store *s, uint64_t ms)
{
    s->max_forward_ms = ms;
}

void store_set_max_device_conflicts(struct store *s, uint64_t n)
{
    s->max_device_conflicts = n;
}

void store_set_handover_grace(struct store *s, uint64_t ms)
{
    s->grace_ms = ms;
}

/* ---- users, enrolment, devices ---- */

static int user_lookup(struct store *s, const char *name, int64_t *ret_id)
{
    struct sql_stmt *st = store_sql(s, "SELECT id FROM users WHERE name = ?");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, name);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        *ret_id = sql_column_int64(st, 0);
        sql_reset(st);
        return 0;
    }
    sql_reset(st);
    return rc == SQL_DONE ? -ENOENT : rc;
}

int store_user_add(struct store *s, const char *name, const char *role)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    struct sql_stmt *st;
    char ts[ISO_TIME_MAX];
    int r;

    if (!access_user_valid(name) || !store_role_valid(role))
        return -EINVAL;
    if (!d || wire_add_string(d, "user", name) < 0 || wire_add_string(d, "role", role) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_sql(s, "INSERT INTO users(name, role, created_at) VALUES(?, ?, ?)");
    if (!st) {
        store_txn_rollback(s);
        return -EIO;
    }
    sql_bind_text(st, 1, name);
    sql_bind_text(st, 2, role);
    sql_bind_text(st, 3, now_iso(ts));
    r = sql_step_done(st);
    if (r >= 0)
        r = store_audit(s, "user_add", 0, NULL, NULL, d);
    if (r >= 0)
        r = store_txn_commit(s);
    else
        store_txn_rollback(s);
    return r;
}

/* Crockford base32: no I, L, O or U, so codes read aloud and typed survive. */
static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Upper-case, drop separators, read O as 0 and I/L as 1. Returns 0 or -EINVAL. */
static int code_normalise(const char *in, char out[static 13])
{
    size_t n = 0;

    for (const char *p = in; *p; p++) {
        char c = *p;

        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c == 'O')
            c = '0';
        if (c == 'I' || c == 'L')
            c = '1';
        if (!strchr(code_alphabet, c) || c == '\0' || n >= 12)
            return -EINVAL;
        out[n++] = c;
    }
    if (n != 12)
        return -EINVAL;
    out[12] = '\0';
    return 0;
}

int store_enrol_code_new(struct store *s, const char *name, uint64_t ttl_s,
                         char ret[static STORE_CODE_MAX])
{
    unsigned char rnd[12];
    char raw[13], hash[SHA256_HEX_MAX], ts[ISO_TIME_MAX];
    int64_t uid = 0;
    struct sql_stmt *st;
    int r;

    r = user_lookup(s, name, &uid);
    if (r < 0)
        return r;
    r = random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        return r;
    for (int i = 0; i < 12; i++)
        raw[i] = code_alphabet[rnd[i] & 31];
    raw[12] = '\0';
    r = sha256_hex(raw, 12, hash);
    if (r < 0)
        return r;
    st = store_sql(s, "INSERT INTO enrol_codes(code_hash, user_id, created_at, expires_ms)"
                 " VALUES(?, ?, ?, ?)");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, hash);
    sql_bind_int64(st, 2, uid);
    sql_bind_text(st, 3, now_iso(ts));
    sql_bind_int64(st, 4, (int64_t)(hlc_wall_ms() + ttl_s * 1000));
    r = sql_step_done(st);
    if (r < 0)
        return r;
    snprintf(ret, STORE_CODE_MAX, "%.4s-%.4s-%.4s", raw, raw + 4, raw + 8);
    return 0;
}

int store_enrol(struct store *s, const char *code, const char *device_name,
                const char *client_version, struct store_enrolment *ret)
{
    struct store_enrolment e = {0};
    char norm[13], hash[SHA256_HEX_MAX], ts[ISO_TIME_MAX];
    unsigned char rnd[32];
    char hex[65];
    int64_t uid;
    struct sql_stmt *st;
    int r, rc;

    if (code_normalise(code, norm) < 0)
        return -EACCES;
    r = sha256_hex(norm, 12, hash);
    if (r < 0)
        return r;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_sql(s, "SELECT c.user_id, c.expires_ms, c.used_at, u.name, u.role FROM enrol_codes c"
                 " JOIN users u ON u.id = c.user_id WHERE c.code_hash = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, hash);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        r = rc == SQL_DONE ? -EACCES : rc;
        goto fail;
    }
    uid = sql_column_int64(st, 0);
    if (sql_column_type(st, 2) != SQL_NULL ||
        (uint64_t)sql_column_int64(st, 1) < hlc_wall_ms()) {
        sql_reset(st);
        r = -EACCES;
        goto fail;
    }
    copy_text(e.user, sizeof(e.user), sql_column_text(st, 3));
    copy_text(e.role, sizeof(e.role), sql_column_text(st, 4));
    sql_reset(st);

    r = uuid_v7(hlc_wall_ms(), e.device_id);
    if (r >= 0)
        r = random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        goto fail;
    hex_encode(rnd, sizeof(rnd), hex);
    snprintf(e.token, sizeof(e.token), "cs1_%s", hex);
    r = sha256_hex(e.token, strlen(e.token), hash);
    if (r < 0)
        goto fail;
    st = store_sql(s, "INSERT INTO devices(id, user_id, token_hash, name, client_version, created_at)"
                 " VALUES(?, ?, ?, ?, ?, ?)");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, e.device_id);
    sql_bind_int64(st, 2, uid);
    sql_bind_text(st, 3, hash);
    sql_bind_text(st, 4, device_name);
    sql_bind_text(st, 5, client_version);
    sql_bind_text(st, 6, now_iso(ts));
    r = sql_step_done(st);
    if (r < 0)
        goto fail;
    r = sha256_hex(norm, 12, hash);
    st = store_sql(s, "UPDATE enrol_codes SET used_at = ?, device_id = ? WHERE code_hash = ?");
    if (r < 0 || !st) {
        r = r < 0 ? r : -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, ts);
    sql_bind_text(st, 2, e.device_id);
    sql_bind_text(st, 3, hash);
    r = sql_step_done(st);
    if (r < 0)
        goto fail;
    {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        r = !d || wire_add_string(d, "device", e.device_id) < 0 ||
                            wire_add_string(d, "device_name", device_name) < 0 ||
                            wire_add_string(d, "client_version", client_version) < 0
                    ? -ENOMEM
                    : store_audit(s, "enrol", uid, e.device_id, NULL, d);
        if (r < 0)
            goto fail;
    }
    e.server_hlc = store_tick(s);
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    *ret = e;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

int store_authenticate(struct store *s, const char *token, struct store_principal *ret)
{
    char hash[SHA256_HEX_MAX];
    struct sql_stmt *st;
    int r, rc;

    if (!token || strlen(token) != 68 || strncmp(token, "cs1_", 4) != 0)
        return -EACCES;
    r = sha256_hex(token, strlen(token), hash);
    if (r < 0)
        return r;
    /* Not store_sql(): its NULL would be -EIO, and a PostgreSQL store that cannot reconnect
     * must say -ENOTCONN, so that the device is told the database is away (503), not 500. */
    r = sql_prepare(s->sql, "SELECT d.id, d.revoked_at, u.id, u.name, u.role FROM devices d"
                    " JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, hash);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        return rc == SQL_DONE ? -EACCES : rc;
    }
    if (sql_column_type(st, 1) != SQL_NULL) {
        sql_reset(st);
        return -EKEYREVOKED;
    }
    memset(ret, 0, sizeof(*ret));
    copy_text(ret->device_id, sizeof(ret->device_id), sql_column_text(st, 0));
    ret->user_id = sql_column_int64(st, 2);
    copy_text(ret->user, sizeof(ret->user), sql_column_text(st, 3));
    copy_text(ret->role, sizeof(ret->role), sql_column_text(st, 4));
    sql_reset(st);
    return 0;
}

int store_device_revoke(struct store *s, const char *device_id)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char ts[ISO_TIME_MAX];
    struct sql_stmt *st;
    int64_t uid = 0;
    int r, rc, changed = 0;

    if (!d || wire_add_string(d, "device", device_id) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    st = store_sql(s, "SELECT user_id, revoked_at FROM devices WHERE id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, device_id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        uid = sql_column_int64(st, 0);
        changed = sql_column_type(st, 1) == SQL_NULL;
    }
    sql_reset(st);
    if (rc != SQL_ROW) {
        r = rc == SQL_DONE ? -ENOENT : rc;
        goto fail;
    }
    if (!changed) {
        store_txn_rollback(s);
        return 0;
    }
    st = store_sql(s, "UPDATE devices SET revoked_at = ? WHERE id = ?");
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sql_bind_text(st, 1, now_iso(ts));
    sql_bind_text(st, 2, device_id);
    r = sql_step_done(st);
    if (r >= 0)
        r = store_audit(s, "revoke", 0, device_id, NULL, d);
    if (r < 0)
        goto fail;
    (void)uid;
    r = store_txn_commit(s);
    return r < 0 ? r : 1;
fail:
    store_txn_rollback(s);
    return r;
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
    struct sql_stmt *st = store_sql(s, "INSERT INTO meta(key, value) VALUES(?, ?)"
                                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value");

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, key);
    sql_bind_text(st, 2, value);
    return sql_step_done(st);
}

char *store_column_strdup(struct sql_stmt *st, int col, bool *oom)
{
    const char *v = sql_column_text(st, col);
    char *c;

    if (!v)
        return NULL;
    c = strdup(v);
    if (!c)
        *oom = true;
    return c;
}

int store_query_i64(struct store *s, const char *sql, const char *arg, int64_t *ret)
{
    _cleanup_sql_ struct sql_stmt *st = store_sql(s, sql);
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, arg);
    rc = sql_step(st);
    if (rc == SQL_DONE)
        return -ENOENT;
    if (rc != SQL_ROW)
        return rc;
    *ret = sql_column_int64(st, 0);
    return 0;
}

/* Add column @i of @st to @o under @key as string, number or null, by its SQLite type. */
int store_add_column(cJSON *o, const char *key, struct sql_stmt *st, int i)
{
    cJSON *v;

    switch (sql_column_type(st, i)) {
    case SQL_NULL:
        v = cJSON_CreateNull();
        break;
    case SQL_INTEGER:
        v = cJSON_CreateNumber((double)sql_column_int64(st, i));
        break;
    default:
        v = cJSON_CreateString(sql_column_text(st, i));
        break;
    }
    if (!v || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    return 0;
}

/* Turn every row of @st into an object with @keys (one per column) appended to a new array. */
int store_rows_to_array(struct sql_stmt *st, const char *const *keys, cJSON **ret)
{
    _cleanup_json_ cJSON *arr = cJSON_CreateArray();
    int rc;

    if (!arr)
        return -ENOMEM;
    while ((rc = sql_step(st)) == SQL_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            sql_reset(st);
            return -ENOMEM;
        }
        for (int i = 0; keys[i]; i++) {
            if (store_add_column(o, keys[i], st, i) < 0) {
                sql_reset(st);
                return -ENOMEM;
            }
        }
    }
    sql_reset(st);
    if (rc != SQL_DONE)
        return rc;
    *ret = TAKE_PTR(arr);
    return 0;
}

int store_device_list(struct store *s, cJSON **ret)
{
    static const char *const keys[] = {"id",           "user",    "role",   "name",
                                       "client_version", "created_at", "last_sync_at",
                                       "pending",      "revoked_at", NULL};
    struct sql_stmt *st = store_sql(s, "SELECT d.id, u.name, u.role, d.name, d.client_version,"
                               " d.created_at, d.last_sync_at, d.pending, d.revoked_at"
                               " FROM devices d JOIN users u ON u.id = d.user_id"
                               " ORDER BY u.name, d.created_at");

    if (!st)
        return -EIO;
    return store_rows_to_array(st, keys, ret);
}

/* Letters per @shape: 'D' a digit, 'A' a capital letter, '+' one or more digits to the end
 * (at most 8). */
static bool shaped(const char *v, const char *shape)
{
    for (; *shape; shape++, v++) {
        if (*shape == '+') {
            size_t n = strspn(v, "0123456789");

            return n >= 1 && n <= 8 && !v[n];
        }
        if (*shape == 'D' ? !(*v >= '0' && *v <= '9') : !(*v >= 'A' && *v <= 'Z'))
            return false;
    }
    return !*v;
}

const char *store_user_profile_invalid(const struct store_user_profile *p)
{
    const char *d = p->display_name;

    if (d && (strlen(d) > STORE_DISPLAY_NAME_MAX || !utf8_valid(d, strlen(d))))
        return "the display name must be at most 200 bytes of UTF-8";
    for (; d && *d; d++)
        if ((unsigned char)*d < 0x20 || *d == 0x7f)
            return "the display name must be one line";
    if (p->nmc_pin && *p->nmc_pin && !shaped(p->nmc_pin, "DDADDDDA"))
        return "an NMC PIN is two digits, a capital letter, four digits and a capital letter "
               "(12A3456B)";
    if (p->hcpc_number && *p->hcpc_number && !shaped(p->hcpc_number, "AA+"))
        return "an HCPC number is two capital letters and digits (PH123456)";
    if (p->swe_number && *p->swe_number &&
        !(strncmp(p->swe_number, "SW", 2) == 0 && shaped(p->swe_number + 2, "+")))
        return "a Social Work England number is SW and digits (SW12345)";
    return NULL;
}

int store_user_set_profile(struct store *s, const char *name, const struct store_user_profile *p,
                           const char **why)
{
    static const char *const cols[] = {"display_name", "nmc_pin", "hcpc_number", "swe_number"};
    /* One literal per column: statements are cached by their SQL's address. */
    static const char *const sqls[] = {"UPDATE users SET display_name = ? WHERE id = ?",
                                       "UPDATE users SET nmc_pin = ? WHERE id = ?",
                                       "UPDATE users SET hcpc_number = ? WHERE id = ?",
                                       "UPDATE users SET swe_number = ? WHERE id = ?"};
    const char *vals[] = {p->display_name, p->nmc_pin, p->hcpc_number, p->swe_number};
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int64_t uid;
    int r = 0;

    *why = store_user_profile_invalid(p);
    if (*why)
        return -EINVAL;
    if (!d || wire_add_string(d, "user", name) < 0)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = user_lookup(s, name, &uid);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(cols); i++) {
        struct sql_stmt *st = NULL;

        if (!vals[i])
            continue;
        r = sql_prepare(s->sql, sqls[i], &st);
        if (r < 0)
            break;
        sql_bind_text(st, 1, *vals[i] ? vals[i] : NULL);
        sql_bind_int64(st, 2, uid);
        r = sql_step_done(st);
        if (r >= 0 && wire_add_string(d, cols[i], vals[i]) < 0)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = store_audit(s, "user_profile", 0, NULL, NULL, d);
    if (r >= 0)
        return store_txn_commit(s);
    store_txn_rollback(s);
    return r;
}

int store_user_list(struct store *s, cJSON **ret)
{
    static const char *const keys[] = {"name", "role", "people", "devices", "display_name",
                                       "nmc_pin", "hcpc_number", "swe_number", NULL};
    struct sql_stmt *st = store_sql(s, "SELECT u.name, u.role,"
                               " (SELECT count(*) FROM assignments a WHERE a.user_id = u.id"
                               "  AND a.end_seq IS NULL),"
                               " (SELECT count(*) FROM devices d WHERE d.user_id = u.id"
                               "  AND d.revoked_at IS NULL),"
                               " u.display_name, u.nmc_pin, u.hcpc_number, u.swe_number"
                               " FROM users u ORDER BY u.name");

    if (!st)
        return -EIO;
    return store_rows_to_array(st, keys, ret);
}

/* ---- the merge (engine_merge.c) over this store's backend ---- */

int store_server_version(struct store *s, const struct applying *a, const char *value,
                         const char *writer_device, uint64_t sent_hlc, const char *before,
                         char ret_change_id[static UUID_STR_MAX], uint64_t *ret_hlc)
{
    return engine_server_version(&s->be, a, value, writer_device, sent_hlc, before,
                                 ret_change_id, ret_hlc);
}

int store_apply_change(struct store *s, struct applying *a, bool *ret_applied,
                       struct field_cur *ret_cur)
{
    return engine_apply_change(&s->be, a, ret_applied, ret_cur);
}

/* The person a row belongs to: 1 and @ret filled, 0 if the row is new, or -errno. */
int store_row_owner(struct store *s, const char *tbl, const char *row_id,
                     char ret[static UUID_STR_MAX])
{
    struct sql_stmt *st = store_sql(s, "SELECT person_id FROM field_state WHERE tbl = ? AND row_id = ?"
                               " LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        copy_text(ret, UUID_STR_MAX, sql_column_text(st, 0));
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

int store_person_exists(struct store *s, const char *person_id)
{
    char owner[UUID_STR_MAX];

    return store_row_owner(s, "person", person_id, owner);
}

int store_ever_assigned(struct store *s, int64_t user_id, const char *person_id)
{
    struct sql_stmt *st = store_sql(s, "SELECT 1 FROM assignments WHERE person_id = ? AND"
                                     " user_id = ? LIMIT 1");
    int rc;

    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, user_id);
    rc = sql_step(st);
    sql_reset(st);
    if (rc == SQL_ROW)
        return 1;
    return rc == SQL_DONE ? 0 : rc;
}

/* 1 when @p may write and read person @person_id, 0 when not, or -errno. A sync's push reads
 * the same facts for its whole batch at once (push_load(), engine_push.c). */
int store_in_scope(struct store *s, const struct store_principal *p, const char *person_id)
{
    struct sql_stmt *st;
    int rc;

    if (store_role_is_coordinator(p->role))
        return store_person_exists(s, person_id);
    st = store_sql(s, "SELECT 1 FROM assignments WHERE person_id = ? AND user_id = ?"
                 " AND end_seq IS NULL");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, p->user_id);
    rc = sql_step(st);
    sql_reset(st);
    if (rc == SQL_ROW) {
        /* A consent provision denying the worker's sector takes the person off their devices. */
        int d = store_denied(s, p->role, person_id);

        return d < 0 ? d : !d;
    }
    return rc == SQL_DONE ? 0 : rc;
}

/* ---- people and caseloads ---- */

/* Write one server-authored field (admin commands, resolutions): engine_write_field(). */
int store_write_field(struct store *s, const char *device, int64_t user_id, const char *tbl,
                      const char *row_id, const char *person_id, const char *field,
                      const char *value, char ret_change_id[static UUID_STR_MAX])
{
    return engine_write_field(&s->be, device, user_id, tbl, row_id, person_id, field, value,
                              ret_change_id);
}

int store_person_add(struct store *s, const struct store_person_fields *f,
                     char ret[static UUID_STR_MAX], const char **why)
{
    const struct cat_table *t = catalogue_table("person");
    const char *names[] = {"name",          "birth_date",    "phone",          "address",
                           "preferred_name", "family_name",   "given_names",    "name_prefix",
                           "address_line1", "address_line2", "address_city",   "address_postcode",
                           "gp_practice",   "gp_ods_code"};
    const char *values[] = {f->name,          f->birth_date,    f->phone,        f->address,
                            f->preferred_name, f->family_name,  f->given_names,  f->name_prefix,
                            f->address_line1, f->address_line2, f->address_city, f->address_postcode,
                            f->gp_practice,   f->gp_ods_code};
    char id[UUID_STR_MAX], cid[UUID_STR_MAX];
    int r;

    if (!f->name || !*f->name) {
        *why = "a person needs a name";
        return -EINVAL;
    }
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (values[i]) {
            r = catalogue_check_value(catalogue_field(t, names[i]), values[i], why);
            if (r < 0)
                return -EINVAL;
            if (!utf8_valid(values[i], strlen(values[i]))) {
                *why = "value is not valid UTF-8";
                return -EINVAL;
            }
        }
    }
    r = uuid_v7(hlc_wall_ms(), id);
    if (r < 0)
        return r;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ELEMENTSOF(names) && r >= 0; i++)
        if (values[i])
            r = store_write_field(s, s->node_id, 0, "person", id, id, names[i], values[i], cid);
    if (r >= 0)
        r = store_txn_commit(s);
    else
        store_txn_rollback(s);
    if (r < 0)
        return r;
    memcpy(ret, id, UUID_STR_MAX);
    return 0;
}

/* The daemon itself as the actor of an admin command (audited as "caresyncd"). */
static const struct store_principal server_actor = {.user_id = 0, .user = "caresyncd",
                                                    .role = "admin"};

/* An admin command's caseload change is a coordinator's, made by the server. */
int store_assign(struct store *s, const char *person_id, const char *name, const char **which)
{
    return store_caseload_assign(s, &server_actor, person_id, name, true, which);
}

int store_unassign(struct store *s, const char *person_id, const char *name, const char **which)
{
    return store_caseload_assign(s, &server_actor, person_id, name, false, which);
}
