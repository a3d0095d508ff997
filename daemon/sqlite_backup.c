/* SPDX-License-Identifier: MIT */
/*
 * sqlite_backup.c - `caresyncd backup` and `caresyncd restore` (admin.h) for the SQLite store:
 * SQLite's online backup API and the backup file's own tables, the SQLite backend's part of the
 * admin commands. README "Backup and restore"; docs/internals/audit.md, "Rewinds".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "hlc.h"
#include "store.h"
#include "util.h"

/* ---- backup, restore (README "Backup and restore"; docs/internals/audit.md, "Rewinds") ---- */

/*
 * A backup is one SQLite file, mode 0600: a consistent copy of the store made with SQLite's
 * online backup API (one read transaction, so the daemon keeps serving), plus table
 * backup_files holding every key and certificate of the data directory and backup_info (when
 * it was taken). `sqlite3 FILE "PRAGMA integrity_check"` checks one.
 */
static const char *const backup_names[] = {"ca.pem", "ca.key", "server.pem", "server.key", NULL};

static int backup_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Read file @path whole (at most 1 MiB). */
static int read_small(const char *path, char **ret, size_t *ret_n, mode_t *ret_mode)
{
    _cleanup_free_ char *buf = malloc(1 << 20);
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -errno;
    if (!buf || fstat(fd, &st) < 0) {
        (void)close(fd);
        return buf ? -errno : -ENOMEM;
    }
    n = read(fd, buf, 1 << 20);
    (void)close(fd);
    if (n < 0)
        return -errno;
    *ret = TAKE_PTR(buf);
    *ret_n = (size_t)n;
    *ret_mode = st.st_mode & 0777;
    return 0;
}

int admin_backup(const struct admin_command *cmd, struct admin_opts *o)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8], ts[ISO_TIME_MAX];
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    sqlite3_stmt *st = NULL;
    int r = 0, fd;

    if (admin_store_is_url(o->data) > 0)
        return admin_fail(ADMIN_EXIT_USAGE, "the store of %s is PostgreSQL (store.url): back it "
                          "up with pg_dump or pg_basebackup (docs/DEPLOYMENT.md); nothing was "
                          "written", o->data);
    if (!o->output)
        return admin_usage(cmd, "--output FILE is required");
    if (admin_path_in(o->data, "store.db", path) < 0 ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.part", o->output) >= sizeof(tmp))
        return admin_fail(ADMIN_EXIT_USAGE, "a path is too long");
    if (access(path, R_OK) < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "no store at %s", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot create %s: %s", tmp, strerror(errno));
    (void)close(fd);
    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        r = -EIO;
    if (r >= 0) {
        sqlite3_busy_timeout(src, 10000);
        b = sqlite3_backup_init(dst, "main", src, "main");
        /* All pages in one step: one read transaction, one consistent snapshot. */
        if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE)
            r = -EIO;
        if (b && sqlite3_backup_finish(b) != SQLITE_OK)
            r = -EIO;
    }
    if (r >= 0)
        r = backup_exec(dst, "PRAGMA journal_mode = DELETE;"
                             "CREATE TABLE backup_files (name TEXT PRIMARY KEY, mode INTEGER"
                             " NOT NULL, content BLOB NOT NULL);"
                             "CREATE TABLE backup_info (key TEXT PRIMARY KEY, value TEXT);");
    if (r >= 0 && sqlite3_prepare_v2(dst, "INSERT INTO backup_files VALUES(?, ?, ?)", -1, &st,
                                     NULL) != SQLITE_OK)
        r = -EIO;
    for (const char *const *n = backup_names; r >= 0 && *n; n++) {
        char fp[PATH_MAX];
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        mode_t mode = 0600;

        if (admin_path_in(o->data, *n, fp) < 0 || read_small(fp, &data, &len, &mode) < 0)
            continue; /* a file the data directory does not have */
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, *n, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)mode);
        sqlite3_bind_blob(st, 3, data, (int)len, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = -EIO;
    }
    sqlite3_finalize(st);
    if (r >= 0 && sqlite3_prepare_v2(dst, "INSERT INTO backup_info VALUES('taken_at', ?)", -1,
                                     &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, iso_time(hlc_wall_ms(), ts), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = -EIO;
        sqlite3_finalize(st);
    }
    if (dst && r < 0)
        fprintf(stderr, "caresyncd: %s\n", sqlite3_errmsg(dst));
    sqlite3_close_v2(src);
    if (sqlite3_close_v2(dst) != SQLITE_OK)
        r = -EIO;
    if (r >= 0 && (chmod(tmp, 0600) < 0 || rename(tmp, o->output) < 0))
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return admin_fail(ADMIN_EXIT_FAILURE, "backup failed: %s; nothing was written",
                    strerror(-r));
    }
    printf("backup of %s written to %s (mode 0600); restore it with 'caresyncd restore --data"
           " DIR --input %s' while caresyncd is stopped\n", o->data, o->output, o->output);
    return ADMIN_EXIT_OK;
}

