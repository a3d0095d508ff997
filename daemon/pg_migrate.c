/* SPDX-License-Identifier: MIT */
/*
 * pg_migrate.c - the copy of `caresyncd store migrate` (migrate.h): an embedded store into a
 * PostgreSQL database, every table in one transaction, so that devices carry on as if nothing
 * had happened (docs/internals/scale-out.md, "Moving a store").
 *
 * What a device holds of the store is its cursor, "SEQ:EPOCH:AUDIT_ID:HASH" (store_sync.c):
 * the store is "rewound" for it when its SEQ is past the store's sequence, its EPOCH is not the
 * store's, or the chain does not hold AUDIT_ID with that hash. So the copy keeps meta 'epoch'
 * and 'node_id', every audit row with its id and hash, and puts store_head's sequence at or
 * above the embedded one; the rows keep their sequence numbers, so a cursor means in the
 * database what it meant in the file: nothing is sent twice, nothing is skipped.
 */
#include "migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pg_sql.h"
#include "store.h"

/*
 * Every table of the embedded store (schema/server), in the order they are copied: a table
 * before those whose foreign keys name it. A table the store has that is not here is refused
 * before anything is written (test_store_migrate adds one and checks), so a table added to
 * schema/server is never silently left behind: add it here, with its PostgreSQL twin in
 * schema/server-pg.
 */
static const struct migrate_table {
    const char *name;
    const char *order_by; /* copied in this column's order (NULL: the table's own) */
    /* Triggers that would write rows the copy brings itself (the conflict events), off
     * while the table is copied: ALTER TABLE ... DISABLE TRIGGER, inside the transaction. */
    const char *disable, *enable;
} tables[] = {
        /* seq and hlc are not copied: store_head holds them (below). */
        {"meta", "key", NULL, NULL},
        {"users", "id", NULL, NULL},
        {"staff_logins", "user_id", NULL, NULL},
        {"console_sessions", NULL, NULL, NULL},
        {"devices", NULL, NULL, NULL},
        {"enrol_codes", NULL, NULL, NULL},
        {"assignments", "id", NULL, NULL},
        {"named_coordinators", NULL, NULL, NULL},
        {"person_expiry", NULL, NULL, NULL},
        {"field_state", NULL, NULL, NULL},
        {"change_log", "id", NULL, NULL},
        {"conflicts", "id", "ALTER TABLE conflicts DISABLE TRIGGER conflicts_event_created",
         "ALTER TABLE conflicts ENABLE TRIGGER conflicts_event_created"},
        {"conflict_resolutions", "id",
         "ALTER TABLE conflict_resolutions DISABLE TRIGGER conflicts_event_resolved",
         "ALTER TABLE conflict_resolutions ENABLE TRIGGER conflicts_event_resolved"},
        {"conflict_events", "id", NULL, NULL},
        /* In id order: each row must extend the chain (audit_extends_chain). */
        {"audit", "id", NULL, NULL},
};

#define COPY_FLUSH_BYTES (1u << 20) /* send the rows every MiB */

static const struct migrate_table *table_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(tables); i++)
        if (streq(tables[i].name, name))
            return &tables[i];
    return NULL;
}

/* A meta row store_head holds instead. */
static bool meta_in_head(const char *key, size_t len)
{
    return len == 3 && (memcmp(key, "seq", 3) == 0 || memcmp(key, "hlc", 3) == 0);
}

static inline void strv_freep(char ***p)
{
    *p = strv_free(*p);
}

static inline void sql_resetp(struct sql_stmt **p)
{
    sql_reset(*p);
}
#define _cleanup_sql_ _cleanup_(sql_resetp)

/* ---- what the database holds ---- */

/* count(*) of any table by name, for the checks below: a function of the session (pg_temp),
 * so one prepared statement counts every table. */
static const char count_fn_sql[] =
        "CREATE OR REPLACE FUNCTION pg_temp.caresync_rows(t text) RETURNS bigint"
        " LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN"
        " EXECUTE format('SELECT count(*) FROM %I', t) INTO n; RETURN n; END $$";

