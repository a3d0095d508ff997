/* SPDX-License-Identifier: MIT */
/* store_devices.c - sync health on the store: what each device reports about itself when it
 * syncs (oldest unsent edit, last error, its clock), the coordinators' view of every device,
 * and revocation by a coordinator. docs/PROTOCOL.md ("POST /v1/sync", "GET /v1/devices"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

/* Unix ms of a timestamp column (an iso_time() text on every driver, sql.h), read in C: 0 when
 * NULL or unreadable. */
static int64_t column_ms(struct sql_stmt *st, int i)
{
    const char *v = sql_column_text(st, i);
    int64_t ms;
    bool zoned;

    return v && iso_time_parse(v, &ms, &zoned) >= 0 ? ms : 0;
}

int store_device_report_txn(struct store *s, const struct store_principal *p,
                            const struct store_device_report *rep, bool notices,
                            struct proto_sync_reply *ret_ids)
{
    int64_t now = (int64_t)hlc_wall_ms(), enrolled = 0;
    struct sql_stmt *st;
    int rc, n = 0;

    st = store_sql(s, "UPDATE devices SET"
                       " oldest_pending_ms = CASE WHEN ?1 >= 0 THEN ?1 ELSE oldest_pending_ms END,"
                       " last_error = CASE WHEN ?2 <> 0 THEN ?3 ELSE last_error END,"
                       " device_time = coalesce(?4, device_time),"
                       " clock_skew_ms = CASE WHEN ?4 IS NOT NULL THEN ?5 ELSE clock_skew_ms END,"
                       " pending = CASE WHEN ?7 >= 0 THEN ?7 ELSE pending END"
                       " WHERE id = ?6 RETURNING created_at");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, rep->oldest_pending_ms);
    sql_bind_int64(st, 2, rep->has_last_error);
    sql_bind_text(st, 3, rep->last_error);
    sql_bind_text(st, 4, rep->device_time);
    sql_bind_int64(st, 5, rep->device_time ? now - rep->device_ms : 0);
    sql_bind_text(st, 6, p->device_id);
    sql_bind_int64(st, 7, rep->pending);
    rc = sql_step(st);
    if (rc == SQL_ROW)
        enrolled = column_ms(st, 0);
    /* Step to the end so the UPDATE ... RETURNING completes before reset. */
    while (rc == SQL_ROW)
        rc = sql_step(st);
    sql_reset(st);
    if (rc != SQL_DONE)
        return rc;
    if (notices)
        n = store_conflict_notices(s, p, enrolled, ret_ids);
    return n;
}

int store_device_report(struct store *s, const struct store_principal *p,
                        const struct store_device_report *rep, bool notices,
                        struct proto_sync_reply *ret_ids)
{
    int r, n;

    r = store_plain_begin(s, true);
    if (r < 0)
        return r;
    n = store_device_report_txn(s, p, rep, notices, ret_ids);
    r = n < 0 ? n : store_plain_commit(s);
    if (r < 0) {
        store_txn_rollback(s);
        return r;
    }
    return n;
}

/* Column @i of @st as a number into *ret, *has false when it is NULL. */
static void column_opt_int(struct sql_stmt *st, int i, bool *has, int64_t *ret)
{
    *has = sql_column_type(st, i) != SQL_NULL;
    *ret = *has ? sql_column_int64(st, i) : 0;
}

int store_devices_health(struct store *s, struct proto_devices *ret)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_(proto_devices_done) struct proto_devices a = {0};
    bool oom = false;
    int64_t now;
    int r, rc;

    r = sql_prepare(s->sql,
                   "SELECT u.name, u.role, d.id, d.name, d.created_at, d.last_sync_at,"
                   " d.pending, d.oldest_pending_ms, d.last_error, d.client_version,"
                   " d.device_time, d.clock_skew_ms, d.revoked_at"
                   " FROM devices d JOIN users u ON u.id = d.user_id"
                   " ORDER BY u.name, d.created_at, d.id",
                   &st);
    if (r < 0)
        return r;
    now = (int64_t)hlc_wall_ms();
    while (!oom && (rc = sql_step(st)) == SQL_ROW) {
        struct proto_device *d = proto_devices_add(&a);

        if (!d)
            return -ENOMEM;
        d->user = store_column_strdup(st, 0, &oom);
        d->role = store_column_strdup(st, 1, &oom);
        d->device_id = store_column_strdup(st, 2, &oom);
        d->name = store_column_strdup(st, 3, &oom);
        d->enrolled_at = store_column_strdup(st, 4, &oom);
        d->last_sync_at = store_column_strdup(st, 5, &oom);
        /* How long since the last sync, never negative (a clock set back). */
        d->has_since_sync_ms = sql_column_type(st, 5) != SQL_NULL;
        d->since_sync_ms = d->has_since_sync_ms ? now - column_ms(st, 5) : 0;
        if (d->since_sync_ms < 0)
            d->since_sync_ms = 0;
        column_opt_int(st, 6, &d->has_pending, &d->pending);
        column_opt_int(st, 7, &d->has_oldest_pending_ms, &d->oldest_pending_ms);
        d->last_error = store_column_strdup(st, 8, &oom);
        d->client_version = store_column_strdup(st, 9, &oom);
        d->device_time = store_column_strdup(st, 10, &oom);
        column_opt_int(st, 11, &d->has_clock_skew_ms, &d->clock_skew_ms);
        d->revoked_at = store_column_strdup(st, 12, &oom);
        /* "revoked" as a boolean beside the time, which is what a dashboard filters on. */
        d->revoked = d->revoked_at != NULL;
    }
    if (oom)
        return -ENOMEM;
    if (rc != SQL_DONE)
        return rc;
    *ret = a;
    a = (struct proto_devices){0};
    return 0;
}

int store_device_revoke_by(struct store *s, const struct store_principal *p,
                           const char *device_id)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    _cleanup_sql_ struct sql_stmt *sel = NULL, *upd = NULL;
    char ts[ISO_TIME_MAX], owner[STORE_NAME_MAX + 1] = "";
    bool revoked;
    int r, rc;

    if (!d)
        return -ENOMEM;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = sql_prepare(s->sql, "SELECT CASE WHEN d.revoked_at IS NULL THEN 0 ELSE 1 END, u.name"
                            " FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?",
                    &sel);
    if (r < 0)
        goto fail;
    sql_bind_text(sel, 1, device_id);
    rc = sql_step(sel);
    if (rc != SQL_ROW) {
        r = rc == SQL_DONE ? -ENOENT : rc;
        goto fail;
    }
    revoked = (int)sql_column_int64(sel, 0);
    copy_text(owner, sizeof(owner), sql_column_text(sel, 1));
    sql_reset(sel);
    if (revoked) {
        store_txn_rollback(s);
        return 0;
    }
    r = sql_prepare(s->sql, "UPDATE devices SET revoked_at = ? WHERE id = ?", &upd);
    if (r < 0)
        goto fail;
    sql_bind_text(upd, 1, iso_time(hlc_wall_ms(), ts));
    sql_bind_text(upd, 2, device_id);
    r = sql_step_done(upd);
    if (r >= 0)
        r = wire_add_string(d, "device", device_id) < 0 || wire_add_string(d, "user", owner) < 0
                    ? -ENOMEM
                    : store_audit(s, "revoke", p->user_id, p->device_id, NULL, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    return r < 0 ? r : 1;
fail:
    store_txn_rollback(s);
    return r;
}
