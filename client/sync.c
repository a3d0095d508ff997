/* SPDX-License-Identifier: MIT */
/* sync.c - one sync: push the outbox in batches (POST /v1/sync), pull pages until "more" is
 * false, apply each response in one transaction, and record the result in the replica. */
#include "caresync.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
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

/* The sync-health members of a request that come from the replica. */
struct health {
    uint64_t oldest_ms;  /* created_ms of the oldest change in the outbox; 0 when empty */
    char *last_error;    /* the previous failed sync's message, or NULL */
};

static void health_done(struct health *h)
{
    free(h->last_error);
    h->last_error = NULL;
}

/*
 * Read them. The oldest change is the first by seq, the first recorded: read in one step, where
 * min(created_ms) would scan the whole outbox for every batch of a large push.
 */
static int read_health(struct caresync *c, struct health *ret)
{
    struct health h = {0};
    sqlite3_stmt *st;
    int r, rc;

    r = db_cache_get(&c->stmts, c->db, "SELECT created_ms FROM outbox ORDER BY seq LIMIT 1", &st);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
        h.oldest_ms = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_errno(rc);
    r = db_meta_get(c->db, "last_error", &h.last_error);
    if (r < 0)
        return r;
    if (h.last_error && strlen(h.last_error) > CS_ERRMSG_MAX)
        h.last_error[CS_ERRMSG_MAX] = '\0';
    *ret = h;
    return 0;
}

/*
 * The sync-health members of a request: the age of the oldest unsent change, the previous
 * failed sync's message and this device's wall clock (the server works out the skew).
 */
/* The body of a POST /v1/sync. Reads nothing from the replica: safe from any thread. */
static cJSON *build_request(const char *cursor, const struct health *h,
                            const struct change_record *v, size_t n, bool pull, uint64_t pending)
{
    uint64_t now = hlc_wall_ms();
    char when[ISO_TIME_MAX];
    /* The encoder only reads the strings and changes: borrowed, never freed from here. */
    const struct proto_sync_request q = {
            .cursor = (char *)cursor,
            .changes = (struct change_record *)v,
            .n_changes = n,
            .pull = pull,
            .has_pending = true,
            .pending = pending,
            .client_version = (char *)CARESYNC_VERSION,
            /* The sync-health members: the age of the oldest unsent change, the previous
             * failed sync's message and this device's wall clock (the server works out the
             * skew). */
            .has_oldest_pending_ms = true,
            .oldest_pending_ms = h->oldest_ms && h->oldest_ms < now ? now - h->oldest_ms : 0,
            .has_last_error = true,
            .last_error = h->last_error && *h->last_error ? h->last_error : NULL,
            .device_time = (char *)iso_time(now, when),
    };

    return proto_sync_request_encode(&q);
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

#define CS_LOST_IDS_MAX 1000 /* conflict ids remembered for `status` */

/*
 * Add the @n conflict ids of @ids to the set kept in meta "lost_conflicts" (a JSON array), and
 * set meta "lost_values" to its size. In a write transaction.
 */
static int merge_lost(sqlite3 *db, const int64_t *ids, size_t n)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ cJSON *set = NULL;
    const cJSON *have;
    char *out;
    int r;

    r = db_meta_get(db, "lost_conflicts", &text);
    if (r < 0)
        return r;
    set = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsArray(set)) {
        cJSON_Delete(set);
        set = cJSON_CreateArray();
        if (!set)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double id = (double)ids[i];
        bool seen = false;
        cJSON *v;

        if (cJSON_GetArraySize(set) >= CS_LOST_IDS_MAX)
            continue;
        cJSON_ArrayForEach (have, set)
            seen = seen || (cJSON_IsNumber(have) && have->valuedouble == id);
        if (seen)
            continue;
        v = cJSON_CreateNumber(id);
        if (!v || !cJSON_AddItemToArray(set, v)) {
            cJSON_Delete(v);
            return -ENOMEM;
        }
    }
    out = cJSON_PrintUnformatted(set);
    if (!out)
        return -ENOMEM;
    r = db_meta_set(db, "lost_conflicts", out);
    cJSON_free(out);
    if (r >= 0)
        r = db_meta_set_u64(db, "lost_values", (uint64_t)cJSON_GetArraySize(set));
    return r;
}

/*
 * After an applied response: remember the conflicts its notices name (the user's values that
 * entered the conflict log or were resolved there; `status` counts them until the user lists
 * them with `conflicts --mine`) and keep the server's policy (lock_after_days). Both are
 * advisory, so a failure to store them is only logged: the sync itself has been applied.
 */
