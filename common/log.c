/* SPDX-License-Identifier: MIT */
/* log.c - leveled logging to stderr. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static const char *log_prefix;
static int log_timestamps;

void log_set_level(enum log_level level)
{
    log_level = level;
}

void log_set_prefix(const char *prefix)
{
    log_prefix = prefix;
}

void log_set_timestamps(int on)
{
    log_timestamps = on;
}

int log_msg(enum log_level level, int ret, const char *fmt, ...)
{
    va_list ap;

    if (level < log_level)
        return ret;
    /* One line whole, whichever thread logs (the daemon's store threads log too). */
    flockfile(stderr);
    if (log_timestamps) {
        char ts[32];
        struct tm tm;
        time_t t = time(NULL);

        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);
        fputs(ts, stderr);
    }
    if (log_prefix)
        fprintf(stderr, "%s: ", log_prefix);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    return ret;
}

int log_reopen(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return -1;
    fflush(stderr);
    if (dup2(fd, STDERR_FILENO) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}

