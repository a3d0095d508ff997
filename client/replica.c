/* SPDX-License-Identifier: MIT */
/* replica.c - the handle: home directory layout, opening and creating the replica database,
 * error messages, and small shared helpers. */
#include "caresync.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "caresync_int.h"
#include "db.h"
#include "hlc.h"
#include "log.h"
#include "schema.h"

const char *caresync_version(void)
{
    return CARESYNC_VERSION;
}

int cs_fail(struct caresync *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    /* One line, always: a value quoted in a message must not break it. */
    for (char *p = c->errmsg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    log_debug("error %d: %s", code, c->errmsg);
    return code;
}

int cs_fail_errno(struct caresync *c, int r, const char *what)
{
    const char *hint = "check the disk and the permissions of the home directory";

    if (r == -ENOMEM)
        hint = "free some memory and try again";
    else if (r == -ENOSPC)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "%s: the disk is full; free some space on this device and try again"
                       " (nothing already saved is lost, and reading still works)",
                       what);
    else if (r == -EBUSY)
        hint = "another caresync is using the replica; try again in a moment";
    else if (r == -EUCLEAN)
        hint = "the replica is damaged; enrol again with a new --home";
    return cs_fail(c, CARESYNC_ELOCAL, "%s: %s; %s", what, strerror(r < 0 ? -r : r), hint);
}

int cs_begin(struct caresync *c)
{
    if (c->broken)
        return c->broken; /* keep the message from caresync_open() */
    c->errmsg[0] = '\0';
    return CARESYNC_OK;
}

int cs_need_enrolled(struct caresync *c)
{
    if (c->db && c->device_id[0])
        return CARESYNC_OK;
    return cs_fail(c, CARESYNC_EUSAGE,
                   "%s is not enrolled: run 'caresync --home %s enrol --server URL --ca CA.pem"
                   " --code CODE' first",
                   c->home, c->home);
}

int cs_lock_state(struct caresync *c, struct cs_lock *ret)
{
    _cleanup_free_ char *days = NULL;
    uint64_t last = 0, now = hlc_wall_ms();
    int r;

    memset(ret, 0, sizeof(*ret));
    r = db_meta_get(c->db, "lock_after_days", &days);
    if (r < 0)
        return r;
    if (r > 0 && days && parse_u64(days, &ret->after_days) == 0)
        ret->known = true;
    r = db_meta_get_u64(c->db, "last_sync_ms", &last);
    if (r < 0)
        return r;
    ret->synced = last > 0;
    ret->since_ms = now > last ? now - last : 0;
    /* Never synced since the policy arrived cannot happen: both come with the first sync. */
    ret->locked = ret->known && ret->after_days > 0 && ret->synced &&
                  ret->since_ms > ret->after_days * CS_DAY_MS;
    return 0;
}

int cs_need_replica(struct caresync *c)
{
    struct cs_lock l;
    int r = cs_need_enrolled(c);

    if (r != CARESYNC_OK)
        return r;
    r = cs_lock_state(c, &l);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's settings");
    if (l.locked)
        return cs_fail(c, CARESYNC_ELOCKED,
                       "this device has not synced for %" PRIu64 " days and is locked; connect"
                       " and run 'caresync sync'",
                       l.since_ms / CS_DAY_MS);
    return CARESYNC_OK;
}

const char *caresync_errmsg(const struct caresync *c)
{
    if (!c)
        return "out of memory";
    return c->errmsg;
}

int replica_count(sqlite3 *db, const char *sql, uint64_t *ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(db, sql, &st);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? -EIO : db_errno(rc);
    *ret = (uint64_t)sqlite3_column_int64(st, 0);
    return 0;
}

const struct cat_table *replica_table_by_label(const char *label)
{
    for (size_t i = 0; i < catalogue_n_tables; i++)
        if (streq(catalogue_tables[i].label, label))
            return &catalogue_tables[i];
    return NULL;
}

int json_take_string(const cJSON *j, char **ret)
{
    char *s = cJSON_PrintUnformatted(j);

    if (!s)
        return -ENOMEM;
    /* cJSON allocates with malloc by default; hand out a copy the caller frees with free(). */
    *ret = strdup(s);
    cJSON_free(s);
    return *ret ? 0 : -ENOMEM;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Load the settings the handle caches: device id, server URL, which CAs to trust. */
static int load_meta(struct caresync *c)
{
    _cleanup_free_ char *dev = NULL, *ca = NULL;
    char *url = NULL;
    int r;

    r = db_meta_get(c->db, "device_id", &dev);
    if (r < 0)
        return r;
    if (r > 0 && uuid_valid(dev))
        memcpy(c->device_id, dev, UUID_STR_MAX);
    r = db_meta_get(c->db, "server_url", &url);
    if (r < 0)
        return r;
    free(c->server_url);
    c->server_url = url;
    r = db_meta_get(c->db, "ca", &ca);
    if (r < 0)
        return r;
    c->ca_system = r > 0 && streq(ca, "system");
    return 0;
}

/*
 * Open DIR/replica.db when the disk is full. A WAL database is normally read through its -shm
 * file (the wal-index), which SQLite makes and grows on first access; on a full disk that
 * fails (SQLITE_IOERR_SHMSIZE) and no command, not even `show`, could run. In exclusive locking
 * mode, set before the first access, SQLite keeps the wal-index in the heap instead, so reading
 * needs no space; a write then fails with SQLITE_FULL and rolls back, losing nothing. The price
 * is that no other process may use the replica while this handle is open (it waits, then gets
 * -EBUSY), which is why this is only the fallback. The pragmas are db_open()'s, in that order
 * after the locking mode.
 */
static int open_db_exclusive(const char *path, sqlite3 **ret)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    int rc, r;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_errno(rc);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 10000);
    r = db_exec(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
                    " PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                    " PRAGMA secure_delete=ON;");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(db);
    return 0;
}

