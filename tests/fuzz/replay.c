/* SPDX-License-Identifier: MIT */
/* replay.c - a main() for a fuzz target without libFuzzer: runs every file named on the command
 * line (a directory: every file in it) through LLVMFuzzerTestOneInput() once, as SQLite's
 * fuzzcheck does. `meson test --suite fuzz` uses it to replay tests/fuzz/corpus/<target>/ in the
 * ordinary build, so an input that once crashed stays a regression test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long n;

    if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    data = malloc((size_t)n + 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    printf("%s (%ld bytes)\n", path, n);
    fflush(stdout);
    (void)LLVMFuzzerTestOneInput(data, (size_t)n);
    free(data);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int files = 0, bad = 0;

    if (LLVMFuzzerInitialize)
        (void)LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        struct dirent *de;
        DIR *d;
        char **names = NULL;
        size_t n = 0;

        if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
            bad += run_file(argv[i]) < 0;
            files++;
            continue;
        }
        d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        while ((de = readdir(d))) {
            char **grown;

            if (de->d_name[0] == '.')
                continue;
            grown = realloc(names, (n + 1) * sizeof(*names));
            if (!grown)
                abort();
            names = grown;
            if (asprintf(&names[n++], "%s/%s", argv[i], de->d_name) < 0)
                abort();
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp);
        for (size_t k = 0; k < n; k++) {
            bad += run_file(names[k]) < 0;
            files++;
            free(names[k]);
        }
        free(names);
    }
    printf("%d inputs replayed, %d unreadable\n", files, bad);
    return files == 0 || bad ? 1 : 0;
}
