/* SPDX-License-Identifier: MIT */
/*
 * sqlite_checkpoint.c - copy the write-ahead log back into the store from a thread of its own,
 * so no sync waits for it. With SQLite's automatic checkpoint a commit that crosses 1000 WAL
 * pages copies them all and syncs the store file before its request is answered; a day's sync
 * writes ~2 MiB of WAL, so every other one paid for it (bench/README.md, item 2).
 *
 * The thread has its own connection and runs PASSIVE checkpoints, which never block the
 * daemon's writer or readers. Durability is unchanged: a commit is durable once in the WAL
 * (synchronous=FULL); the checkpoint only moves pages into the main file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "store_int.h"

#define CHECKPOINT_EVERY_MS 250
#define CHECKPOINT_WAL_LIMIT "PRAGMA journal_size_limit = 67108864" /* WAL kept ≤ 64 MiB */

struct store_checkpointer {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    bool started;
    /* For /metrics, read from the event loop's thread. */
    _Atomic uint64_t runs, total_us, last_us;
};

static uint64_t monotonic_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static void *checkpoint_loop(void *arg)
{
    struct store_checkpointer *c = arg;
    bool warned = false;
    int prev_done = 0;

    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec until;
        int log_frames = 0, done = 0, rc;
        uint64_t t0;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)CHECKPOINT_EVERY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&c->wake, &c->lock, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->lock);
        t0 = monotonic_us();
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
        /* It copied pages (frames checkpointed moved since the last look, or the log restarted). */
        if (rc == SQLITE_OK && done > 0 && done != prev_done) {
            uint64_t us = monotonic_us() - t0;

            atomic_fetch_add_explicit(&c->runs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&c->total_us, us, memory_order_relaxed);
            atomic_store_explicit(&c->last_us, us, memory_order_relaxed);
        }
        if (rc == SQLITE_OK)
            prev_done = done;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && !warned) {
            log_warn("background checkpoint failed: %s; the write-ahead log grows until the "
                     "daemon restarts", sqlite3_errmsg(c->db));
            warned = true;
        }
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int store_checkpointer_start(struct store *s, const char *path, struct store_checkpointer **ret)
{
    struct store_checkpointer *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return -ENOMEM;
    r = db_open(path, 0, &c->db);
    if (r >= 0)
        r = db_exec(c->db, CHECKPOINT_WAL_LIMIT);
    /* The daemon's own connection stops checkpointing in its commits. */
    if (r >= 0)
        r = db_exec(s->db, "PRAGMA wal_autocheckpoint = 0; " CHECKPOINT_WAL_LIMIT);
    if (r < 0) {
        sqlite3_close_v2(c->db);
        free(c);
        return r;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    r = -pthread_create(&c->thread, NULL, checkpoint_loop, c);
    if (r < 0) {
        (void)db_exec(s->db, "PRAGMA wal_autocheckpoint = 1000");
        store_checkpointer_stop(c);
        return r;
    }
    c->started = true;
    *ret = c;
    return 0;
}

struct store_checkpointer *store_checkpointer_stop(struct store_checkpointer *c)
{
    if (!c)
        return NULL;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    sqlite3_close_v2(c->db);
    free(c);
    return NULL;
}

void store_checkpointer_stats(const struct store_checkpointer *c, struct store_checkpoint_stats *ret)
{
    *ret = (struct store_checkpoint_stats){0};
    if (!c)
        return;
    ret->runs = atomic_load_explicit(&c->runs, memory_order_relaxed);
    ret->total_us = atomic_load_explicit(&c->total_us, memory_order_relaxed);
    ret->last_us = atomic_load_explicit(&c->last_us, memory_order_relaxed);
}
