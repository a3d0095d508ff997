/* SPDX-License-Identifier: MIT */
/*
 * admin_migrate.c - `caresyncd store migrate --data DIR --to URL`: the embedded store of DIR
 * moves, whole, into the PostgreSQL database URL names (migrate.h; docs/DEPLOYMENT.md, "Moving
 * from the embedded store"). The copy is one PostgreSQL transaction (pg_migrate.c); this file
 * is what happens around it on disk, in an order that a crash at any point leaves recoverable:
 *
 *   1. the serve lock (no daemon serves DIR, none starts while this runs);
 *   2. the copy, committed;
 *   3. DIR/store.url written atomically (mode 0600): from here on DIR is served from the
 *      database, whatever happens next;
 *   4. the store checkpointed and closed, store.db (and a -wal/-shm left behind) renamed
 *      store.db.moved: kept as the fallback backup, and never served by mistake.
 *
 * A crash between 2 and 3 leaves the database holding exactly this store: run again, the copy
 * finds it there (same node id, same rows, same chain) and only 3 and 4 are done. Between 3 and
 * 4: store.url names the database and store.db is still there; run again, only 4 is done.
 */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "pg_sql.h"
#include "store.h"
#include "util.h"

static inline void store_freep(struct store **p)
{
    store_free(*p);
}
static inline void sql_closep(struct sql **p)
{
    sql_close(*p);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* DIR/store.db (and a -wal or -shm still there) renamed store.db.moved. */
static int rename_store(const char *dir, const char *db, const char *moved)
{
    static const char *const sides[] = {"-wal", "-shm"};

    for (size_t i = 0; i < ELEMENTSOF(sides); i++) {
        char from[PATH_MAX], to[PATH_MAX];

        snprintf(from, sizeof(from), "%s%s", db, sides[i]);
        snprintf(to, sizeof(to), "%s%s", moved, sides[i]);
        if (exists(from) && rename(from, to) < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot rename %s to %s: %s; rename it by hand",
                              from, to, strerror(errno));
    }
    if (rename(db, moved) < 0)
        return admin_fail(ADMIN_EXIT_FAILURE,
                          "cannot rename %s to %s: %s; the store is in PostgreSQL already: "
                          "rename it by hand so that nothing serves the stale copy",
                          db, moved, strerror(errno));
    (void)dir;
    return ADMIN_EXIT_OK;
}

/* Steps 3 and 4: DIR is switched to the database. The store @s is closed here. */
static int switch_over(const char *dir, const char *to, struct store **s, const char *db,
                       const char *url_path, const char *moved, bool write_url)
{
    _cleanup_free_ char *line = NULL;
    struct stat st;
    int r;

    if (write_url) {
        line = malloc(strlen(to) + 2);
        if (!line)
            return admin_fail(ADMIN_EXIT_FAILURE, "out of memory");
        snprintf(line, strlen(to) + 2, "%s\n", to);
        r = file_write_atomic(url_path, line, strlen(line), 0600);
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE,
                              "the store is in PostgreSQL, but %s could not be written: %s; "
                              "run store migrate again to finish",
                              url_path, strerror(-r));
        /* Run as root, store.url is given to store.db's owner (the user serve runs as), who
         * must read it; as anyone else it is theirs already. */
        if (geteuid() == 0 && stat(db, &st) == 0 && chown(url_path, st.st_uid, st.st_gid) < 0)
            log_warn("cannot give %s to the owner of %s: %s; serve's user must be able to "
                     "read it", url_path, db, strerror(errno));
    }
    /* Everything in the WAL into store.db, so store.db.moved alone is the whole store. */
    r = sqlite_migrate_checkpoint(*s);
    if (r < 0)
        log_warn("cannot checkpoint %s (%s); its -wal is renamed with it", db, strerror(-r));
    *s = store_free(*s);
    return rename_store(dir, db, moved);
}

static void print_summary(const char *dir, const char *shown, const struct migrate_report *rep)
{
    printf("caresyncd: moved the embedded store of %s to PostgreSQL at %s\n", dir, shown);
    if (rep->migrations > 0)
        printf("  the database's schema: %d migrations applied (schema/server-pg)\n",
               rep->migrations);
    printf("  %-22s %12s %9s\n", "table", "rows", "seconds");
    for (size_t i = 0; i < rep->n_tables; i++)
        printf("  %-22s %12" PRId64 " %9.2f\n", rep->tables[i].name, rep->tables[i].rows,
               rep->tables[i].seconds);
    printf("  %-22s %12" PRId64 "  in %.2f s, %.0f rows/s, one transaction\n", "total",
           rep->rows, rep->seconds, rep->seconds > 0 ? (double)rep->rows / rep->seconds : 0.0);
    printf("  checked: every table's count, and the audit chain ends at row %" PRId64
           " (%.16s) in both\n",
           rep->source.audit_id, rep->source.audit_hash);
    printf("  node id %s, epoch %s: unchanged; sequence %" PRIu64 " (was %" PRIu64 ")\n",
           rep->source.node_id, rep->source.epoch, rep->head_seq, rep->source.seq);
}