/* Every table of the caresync schema but the migrations' own and the append point, with its
 * row count. */
static const char counts_sql[] =
        "SELECT table_name::text, pg_temp.caresync_rows(table_name::text)"
        " FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_migrations', 'store_head')"
        " ORDER BY 1";

struct pg_count {
    char name[64];
    int64_t rows;
};

/* The row count of every table of the database's schema into @ret (at most @cap). Returns the
 * number of tables or -errno. */
static int pg_counts(struct sql *db, struct pg_count *ret, size_t cap)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    size_t n = 0;
    int r;

    r = sql_prepare(db, counts_sql, &st);
    while (r >= 0 && (r = sql_step(st)) == SQL_ROW) {
        if (n == cap)
            return -E2BIG;
        copy_text(ret[n].name, sizeof(ret[n].name), sql_column_text(st, 0));
        ret[n].rows = sql_column_int64(st, 1);
        n++;
    }
    return r < 0 ? r : (int)n;
}

static int64_t count_of(const struct pg_count *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (streq(c[i].name, name))
            return c[i].rows;
    return -1;
}

/* The chain's tail in the database: id 0 and 64 zeros when it is empty. */
static int pg_audit_tail(struct sql *db, int64_t *ret_id, char ret_hash[static SHA256_HEX_MAX])
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r = sql_prepare(db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &st);

    if (r >= 0)
        r = sql_step(st);
    if (r < 0)
        return r;
    if (r == SQL_ROW) {
        *ret_id = sql_column_int64(st, 0);
        copy_text(ret_hash, SHA256_HEX_MAX, sql_column_text(st, 1));
    } else {
        *ret_id = 0;
        memset(ret_hash, '0', SHA256_HEX_MAX - 1);
        ret_hash[SHA256_HEX_MAX - 1] = '\0';
    }
    return 0;
}

int pg_migrate_same_store(struct sql *db, const char *node_id)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r = sql_prepare(db, "SELECT value FROM meta WHERE key = 'node_id'", &st);

    if (r >= 0)
        r = sql_step(st);
    if (r < 0)
        return r;
    return r == SQL_ROW && sql_column_text(st, 0) && streq(sql_column_text(st, 0), node_id);
}

/* ---- the copy of one table ---- */

struct copy {
    struct sql *db;
    char *buf;
    size_t len, cap;
    char *const *columns;
    const char **types; /* PostgreSQL's data_type of each column */
    bool is_meta;
    int64_t sent, skipped;
};

static int put(struct copy *c, const char *p, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : COPY_FLUSH_BYTES + 4096;
        char *b;

        while (cap < c->len + n)
            cap *= 2;
        b = realloc(c->buf, cap);
        if (!b)
            return -ENOMEM;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return 0;
}

/* @p as a value of COPY's text format: backslash, tab, newline and carriage return escaped. */
static int put_escaped(struct copy *c, const char *p, size_t n)
{
    size_t start = 0;
    int r = 0;

    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *esc = p[i] == '\\' ? "\\\\" : p[i] == '\t' ? "\\t" : p[i] == '\n' ? "\\n"
                        : p[i] == '\r' ? "\\r" : NULL;

        if (!esc)
            continue;
        r = put(c, p + start, i - start);
        if (r >= 0)
            r = put(c, esc, 2);
        start = i + 1;
    }
    return r < 0 ? r : put(c, p + start, n - start);
}

/* One value converted to the column's PostgreSQL type. The embedded store is STRICT: an
 * INTEGER column holds integers, a TEXT column text (times as iso_time() writes them, which a
 * timestamptz takes as they are). */
