/* SPDX-License-Identifier: MIT */
/* sync-probe.c - a long-lived libcaresync user for the integration tests: opens a home, syncs
 * once and, with the handle still open (as a field app keeps it), scans every file in the home
 * (replica.db, its -wal and -shm) for the canary strings given on the command line.
 * usage: sync-probe HOME CANARY... ; exit 0 when no canary is found, 1 when one is, 2 when the
 * sync fails. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync.h"

static int scan_file(const char *path, int n, char **canaries)
{
    FILE *f = fopen(path, "rbe");
    char *buf;
    long len;
    int hits = 0;

    if (!f)
        return 0;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return 0;
    }
    buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        return 0;
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        size_t cl = strlen(canaries[i]);

        for (long off = 0; off + (long)cl <= len; off++) {
            if (memcmp(buf + off, canaries[i], cl) == 0) {
                printf("canary %s found in %s at offset %ld\n", canaries[i], path, off);
                hits++;
                break;
            }
        }
    }
    free(buf);
    return hits;
}

int main(int argc, char **argv)
{
    struct caresync *c = NULL;
    struct caresync_sync_stats st = {0};
    char path[4096];
    struct dirent *de;
    DIR *dir;
    int r, hits = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: sync-probe HOME CANARY...\n");
        return 2;
    }
    r = caresync_open(argv[1], &c);
    if (r == CARESYNC_OK)
        r = caresync_sync(c, &st);
    if (r != CARESYNC_OK) {
        fprintf(stderr, "sync-probe: %s\n", caresync_errmsg(c));
        caresync_close(c);
        return 2;
    }
    printf("synced: pushed %llu, pulled %llu, purged %llu\n", (unsigned long long)st.pushed,
           (unsigned long long)st.pulled, (unsigned long long)st.purged);
    dir = opendir(argv[1]);
    while (dir && (de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        printf("scanning %s (handle open)\n", path);
        hits += scan_file(path, argc - 2, argv + 2);
    }
    if (dir)
        closedir(dir);
    caresync_close(c);
    return hits ? 1 : 0;
}
