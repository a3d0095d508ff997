/* SPDX-License-Identifier: MIT */
/* store_audit.c - the append-only, hash-chained audit log: write an event inside the current
 * transaction, verify the chain, export one person's trail. docs/internals/audit.md. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

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

int store_audit_init(struct store *s)
{
    /* Fetched once: an implicit fetch on every digest costs more than the hashing. */
    s->audit_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->audit_ctx = EVP_MD_CTX_new();
    return s->audit_md && s->audit_ctx ? 0 : -ENOMEM;
}

void store_audit_done(struct store *s)
{
    store_audit_batch_drop(s);
    store_audit_queue_drop(s);
    free(s->audit_groups);
    s->audit_groups = NULL;
    EVP_MD_CTX_free(s->audit_ctx);
    EVP_MD_free(s->audit_md);
    s->audit_ctx = NULL;
    s->audit_md = NULL;
}

/* The chain hash of one row: SHA-256 over the previous hash and every other column. */
static int audit_hash(struct store *s, const char *prev, int64_t id, int64_t at_ms,
                      const char *kind, const char *actor_user, const char *actor_device,
                      const char *person_id, const char *detail, char out[static SHA256_HEX_MAX])
{
    EVP_MD_CTX *md = s->audit_ctx;
    unsigned char h[32];
    unsigned int n = 0;
    char num[48];
    int ok;

    ok = EVP_DigestInit_ex(md, s->audit_md, NULL);
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
    if (!ok || n != 32)
        return -EIO;
    hex_encode(h, 32, out);
    return 0;
}

/* The actor's name, remembered for the next event (a sync audits many events by one user). */
static int user_name(struct store *s, int64_t user_id, char out[static STORE_NAME_MAX + 1])
{
    struct sql_stmt *st;
    int rc;

    if (user_id == 0) {
        snprintf(out, STORE_NAME_MAX + 1, "caresyncd");
        return 0;
    }
    if (s->actor_id == user_id) {
        memcpy(out, s->actor_name, STORE_NAME_MAX + 1);
        return 0;
    }
    st = store_sql(s, "SELECT name FROM users WHERE id = ?");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, user_id);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        copy_text(out, STORE_NAME_MAX + 1, sql_column_text(st, 0));
    else
        snprintf(out, STORE_NAME_MAX + 1, "user#%" PRId64, user_id);
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    if (rc == SQL_ROW) {
        /* Names never change once added, so this cannot go stale. */
        s->actor_id = user_id;
        memcpy(s->actor_name, out, STORE_NAME_MAX + 1);
    }
    return 0;
}

/* The chain's last entry: read once per write transaction, then carried along. Only the head's
 * holder may extend the chain, and only its tail is the chain's end for good. */
