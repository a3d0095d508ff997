/* SPDX-License-Identifier: MIT */
/* work.c - the writer thread (group commit), the reader threads, the bounded queue and the
 * completion pipe back to the event loop. docs/ARCHITECTURE.md "Threads". */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE /* pipe2() */
#endif
#include "work.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "store.h"

/* A FIFO of jobs. */
struct queue {
    struct work_job *head, *tail;
    size_t n;
};

struct reader {
    struct work *w;
    struct store *s;
    pthread_t thread;
    bool started;
};

struct work {
    struct store *writer; /* borrowed; the writer thread's alone while it runs */
    bool inline_mode;
    pthread_mutex_t lock;
    pthread_cond_t wake_writer, wake_reader;
    struct queue wq, rq;   /* waiting, by kind (guarded by lock) */
    struct queue done;     /* finished, for the loop (guarded by lock) */
    size_t depth;          /* most jobs waiting in wq and rq together */
    bool stop;             /* guarded by lock */
    unsigned readers_alive; /* guarded by lock: the writer outlives them (they pass it jobs) */
    pthread_t writer_thread;
    bool writer_started;
    struct reader *readers;
    unsigned n_readers;
    int pipe_fd[2];        /* a byte written when done goes from empty to not */
    struct event *ev_done;
    size_t pending;        /* loop only */
    void (*idle_cb)(void *arg);
    void *idle_arg;
    struct work_stats stats; /* write_jobs, groups, commits, largest_group: guarded by lock */
    uint64_t read_jobs, refused; /* loop only */
    uint64_t later_reads;        /* guarded by lock: a write job's read after its commit */
};

static void queue_push(struct queue *q, struct work_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
}

static struct work_job *queue_pop(struct queue *q)
{
    struct work_job *j = q->head;

    if (!j)
        return NULL;
    q->head = j->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    j->next = NULL;
    return j;
}

