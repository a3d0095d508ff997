/* SPDX-License-Identifier: MIT */
/*
 * sqlite_migrate.c - the embedded store's side of `caresyncd store migrate` (migrate.h): what
 * tables and columns it has and every row of each, read in one transaction. The statements
 * here name tables chosen at run time, so they are prepared, run and finalized here rather
 * than kept in the store's statement cache (keyed by the address of a SQL literal).
 */
#include "migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_int.h"

char **strv_free(char **v)
{
    if (v)
        for (char **p = v; *p; p++)
            free(*p);
    free(v);
    return NULL;
}

static inline void strv_freep(char ***p)
{
    *p = strv_free(*p);
}

int sqlite_migrate_begin(struct store *s, struct migrate_source *ret)
{
    struct migrate_source src = {0};
    int r = db_begin(s->db, true);

    if (r < 0)
        return r;
    memcpy(src.node_id, s->node_id, UUID_STR_MAX);
    memcpy(src.epoch, s->epoch, UUID_STR_MAX);
    r = db_meta_get_u64(s->db, "seq", &src.seq);
    if (r >= 0)
        r = db_hlc_get(s->db, &src.hlc);
    if (r >= 0) {
        s->audit_tail_id = 0; /* read the tail from the table, not a transaction's memory */
        r = store_audit_head(s, &src.audit_id, src.audit_hash);
    }
    if (r < 0) {
        db_rollback(s->db);
        return r;
    }
    *ret = src;
    return 0;
}

void sqlite_migrate_end(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        db_rollback(s->db);
}

/* The first column of every row of @sql (?1 bound to @arg when not NULL) as a strv. */
static int column_strv(struct store *s, const char *sql, const char *arg, char ***ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_(strv_freep) char **v = NULL;
    size_t n = 0, cap = 0;
    int rc, r;

    r = db_prepare(s->db, sql, &st);
    if (r < 0)
        return r;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (array_grow((void **)&v, &cap, n + 2, sizeof(char *), 16) < 0)
            return -ENOMEM;
        v[n] = strdup(t ? t : "");
        if (!v[n])
            return -ENOMEM;
        v[++n] = NULL;
    }
    if (rc != SQLITE_DONE)
        return db_errno(rc);
    if (!v) {
        v = calloc(1, sizeof(char *));
        if (!v)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(v);
    return 0;
}

int sqlite_migrate_tables(struct store *s, char ***ret)
{
    return column_strv(s,
                       "SELECT name FROM sqlite_schema WHERE type = 'table'"
                       " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                       NULL, ret);
}

int sqlite_migrate_columns(struct store *s, const char *table, char ***ret)
{
    return column_strv(s, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", table, ret);
}

/* "name" quoted as an SQL identifier, into @buf. -ENAMETOOLONG, -EINVAL (a quote in it). */
static int ident(const char *name, char *buf, size_t size)
{
    if (strchr(name, '"'))
        return -EINVAL;
    if ((size_t)snprintf(buf, size, "\"%s\"", name) >= size)
        return -ENAMETOOLONG;
    return 0;
}

int sqlite_migrate_count(struct store *s, const char *table, int64_t *ret)
{
    char sql[256], t[128];
    int r = ident(table, t, sizeof(t));

    if (r < 0)
        return r;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t);
    return db_query_i64(s->db, sql, NULL, ret);
}

/* Append "@a@b" (@b quoted as an identifier) to @buf of @size holding @used bytes. */
static int append_ident(char *buf, size_t size, size_t *used, const char *a, const char *b)
{
    char t[128];
    int r = ident(b, t, sizeof(t));
    int n;

    if (r < 0)
        return r;
    n = snprintf(buf + *used, size - *used, "%s%s", a, t);
    if (n < 0 || (size_t)n >= size - *used)
        return -ENAMETOOLONG;
    *used += (size_t)n;
    return 0;
}

int sqlite_migrate_scan(struct store *s, const char *table, char *const *columns,
                        const char *order_by, migrate_row_fn fn, void *userdata)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_free_ char *sql = NULL;
    _cleanup_free_ struct migrate_value *vals = NULL;
    char (*reals)[32] = NULL;
    size_t n = 0, len = 64, used = 0;
    int rc, r = 0;

    for (n = 0; columns[n]; n++)
        len += strlen(columns[n]) + 4;
    if (n == 0)
        return -EINVAL;
    len += strlen(table) + (order_by ? strlen(order_by) : 0) + 32;
    sql = malloc(len);
    vals = calloc(n, sizeof(*vals));
    reals = calloc(n, sizeof(*reals));
    if (!sql || !vals || !reals) {
        free(reals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n && r >= 0; i++)
        r = append_ident(sql, len, &used, i == 0 ? "SELECT " : ", ", columns[i]);
    if (r >= 0)
        r = append_ident(sql, len, &used, " FROM ", table);
    if (r >= 0 && order_by)
        r = append_ident(sql, len, &used, " ORDER BY ", order_by);
    if (r < 0)
        goto out;
    r = db_prepare(s->db, sql, &st);
    if (r < 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < n; i++) {
            struct migrate_value *v = &vals[i];

            switch (sqlite3_column_type(st, (int)i)) {
            case SQLITE_NULL:
                *v = (struct migrate_value){.type = MIGRATE_NULL};
                break;
            case SQLITE_INTEGER:
                v->type = MIGRATE_INTEGER;
                v->v = (const char *)sqlite3_column_text(st, (int)i);
                v->len = (size_t)sqlite3_column_bytes(st, (int)i);
                break;
            case SQLITE_FLOAT:
                v->type = MIGRATE_REAL;
                snprintf(reals[i], sizeof(reals[i]), "%.17g", sqlite3_column_double(st, (int)i));
                v->v = reals[i];
                v->len = strlen(reals[i]);
                break;
            case SQLITE_BLOB:
                v->type = MIGRATE_BLOB;
                v->v = sqlite3_column_blob(st, (int)i);
                v->len = (size_t)sqlite3_column_bytes(st, (int)i);
                if (!v->v)
                    v->v = "";
                break;
            default:
                v->type = MIGRATE_TEXT;
                v->v = (const char *)sqlite3_column_text(st, (int)i);
                v->len = (size_t)sqlite3_column_bytes(st, (int)i);
                break;
            }
            if (v->type != MIGRATE_NULL && !v->v) {
                r = -ENOMEM;
                goto out;
            }
        }
        r = fn(userdata, vals, n);
        if (r < 0)
            goto out;
    }
    r = rc == SQLITE_DONE ? 0 : db_errno(rc);
out:
    free(reals);
    return r;
}

int sqlite_migrate_checkpoint(struct store *s)
{
    int log_frames = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                       &done);

    if (rc == SQLITE_BUSY)
        return -EBUSY;
    return db_errno(rc);
}