static void keep_notices(struct caresync *c, const struct proto_sync_reply *resp,
                         struct caresync_sync_stats *stats)
{
    uint64_t lost = resp->has_notices ? resp->lost_values : 0, days = resp->lock_after_days;
    bool has_days = resp->has_policy;
    char num[24];
    int r;

    if (has_days) {
        /* The policy rarely changes: a durable write (an fsync) only when it does. */
        _cleanup_free_ char *kept = NULL;

        snprintf(num, sizeof(num), "%" PRIu64, days);
        if (db_meta_get(c->db, "lock_after_days", &kept) > 0 && kept && streq(kept, num))
            has_days = false;
    }
    if (lost == 0 && !has_days)
        return;
    stats->lost_values += lost;
    r = db_begin(c->db, true);
    if (r >= 0 && lost > 0)
        r = merge_lost(c->db, resp->notice_ids, resp->n_notice_ids);
    if (r >= 0 && has_days)
        r = db_meta_set(c->db, "lock_after_days", num);
    if (r >= 0)
        r = db_commit(c->db);
    if (r < 0) {
        db_rollback(c->db);
        log_debug("cannot keep the sync's notices and policy: %s", strerror(-r));
    }
}

/* Apply a decoded 200 reply to the request that pushed @b, and keep its notices. */
static int take_reply(struct caresync *c, struct proto_sync_reply *a, const struct outbox_batch *b,
                      struct caresync_sync_stats *stats, bool *ret_more, bool *ret_moved)
{
    int r = apply_response(c, a, b, stats, ret_more, ret_moved);

    if (r == CARESYNC_OK)
        keep_notices(c, a, stats);
    return r;
}

/* One POST /v1/sync with the changes of @b and its application. *ret_status is the HTTP status. */
static int exchange(struct caresync *c, const struct outbox_batch *b, bool pull, uint64_t pending,
                    struct caresync_sync_stats *stats, bool *ret_more, bool *ret_moved,
                    long *ret_status)
{
    _cleanup_(health_done) struct health h = {0};
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply a = {0};
    _cleanup_free_ char *cursor = NULL;
    _cleanup_json_ cJSON *req = NULL;
    struct http_reply rep = {0};
    int r;

    r = db_meta_get(c->db, "cursor", &cursor);
    if (r >= 0)
        r = read_health(c, &h);
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the replica");
    req = build_request(cursor ? cursor : "", &h, b->v, b->n, pull, pending);
    if (!req)
        return cs_fail_errno(c, -ENOMEM, "sync failed: cannot build the request");
    r = transport_request(c, "POST", "/v1/sync", req, true, "sync", &rep);
    if (r != CARESYNC_OK)
        return r;
    cJSON_Delete(TAKE_PTR(req)); /* before the reply is applied: the two are never both held */
    *ret_status = rep.status;
    if (rep.status == 200)
        r = apply_decode(c, &rep, &a);
    else
        r = refused(c, &rep, b->v, b->n);
    http_reply_done(&rep);
    if (rep.status == 200 && r == CARESYNC_OK)
        r = take_reply(c, &a, b, stats, ret_more, ret_moved);
    return r;
}