/* Under w->lock: hand finished jobs to the loop, waking it when it had none waiting. */
static void complete_locked(struct work *w, struct work_job *j)
{
    bool wake = w->done.n == 0;
    ssize_t k;

    queue_push(&w->done, j);
    if (!wake)
        return;
    do
        k = write(w->pipe_fd[1], "x", 1);
    while (k < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full of wake-ups already, which is as good. */
}

/* ---- the writer: group commit ---- */

/* Mark jobs v[from..to) as lost with their group (nothing they wrote was kept). */
static void group_failed(struct work_job **v, size_t from, size_t to, int err)
{
    for (size_t i = from; i < to; i++)
        v[i]->group_err = err;
}

static int64_t work_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Jobs v[from..to) are over (their group committed or failed): count them, hand them back. */
static void group_done(struct work *w, struct work_job **v, size_t from, size_t to)
{
    int64_t now = work_now_us();

    pthread_mutex_lock(&w->lock);
    w->stats.write_jobs += to - from;
    w->stats.groups++;
    w->stats.commits = store_commits(w->writer);
    w->stats.statements = store_statements(w->writer, &w->stats.prepares);
    if (to - from > w->stats.largest_group)
        w->stats.largest_group = to - from;
    for (size_t i = from; i < to; i++) {
        struct work_job *j = v[i];

        j->t_over = now;
        w->stats.wait_us += (uint64_t)(j->t_start - j->t_submit);
        w->stats.run_us += (uint64_t)(j->t_end - j->t_start);
        w->stats.commit_us += (uint64_t)(now - j->t_end);
        if (j->after && !j->group_err) {
            /* Its read, now that what it wrote is committed: on a reader while there is one
             * (at shutdown the readers may be gone: then here, as with no readers). */
            j->run = TAKE_PTR(j->after);
            j->kind = WORK_READ;
            if (w->readers_alive > 0) {
                queue_push(&w->rq, j);
                pthread_cond_signal(&w->wake_reader);
                w->later_reads++;
            } else {
                queue_push(&w->wq, j);
            }
            continue;
        }
        j->after = NULL;
        j->then = NULL;
        complete_locked(w, j);
    }
    pthread_mutex_unlock(&w->lock);
}

/*
 * Run @n write jobs in as few transactions as they allow: one BEGIN IMMEDIATE, each job in its
 * own savepoint (store_txn_begin() in a group), one COMMIT, then their replies. A group of at
 * least WORK_GROUP_MIN jobs closes early once it has worked WORK_GROUP_MS, so that the first of
 * a long queue are not kept waiting for the last. A job that fails rolls back its own savepoint and keeps its own error. Should
 * SQLite roll the whole group back itself (a full disk, an I/O error), every job run so far in
 * it is failed and a new group takes the rest; should the COMMIT fail, every job of the group is
 * failed. No job is handed back before its group's COMMIT (or failure).
 */
static void run_group(struct work *w, struct work_job **v, size_t n)
{
    struct store *s = w->writer;
    size_t start = 0;

    while (start < n) {
        int64_t began = work_now_us();
        bool lost = false;
        size_t i;
        int r = store_group_begin(s);

        if (r < 0) {
            group_failed(v, start, n, r);
            group_done(w, v, start, n);
            return;
        }
        for (i = start; i < n; i++) {
            if (!v[i]->t_start) /* (a read's second part: its start was its read's) */
                v[i]->t_start = work_now_us();
            v[i]->run(s, v[i]);
            /* No readers: both parts here (but a read that waits for this group's COMMIT
             * first, @after, comes back with its @then after it). */
            if (v[i]->then && !v[i]->after && !store_group_lost(s)) {
                v[i]->then(s, v[i]);
                v[i]->then = NULL;
            }
            v[i]->t_end = work_now_us();
            if (store_group_lost(s)) {
                lost = true;
                break;
            }
            if (i + 1 - start >= WORK_GROUP_MIN && v[i]->t_end - began >= WORK_GROUP_MS * 1000) {
                i++;
                break;
            }
        }
        if (lost) {
            /* SQLite undid the group when job i failed: jobs start..i are lost. */
            int err = v[i]->r < 0 ? v[i]->r : -EIO;

            store_group_rollback(s);
            group_failed(v, start, i + 1, err);
            log_warn("a group of %zu writes was rolled back by the store (%s); each is answered "
                     "with an error, nothing of them was written", i + 1 - start, strerror(-err));
            group_done(w, v, start, i + 1);
            start = i + 1;
            continue;
        }
        r = store_group_commit(s);
        if (r < 0)
            group_failed(v, start, i, r);
        group_done(w, v, start, i);
        start = i;
    }
}

static void *writer_main(void *arg)
{
    struct work *w = arg;
    struct work_job *v[WORK_GROUP_MAX];

    (void)pthread_setname_np(pthread_self(), "store-writer"); /* for top -H, perf */
    for (;;) {
        size_t n = 0;

        pthread_mutex_lock(&w->lock);
        while (w->wq.n == 0 && !(w->stop && w->readers_alive == 0))
            pthread_cond_wait(&w->wake_writer, &w->lock);
        if (w->wq.n == 0) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        while (n < WORK_GROUP_MAX && w->wq.n > 0)
            v[n++] = queue_pop(&w->wq);
        pthread_mutex_unlock(&w->lock);

        run_group(w, v, n);
    }
}

/* ---- readers ---- */

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct work *w = rd->w;

    (void)pthread_setname_np(pthread_self(), "store-reader");
    for (;;) {
        struct work_job *j;

        pthread_mutex_lock(&w->lock);
        while (w->rq.n == 0 && !w->stop)
            pthread_cond_wait(&w->wake_reader, &w->lock);
        j = queue_pop(&w->rq);
        if (!j) {
            /* Stopping, and nothing is left. */
            w->readers_alive--;
            pthread_cond_broadcast(&w->wake_writer);
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        pthread_mutex_unlock(&w->lock);

        j->t_start = work_now_us();
        j->run(rd->s, j);

        pthread_mutex_lock(&w->lock);
        if (j->then) {
            /* The write that follows: past the depth check, it was admitted already. */
            j->run = j->then;
            j->then = NULL;
            j->kind = WORK_WRITE;
            queue_push(&w->wq, j);
            pthread_cond_signal(&w->wake_writer);
        } else {
            complete_locked(w, j);
        }
        pthread_mutex_unlock(&w->lock);
    }
}

/* ---- the loop side ---- */

static void deliver(struct work *w, struct work_job *j)
{
    if (j->t_over && !j->discard) {
        pthread_mutex_lock(&w->lock);
        w->stats.deliver_us += (uint64_t)(work_now_us() - j->t_over);
        pthread_mutex_unlock(&w->lock);
    }
    if (w->pending > 0)
        w->pending--;
    j->done(j);
    if (w->pending == 0 && w->idle_cb)
        w->idle_cb(w->idle_arg);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct work *w = arg;
    struct queue got;
    char buf[256];
    struct work_job *j;

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&w->lock);
    got = w->done;
    w->done = (struct queue){0};
    pthread_mutex_unlock(&w->lock);
    while ((j = queue_pop(&got)))
        deliver(w, j);
}

