/* SPDX-License-Identifier: MIT */
/* bench_util.c - shared helpers of the benchmarks: clocks, statistics, /proc memory, child
 * processes, a real caresyncd on a free loopback port, and JSON results. */
#include "bench.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static double t_start;

double bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double *sorted_copy(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof(*c));

    if (!c)
        bench_die("out of memory");
    memcpy(c, v, n * sizeof(*c));
    qsort(c, n, sizeof(*c), dbl_cmp);
    return c;
}

double bench_median(const double *v, size_t n)
{
    _cleanup_free_ double *c = NULL;

    if (n == 0)
        return 0;
    c = sorted_copy(v, n);
    return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

double bench_percentile(const double *v, size_t n, double p)
{
    _cleanup_free_ double *c = NULL;
    size_t k;

    if (n == 0)
        return 0;
    c = sorted_copy(v, n);
    /* nearest rank: the smallest value with at least p% of the values at or below it */
    k = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return c[k - 1];
}

static long proc_status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    size_t kl = strlen(key);
    long v = -1;
    FILE *f;

    if (pid)
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/status");
    f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

long bench_rss_kib(pid_t pid)
{
    return proc_status_kib(pid, "VmRSS");
}

long bench_hwm_kib(pid_t pid)
{
    return proc_status_kib(pid, "VmHWM");
}

double bench_cpu_s(pid_t pid)
{
    char which[24];

    if (pid == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    snprintf(which, sizeof(which), "%d", (int)pid);
    return bench_cpu_s_path(which);
}

double bench_cpu_s_path(const char *which)
{
    char path[160], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%s/stat", which);
    f = fopen(path, "re");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name in parentheses: state is 3rd, utime 14th, stime 15th. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void bench_log(const char *fmt, ...)
{
    va_list ap;

    if (t_start == 0)
        t_start = bench_now_s();
    fprintf(stderr, "[%7.2fs] ", bench_now_s() - t_start);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;

    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

int bench_run(char *const argv[], const char *log)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Read bench-spawn's report ("key value" lines) into @c. Returns 0, or -1 when incomplete. */
static int read_report(const char *path, struct bench_child *c)
{
    char key[32];
    double v;
    int seen = 0;
    FILE *f = fopen(path, "re");

    if (!f)
        return -1;
    while (fscanf(f, "%31s %lf", key, &v) == 2) {
        seen++;
        if (streq(key, "seconds"))
            c->seconds = v;
        else if (streq(key, "cpu_s"))
            c->cpu_s = v;
        else if (streq(key, "maxrss_kib"))
            c->maxrss_kib = (long)v;
        else if (streq(key, "anon_peak_kib"))
            c->anon_peak_kib = (long)v;
        else if (streq(key, "file_peak_kib"))
            c->file_peak_kib = (long)v;
        else if (streq(key, "rss_peak_kib"))
            c->rss_peak_kib = (long)v;
        else if (streq(key, "status"))
            c->status = (int)v;
        else
            seen--;
    }
    fclose(f);
    return seen == 7 ? 0 : -1;
}

void bench_watch(char *const argv[], char *out, size_t out_size, struct bench_child *ret)
{
    struct bench_child c = {
            .anon_peak_kib = -1, .file_peak_kib = -1, .rss_peak_kib = -1, .status = -1};
    _cleanup_free_ char *dir = bench_mkdtemp("spawn"), *report = NULL;
    const char *spawn = bench_path("BENCH_SPAWN", BENCH_SPAWN_PATH);
    size_t n = 0, len = 0;
    int pfd[2], status;
    char **args;
    ssize_t k;
    pid_t pid;

    while (argv[n])
        n++;
    args = calloc(n + 3, sizeof(*args));
    if (!args || asprintf(&report, "%s/report", dir) < 0)
        bench_die("out of memory");
    args[0] = (char *)spawn;
    args[1] = report;
    memcpy(args + 2, argv, (n + 1) * sizeof(*args));
    if (pipe2(pfd, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pfd[1], 1);
        execv(args[0], args);
        _exit(127);
    }
    free(args);
    close(pfd[1]);
    for (;;) {
        char scratch[4096];
        bool keep = out && len + 1 < out_size;

        k = read(pfd[0], keep ? out + len : scratch, keep ? out_size - 1 - len : sizeof(scratch));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (keep)
            len += (size_t)k;
    }
    close(pfd[0]);
    if (out)
        out[len] = '\0';
    if (waitpid(pid, &status, 0) < 0 || read_report(report, &c) < 0)
        bench_die("%s could not run %s (see above)", spawn, argv[0]);
    bench_rm_rf(dir);
    *ret = c;
}

const char *bench_path(const char *env, const char *fallback)
{
    const char *v = getenv(env);

    return v && *v ? v : fallback;
}

char *bench_mkdtemp(const char *tag)
{
    const char *base = bench_path("BENCH_TMP", "/tmp");
    char *p;

    if (asprintf(&p, "%s/caresync-bench-%s-XXXXXX", base, tag) < 0)
        bench_die("out of memory");
    if (!mkdtemp(p))
        bench_die("cannot make a directory under %s: %s", base, strerror(errno));
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? 0 : 0;
}

void bench_rm_rf(const char *path)
{
    if (path && *path && getenv("BENCH_KEEP") == NULL)
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_copy_file(const char *from, const char *to)
{
    char buf[1 << 16];
    int in, out, r = 0;
    ssize_t n;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        r = -errno;
        close(in);
        return r;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            r = -EIO;
            break;
        }
    if (n < 0)
        r = -errno;
    close(in);
    if (close(out) < 0 && r == 0)
        r = -errno;
    return r;
}

/* ---- the daemon ---- */

/* Daemons started here, stopped at exit too (bench_die() exits without unwinding). */
static pid_t started[8];

static void stop_started(void)
{
    for (size_t i = 0; i < ELEMENTSOF(started); i++)
        if (started[i] > 0) {
            int status;

            (void)kill(started[i], SIGTERM);
            (void)waitpid(started[i], &status, 0);
            started[i] = 0;
        }
}

static void remember(pid_t pid, bool add)
{
    static bool registered;

    if (!registered) {
        atexit(stop_started);
        registered = true;
    }
    for (size_t i = 0; i < ELEMENTSOF(started); i++)
        if (add ? started[i] == 0 : started[i] == pid) {
            started[i] = add ? pid : 0;
            return;
        }
}

int bench_daemon_init(const char *caresyncd, const char *data)
{
    char log[600];
    char *argv[] = {(char *)caresyncd, (char *)"init", (char *)"--data", (char *)data, NULL};

    snprintf(log, sizeof(log), "%s.init.log", data);
    return bench_run(argv, log) == 0 ? 0 : -1;
}

int bench_daemon_start(struct bench_daemon *d, const char *caresyncd, const char *data)
{
    /* Every simulated device comes from 127.0.0.1: lift the per-address connection cap. */
    char *argv[] = {(char *)caresyncd, (char *)"serve", (char *)"--data", (char *)data,
                    (char *)"--listen", (char *)"127.0.0.1:0", (char *)"--max-conns-per-addr",
                    (char *)"100000", (char *)"--metrics-listen", (char *)"off",
                    (char *)"--quiet", NULL};
    double deadline = bench_now_s() + 30;
    pid_t pid;

    memset(d, 0, sizeof(*d));
    snprintf(d->data, sizeof(d->data), "%s", data);
    snprintf(d->ca, sizeof(d->ca), "%s/ca.pem", data);
    snprintf(d->log, sizeof(d->log), "%s.serve.log", data);
    (void)unlink(d->log);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(caresyncd, argv);
        _exit(127);
    }
    d->pid = pid;
    remember(pid, true);
    /* The daemon logs "listening on https://127.0.0.1:PORT" once it accepts. */
    while (bench_now_s() < deadline) {
        char buf[8192];
        int status;
        ssize_t n;
        int fd;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            remember(pid, false);
            d->pid = 0;
            return -1;
        }
        fd = open(d->log, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            n = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            if (n > 0) {
                const char *p;

                buf[n] = '\0';
                p = strstr(buf, "listening on https://127.0.0.1:");
                if (p) {
                    d->port = atoi(p + strlen("listening on https://127.0.0.1:"));
                    snprintf(d->url, sizeof(d->url), "https://127.0.0.1:%d", d->port);
                    return 0;
                }
            }
        }
        usleep(10000);
    }
    bench_daemon_stop(d);
    return -1;
}

void bench_daemon_stop(struct bench_daemon *d)
{
    int status;

    if (d->pid <= 0)
        return;
    (void)kill(d->pid, SIGTERM);
    (void)waitpid(d->pid, &status, 0);
    remember(d->pid, false);
    d->pid = 0;
}

/* ---- results ---- */

int bench_json_write(const cJSON *o, const char *path)
{
    char *text = cJSON_Print(o);
    FILE *f;

    if (!text)
        return -ENOMEM;
    f = !path || streq(path, "-") ? stdout : fopen(path, "we");
    if (!f) {
        cJSON_free(text);
        return -errno;
    }
    fputs(text, f);
    fputc('\n', f);
    if (f != stdout)
        fclose(f);
    else
        fflush(f);
    cJSON_free(text);
    return 0;
}

cJSON *bench_json_stats(const double *v, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    double mn = n ? v[0] : 0, mx = n ? v[0] : 0;

    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(runs, cJSON_CreateNumber(v[i]));
        if (v[i] < mn)
            mn = v[i];
        if (v[i] > mx)
            mx = v[i];
    }
    cJSON_AddNumberToObject(o, "median", bench_median(v, n));
    cJSON_AddNumberToObject(o, "min", mn);
    cJSON_AddNumberToObject(o, "max", mx);
    return o;
}

const char *bench_cpu_model(void)
{
    static char model[256] = "unknown";
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "re");

    if (!f)
        return model;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');

            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                p[strcspn(p, "\n")] = '\0';
                snprintf(model, sizeof(model), "%s", p);
            }
            break;
        }
    fclose(f);
    return model;
}