static void print_next(const char *dir)
{
    printf("  %s/store.url        the database (mode 0600): caresyncd serves it from now on\n",
           dir);
    printf("  %s/store.db.moved   the embedded store as it was: the fallback backup; keep it "
           "until the move has proved itself\n",
           dir);
    printf("next: caresyncd serve --data %s (on each machine, behind the load balancer);\n"
           "      devices sync on as before (same node id, cursors and tokens); back up the "
           "database from now on (docs/DEPLOYMENT.md)\n",
           dir);
}

int admin_store_migrate(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_freep) struct store *s = NULL;
    _cleanup_(sql_closep) struct sql *pg = NULL;
    _cleanup_free_ char *have = NULL;
    char db[PATH_MAX], url_path[PATH_MAX], moved[PATH_MAX], shown[PATH_MAX];
    struct migrate_report rep;
    int lock_fd = -1, r;
    bool url_there;

    if (!o->to || !o->to[0])
        return admin_usage(cmd, "--to URL is required (postgresql://USER@HOST/DATABASE)");
    if (strpbrk(o->to, "\r\n") || strlen(o->to) >= 4000)
        return admin_usage(cmd, "--to must be one line of fewer than 4000 characters");
    if (admin_path_in(o->data, "store.db", db) < 0 ||
        admin_path_in(o->data, "store.url", url_path) < 0 ||
        admin_path_in(o->data, "store.db.moved", moved) < 0)
        return admin_usage(cmd, "the --data path is too long");
    admin_url_shown(o->to, shown, sizeof(shown));

    if (!exists(db) && !exists(url_path))
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                          "no embedded store at %s; check --data (made by 'caresyncd init')", db);

    /* 1. No daemon serves DIR, and none starts until this process ends. */
    r = admin_serve_lock(o->data, "stop it first, then run store migrate again", &lock_fd);
    if (r != ADMIN_EXIT_OK)
        return r;

    r = admin_store_url(o->data, &have);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot read %s: %s; it holds the PostgreSQL "
                          "store's URL on one line", url_path, strerror(-r));
    url_there = r > 0;
    if (url_there && !exists(db))
        return admin_fail(ADMIN_EXIT_EXISTS,
                          "%s is already served from PostgreSQL (%s); there is no embedded store "
                          "to move",
                          o->data, url_path);
    if (url_there && !streq(have, o->to))
        return admin_fail(ADMIN_EXIT_EXISTS,
                          "%s names another database than --to; %s is already switched to it: "
                          "nothing to move",
                          url_path, o->data);
    if (!exists(db))
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                          "no embedded store at %s; check --data (made by 'caresyncd init')", db);
    if (exists(moved))
        return admin_fail(ADMIN_EXIT_EXISTS,
                          "%s exists from an earlier move; move it out of %s first (it is that "
                          "move's backup)",
                          moved, o->data);

    r = store_open(db, false, &s);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot open the store %s: %s", db, strerror(-r));
    {
        char why[256] = "";

        r = pg_sql_connect(o->to, &pg, why, sizeof(why));
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE,
                              "cannot connect to PostgreSQL at %s (--to): %s; check the URL, "
                              "that the database is up and the login; nothing was moved",
                              shown, why[0] ? why : strerror(-r));
    }

    if (url_there) {
        /* A move that wrote store.url but did not rename store.db: finish it, if the database
         * holds this store (it may have been served since: its rows are the truth now). */
        r = pg_migrate_same_store(pg, store_node_id(s));
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot read the database at %s: %s", shown,
                              strerror(-r));
        if (r == 0)
            return admin_fail(ADMIN_EXIT_EXISTS,
                              "%s names %s, which does not hold this store (node id %s); "
                              "nothing was changed: check which database DIR should use",
                              url_path, shown, store_node_id(s));
        sql_close(pg);
        pg = NULL;
        r = switch_over(o->data, o->to, &s, db, url_path, moved, false);
        if (r != ADMIN_EXIT_OK)
            return r;
        printf("caresyncd: finished an earlier move of %s to PostgreSQL at %s\n", o->data, shown);
        print_next(o->data);
        return ADMIN_EXIT_OK;
    }

    /* 2. The copy, in one transaction. */
    /* The schema migrations' one line each would bury the summary: it counts them. */
    log_set_level(LOG_LEVEL_WARN);
    r = pg_migrate_copy(s, pg, &rep);
    log_set_level(LOG_LEVEL_INFO);
    if (r < 0)
        return admin_fail(r == -EEXIST ? ADMIN_EXIT_EXISTS : ADMIN_EXIT_FAILURE,
                          "store migrate: %s%s", rep.why,
                          r == -EEXIST || strstr(rep.why, "nothing was moved")
                                  ? ""
                                  : "; nothing was moved");
    sql_close(pg);
    pg = NULL;
    if (rep.already)
        printf("caresyncd: the database at %s already holds this store exactly (node id %s, "
               "every table's count, the audit chain's tail): finishing the switch\n",
               shown, rep.source.node_id);
    else
        print_summary(o->data, shown, &rep);
    fflush(stdout);

    /* 3 and 4. */
    r = switch_over(o->data, o->to, &s, db, url_path, moved, true);
    if (r != ADMIN_EXIT_OK)
        return r;
    print_next(o->data);
    return ADMIN_EXIT_OK;
}