/* Whether a process (other than this one) has @path open: a daemon serving it. */
static bool file_in_use(const char *path)
{
    char want[PATH_MAX], link[PATH_MAX], fdir[300];
    DIR *proc = opendir("/proc");
    struct dirent *p, *f;
    bool used = false;

    if (!proc || !realpath(path, want)) {
        if (proc)
            closedir(proc);
        return false;
    }
    while (!used && (p = readdir(proc))) {
        DIR *fds;

        if (p->d_name[0] < '0' || p->d_name[0] > '9' || atoi(p->d_name) == getpid())
            continue;
        snprintf(fdir, sizeof(fdir), "/proc/%s/fd", p->d_name);
        fds = opendir(fdir);
        while (fds && !used && (f = readdir(fds))) {
            char fp[PATH_MAX + 600];
            ssize_t n;

            snprintf(fp, sizeof(fp), "%s/%s", fdir, f->d_name);
            n = readlink(fp, link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = '\0';
                used = streq(link, want);
            }
        }
        if (fds)
            closedir(fds);
    }
    closedir(proc);
    return used;
}

int admin_restore(const struct admin_command *cmd, struct admin_opts *o)
{
    char path[PATH_MAX], tmp[PATH_MAX], aside[PATH_MAX + 40], taken[64] = "unknown";
    struct store_position old = {0};
    bool had_old = false;
    sqlite3 *in = NULL, *db = NULL;
    sqlite3_backup *b;
    sqlite3_stmt *st = NULL;
    struct store *s = NULL;
    int r = 0, k;

    if (admin_store_is_url(o->data) > 0)
        return admin_fail(ADMIN_EXIT_USAGE, "the store of %s is PostgreSQL (store.url): restore "
                          "it with pg_restore or from a base backup (docs/DEPLOYMENT.md); nothing "
                          "was changed", o->data);
    if (!o->input)
        return admin_usage(cmd, "--input FILE is required");
    if (admin_path_in(o->data, "store.db", path) < 0 || admin_path_in(o->data, "store.db.restoring", tmp) < 0)
        return admin_fail(ADMIN_EXIT_USAGE, "the --data path '%s' is too long", o->data);
    if (file_in_use(path))
        return admin_fail(ADMIN_EXIT_FAILURE, "a process has %s open (caresyncd serve?); stop it"
                    " first, then restore; nothing was changed", path);
    if (sqlite3_open_v2(o->input, &in, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(in, "SELECT value FROM backup_info WHERE key = 'taken_at'", -1, &st,
                           NULL) != SQLITE_OK) {
        sqlite3_close_v2(in);
        return admin_fail(ADMIN_EXIT_FAILURE, "%s is not a caresyncd backup; nothing was changed",
                    o->input);
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(taken, sizeof(taken), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    /* Where the store being replaced had got to: the span the restore loses. */
    if (access(path, F_OK) == 0) {
        k = admin_open_store(o->data, &s);
        if (k != ADMIN_EXIT_OK) {
            sqlite3_close_v2(in);
            return k;
        }
        r = store_position(s, &old);
        s = store_free(s);
        if (r < 0) {
            sqlite3_close_v2(in);
            return admin_store_failure(r, "reading the store being replaced");
        }
        had_old = true;
        snprintf(aside, sizeof(aside), "%s.replaced-%" PRIu64, path, hlc_wall_ms());
        if (rename(path, aside) < 0) {
            sqlite3_close_v2(in);
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot move %s aside: %s; nothing was changed",
                        path, strerror(errno));
        }
        fprintf(stderr, "caresyncd: the store being replaced was kept as %s\n", aside);
    }
    (void)unlink(tmp);
    k = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (k >= 0)
        (void)close(k);
    if (k < 0 || sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        r = -EIO;
    if (r >= 0) {
        b = sqlite3_backup_init(db, "main", in, "main");
        if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE)
            r = -EIO;
        if (b && sqlite3_backup_finish(b) != SQLITE_OK)
            r = -EIO;
    }
    /* The keys and certificates back in the data directory, then out of the store. */
    if (r >= 0 && sqlite3_prepare_v2(db, "SELECT name, mode, content FROM backup_files", -1, &st,
                                     NULL) != SQLITE_OK)
        r = -EIO;
    while (r >= 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        char fp[PATH_MAX];
        bool known = false;

        for (const char *const *n = backup_names; name && *n; n++)
            known |= streq(*n, name);
        if (!known || admin_path_in(o->data, name, fp) < 0)
            continue;
        r = file_write_atomic(fp, sqlite3_column_blob(st, 2),
                              (size_t)sqlite3_column_bytes(st, 2),
                              (mode_t)sqlite3_column_int(st, 1) & 0644);
    }
    sqlite3_finalize(st);
    if (r >= 0)
        r = backup_exec(db, "DROP TABLE backup_files; DROP TABLE backup_info; VACUUM;"
                            " PRAGMA journal_mode = WAL;");
    sqlite3_close_v2(in);
    if (sqlite3_close_v2(db) != SQLITE_OK)
        r = -EIO;
    if (r >= 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return admin_fail(ADMIN_EXIT_FAILURE, "restore failed: %s%s", strerror(-r),
                    had_old ? "; the replaced store was kept beside it" : "");
    }
    k = admin_open_store(o->data, &s);
    if (k != ADMIN_EXIT_OK)
        return k;
    r = store_mark_restored(s, taken, had_old ? &old : NULL);
    s = store_free(s);
    if (r < 0)
        return admin_store_failure(r, "marking the restored store");
    printf("restored %s from the backup taken at %s as a new epoch; every device re-sends what"
           " it made since and reads its caseload again at its next sync\n", path, taken);
    return ADMIN_EXIT_OK;
}