static int audit_tail(struct store *s)
{
    struct sql_stmt *st;
    int rc = store_head_need(s);

    if (rc < 0)
        return rc;
    if (s->audit_tail_id > 0)
        return 0;
    st = store_sql(s, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
    if (!st)
        return -EIO;
    copy_text(s->audit_tail_hash, sizeof(s->audit_tail_hash), AUDIT_GENESIS);
    s->audit_tail_id = 0;
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        s->audit_tail_id = sql_column_int64(st, 0);
        copy_text(s->audit_tail_hash, sizeof(s->audit_tail_hash), sql_column_text(st, 1));
    }
    sql_reset(st);
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

/* One row for store_audit_flush(), as it will be stored (ids and times as JSON strings: 64 bits
 * do not fit cJSON's numbers; both are never negative). */
static int audit_enqueue(struct store *s, int64_t id, int64_t at, const char *kind,
                         const char *actor, const char *device, const char *person_id,
                         const char *detail, const char *hash)
{
    cJSON *o;

    if (!s->audit_queue) {
        s->audit_queue = cJSON_CreateArray();
        if (!s->audit_queue)
            return -ENOMEM;
    }
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(s->audit_queue, o)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    if (store_json_add_u64(o, "id", (uint64_t)id) < 0 ||
        store_json_add_u64(o, "at", (uint64_t)at) < 0 || store_json_add_str(o, "k", kind) < 0 ||
        store_json_add_str(o, "u", actor) < 0 || store_json_add_str(o, "d", device) < 0 ||
        store_json_add_str(o, "p", person_id) < 0 || store_json_add_str(o, "x", detail) < 0 ||
        store_json_add_str(o, "ph", s->audit_tail_hash) < 0 || store_json_add_str(o, "h", hash) < 0)
        return -ENOMEM; /* the half-made row goes with the queue at the rollback */
    return 0;
}

void store_audit_queue_drop(struct store *s)
{
    cJSON_Delete(s->audit_queue);
    s->audit_queue = NULL;
}

int store_audit_flush(struct store *s)
{
    _cleanup_free_ char *text = NULL;
    struct sql_stmt *st;
    int r;

    if (!s->audit_queue)
        return 0;
    text = cJSON_PrintUnformatted(s->audit_queue);
    if (!text)
        return -ENOMEM;
    /* In the chain's order: a row's BEFORE trigger sees the rows this statement inserted
     * before it (PostgreSQL manual 39.4), so audit_extends_chain checks each against the one
     * before, as when each was its own statement. */
    st = store_sql(s, "INSERT INTO audit(id, at_ms, kind, actor_user, actor_device, person_id,"
                       " detail, prev_hash, hash)"
                       " SELECT CAST(j->>'id' AS bigint), CAST(j->>'at' AS bigint), j->>'k',"
                       " j->>'u', j->>'d', j->>'p', j->>'x', j->>'ph', j->>'h'"
                       " FROM jsonb_array_elements(CAST(?1 AS jsonb)) WITH ORDINALITY AS e(j, n)"
                       " ORDER BY n");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, text);
    r = sql_step_done(st);
    store_audit_queue_drop(s);
    if (r < 0)
        s->audit_tail_id = 0; /* read it again */
    return r;
}

int store_audit(struct store *s, const char *kind, int64_t user_id, const char *device,
                const char *person_id, const cJSON *detail)
{
    _cleanup_free_ char *text = cJSON_PrintUnformatted(detail);
    char hash[SHA256_HEX_MAX], actor[STORE_NAME_MAX + 1];
    int64_t id, at = (int64_t)hlc_wall_ms();
    struct sql_stmt *st;
    int r;

    if (!text)
        return -ENOMEM;
    r = user_name(s, user_id, actor);
    if (r >= 0)
        r = audit_tail(s);
    if (r < 0)
        return r;
    id = s->audit_tail_id + 1;
    r = audit_hash(s, s->audit_tail_hash, id, at, kind, actor, device, person_id, text, hash);
    if (r < 0)
        return r;
    if (sql_dialect(s->sql) == SQL_POSTGRESQL) {
        /* Queued, written at commit in one statement: a pull audits one event per person sent,
         * and each statement is a round trip and a trigger's read of the row before it. */
        r = audit_enqueue(s, id, at, kind, actor, device, person_id, text, hash);
        if (r < 0)
            return r;
        s->audit_tail_id = id;
        memcpy(s->audit_tail_hash, hash, SHA256_HEX_MAX);
        return 0;
    }
    st = store_sql(s, "INSERT INTO audit(id, at_ms, kind, actor_user, actor_device, person_id,"
                       " detail, prev_hash, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    sql_bind_int64(st, 2, at);
    sql_bind_text(st, 3, kind);
    sql_bind_text(st, 4, actor);
    sql_bind_text(st, 5, device);
    sql_bind_text(st, 6, person_id);
    sql_bind_text(st, 7, text);
    sql_bind_text(st, 8, s->audit_tail_hash);
    sql_bind_text(st, 9, hash);
    r = sql_step_done(st);
    if (r < 0) {
        s->audit_tail_id = 0; /* read it again */
        return r;
    }
    s->audit_tail_id = id;
    memcpy(s->audit_tail_hash, hash, SHA256_HEX_MAX);
    return 0;
}

int store_audit_head(struct store *s, int64_t *ret_id, char ret_hash[static SHA256_HEX_MAX])
{
    int r = audit_tail(s);

    if (r < 0)
        return r;
    *ret_id = s->audit_tail_id;
    memcpy(ret_hash, s->audit_tail_hash, SHA256_HEX_MAX);
    return 0;
}

int store_audit_holds(struct store *s, int64_t id, const char *prefix)
{
    struct sql_stmt *st;
    const char *h;
    int rc, held;

    if (id == 0)
        return 1;
    rc = store_audit_flush(s); /* the rows this transaction queued count too */
    if (rc < 0)
        return rc;
    st = store_sql(s, "SELECT hash FROM audit WHERE id = ?");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    rc = sql_step(st);
    h = rc == SQL_ROW ? sql_column_text(st, 0) : NULL;
    held = h && strncmp(h, prefix, strlen(prefix)) == 0;
    sql_reset(st);
    return rc == SQL_ROW || rc == SQL_DONE ? held : rc;
}

static struct audit_group *audit_group_find(struct store *s, const struct applying *a)
{
    const char *device = a->device ? a->device : "";
    struct audit_group *g;

    for (size_t i = s->n_audit_groups; i-- > 0;) {
        g = &s->audit_groups[i];
        if (g->user_id == a->user_id && streq(g->person_id, a->person_id) &&
            streq(g->device, device))
            return g;
    }
    if (strlen(a->person_id) >= UUID_STR_MAX || strlen(device) >= UUID_STR_MAX)
        return NULL;
    if (array_grow((void **)&s->audit_groups, &s->cap_audit_groups, s->n_audit_groups,
                   sizeof(*s->audit_groups), 16) < 0)
        return NULL;
    g = &s->audit_groups[s->n_audit_groups];
    g->changes = cJSON_CreateArray();
    if (!g->changes)
        return NULL;
    copy_text(g->person_id, sizeof(g->person_id), a->person_id);
    copy_text(g->device, sizeof(g->device), device);
    g->user_id = a->user_id;
    s->n_audit_groups++;
    return g;
}

static int audit_group_write(struct store *s, struct audit_group *g)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    char ts[ISO_TIME_MAX];

    if (!d || wire_add_string(d, "recorded_at", iso_time(hlc_wall_ms(), ts)) < 0 ||
        !cJSON_AddItemToObject(d, "changes", g->changes)) {
        cJSON_Delete(g->changes);
        g->changes = NULL;
        return -ENOMEM;
    }
    g->changes = NULL; /* owned by d now */
    return store_audit(s, "change", g->user_id, *g->device ? g->device : NULL, g->person_id, d);
}