/* Whether any change is queued after @seq. */
static int queued_after(struct caresync *c, int64_t seq, bool *ret)
{
    sqlite3_stmt *st;
    int r, rc;

    r = db_cache_get(&c->stmts, c->db, "SELECT EXISTS(SELECT 1 FROM outbox WHERE seq > ?1)", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_errno(rc);
}

/* ---- pulling the next page while this one is applied ---- */

/*
 * While the caller's thread applies page n, a second thread fetches page n+1 with the cursor
 * page n carries, so the server's work and the transfer overlap the local apply (at most one
 * page ahead). The fetcher never touches the replica: it works on a copy of the handle with the
 * URL, paths, the curl handle (which only it uses meanwhile) and an error message of its own,
 * and the sync-health members are read once before it starts. Only the caller's thread looks
 * at a reply: a refusal (and a revocation's wipe) is handled there, with the fetcher idle.
 */
struct ahead {
    struct caresync shadow; /* the fetcher's handle: transport only, no replica */
    struct health health;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char cursor[CS_CURSOR_MAX + 1]; /* the page to fetch next */
    bool want, ready, quit;
    int r;                   /* the fetch's result, with @rep, once @ready */
    struct http_reply rep;
};

static int ahead_fetch(struct ahead *a, const char *cursor, struct http_reply *ret)
{
    _cleanup_json_ cJSON *req = build_request(cursor, &a->health, NULL, 0, true, 0);

    if (!req)
        return cs_fail_errno(&a->shadow, -ENOMEM, "sync failed: cannot build the request");
    return transport_request(&a->shadow, "POST", "/v1/sync", req, true, "sync", ret);
}

static void *ahead_main(void *arg)
{
    struct ahead *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        char cursor[CS_CURSOR_MAX + 1];
        struct http_reply rep = {0};
        int r;

        while (!a->want && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit)
            break;
        a->want = false;
        memcpy(cursor, a->cursor, sizeof(cursor));
        pthread_mutex_unlock(&a->mu);
        r = ahead_fetch(a, cursor, &rep);
        pthread_mutex_lock(&a->mu);
        a->r = r;
        a->rep = rep;
        a->ready = true;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Ask the fetcher for the page after @cursor (it must be idle, its last reply taken). */
static void ahead_ask(struct ahead *a, const char *cursor)
{
    pthread_mutex_lock(&a->mu);
    snprintf(a->cursor, sizeof(a->cursor), "%s", cursor);
    a->want = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Wait for the page asked for. Returns the fetch's result; a failure's message goes to @c. */
static int ahead_take(struct caresync *c, struct ahead *a, struct http_reply *ret)
{
    int r;

    pthread_mutex_lock(&a->mu);
    while (!a->ready)
        pthread_cond_wait(&a->cv, &a->mu);
    a->ready = false;
    r = a->r;
    *ret = a->rep;
    a->rep = (struct http_reply){0};
    pthread_mutex_unlock(&a->mu);
    if (r != CARESYNC_OK)
        memcpy(c->errmsg, a->shadow.errmsg, sizeof(c->errmsg));
    return r;
}

static int ahead_start(struct caresync *c, struct ahead *a)
{
    int r;

    *a = (struct ahead){.shadow = *c};
    r = read_health(c, &a->health);
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the replica");
    a->shadow.db = NULL;
    a->shadow.stmts = NULL;
    c->curl = NULL; /* the fetcher's until ahead_stop() */
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    r = pthread_create(&a->thread, NULL, ahead_main, a);
    if (r != 0) {
        c->curl = a->shadow.curl;
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        health_done(&a->health);
        return cs_fail_errno(c, -r, "sync failed: cannot start a thread");
    }
    return CARESYNC_OK;
}

/* Stop the fetcher: a fetch under way is waited for and its reply dropped (never applied). */
static void ahead_stop(struct caresync *c, struct ahead *a)
{
    pthread_mutex_lock(&a->mu);
    a->quit = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    (void)pthread_join(a->thread, NULL);
    http_reply_done(&a->rep);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    health_done(&a->health);
    c->curl = a->shadow.curl;
}

/*
 * Pull the pages after the one the pushes brought, each applied in its own transaction as
 * before; the next one is asked for as soon as a page arrives, with the cursor it carries.
 * Applying checks that cursor again: a page that fails to apply stops the sync, and the page
 * fetched after it is dropped (the cursor saved is the last applied; the next sync asks again).
 */
static int pull_loop(struct caresync *c, struct ahead *a, const char *cursor,
                     struct caresync_sync_stats *stats)
{
    char asked[CS_CURSOR_MAX + 1];
    int r;

    snprintf(asked, sizeof(asked), "%s", cursor);
    ahead_ask(a, asked);
    for (unsigned long page = 0;; page++) {
        _cleanup_(proto_sync_reply_done) struct proto_sync_reply reply = {0};
        struct outbox_batch none = {0};
        struct http_reply rep = {0};
        const char *next;
        bool more = false, moved = false, ahead = false;

        if (page >= SYNC_MAX_PAGES)
            return cs_fail(c, CARESYNC_ESERVER, "sync stopped after %d pages; run it again",
                           SYNC_MAX_PAGES);
        r = ahead_take(c, a, &rep);
        if (r != CARESYNC_OK)
            return r;
        if (rep.status != 200) {
            r = transport_fail(c, &rep, "sync");
            http_reply_done(&rep);
            return r;
        }
        r = apply_decode(c, &rep, &reply);
        http_reply_done(&rep);
        if (r != CARESYNC_OK)
            return r;
        next = reply.cursor;
        if (reply.more && next && strlen(next) <= CS_CURSOR_MAX && !streq(next, asked)) {
            ahead_ask(a, next);
            snprintf(asked, sizeof(asked), "%s", next);
            ahead = true;
        }
        r = take_reply(c, &reply, &none, stats, &more, &moved);
        if (r != CARESYNC_OK || !more)
            return r;
        /* The same cursor would bring the same page again, for ever. */
        if (!moved || !ahead)
            return cs_fail(c, CARESYNC_ESERVER,
                           "sync failed: the server keeps saying there is more without sending"
                           " it; what arrived is saved; try again later");
    }
}

static int pull_pages(struct caresync *c, struct caresync_sync_stats *stats)
{
    _cleanup_free_ char *cursor = NULL;
    struct ahead a;
    int r;

    r = db_meta_get(c->db, "cursor", &cursor);
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the replica");
    r = ahead_start(c, &a);
    if (r != CARESYNC_OK)
        return r;
    r = pull_loop(c, &a, cursor ? cursor : "", stats);
    ahead_stop(c, &a);
    return r;
}

/* Push every batch, each with a pull page, then pull the remaining pages. */
static int sync_run(struct caresync *c, struct caresync_sync_stats *stats)
{
    size_t batch_max = CS_BATCH_MAX;
    uint64_t queued = 0, sent = 0;
    int64_t after = 0;
    bool more = false, moved = false;
    int r;

    /* The FHIR exports made here since the last sync, for the server's audit log. */
    r = export_log_send(c);
    if (r != CARESYNC_OK)
        return r;
    /* The outbox's size once: "pending" is only reported to the server (sync health), and
     * counting what is left for every batch would read the whole outbox each time. */
    r = replica_count(c->db, "SELECT count(*) FROM outbox", &queued);
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the outbox");
    /* Nothing to push: every page comes through the fetcher (one thread allocates them all). */
    if (queued == 0)
        return pull_pages(c, stats);
    for (;;) {
        struct outbox_batch b = {0};
        uint64_t remaining = 0;
        int64_t last;
        long status = 0;
        bool left = false;
        size_t n;

        r = outbox_load(c, after, batch_max, CS_BATCH_BYTES, &b);
        if (r >= 0)
            r = queued_after(c, b.last, &left);
        if (r < 0) {
            outbox_batch_done(&b);
            return cs_fail_errno(c, r, "sync failed: cannot read the outbox");
        }
        /* Added by another process since the count: at least one is left. */
        if (left)
            remaining = queued > sent + b.n ? queued - sent - b.n : 1;
        /* Pull with every batch: the server leaves out what the same request pushed
         * (docs/PROTOCOL.md), so a large outbox never comes back as pages of its own changes,
         * and the pages others wrote arrive along the way instead of after. */
        r = exchange(c, &b, true, remaining, stats, &more, &moved, &status);
        n = b.n;
        last = b.last;
        outbox_batch_done(&b);
        if (r != CARESYNC_OK && status == 413 && n > 1) {
            /* The server's body limit is smaller than we thought: halve and retry. */
            batch_max = n / 2;
            log_debug("request too large with %zu changes; retrying with %zu", n, batch_max);
            continue;
        }
        if (r != CARESYNC_OK)
            return r;
        after = last;
        sent += n;
        if (!left)
            break;
    }
    return more ? pull_pages(c, stats) : CARESYNC_OK;
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

/* Whether a re-read after a rewind is under way (a sync stopped half-way goes on with it). */
static int reread_load(struct caresync *c)
{
    _cleanup_free_ char *v = NULL;
    int r = db_meta_get(c->db, "reread", &v);

    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the replica");
    c->reread = v && streq(v, "1");
    c->rewound = false;
    return CARESYNC_OK;
}

static void record_result(struct caresync *c, int r, struct caresync_sync_stats *stats)
{
    char when[ISO_TIME_MAX];
    uint64_t now = hlc_wall_ms();
    int k = 0;

    if (!c->db) /* revoked and wiped: nothing left to record in */
        return;
    if (r == CARESYNC_OK) {
        k = db_meta_set(c->db, "last_sync_at", iso_time(now, when));
        if (k >= 0)
            k = db_meta_set_u64(c->db, "last_sync_ms", now);
        if (k >= 0)
            k = db_meta_set(c->db, "last_error", NULL);
    } else {
        k = db_meta_set(c->db, "last_error", c->errmsg);
    }
    if (k >= 0)
        k = sent_prune(c->db);
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
        r = cs_need_enrolled(c); /* a locked device syncs: that is how it unlocks */
    if (r != CARESYNC_OK)
        return r;
    fd = lock_sync(c);
    if (fd == -EBUSY)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "another sync of this replica is running; wait for"
                       " it to finish");
    if (fd < 0)
        return cs_fail_errno(c, fd, "cannot lock the replica for sync");
    r = reread_load(c);
    if (r == CARESYNC_OK)
        r = sync_run(c, &stats);
    /* Told the server went back in time: what it lost is in the outbox again, send it now. */
    for (int again = 0; r == CARESYNC_OK && c->rewound && again < 3; again++) {
        c->rewound = false;
        r = sync_run(c, &stats);
    }
    c->rewound = false;
    if (r == CARESYNC_OK)
        c->errmsg[0] = '\0'; /* a batch retried after 413 may have left a message */
    record_result(c, r, &stats);
    (void)close(fd);
    if (ret_stats)
        *ret_stats = stats;
    return r;
}
