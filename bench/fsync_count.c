/* SPDX-License-Identifier: MIT */
/* fsync_count.c - an LD_PRELOAD module for bench-load: counts the daemon's fsync() and
 * fdatasync() calls (SQLite's commits and checkpoints) and writes "bench-fsync-count: N" to
 * standard error when the process exits, so the bench can report fsyncs per sync for any
 * caresyncd build, older ones included. Figures only; never part of a test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static atomic_ulong calls;

int fsync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    atomic_fetch_add(&calls, 1);
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    atomic_fetch_add(&calls, 1);
    return real(fd);
}

__attribute__((destructor)) static void report(void)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "bench-fsync-count: %lu\n", atomic_load(&calls));

    if (n > 0)
        (void)!write(2, buf, (size_t)n);
}
