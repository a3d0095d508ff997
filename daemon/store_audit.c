/* SPDX-License-Identifier: MIT */
/* store_audit.c - the append-only, hash-chained audit log: write an event inside the current
 * transaction, verify the chain, export one person's trail. docs/internals/audit.md. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hlc.h"
#include "store_int.h"

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

static void md_text(EVP_MD_CTX *md, const char *v)
{
    /* Each field is followed by a 0x1f separator; NULL hashes as the empty string plus 0x1e,
     * so NULL and "" differ. */
    if (v)
        EVP_DigestUpdate(md, v, strlen(v));
    else
        EVP_DigestUpdate(md, "\x1e", 1);
    EVP_DigestUpdate(md, "\x1f", 1);
}

/* The chain hash of one row: SHA-256 over the previous hash and every other column. */
static int audit_hash(const char *prev, int64_t id, int64_t at_ms, const char *kind,
                      const char *actor_user, const char *actor_device, const char *person_id,
                      const char *detail, char out[static SHA256_HEX_MAX])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int n = 0;
    char num[48];
    int ok;

    if (!md)
        return -ENOMEM;
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    if (ok) {
        md_text(md, prev);
        snprintf(num, sizeof(num), "%" PRId64 ",%" PRId64, id, at_ms);
        md_text(md, num);
        md_text(md, kind);
        md_text(md, actor_user);
        md_text(md, actor_device);
        md_text(md, person_id);
        md_text(md, detail);
        ok = EVP_DigestFinal_ex(md, h, &n);
    }
    EVP_MD_CTX_free(md);
    if (!ok || n != 32)
        return -EIO;
    hex_encode(h, 32, out);
    return 0;
}

static int user_name(struct store *s, int64_t user_id, char out[static STORE_NAME_MAX + 1])
{
    sqlite3_stmt *st;
    int rc;

    if (user_id == 0) {
        snprintf(out, STORE_NAME_MAX + 1, "caresyncd");
        return 0;
    }
    st = store_stmt(s, "SELECT name FROM users WHERE id = ?");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, user_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, STORE_NAME_MAX + 1, "%s", sqlite3_column_text(st, 0));
    else
        snprintf(out, STORE_NAME_MAX + 1, "user#%" PRId64, user_id);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int store_audit(struct store *s, const char *kind, int64_t user_id, const char *device,
                const char *person_id, const cJSON *detail)
{
    _cleanup_free_ char *text = cJSON_PrintUnformatted(detail);
    char prev[SHA256_HEX_MAX] = AUDIT_GENESIS, hash[SHA256_HEX_MAX], actor[STORE_NAME_MAX + 1];
    int64_t id = 1, at = (int64_t)hlc_wall_ms();
    sqlite3_stmt *st;
    int rc, r;

    if (!text)
        return -ENOMEM;
    r = user_name(s, user_id, actor);
    if (r < 0)
        return r;
    st = store_stmt(s, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0) + 1;
        snprintf(prev, sizeof(prev), "%s", sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_errno(rc);
    r = audit_hash(prev, id, at, kind, actor, device, person_id, text, hash);
    if (r < 0)
        return r;
    st = store_stmt(s, "INSERT INTO audit(id, at_ms, kind, actor_user, actor_device, person_id,"
                       " detail, prev_hash, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    store_bind_text(st, 3, kind);
    store_bind_text(st, 4, actor);
    store_bind_text(st, 5, device);
    store_bind_text(st, 6, person_id);
    store_bind_text(st, 7, text);
    store_bind_text(st, 8, prev);
    store_bind_text(st, 9, hash);
    return store_step_done(st);
}

int store_audit_change(struct store *s, const struct applying *a, const char *outcome,
                       const char *before)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char ts[ISO_TIME_MAX];
    int r = 0;

    if (!d)
        return -ENOMEM;
    r |= wire_add_string(d, "change_id", a->change_id);
    r |= wire_add_string(d, "table", a->tbl);
    r |= wire_add_string(d, "row_id", a->row_id);
    r |= wire_add_string(d, "field", a->field->name);
    r |= wire_add_string(d, "outcome", outcome);
    r |= wire_add_string(d, "before", before);
    r |= wire_add_string(d, "after", a->value);
    r |= wire_add_hlc(d, "hlc", a->hlc);
    /* When it happened (the writer's clock) and when the server recorded it. */
    r |= wire_add_string(d, "happened_at", iso_time(hlc_ms(a->sent_hlc), ts));
    r |= wire_add_string(d, "recorded_at", iso_time(hlc_wall_ms(), ts));
    if (r)
        return -ENOMEM;
    return store_audit(s, "change", a->user_id, a->device, a->person_id, d);
}

int store_audit_verify(struct store *s, int64_t *ret_rows, int64_t *ret_bad_id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char prev[SHA256_HEX_MAX] = AUDIT_GENESIS, hash[SHA256_HEX_MAX];
    int64_t rows = 0, expect_id = 1;
    int rc, r;

    /* A fresh statement: this walks the whole table, outside any write transaction. */
    r = db_prepare(s->db, "SELECT id, at_ms, kind, actor_user, actor_device, person_id, detail,"
                          " prev_hash, hash FROM audit ORDER BY id", &st);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *stored_prev = (const char *)sqlite3_column_text(st, 7);
        const char *stored_hash = (const char *)sqlite3_column_text(st, 8);

        r = audit_hash(prev, id, sqlite3_column_int64(st, 1),
                       (const char *)sqlite3_column_text(st, 2),
                       (const char *)sqlite3_column_text(st, 3),
                       (const char *)sqlite3_column_text(st, 4),
                       (const char *)sqlite3_column_text(st, 5),
                       (const char *)sqlite3_column_text(st, 6), hash);
        if (r < 0)
            return r;
        if (id != expect_id || !stored_prev || !streq(stored_prev, prev) || !stored_hash ||
            !streq(stored_hash, hash)) {
            *ret_rows = rows;
            *ret_bad_id = id != expect_id && expect_id < id ? expect_id : id;
            return -EBADMSG;
        }
        memcpy(prev, hash, sizeof(prev));
        rows++;
        expect_id++;
    }
    *ret_rows = rows;
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int store_audit_export(struct store *s, const char *person_id, cJSON **ret)
{
    static const char *const keys[] = {"id", "at_ms", "kind", "actor_user", "actor_device",
                                       "person_id", "detail", "hash", NULL};
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_json_ cJSON *arr = NULL;
    cJSON *it;
    int r;

    r = db_prepare(s->db, "SELECT id, at_ms, kind, actor_user, actor_device, person_id, detail,"
                          " hash FROM audit WHERE person_id = ? ORDER BY id", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    r = store_rows_to_array(st, keys, &arr);
    if (r < 0)
        return r;
    /* Give the detail back as JSON and the time as text. */
    cJSON_ArrayForEach(it, arr) {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "detail");
        cJSON *at = cJSON_GetObjectItemCaseSensitive(it, "at_ms");
        char ts[ISO_TIME_MAX];

        if (cJSON_IsString(d)) {
            cJSON *parsed = cJSON_Parse(d->valuestring);

            if (parsed)
                cJSON_ReplaceItemInObjectCaseSensitive(it, "detail", parsed);
        }
        if (cJSON_IsNumber(at)) {
            cJSON *t = cJSON_CreateString(iso_time((uint64_t)at->valuedouble, ts));

            if (t)
                cJSON_ReplaceItemInObjectCaseSensitive(it, "at_ms", t);
        }
    }
    *ret = TAKE_PTR(arr);
    return 0;
}
