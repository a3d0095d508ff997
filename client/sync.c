/* SPDX-License-Identifier: MIT */
/* sync.c - one sync: push the outbox in batches (POST /v1/sync), pull pages until "more" is
 * false, apply each response in one transaction, and record the result in the replica. */
#include "caresync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "caresync_int.h"
#include "db.h"
#include "hlc.h"
#include "log.h"
#include "wire.h"

#define SYNC_MAX_PAGES 1000000 /* a runaway "more" loop stops here */

static cJSON *build_request(sqlite3 *db, const struct change_record *v, size_t n, bool pull,
                            uint64_t pending)
{
    _cleanup_json_ cJSON *req = cJSON_CreateObject();
    _cleanup_free_ char *cursor = NULL;
    cJSON *arr;

    if (!req || db_meta_get(db, "cursor", &cursor) < 0)
        return NULL;
    if (wire_add_string(req, "cursor", cursor ? cursor : "") < 0)
        return NULL;
    arr = cJSON_AddArrayToObject(req, "changes");
    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = wire_encode_push_change(&v[i]);

        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    if (!cJSON_AddBoolToObject(req, "pull", pull) ||
        !cJSON_AddNumberToObject(req, "pending", (double)pending) ||
        wire_add_string(req, "client_version", CARESYNC_VERSION) < 0)
        return NULL;
    return TAKE_PTR(req);
}

/* A 400 that names one change: say which, since it will block the outbox until fixed. */
static int refused(struct caresync *c, const struct http_reply *rep, const struct change_record *v,
                   size_t n)
{
    if (rep->status == 400 && rep->index >= 0 && (size_t)rep->index < n) {
        const struct change_record *x = &v[rep->index];

        return cs_fail(c, CARESYNC_ESERVER,
                       "sync failed: the server refused the change to %s.%s of row %s (%s: %s);"
                       " it stays in the outbox with everything else; report it to your"
                       " administrator",
                       x->table->name, x->field->name, x->row_id, rep->code, rep->message);
    }
    return transport_fail(c, rep, "sync");
}

/* One POST /v1/sync with @v[0..n) and its application. *ret_status is the HTTP status. */
static int exchange(struct caresync *c, const struct change_record *v, size_t n, bool pull,
                    uint64_t pending, struct caresync_sync_stats *stats, bool *ret_more,
                    bool *ret_moved, long *ret_status)
{
    _cleanup_json_ cJSON *req = build_request(c->db, v, n, pull, pending);
    struct http_reply rep = {0};
    int r;

    if (!req)
        return cs_fail_errno(c, -ENOMEM, "sync failed: cannot build the request");
    r = transport_request(c, "POST", "/v1/sync", req, true, "sync", &rep);
    if (r != CARESYNC_OK)
        return r;
    *ret_status = rep.status;
    if (rep.status == 200)
        r = apply_response(c, rep.json, v, n, stats, ret_more, ret_moved);
    else
        r = refused(c, &rep, v, n);
    http_reply_done(&rep);
    return r;
}

static int count_after(sqlite3 *db, int64_t seq, uint64_t *ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(db, "SELECT count(*) FROM outbox WHERE seq > ?1", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    *ret = (uint64_t)sqlite3_column_int64(st, 0);
    return 0;
}

/* Push every batch (pulling with the last), then pull the remaining pages. */
static int sync_run(struct caresync *c, struct caresync_sync_stats *stats)
{
    size_t batch_max = CS_BATCH_MAX;
    int64_t after = 0;
    bool more = false, moved = false;
    int r;

    for (;;) {
        struct change_record *v = NULL;
        size_t n = 0;
        int64_t last = after;
        uint64_t remaining = 0;
        long status = 0;
        bool pull;

        r = outbox_load(c->db, after, batch_max, CS_BATCH_BYTES, &v, &n, &last);
        if (r >= 0)
            r = count_after(c->db, last, &remaining);
        if (r < 0) {
            outbox_records_free(v, n);
            return cs_fail_errno(c, r, "sync failed: cannot read the outbox");
        }
        /* Pull only with the last batch, so a large outbox is not held up by pages. */
        pull = remaining == 0;
        r = exchange(c, v, n, pull, remaining, stats, &more, &moved, &status);
        outbox_records_free(v, n);
        if (r != CARESYNC_OK && status == 413 && n > 1) {
            /* The server's body limit is smaller than we thought: halve and retry. */
            batch_max = n / 2;
            log_debug("request too large with %zu changes; retrying with %zu", n, batch_max);
            continue;
        }
        if (r != CARESYNC_OK)
            return r;
        after = last;
        if (pull)
            break;
    }
    for (unsigned long page = 0; more; page++) {
        long status = 0;

        if (page >= SYNC_MAX_PAGES)
            return cs_fail(c, CARESYNC_ESERVER, "sync stopped after %d pages; run it again",
                           SYNC_MAX_PAGES);
        r = exchange(c, NULL, 0, true, 0, stats, &more, &moved, &status);
        if (r != CARESYNC_OK)
            return r;
        /* The same cursor would bring the same page again, for ever. */
        if (more && !moved)
            return cs_fail(c, CARESYNC_ESERVER,
                           "sync failed: the server keeps saying there is more without sending"
                           " it; what arrived is saved; try again later");
    }
    return CARESYNC_OK;
}

/* Hold DIR/sync.lock so two syncs of one replica never run at once. Returns an fd or -errno. */
static int lock_sync(struct caresync *c)
{
    size_t l = strlen(c->home) + sizeof("/" CS_LOCK_FILE);
    _cleanup_free_ char *p = malloc(l);
    int fd;

    if (!p)
        return -ENOMEM;
    snprintf(p, l, "%s/%s", c->home, CS_LOCK_FILE);
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        (void)close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    return fd;
}

static void record_result(struct caresync *c, int r, struct caresync_sync_stats *stats)
{
    char when[ISO_TIME_MAX];
    int k = 0;

    if (r == CARESYNC_OK) {
        k = db_meta_set(c->db, "last_sync_at", iso_time(hlc_wall_ms(), when));
        if (k >= 0)
            k = db_meta_set(c->db, "last_error", NULL);
    } else {
        k = db_meta_set(c->db, "last_error", c->errmsg);
    }
    if (k < 0)
        log_debug("cannot record the sync result: %s", strerror(-k));
    if (replica_count(c->db, "SELECT count(*) FROM outbox", &stats->pending) < 0 ||
        replica_count(c->db, "SELECT count(*) FROM pending_purge", &stats->pending_purges) < 0)
        log_debug("cannot count the outbox");
}

int caresync_sync(struct caresync *c, struct caresync_sync_stats *ret_stats)
{
    struct caresync_sync_stats stats = {0};
    int r, fd;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    fd = lock_sync(c);
    if (fd == -EBUSY)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "another sync of this replica is running; wait for"
                       " it to finish");
    if (fd < 0)
        return cs_fail_errno(c, fd, "cannot lock the replica for sync");
    r = sync_run(c, &stats);
    if (r == CARESYNC_OK)
        c->errmsg[0] = '\0'; /* a batch retried after 413 may have left a message */
    record_result(c, r, &stats);
    (void)close(fd);
    if (ret_stats)
        *ret_stats = stats;
    return r;
}