/*
 * Open (or with @create, create) DIR/replica.db under umask 077, so that the database and its
 * -wal and -shm files are owner-only, and bring its schema up to date. An existing replica that
 * cannot be opened for want of disk space is opened by open_db_exclusive(), so that reading
 * works on a full disk.
 */
static int open_db(struct caresync *c, bool create)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    unsigned flags = DB_OPEN_SECURE_DELETE | (create ? DB_OPEN_CREATE : 0);
    mode_t old;
    int r;

    old = umask(077);
    r = db_open(c->db_path, flags, &db);
    if ((r == -EIO || r == -ENOSPC) && !create) {
        log_debug("cannot open %s normally (%s); trying without a -shm file", c->db_path,
                  strerror(-r));
        if (open_db_exclusive(c->db_path, &db) >= 0)
            r = 0;
    }
    if (r >= 0 && create && chmod(c->db_path, 0600) < 0)
        r = -errno;
    if (r >= 0)
        r = db_migrate(db, schema_client, schema_client_count);
    /* SQLite's page cache is the largest private allocation of a sync, and a bigger one buys
     * nothing: a first sync of 200 people (bench item 3) took the same CPU with 256 KiB as with
     * the default 2 MiB or with 32 MiB; the pages it misses are in the OS's page cache. */
    if (r >= 0)
        r = db_exec(db, "PRAGMA cache_size=-256");
    umask(old);
    if (r == -EPROTO)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "replica %s was written by a newer caresync; install that version again",
                       c->db_path);
    if (r < 0) {
        char what[CS_ERRMSG_MAX / 2];

        snprintf(what, sizeof(what), "cannot open replica %s", c->db_path);
        return cs_fail_errno(c, r, what);
    }
    c->db = TAKE_PTR(db);
    r = load_meta(c);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's settings");
    return CARESYNC_OK;
}

/*
 * Make directory @path and any missing parents, each 0700 (a parent made here holds only the
 * replica). Existing ones are left as they are. Returns 0 or -errno.
 */
static int mkdir_parents(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int replica_create(struct caresync *c)
{
    struct stat sb;
    int r;

    r = mkdir_parents(c->home);
    if (r < 0)
        return cs_fail(c, CARESYNC_ELOCAL, "cannot create home directory %s: %s", c->home,
                       strerror(-r));
    if (stat(c->home, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return cs_fail(c, CARESYNC_EUSAGE, "home %s is not a directory; pass another --home",
                       c->home);
    if (c->db)
        return CARESYNC_OK;
    return open_db(c, true);
}

int caresync_open(const char *home, struct caresync **ret)
{
    struct caresync *c;
    struct stat sb;

    c = calloc(1, sizeof(*c));
    if (!c) {
        *ret = NULL;
        return CARESYNC_ELOCAL;
    }
    *ret = c;
    if (!home || !*home)
        home = getenv("CARESYNC_HOME");
    if (!home || !*home) {
        c->broken = CARESYNC_EUSAGE;
        return cs_fail(c, CARESYNC_EUSAGE, "no home: pass --home DIR or set CARESYNC_HOME");
    }
    c->home = strdup(home);
    if (c->home) {
        c->db_path = path_join(home, CS_REPLICA_FILE);
        c->token_path = path_join(home, CS_TOKEN_FILE);
        c->ca_path = path_join(home, CS_CA_FILE);
    }
    if (!c->home || !c->db_path || !c->token_path || !c->ca_path) {
        c->broken = CARESYNC_ELOCAL;
        return cs_fail(c, CARESYNC_ELOCAL, "out of memory");
    }
    if (stat(c->db_path, &sb) < 0) {
        if (errno == ENOENT)
            return CARESYNC_OK; /* not enrolled yet */
        c->broken = CARESYNC_ELOCAL;
        return cs_fail(c, CARESYNC_ELOCAL, "cannot access %s: %s", c->db_path, strerror(errno));
    }
    if (open_db(c, false) != CARESYNC_OK) {
        c->broken = CARESYNC_ELOCAL;
        return CARESYNC_ELOCAL;
    }
    return CARESYNC_OK;
}

struct caresync *caresync_close(struct caresync *c)
{
    if (!c)
        return NULL;
    transport_done(c);
    db_cache_free(c->stmts);
    c->stmts = NULL;
    if (c->db)
        sqlite3_close_v2(c->db);
    free(c->home);
    free(c->db_path);
    free(c->token_path);
    free(c->ca_path);
    free(c->server_url);
    free(c);
    return NULL;
}