static int put_value(struct copy *c, const struct migrate_value *v, const char *type)
{
    static const char hex[] = "0123456789abcdef";

    switch (v->type) {
    case MIGRATE_NULL:
        return put(c, "\\N", 2);
    case MIGRATE_INTEGER:
        if (streq(type, "boolean"))
            return put(c, v->len == 1 && v->v[0] == '0' ? "f" : "t", 1);
        return put(c, v->v, v->len);
    case MIGRATE_BLOB: {
        /* bytea's hex form, its backslash escaped for COPY. */
        int r = put(c, "\\\\x", 3);

        for (size_t i = 0; i < v->len && r >= 0; i++) {
            char two[2] = {hex[(unsigned char)v->v[i] >> 4], hex[(unsigned char)v->v[i] & 15]};

            r = put(c, two, 2);
        }
        return r;
    }
    case MIGRATE_REAL:
    case MIGRATE_TEXT:
        return put_escaped(c, v->v, v->len);
    }
    return -EINVAL;
}

static int flush(struct copy *c)
{
    int r = pg_sql_copy_put(c->db, c->buf, c->len);

    c->len = 0;
    return r;
}

static int copy_row(void *userdata, const struct migrate_value *vals, size_t n)
{
    struct copy *c = userdata;
    int r = 0;

    if (c->is_meta && vals[0].type == MIGRATE_TEXT && meta_in_head(vals[0].v, vals[0].len)) {
        c->skipped++;
        return 0;
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (i > 0)
            r = put(c, "\t", 1);
        if (r >= 0)
            r = put_value(c, &vals[i], c->types[i]);
    }
    if (r >= 0)
        r = put(c, "\n", 1);
    if (r >= 0 && c->len >= COPY_FLUSH_BYTES)
        r = flush(c);
    if (r >= 0)
        c->sent++;
    return r;
}

/*
 * The two text columns of every row of @sql (?1 bound to @arg) into two NULL-terminated arrays
 * of the same length (strv_free() each). 0 or -errno.
 */
static int query_pairs(struct sql *db, const char *sql, const char *arg, char ***ret_a,
                       char ***ret_b)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_(strv_freep) char **a = NULL, **b = NULL;
    size_t n = 0, cap_a = 0, cap_b = 0;
    int r;

    r = sql_prepare(db, sql, &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, arg);
    while ((r = sql_step(st)) == SQL_ROW) {
        if (array_grow((void **)&a, &cap_a, n + 2, sizeof(char *), 8) < 0 ||
            array_grow((void **)&b, &cap_b, n + 2, sizeof(char *), 8) < 0)
            return -ENOMEM;
        a[n] = strdup(sql_column_text(st, 0));
        b[n] = strdup(sql_column_text(st, 1));
        a[n + 1] = b[n + 1] = NULL;
        n++;
        if (!a[n - 1] || !b[n - 1])
            return -ENOMEM;
    }
    if (r < 0)
        return r;
    if (!a && (!(a = calloc(1, sizeof(char *))) || !(b = calloc(1, sizeof(char *)))))
        return -ENOMEM;
    *ret_a = TAKE_PTR(a);
    *ret_b = TAKE_PTR(b);
    return 0;
}

/* The PostgreSQL data_type of every column of @table that the embedded store has, into
 * @types (strings owned by @own). -EPROTO with @why when the database lacks one. */
static int pg_types(struct sql *db, const char *table, char *const *columns, const char **types,
                    char ***own, char *why, size_t why_size)
{
    _cleanup_(strv_freep) char **names = NULL, **kinds = NULL;
    int r;

    r = query_pairs(db,
                    "SELECT column_name::text, data_type::text FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = ?1",
                    table, &names, &kinds);
    if (r < 0)
        return r;
    if (!names[0]) {
        snprintf(why, why_size, "the PostgreSQL schema has no table %s", table);
        return -EPROTO;
    }
    for (size_t i = 0; columns[i]; i++) {
        types[i] = NULL;
        for (size_t j = 0; names[j]; j++)
            if (streq(names[j], columns[i]))
                types[i] = kinds[j];
        if (!types[i]) {
            snprintf(why, why_size, "the PostgreSQL schema has no column %s.%s", table,
                     columns[i]);
            return -EPROTO;
        }
    }
    *own = TAKE_PTR(kinds);
    return 0;
}

/* "COPY t (a, b, ...) FROM STDIN": the names come from the embedded store's own schema and are
 * quoted. */
