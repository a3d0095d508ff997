/* SPDX-License-Identifier: MIT */
/* bench_spawn.c - bench-spawn REPORT PROG [ARG...]: run PROG to its end and write what its
 * memory and CPU cost to the file REPORT, one "key value" per line.
 *
 * Why a program of its own: Linux records the resident peak of the image a process replaces
 * (exec_mmap() -> setmax_mm_hiwater_rss()), and a child made by fork() or vfork() starts as the
 * whole parent, so a benchmark that forks and execs the client directly gets the benchmark's own
 * RSS as the client's ru_maxrss. This launcher links libc only: what it hands down is about
 * 1 MiB, so PROG's ru_maxrss from wait4() is PROG's. It samples PROG's /proc/PID/status every
 * 2 ms for the peaks of RssAnon (heap, SQLite cache, buffers), RssFile (mapped files: the
 * shared libraries' pages) and VmRSS. stdin, stdout and
 * stderr are inherited. Exit status: PROG's, or 127 when it could not run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* RssAnon, RssFile and VmRSS of @pid in KiB; each stays -1 when unreadable. */
static void mem_kib(pid_t pid, long *anon, long *file, long *rss)
{
    char path[64], line[256];
    FILE *f;

    *anon = *file = *rss = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "RssAnon:", 8) == 0)
            *anon = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *file = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char *argv[])
{
    long anon_peak = -1, file_peak = -1, rss_peak = -1;
    struct rusage ru;
    int status = 0;
    double t0;
    FILE *out;
    pid_t pid;

    if (argc < 3) {
        fprintf(stderr, "usage: bench-spawn REPORT PROG [ARG...]\n");
        return 127;
    }
    t0 = now_s();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench-spawn: fork: %s\n", strerror(errno));
        return 127;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "bench-spawn: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    for (;;) {
        long anon, file, rss;
        pid_t w;

        mem_kib(pid, &anon, &file, &rss);
        anon_peak = anon > anon_peak ? anon : anon_peak;
        file_peak = file > file_peak ? file : file_peak;
        rss_peak = rss > rss_peak ? rss : rss_peak;
        w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            fprintf(stderr, "bench-spawn: wait4: %s\n", strerror(errno));
            return 127;
        }
        usleep(2000);
    }
    out = fopen(argv[1], "we");
    if (!out) {
        fprintf(stderr, "bench-spawn: cannot write %s: %s\n", argv[1], strerror(errno));
        return 127;
    }
    fprintf(out,
            "seconds %.6f\ncpu_s %.6f\nmaxrss_kib %ld\nanon_peak_kib %ld\nfile_peak_kib %ld\n"
            "rss_peak_kib %ld\nstatus %d\n",
            now_s() - t0, tv_s(ru.ru_utime) + tv_s(ru.ru_stime), ru.ru_maxrss, anon_peak,
            file_peak, rss_peak, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (fclose(out) != 0)
        return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}