int work_submit(struct work *w, struct work_job *j)
{
    j->r = 0;
    j->group_err = 0;
    j->after = NULL;
    j->discard = false;
    j->t_submit = work_now_us();
    j->t_start = j->t_end = j->t_over = 0;
    if (w->inline_mode) {
        w->pending++;
        j->run(w->writer, j);
        if (j->after)
            TAKE_PTR(j->after)(w->writer, j); /* each transaction committed by itself */
        if (j->then)
            j->then(w->writer, j);
        if (j->kind == WORK_READ && !j->then)
            w->read_jobs++;
        else
            w->stats.write_jobs++;
        deliver(w, j);
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    if (w->stop) {
        pthread_mutex_unlock(&w->lock);
        return -ESHUTDOWN;
    }
    if (w->wq.n + w->rq.n >= w->depth) {
        pthread_mutex_unlock(&w->lock);
        w->refused++;
        return -EAGAIN;
    }
    if (j->kind == WORK_WRITE || w->n_readers == 0) {
        queue_push(&w->wq, j);
        pthread_cond_signal(&w->wake_writer);
    } else {
        queue_push(&w->rq, j);
        pthread_cond_signal(&w->wake_reader);
        w->read_jobs++;
    }
    pthread_mutex_unlock(&w->lock);
    w->pending++;
    return 0;
}

size_t work_pending(const struct work *w)
{
    return w ? w->pending : 0;
}

void work_set_idle(struct work *w, void (*cb)(void *arg), void *arg)
{
    w->idle_cb = cb;
    w->idle_arg = arg;
}

void work_get_stats(const struct work *w, struct work_stats *ret)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->lock);
    *ret = w->stats;
    ret->queued = w->wq.n + w->rq.n;
    ret->read_jobs = w->later_reads;
    pthread_mutex_unlock((pthread_mutex_t *)&w->lock);
    if (w->inline_mode) {
        ret->commits = store_commits(w->writer);
        ret->statements = store_statements(w->writer, &ret->prepares);
    }
    ret->read_jobs += w->read_jobs;
    ret->refused = w->refused;
}

/* ---- lifecycle ---- */

static struct work *work_alloc(struct store *writer)
{
    struct work *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->writer = writer;
    w->pipe_fd[0] = w->pipe_fd[1] = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake_writer, NULL);
    pthread_cond_init(&w->wake_reader, NULL);
    return w;
}

int work_new_inline(struct store *s, struct work **ret)
{
    struct work *w = work_alloc(s);

    if (!w)
        return -ENOMEM;
    w->inline_mode = true;
    *ret = w;
    return 0;
}