static char *copy_sql(const char *table, char *const *columns)
{
    size_t len = strlen(table) + 64, used;
    char *s;

    for (size_t i = 0; columns[i]; i++)
        len += strlen(columns[i]) + 4;
    s = malloc(len);
    if (!s)
        return NULL;
    used = (size_t)snprintf(s, len, "COPY \"%s\" (", table);
    for (size_t i = 0; columns[i]; i++)
        used += (size_t)snprintf(s + used, len - used, "%s\"%s\"", i ? ", " : "", columns[i]);
    snprintf(s + used, len - used, ") FROM STDIN");
    return s;
}

/*
 * The indexes of @table that back no constraint (a primary key or UNIQUE constraint stays, so
 * every row is checked as it comes), dropped before the rows come and made again after them in
 * the same transaction: building an index from all its rows at once is several times faster
 * than growing it row by row (as pg_restore does it). @ret gets each one's CREATE INDEX text.
 */
static int indexes_drop(struct sql *db, const char *table, char ***ret)
{
    _cleanup_(strv_freep) char **names = NULL, **defs = NULL;
    int r;

    r = query_pairs(db,
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
                    " FROM pg_index i WHERE i.indrelid = CAST(?1 AS TEXT)::regclass"
                    " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
                    " ORDER BY 1",
                    table, &names, &defs);
    if (r < 0)
        return r;
    for (char **p = names; *p; p++) {
        _cleanup_free_ char *drop = malloc(strlen(*p) + 16);

        if (!drop)
            return -ENOMEM;
        snprintf(drop, strlen(*p) + 16, "DROP INDEX %s", *p);
        r = sql_exec(db, drop);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(defs);
    return 0;
}

static int indexes_make(struct sql *db, char **defs)
{
    int r = 0;

    for (char **d = defs; r >= 0 && *d; d++)
        r = sql_exec(db, *d);
    return r;
}

static int copy_table(struct store *s, struct sql *db, const struct migrate_table *t,
                      int64_t *ret_rows, int64_t *ret_skipped, char *why, size_t why_size)
{
    _cleanup_(strv_freep) char **columns = NULL, **own = NULL, **indexes = NULL;
    _cleanup_free_ const char **types = NULL;
    _cleanup_free_ char *copy = NULL;
    struct copy c = {.db = db, .is_meta = streq(t->name, "meta")};
    int64_t rows = -1;
    size_t n;
    int r;

    r = sqlite_migrate_columns(s, t->name, &columns);
    if (r < 0)
        return r;
    for (n = 0; columns[n]; n++)
        if (strchr(columns[n], '"')) {
            snprintf(why, why_size, "the embedded store has a column this caresyncd cannot "
                     "move (%s.%s)", t->name, columns[n]);
            return -EPROTO;
        }
    types = calloc(n + 1, sizeof(*types));
    if (!types)
        return -ENOMEM;
    r = pg_types(db, t->name, columns, types, &own, why, why_size);
    if (r < 0)
        return r;
    copy = copy_sql(t->name, columns);
    if (!copy)
        return -ENOMEM;
    c.columns = columns;
    c.types = types;
    if (t->disable) {
        r = sql_exec(db, t->disable);
        if (r < 0)
            return r;
    }
    r = indexes_drop(db, t->name, &indexes);
    if (r < 0)
        return r;
    r = pg_sql_copy_begin(db, copy);
    if (r >= 0) {
        r = sqlite_migrate_scan(s, t->name, columns, t->order_by, copy_row, &c);
        if (r >= 0 && c.len > 0)
            r = flush(&c);
        if (r >= 0) {
            char refused[160] = "";

            r = pg_sql_copy_end(db, NULL, &rows, refused, sizeof(refused));
            if (r < 0 && refused[0])
                snprintf(why, why_size, "PostgreSQL refused table %s: %s", t->name, refused);
        } else {
            (void)pg_sql_copy_end(db, "store migrate stopped", NULL, NULL, 0);
        }
    }
    free(c.buf);
    if (r >= 0 && rows != c.sent) {
        snprintf(why, why_size, "%s: %" PRId64 " rows sent, PostgreSQL stored %" PRId64,
                 t->name, c.sent, rows);
        return -EBADMSG;
    }
    if (r < 0) {
        if (!why[0])
            snprintf(why, why_size, "copying table %s failed (%s)", t->name, strerror(-r));
        return r;
    }
    r = indexes_make(db, indexes);
    if (r < 0) {
        snprintf(why, why_size, "rebuilding the indexes of %s failed (%s)", t->name,
                 strerror(-r));
        return r;
    }
    if (t->enable) {
        r = sql_exec(db, t->enable);
        if (r < 0)
            return r;
    }
    *ret_rows = c.sent;
    *ret_skipped = c.skipped;
    return 0;
}

/* ---- the whole move ---- */

/* Every identity past the highest id copied, so that the next row a daemon makes takes a new
 * one (the ids were copied as they are: GENERATED BY DEFAULT). */
static const char identities_sql[] =
        "DO $$ DECLARE c record; top bigint; BEGIN"
        " FOR c IN SELECT table_name::text AS t, column_name::text AS col"
        "   FROM information_schema.columns"
        "   WHERE table_schema = current_schema() AND is_identity = 'YES' LOOP"
        "  EXECUTE format('SELECT max(%I) FROM %I', c.col, c.t) INTO top;"
        "  PERFORM setval(pg_get_serial_sequence(format('%I', c.t), c.col),"
        "                 coalesce(top, 0) + 1, false);"
        " END LOOP; END $$";

/* The tables of the embedded store, each one this program knows: -EPROTO naming the first it
 * does not. */
static int source_tables(struct store *s, char *why, size_t why_size)
{
    _cleanup_(strv_freep) char **names = NULL;
    int r = sqlite_migrate_tables(s, &names);

    if (r < 0)
        return r;
    for (char **p = names; *p; p++)
        if (!table_find(*p)) {
            snprintf(why, why_size,
                     "the embedded store has a table this caresyncd cannot move (%s); use the "
                     "caresyncd that made the store",
                     *p);
            return -EPROTO;
        }
    for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
        bool found = false;

        for (char **p = names; *p; p++)
            found |= streq(*p, tables[i].name);
        if (!found) {
            snprintf(why, why_size, "the embedded store has no table %s; is it a caresync store?",
                     tables[i].name);
            return -EPROTO;
        }
    }
    return 0;
}