void store_audit_batch_begin(struct store *s)
{
    store_audit_batch_drop(s);
    s->audit_batching = true;
}

void store_audit_batch_drop(struct store *s)
{
    for (size_t i = 0; i < s->n_audit_groups; i++)
        cJSON_Delete(s->audit_groups[i].changes);
    s->n_audit_groups = 0;
    s->audit_batching = false;
}

int store_audit_batch_flush(struct store *s)
{
    int r = 0;

    for (size_t i = 0; i < s->n_audit_groups && r >= 0; i++)
        r = audit_group_write(s, &s->audit_groups[i]);
    store_audit_batch_drop(s);
    return r;
}

int store_audit_change(struct store *s, const struct applying *a, const char *outcome,
                       const char *before)
{
    struct audit_group one = {.user_id = a->user_id}, *g = &one;
    cJSON *d;
    char ts[ISO_TIME_MAX];
    int r = 0;

    if (s->audit_batching) {
        g = audit_group_find(s, a);
        if (!g)
            return -ENOMEM;
    } else {
        copy_text(one.person_id, sizeof(one.person_id), a->person_id ? a->person_id : "");
        copy_text(one.device, sizeof(one.device), a->device ? a->device : "");
        one.changes = cJSON_CreateArray();
        if (!one.changes)
            return -ENOMEM;
    }
    d = cJSON_CreateObject();
    if (!d || !cJSON_AddItemToArray(g->changes, d)) {
        cJSON_Delete(d);
        r = -ENOMEM;
    } else {
        r |= wire_add_string_lit(d, "change_id", a->change_id);
        r |= wire_add_string_lit(d, "table", a->tbl);
        r |= wire_add_string_lit(d, "row_id", a->row_id);
        r |= wire_add_string_lit(d, "field", a->field->name);
        r |= wire_add_string_lit(d, "outcome", outcome);
        r |= wire_add_string_lit(d, "before", before);
        r |= wire_add_string_lit(d, "after", a->value);
        r |= wire_add_hlc_lit(d, "hlc", a->hlc);
        /* When it happened (the writer's clock); the event says when the server recorded it. */
        r |= wire_add_string_lit(d, "happened_at", iso_time(hlc_ms(a->sent_hlc), ts));
        if (r)
            r = -ENOMEM;
    }
    if (g == &one) {
        if (r < 0) {
            cJSON_Delete(one.changes);
            return r;
        }
        return audit_group_write(s, &one);
    }
    return r;
}

