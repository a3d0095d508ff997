/* SPDX-License-Identifier: MIT */
/* bench.h - shared helpers of the benchmarks (bench_util.c): clocks, medians and percentiles,
 * results as JSON, process memory, a real caresyncd started on a free loopback port, and the
 * HTTP/TCP traffic counters of libcaresync (bench_wrap.c). Benchmarks print figures; they are
 * never pass/fail tests. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* bench_now_s() - CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);

/* bench_median() - the median of @n values (sorts a copy). 0 for n == 0. */
double bench_median(const double *v, size_t n);
/* bench_percentile() - nearest-rank percentile @p (0..100) of @n values (sorts a copy). */
double bench_percentile(const double *v, size_t n, double p);

/* bench_rss_kib() - VmRSS of @pid (0 = self) in KiB, from /proc; -1 when unreadable. */
long bench_rss_kib(pid_t pid);
/* bench_hwm_kib() - VmHWM (peak RSS) of @pid (0 = self) in KiB; -1 when unreadable. */
long bench_hwm_kib(pid_t pid);

/* bench_cpu_s() - user + system CPU seconds used so far by @pid (0 = self), from /proc. */
double bench_cpu_s(pid_t pid);
/* bench_cpu_s_path() - the same for /proc/@which/stat: "PID" or "PID/task/TID" (one thread). */
double bench_cpu_s_path(const char *which);

/* A program run to its end by bench_watch(), with what it cost. */
struct bench_child {
    double seconds;      /* start to exit */
    double cpu_s;        /* user + system CPU of the program, from wait4() */
    long maxrss_kib;     /* its peak RSS from wait4() (ru_maxrss): shared-library pages included */
    long anon_peak_kib;  /* peak RssAnon sampled every 2 ms: heap, SQLite cache, buffers */
    long file_peak_kib;  /* peak RssFile sampled every 2 ms: mapped files, mostly libraries */
    long rss_peak_kib;   /* peak VmRSS sampled every 2 ms */
    int status;          /* exit status, or -1 when killed */
};

/*
 * bench_watch() - run @argv (argv[0] a path, or a name looked up in PATH; stderr inherited)
 * through bench-spawn (bench_spawn.c, which says why), so its memory figures are its own and
 * not this process's. Its stdout goes into @out (NUL-terminated, cut at @out_size - 1 bytes;
 * NULL: discarded). Exits the benchmark when the program cannot be started.
 */
void bench_watch(char *const argv[], char *out, size_t out_size, struct bench_child *ret);

/* bench_log() - a progress line on stderr, prefixed with the elapsed time. */
void bench_log(const char *fmt, ...) _printf_(1, 2);
/* bench_die() - print to stderr and exit(2): a benchmark that cannot run says why. */
_noreturn_ void bench_die(const char *fmt, ...) _printf_(1, 2);

/* bench_run() - run @argv (NULL-terminated), wait; stdout/stderr go to @log (NULL: inherit).
 * Returns the exit status, or -1 when it could not run or was killed. */
int bench_run(char *const argv[], const char *log);

/* bench_path() - the path of a program: environment variable @env if set, else @fallback. */
const char *bench_path(const char *env, const char *fallback);

/* bench_mkdtemp() - a new directory under $BENCH_TMP (default /tmp) named caresync-bench-TAG-XXXXXX.
 * Returns a malloc'd path. */
char *bench_mkdtemp(const char *tag);
/* bench_rm_rf() - remove a directory tree (used for the temporary directories only). */
void bench_rm_rf(const char *path);
/* bench_copy_file() - copy @from to @to. Returns 0 or -errno. */
int bench_copy_file(const char *from, const char *to);

/* A caresyncd serving on 127.0.0.1 (real process, real TLS). */
struct bench_daemon {
    pid_t pid;
    int port;
    char url[64];
    char data[512];
    char ca[600];
    char log[600];
};

/* bench_daemon_init() - 'caresyncd init --data @data'. Returns 0 or -1. */
int bench_daemon_init(const char *caresyncd, const char *data);
/* bench_daemon_start() - 'caresyncd serve --quiet' on 127.0.0.1, any free port, waiting until it
 * listens. Returns 0 or -1. */
int bench_daemon_start(struct bench_daemon *d, const char *caresyncd, const char *data);
/* bench_daemon_stop() - SIGTERM and wait. */
void bench_daemon_stop(struct bench_daemon *d);

/* Traffic of libcaresync's HTTP requests, counted around curl_easy_perform (bench_wrap.c). */
struct bench_traffic {
    uint64_t requests;
    uint64_t connects;       /* new TCP connections */
    uint64_t http_up;        /* request headers + body */
    uint64_t http_down;      /* response headers + body (as received, before any decoding) */
    uint64_t tcp_up;         /* bytes the kernel sent and had acknowledged (TLS included) */
    uint64_t tcp_down;       /* bytes the kernel received (TLS included) */
};
/* bench_traffic_get() - the counters so far (process-wide). */
void bench_traffic_get(struct bench_traffic *ret);
/* bench_traffic_diff() - @b - @a into @ret. */
void bench_traffic_diff(const struct bench_traffic *a, const struct bench_traffic *b,
                        struct bench_traffic *ret);

/* ---- results ---- */

/* bench_json_write() - write @o to @path (or stdout when @path is NULL or "-"). */
int bench_json_write(const cJSON *o, const char *path);
/* bench_json_stats() - {"median": m, "min": x, "max": y, "runs": [...]} of @n values. */
cJSON *bench_json_stats(const double *v, size_t n);
/* bench_count_rows() - the single integer @sql returns on the store at @where (a row count):
 * an SQLite file opened read-only, or a PostgreSQL URL (read with psql); -1 on failure. */
int64_t bench_count_rows(const char *where, const char *sql);
/* bench_store_entries() - change-log entries in the store at @where. */
int64_t bench_store_entries(const char *where);

/* ---- the store a data directory names ---- */

struct store;
/* bench_store_where() - where the store of data directory @data is: the PostgreSQL URL in
 * DATA/store.url when there is one (caresyncd init --store), else DATA/store.db. @where may
 * itself be a store.db path or a URL (postgresql://..., postgres://...), then kept as it is. */
void bench_store_where(const char *data, char *ret, size_t size);
/* bench_store_is_url() - whether @where is a PostgreSQL URL. */
bool bench_store_is_url(const char *where);
/* bench_store_open() - open the store at @where (a store.db path, a data directory or a URL);
 * @create only applies to a file. Exits the benchmark when it cannot. */
struct store *bench_store_open(const char *where, bool create);
/* bench_postgres_cpu_s() - user + system CPU seconds of the database server, from /proc: the
 * postmaster of $CARESYNC_BENCH_PG_PID (bench/with-pg.py sets it), its backends and workers and
 * the backends it reaped; without it, every running process named "postgres" (other servers on
 * the machine included). Read before and after a round. 0 when there is none. */
double bench_postgres_cpu_s(void);

/* bench_cpu_model() - "model name" of /proc/cpuinfo (static buffer). */
const char *bench_cpu_model(void);