int64_t bench_count_rows(const char *store, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    char where[1024];

    bench_store_where(store, where, sizeof(where));

    if (bench_store_is_url(where)) {
        /* psql, so that the benchmarks need no libpq of their own: a count is read rarely. */
        char *argv[] = {(char *)"psql", (char *)"-X", (char *)"-q", (char *)"-A", (char *)"-t",
                        (char *)"-d", (char *)where, (char *)"-c", (char *)sql, NULL};
        char out[64] = "";
        int fd[2], status;
        pid_t pid;
        ssize_t k;

        if (pipe2(fd, O_CLOEXEC) < 0)
            return -1;
        pid = fork();
        if (pid == 0) {
            dup2(fd[1], 1);
            execvp("psql", argv);
            _exit(127);
        }
        close(fd[1]);
        k = pid > 0 ? read(fd[0], out, sizeof(out) - 1) : -1;
        close(fd[0]);
        if (pid > 0)
            (void)waitpid(pid, &status, 0);
        if (pid > 0 && k > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            n = strtoll(out, NULL, 10);
        return n;
    }
    if (sqlite3_open_v2(where, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return n;
}

int64_t bench_store_entries(const char *where)
{
    return bench_count_rows(where, "SELECT count(*) FROM change_log");
}

/* ---- the store a data directory names ---- */

bool bench_store_is_url(const char *where)
{
    /* A URI, or a key=value connection string (it names a host or a database); a path with an
     * '=' in it stays a path. */
    return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0 ||
           strncmp(where, "host=", 5) == 0 || strncmp(where, "dbname=", 7) == 0 ||
           strstr(where, " host=") != NULL || strstr(where, " dbname=") != NULL;
}

void bench_store_where(const char *data, char *ret, size_t size)
{
    char path[600];
    struct stat sb;
    FILE *f;

    snprintf(ret, size, "%s", data);
    if (bench_store_is_url(data) || stat(data, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return;
    snprintf(path, sizeof(path), "%s/store.url", data);
    f = fopen(path, "re");
    if (f) {
        if (!fgets(ret, (int)size, f))
            ret[0] = '\0';
        fclose(f);
        ret[strcspn(ret, "\r\n")] = '\0';
        if (ret[0])
            return;
    }
    snprintf(ret, size, "%s/store.db", data);
}

/* The parent pid, own CPU and reaped children's CPU (clock ticks) of /proc/@pid/stat. */
static int proc_stat(const char *pid, long *ret_ppid, double *ret_own, double *ret_children)
{
    char path[300], buf[1024], *p;
    unsigned long ut, st;
    long cut, cst, ppid;
    double tck = (double)sysconf(_SC_CLK_TCK);
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return -errno;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command name: state, ppid (4th), ..., utime, stime, cutime, cstime (14-17th). */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ppid,
                     &ut, &st, &cut, &cst) != 5)
        return -EINVAL;
    *ret_ppid = ppid;
    *ret_own = (double)(ut + st) / tck;
    *ret_children = (double)(cut + cst) / tck;
    return 0;
}

double bench_postgres_cpu_s(void)
{
    const char *env = getenv("CARESYNC_BENCH_PG_PID");
    long server = env ? strtol(env, NULL, 10) : 0;
    DIR *dir = opendir("/proc");
    struct dirent *e;
    double sum = 0;

    if (!dir)
        return 0;
    while ((e = readdir(dir))) {
        char path[300], comm[64] = "";
        double own = 0, children = 0;
        long pid, ppid = 0;
        FILE *f;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = '\0';
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, "postgres") != 0 || proc_stat(e->d_name, &ppid, &own, &children) < 0)
            continue;
        pid = strtol(e->d_name, NULL, 10);
        /* With the server's postmaster known (bench/with-pg.py), only its processes, and what
         * its backends that ended spent (the postmaster reaps them): other PostgreSQL servers
         * on a shared machine, a test suite's, are not this database's. */
        if (server > 0 && pid != server && ppid != server)
            continue;
        sum += own + (pid == server ? children : 0);
    }
    closedir(dir);
    return sum;
}