int store_audit_verify(struct store *s, int64_t *ret_rows, int64_t *ret_bad_id)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    char prev[SHA256_HEX_MAX] = AUDIT_GENESIS, hash[SHA256_HEX_MAX];
    int64_t rows = 0, expect_id = 1;
    int rc, r;

    /* A fresh statement: this walks the whole table, outside any write transaction. */
    r = sql_prepare(s->sql, "SELECT id, at_ms, kind, actor_user, actor_device, person_id, detail,"
                          " prev_hash, hash FROM audit ORDER BY id", &st);
    if (r < 0)
        return r;
    while ((rc = sql_step(st)) == SQL_ROW) {
        int64_t id = sql_column_int64(st, 0);
        const char *stored_prev = sql_column_text(st, 7);
        const char *stored_hash = sql_column_text(st, 8);

        r = audit_hash(s, prev, id, sql_column_int64(st, 1),
                       sql_column_text(st, 2),
                       sql_column_text(st, 3),
                       sql_column_text(st, 4),
                       sql_column_text(st, 5),
                       sql_column_text(st, 6), hash);
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
    return rc == SQL_DONE ? 0 : rc;
}

int store_audit_export(struct store *s, const char *person_id, cJSON **ret)
{
    static const char *const keys[] = {"id", "at_ms", "kind", "actor_user", "actor_device",
                                       "person_id", "detail", "hash", NULL};
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_json_ cJSON *arr = NULL;
    cJSON *it;
    int r;

    r = store_audit_flush(s);
    if (r >= 0)
        r = sql_prepare(s->sql, "SELECT id, at_ms, kind, actor_user, actor_device, person_id,"
                              " detail, hash FROM audit WHERE person_id = ? ORDER BY id", &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, person_id);
    r = store_rows_to_array(st, keys, &arr);
    if (r < 0)
        return r;
    /* No trail and no such person: a mistyped id, not an empty trail. */
    if (cJSON_GetArraySize(arr) == 0) {
        r = store_person_exists(s, person_id);
        if (r <= 0)
            return r < 0 ? r : -ENOENT;
    }
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

int store_audit_device_exports(struct store *s, const struct store_principal *p,
                               const struct store_export_event *v, size_t n)
{
    int r, rc;

    if (n == 0)
        return 0;
    r = store_txn_begin(s);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;
        struct sql_stmt *st;

        if (!d || !cJSON_AddStringToObject(d, "format", "fhir") ||
            !cJSON_AddStringToObject(d, "via", "device") ||
            !cJSON_AddStringToObject(d, "at", v[i].at) || !(text = cJSON_PrintUnformatted(d))) {
            r = -ENOMEM;
            break;
        }
        r = store_audit_flush(s); /* an export already queued by this loop counts */
        if (r < 0)
            break;
        st = store_sql(s, "SELECT 1 FROM audit WHERE person_id = ?1 AND kind = 'export'"
                           " AND actor_device = ?2 AND detail = ?3");
        if (!st) {
            r = -EIO;
            break;
        }
        sql_bind_text(st, 1, v[i].person_id);
        sql_bind_text(st, 2, p->device_id);
        sql_bind_text(st, 3, text);
        rc = sql_step(st);
        sql_reset(st);
        if (rc != SQL_ROW && rc != SQL_DONE)
            r = rc;
        else if (rc == SQL_DONE)
            r = store_audit(s, "export", p->user_id, p->device_id, v[i].person_id, d);
    }
    if (r >= 0)
        return store_txn_commit(s);
    store_txn_rollback(s);
    return r;
}