static int count_head_row(void *userdata, const struct migrate_value *vals, size_t n)
{
    if (vals[0].type == MIGRATE_TEXT && meta_in_head(vals[0].v, vals[0].len))
        (*(int64_t *)userdata)++;
    return 0;
}

/* How many rows of meta store_head holds instead (the copy leaves them out). */
static int meta_head_rows(struct store *s, int64_t *ret)
{
    static char key_col[] = "key";
    char *key[] = {key_col, NULL};

    *ret = 0;
    return sqlite_migrate_scan(s, "meta", key, NULL, count_head_row, ret);
}

/*
 * Whether the database is empty (0), holds exactly this store already (1), or holds something
 * else (-EEXIST, @why says what).
 */
static int target_state(struct store *s, struct sql *db, const struct migrate_source *src,
                        char *why, size_t why_size)
{
    struct pg_count counts[64];
    char hash[SHA256_HEX_MAX];
    int64_t id, total = 0;
    const char *first = NULL;
    int n, r;

    n = pg_counts(db, counts, ELEMENTSOF(counts));
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        total += counts[i].rows;
        if (!first && counts[i].rows > 0)
            first = counts[i].name;
    }
    if (total == 0)
        return 0;
    r = pg_migrate_same_store(db, src->node_id);
    if (r < 0)
        return r;
    if (r == 0 && total == count_of(counts, (size_t)n, "meta")) {
        snprintf(why, why_size,
                 "the database holds an empty caresync store of its own (made by 'caresyncd "
                 "init --store' or a daemon started on it; a daemon may serve it now); store "
                 "migrate needs a database nothing has used: drop it and create it again");
        return -EEXIST;
    }
    if (r == 0) {
        snprintf(why, why_size,
                 "the database already holds caresync data (table %.63s: %" PRId64 " rows) of "
                 "another store; store migrate never merges two stores: give it an empty "
                 "database",
                 first, count_of(counts, (size_t)n, first));
        return -EEXIST;
    }
    /* This store: moved before, and the switch did not finish? Only if nothing differs. */
    for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
        int64_t want;

        r = sqlite_migrate_count(s, tables[i].name, &want);
        if (r < 0)
            return r;
        if (streq(tables[i].name, "meta")) {
            int64_t head = 0;

            r = meta_head_rows(s, &head);
            if (r < 0)
                return r;
            want -= head;
        }
        if (count_of(counts, (size_t)n, tables[i].name) != want) {
            snprintf(why, why_size,
                     "the database holds this store (node id %s) but not as it is here (table "
                     "%s: %" PRId64 " rows there, %" PRId64 " here); it has changed since it was "
                     "moved: serve it from PostgreSQL, or give store migrate an empty database",
                     src->node_id, tables[i].name, count_of(counts, (size_t)n, tables[i].name),
                     want);
            return -EEXIST;
        }
    }
    r = pg_audit_tail(db, &id, hash);
    if (r < 0)
        return r;
    if (id != src->audit_id || !streq(hash, src->audit_hash)) {
        snprintf(why, why_size,
                 "the database holds this store (node id %s) but its audit chain ends at row "
                 "%" PRId64 ", here at row %" PRId64 "; give store migrate an empty database",
                 src->node_id, id, src->audit_id);
        return -EEXIST;
    }
    return 1;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Take store_head and move its sequence and clock up to the embedded store's: first, because
 * the guards refuse numbered rows from a transaction that does not hold it. The head was made
 * at the wall clock when the schema was made, and only moves forward: it may already be above
 * the embedded sequence, which only leaves a gap no device has seen. */
