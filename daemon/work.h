/* SPDX-License-Identifier: MIT */
/* work.h - store work off the event loop (docs/ARCHITECTURE.md "Threads"): one writer thread
 * that commits the write jobs waiting together (group commit), reader threads with their own
 * read connections, a bounded queue, and completion back on the event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct work;

#define WORK_QUEUE_DEPTH 4096 /* jobs waiting, at most (--queue-depth) */
#define WORK_QUEUE_MAX   1000000
#define WORK_READERS     2    /* reader threads (--readers) */
#define WORK_READERS_MAX 64
#define WORK_GROUP_MAX   256  /* write jobs committed together, at most */
#define WORK_GROUP_MS    50   /* a group that has worked this long commits, whatever waits... */
#define WORK_GROUP_MIN   8    /* ...once it holds this many jobs */
#define WORK_RETRY_AFTER "1"  /* seconds, in the 503 of a full queue */
/* The event loop's priorities (event_base_priority_init()): finished jobs are taken back at 0,
 * before any network event (the default, 1), when the base has them. */
#define WORK_PRIORITIES  2

enum work_kind {
    WORK_READ,  /* reads only: any reader thread */
    WORK_WRITE, /* writes: the writer thread, inside a group */
};

/*
 * A job, embedded in the submitter's own struct. @run does the store work on a worker thread
 * (it must touch no libevent object); @then, when set, is run afterwards on the writer thread
 * (a read followed by a write that depends on it); @done runs on the event loop once the job is
 * over (and its group committed) and must free the job. @r is the job's own result, set by
 * @run. @group_err, set by the pool, says the group the job was in failed to commit (or SQLite
 * rolled it back): nothing the job wrote was kept, whatever @r says.
 * A write job's @run may set @after: a read run on a reader once the job's group has committed
 * (so its snapshot holds what @run wrote), then @then on the writer (a sync: its push, its page,
 * its end). Not run when the group failed.
 */
struct work_job {
    enum work_kind kind;
    void (*run)(struct store *s, struct work_job *j);
    void (*after)(struct store *s, struct work_job *j);
    void (*then)(struct store *s, struct work_job *j);
    void (*done)(struct work_job *j);
    int r;
    int group_err;
    bool discard; /* @done is called at shutdown, the event loop gone: free, send nothing */
    struct work_job *next;
    /* CLOCK_MONOTONIC µs (set by the pool): submitted, run started, run ended, group over. */
    int64_t t_submit, t_start, t_end, t_over;
};

/* Counters, read on the event loop. */
struct work_stats {
    uint64_t write_jobs, read_jobs, groups, commits, refused;
    /* The writer's statements run and prepared on the store's database (store_statements()). */
    uint64_t statements, prepares;
    size_t largest_group;
    size_t queued; /* jobs waiting for a thread now */
    /* Where write jobs' time went, summed in µs (docs/ARCHITECTURE.md "Threads"): waiting in
     * the queue, running, from the end of their run to their group's COMMIT done, and from
     * there to the event loop taking them back. */
    uint64_t wait_us, run_us, commit_us, deliver_us;
};

/*
 * work_new() - the pool for @writer (borrowed: from now on only the writer thread uses it),
 * @readers reader threads each with a handle store_open_reader(@writer, @path), at most @depth
 * jobs waiting. Completions run on @base, at its highest priority when it has WORK_PRIORITIES
 * (a job's reply goes out before the next burst of network events is handled). @readers 0 runs
 * read jobs on the writer thread.
 * Returns 0 or -errno.
 */
int work_new(struct event_base *base, struct store *writer, const char *path, unsigned readers,
             unsigned depth, struct work **ret);

/*
 * work_new_inline() - no threads: work_submit() runs the job at once on the caller's thread,
 * each transaction committed by itself (tests and fuzz targets that drive the server in one
 * thread).
 */
int work_new_inline(struct store *s, struct work **ret);

/*
 * work_submit() - queue @j. Returns 0 (@j->done will run), or -EAGAIN when @depth jobs are
 * waiting already, or -ESHUTDOWN after work_stop(): then @j is untouched and the caller keeps it.
 */
int work_submit(struct work *w, struct work_job *j);

/* work_pending() - jobs submitted whose @done has not run yet. */
size_t work_pending(const struct work *w);

/* work_set_idle() - call @cb(@arg) on the loop each time work_pending() falls to 0. */
void work_set_idle(struct work *w, void (*cb)(void *arg), void *arg);

/* work_get_stats() - the counters; any thread. */
void work_get_stats(const struct work *w, struct work_stats *ret);

/*
 * work_free() - let the threads finish every job queued, join them, and run @done (with
 * @discard set) for the jobs whose completion the loop has not taken. Accepts NULL.
 */
struct work *work_free(struct work *w);