int work_new(struct event_base *base, struct store *writer, const char *path, unsigned readers,
             unsigned depth, struct work **ret)
{
    struct work *w = work_alloc(writer);
    int r;

    if (!w)
        return -ENOMEM;
    w->depth = depth ? depth : WORK_QUEUE_DEPTH;
    if (pipe2(w->pipe_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        r = -errno;
        goto fail;
    }
    w->ev_done = event_new(base, w->pipe_fd[0], EV_READ | EV_PERSIST, on_done, w);
    if (w->ev_done && event_base_get_npriorities(base) >= WORK_PRIORITIES)
        (void)event_priority_set(w->ev_done, 0);
    if (!w->ev_done || event_add(w->ev_done, NULL) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if (readers) {
        w->readers = calloc(readers, sizeof(*w->readers));
        if (!w->readers) {
            r = -ENOMEM;
            goto fail;
        }
    }
    for (unsigned i = 0; i < readers; i++) {
        w->readers[i].w = w;
        r = store_open_reader(writer, path, &w->readers[i].s);
        if (r < 0)
            goto fail;
        w->n_readers++;
    }
    for (unsigned i = 0; i < w->n_readers; i++) {
        pthread_mutex_lock(&w->lock);
        w->readers_alive++;
        pthread_mutex_unlock(&w->lock);
        r = -pthread_create(&w->readers[i].thread, NULL, reader_main, &w->readers[i]);
        if (r < 0) {
            pthread_mutex_lock(&w->lock);
            w->readers_alive--;
            pthread_mutex_unlock(&w->lock);
            goto fail;
        }
        w->readers[i].started = true;
    }
    r = -pthread_create(&w->writer_thread, NULL, writer_main, w);
    if (r < 0)
        goto fail;
    w->writer_started = true;
    *ret = w;
    return 0;
fail:
    work_free(w);
    return r;
}

struct work *work_free(struct work *w)
{
    struct work_job *j;

    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->wake_writer);
    pthread_cond_broadcast(&w->wake_reader);
    pthread_mutex_unlock(&w->lock);
    /* Readers first: a job they finish may pass on to the writer. */
    for (unsigned i = 0; w->readers && i < w->n_readers; i++)
        if (w->readers[i].started)
            pthread_join(w->readers[i].thread, NULL);
    if (w->writer_started)
        pthread_join(w->writer_thread, NULL); /* it leaves with its queue empty */
    while ((j = queue_pop(&w->done))) {
        j->discard = true;
        deliver(w, j);
    }
    if (!w->inline_mode) {
        struct work_stats st;

        work_get_stats(w, &st);
        /* The figures bench/ reads: how many commits (each one fsync) the writes took. */
        log_info("store work: %" PRIu64 " write jobs in %" PRIu64 " groups, %" PRIu64
                 " commits (largest group %zu); %" PRIu64 " read jobs; %" PRIu64
                 " refused with the queue full; write jobs' time in ms: %" PRIu64 " waiting, %"
                 PRIu64 " running, %" PRIu64 " to their commit, %" PRIu64 " back to the loop",
                 st.write_jobs, st.groups, st.commits, st.largest_group, st.read_jobs,
                 st.refused, st.wait_us / 1000, st.run_us / 1000, st.commit_us / 1000,
                 st.deliver_us / 1000);
    }
    for (unsigned i = 0; w->readers && i < w->n_readers; i++)
        store_free(w->readers[i].s);
    free(w->readers);
    if (w->ev_done)
        event_free(w->ev_done);
    if (w->pipe_fd[0] >= 0)
        close(w->pipe_fd[0]);
    if (w->pipe_fd[1] >= 0)
        close(w->pipe_fd[1]);
    pthread_cond_destroy(&w->wake_writer);
    pthread_cond_destroy(&w->wake_reader);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}