static int head_take(struct sql *db, const struct migrate_source *src, struct migrate_report *rep)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r = sql_prepare(db,
                        "UPDATE store_head SET seq = greatest(seq, ?1), hlc = greatest(hlc, ?2)"
                        " RETURNING seq, hlc",
                        &st);

    if (r < 0)
        return r;
    sql_bind_int64(st, 1, (int64_t)src->seq);
    sql_bind_int64(st, 2, (int64_t)src->hlc);
    r = sql_step(st);
    if (r < 0)
        return r;
    if (r != SQL_ROW)
        return -EPROTO; /* no head row: the migrations make it */
    rep->head_seq = (uint64_t)sql_column_int64(st, 0);
    rep->head_hlc = (uint64_t)sql_column_int64(st, 1);
    return 0;
}

static int head_set_tail(struct sql *db, const struct migrate_source *src)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r;

    if (src->audit_id == 0)
        return 0;
    r = sql_prepare(db, "UPDATE store_head SET audit_id = ?1, audit_hash = ?2", &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, src->audit_id);
    sql_bind_text(st, 2, src->audit_hash);
    return sql_step_done(st);
}

/* After the copy, inside its transaction: every table's count in the database equals what was
 * read from the embedded store, and the chain ends where it ends there. */
static int verify(struct store *s, struct sql *db, const struct migrate_report *rep,
                  const int64_t *skipped, char *why, size_t why_size)
{
    struct pg_count counts[64];
    char hash[SHA256_HEX_MAX];
    int64_t id;
    int n, r;

    n = pg_counts(db, counts, ELEMENTSOF(counts));
    if (n < 0)
        return n;
    for (size_t i = 0; i < rep->n_tables; i++) {
        int64_t here, there = count_of(counts, (size_t)n, rep->tables[i].name);

        r = sqlite_migrate_count(s, rep->tables[i].name, &here);
        if (r < 0)
            return r;
        if (there != here - skipped[i] || there != rep->tables[i].rows) {
            snprintf(why, why_size,
                     "after the copy table %s has %" PRId64 " rows in PostgreSQL and %" PRId64
                     " here; nothing was moved",
                     rep->tables[i].name, there, here - skipped[i]);
            return -EBADMSG;
        }
    }
    r = pg_audit_tail(db, &id, hash);
    if (r < 0)
        return r;
    if (id != rep->source.audit_id || !streq(hash, rep->source.audit_hash)) {
        snprintf(why, why_size,
                 "after the copy the audit chain ends at row %" PRId64 " in PostgreSQL and at "
                 "row %" PRId64 " here; nothing was moved",
                 id, rep->source.audit_id);
        return -EBADMSG;
    }
    return 0;
}

