/* SPDX-License-Identifier: MIT */
/* store_health.c - what /readyz and /metrics ask of the store: a probe write, and devices by
 * state. docs/PROTOCOL.md ("GET /readyz", "GET /metrics"). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "hlc.h"
#include "store_int.h"
#include "util.h"

int store_probe_write(struct store *s)
{
    const char *path = store_path(s);
    char now[ISO_TIME_MAX];
    struct statvfs fs;
    int r;

    /* A commit that fits in the write-ahead log's old space succeeds on a full disk; a sync's
     * does not: too little room is not ready either. */
    if (path && path[0] && statvfs(path, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < STORE_READY_MIN_FREE)
        return -ENOSPC;
    r = store_plain_begin(s, true);
    if (r < 0)
        return r;
    r = store_meta_set(s, "ready_probe", iso_time(hlc_wall_ms(), now));
    if (r >= 0)
        r = store_plain_commit(s);
    if (r < 0)
        store_txn_rollback(s);
    return r < 0 ? r : 0;
}

int store_device_counts(struct store *s, unsigned lock_after_days, struct store_device_counts *ret)
{
    char cutoff[ISO_TIME_MAX];
    struct sql_stmt *st;
    int rc;

    /* A device locks itself once its last sync (or, never synced, its enrolment) is older
     * than the cutoff (?2, a time), when locking is on (?1). */
    st = store_sql(s, "SELECT"
                       " count(*) FILTER (WHERE revoked_at IS NULL AND"
                       "   (?1 = 0 OR coalesce(last_sync_at, created_at) >= ?2)),"
                       " count(*) FILTER (WHERE revoked_at IS NULL AND"
                       "   ?1 <> 0 AND coalesce(last_sync_at, created_at) < ?2),"
                       " count(*) FILTER (WHERE revoked_at IS NOT NULL)"
                       " FROM devices");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, lock_after_days > 0);
    sql_bind_text(st, 2, lock_after_days > 0 ? iso_time(hlc_wall_ms() -
                                                            (uint64_t)lock_after_days * 86400000,
                                                        cutoff)
                                              : NULL);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        ret->active = sql_column_int64(st, 0);
        ret->locked = sql_column_int64(st, 1);
        ret->revoked = sql_column_int64(st, 2);
    }
    sql_reset(st);
    return rc == SQL_ROW ? 0 : rc;
}