int pg_migrate_copy(struct store *s, struct sql *db, struct migrate_report *ret)
{
    struct migrate_report *rep = ret;
    int64_t skipped[ELEMENTSOF(tables)] = {0};
    struct timespec t0;
    bool in_txn = false;
    int r;

    *rep = (struct migrate_report){0};
    r = pg_schema_migrate(db);
    rep->migrations = r;
    if (r < 0) {
        snprintf(rep->why, sizeof(rep->why),
                 r == -EPROTO ? "the database was made by a newer caresyncd; run that one"
                              : "the PostgreSQL migrations failed (%s)",
                 strerror(-r));
        return r;
    }
    r = sql_exec(db, count_fn_sql);
    if (r < 0)
        return r;
    r = sqlite_migrate_begin(s, &rep->source);
    if (r < 0) {
        if (r == -EBUSY)
            snprintf(rep->why, sizeof(rep->why),
                     "another caresyncd command is writing to the embedded store; try again "
                     "when it has finished");
        return r;
    }
    r = source_tables(s, rep->why, sizeof(rep->why));
    if (r >= 0)
        r = target_state(s, db, &rep->source, rep->why, sizeof(rep->why));
    if (r != 0) {
        sqlite_migrate_end(s);
        if (r > 0)
            rep->already = true;
        return r < 0 ? r : 0;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = sql_exec(db, "BEGIN");
    in_txn = r >= 0;
    if (r >= 0)
        r = head_take(db, &rep->source, rep);
    /* Memory for the index builds of this transaction (the server's default is 64 MB); and
     * every check deferred to COMMIT (a seq past the head's, since 0012) run at the end of each
     * COPY instead: an index cannot be built on a table with checks still pending, and a row
     * refused is then refused with its table's name. */
    if (r >= 0)
        r = sql_exec(db, "SET LOCAL maintenance_work_mem = '256MB'; SET CONSTRAINTS ALL IMMEDIATE");
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(tables); i++) {
        struct migrate_table_report *t = &rep->tables[rep->n_tables];
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        t->name = tables[i].name;
        r = copy_table(s, db, &tables[i], &t->rows, &skipped[i], rep->why, sizeof(rep->why));
        t->seconds = seconds_since(&t1);
        if (r >= 0) {
            rep->rows += t->rows;
            rep->n_tables++;
            log_debug("copied %s: %" PRId64 " rows", t->name, t->rows);
        }
    }
    if (r >= 0)
        r = sql_exec(db, identities_sql);
    if (r >= 0)
        r = head_set_tail(db, &rep->source);
    if (r >= 0)
        r = verify(s, db, rep, skipped, rep->why, sizeof(rep->why));
    if (r >= 0) {
        r = sql_exec(db, "COMMIT");
        in_txn = false;
        if (r < 0 && !rep->why[0])
            snprintf(rep->why, sizeof(rep->why),
                     "PostgreSQL did not confirm the COMMIT (%s); run store migrate again: it "
                     "finds the store moved, or moves it",
                     strerror(-r));
    }
    if (in_txn)
        (void)sql_exec(db, "ROLLBACK");
    rep->seconds = seconds_since(&t0);
    sqlite_migrate_end(s);
    if (r < 0 && !rep->why[0])
        snprintf(rep->why, sizeof(rep->why), "the copy failed (%s); nothing was moved",
                 strerror(-r));
    return r < 0 ? r : 0;
}
