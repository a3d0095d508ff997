/* SPDX-License-Identifier: MIT */
/*
 * pg_sql.c - sql.h over libpq: PostgreSQL 15 as the server store's database (issue 12).
 * docs/internals/scale-out.md, "The driver", says why each choice below was made:
 *
 *  - A statement is prepared on the server (PQprepare) the first time it runs on a connection,
 *    when its parameters' types are known (an int64 is typed int8, a text is sent untyped so
 *    the server infers it from where it stands), and run by name (PQexecPrepared) after: one
 *    round trip per run, as PQexecParams would cost, without parsing and planning every time.
 *  - Results come in text format, all rows at once (a PGresult), so a reset before the last row
 *    costs nothing on the wire. A timestamptz reads back as iso_time() writes it (the session's
 *    TimeZone is UTC and the driver reformats "2026-12-02 07:18:48.123+00"), a boolean as 0/1.
 *  - SQLSTATE becomes the negative errno of sql.h's table. The database's message is logged
 *    once by the driver, cut before any quoted value (a value may be personal data); callers
 *    do not log it again.
 *  - A lost connection (PostgreSQL restarted, the network cut) makes the running statement
 *    fail with -ENOTCONN; the next prepare reconnects and the statements are prepared again on
 *    the new session. A connection lost inside a transaction stays lost until the caller has
 *    rolled back, so no statement of a broken transaction runs on a fresh session by itself.
 */
#include "pg_sql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <strings.h>

#include "log.h"
#include "macro.h"
#include "util.h"

/* Type OIDs (PostgreSQL's src/include/catalog/pg_type.dat; stable across releases). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_OID 26
#define OID_NAME 19
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184
#define OID_UNKNOWN 705

/* A parameter bound NULL (or not bound): the server takes NULL for any type. */
#define BOUND_NULL ((Oid)-1)

/* SQLite's default limit on parameter numbers: the portable subset's highest ?N. */
#define PARAMS_MAX 32766

#define STMT_BUCKETS 512

#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

enum col_kind { COL_INT, COL_BOOL, COL_TEXT, COL_TIME, COL_OTHER };

struct pg_stmt {
    struct sql_stmt base;
    struct pg *db;
    const char *key;       /* the SQL literal's address: the cache key */
    struct pg_stmt *next;  /* in its bucket */
    char *text;            /* the SQL with $N */
    int nparams;
    char name[24];         /* on the server, when gen is the connection's */
    uint64_t gen;          /* connection generation it was prepared on (0: never) */
    Oid *ptypes;           /* the types it was prepared with */
    Oid *btypes;           /* the types bound now: OID_INT8, 0 (text) or BOUND_NULL */
    const char **values;   /* bound values in text form */
    char (*ints)[24];      /* the int64s' text */
    int bad_bind;          /* a bind out of range: the step fails */
    PGresult *res;         /* the run's rows, or NULL before the first step */
    int row, nrows, ncols;
    enum col_kind *kinds;
    char (*times)[ISO_TIME_MAX];
};

struct pg {
    struct sql base;
    PGconn *conn;
    uint64_t gen;          /* moves at every (re)connection */
    bool lost;             /* the connection is gone: reconnect at the next prepare */
    bool lost_in_txn;      /* it went inside a transaction: not before the caller rolls back */
    bool down_logged;      /* the outage is logged once */
    int64_t changes;
    unsigned next_name;
    struct pg_stmt *buckets[STMT_BUCKETS];
};

static const struct sql_driver pg_driver;

bool pg_sql_is(const struct sql *db)
{
    return db && db->drv == &pg_driver;
}

/* ---- errors ---- */

/* The first line of @msg, cut before the first quoted value (': "'), into @buf. */
static const char *redact(const char *msg, char *buf, size_t size)
{
    size_t n;
    const char *cut;

    if (!msg)
        msg = "no message";
    n = strcspn(msg, "\n");
    cut = strstr(msg, ": \"");
    if (cut && (size_t)(cut - msg) < n)
        n = (size_t)(cut - msg);
    if (n >= size)
        n = size - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return buf;
}

static int errno_from_sqlstate(const char *state)
{
    if (!state || strlen(state) != 5)
        return -EIO;
    if (streq(state, "23505"))
        return -EEXIST;
    if (strneq(state, "23", 2))
        return -EINVAL;
    if (streq(state, "40001") || streq(state, "40P01"))
        return -EAGAIN;
    if (streq(state, "55P03"))
        return -EBUSY;
    if (streq(state, "53100"))
        return -ENOSPC;
    if (streq(state, "53200"))
        return -ENOMEM;
    if (strneq(state, "08", 2) || strneq(state, "57P0", 4))
        return -ENOTCONN;
    return -EIO;
}

static void mark_lost(struct pg *db, PGTransactionStatusType before)
{
    if (!db->lost)
        db->lost_in_txn = before == PQTRANS_INTRANS || before == PQTRANS_INERROR ||
                          before == PQTRANS_ACTIVE;
    db->lost = true;
}

/* The errno for a failed @res (NULL: libpq could not even make one) of @sql, logged once. */
static int pg_fail(struct pg *db, PGresult *res, const char *sql, PGTransactionStatusType before)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char text[256];
    int r = errno_from_sqlstate(state);

    if (!state)
        state = "none";
    if (!msg)
        msg = PQerrorMessage(db->conn);
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        mark_lost(db, before);
        r = -ENOTCONN;
    } else if (r == -ENOTCONN) {
        /* 57P01 and friends: the server is ending the session; libpq sees it at the next
         * read. Start again on a new one. */
        mark_lost(db, before);
    }
    redact(msg, text, sizeof(text));
    if (r == -ENOTCONN) {
        if (!db->down_logged)
            log_error("PostgreSQL connection lost: %s; requests fail until it is back", text);
        db->down_logged = true;
    } else if (r == -EEXIST || r == -EINVAL || r == -EAGAIN || r == -EBUSY)
        /* The caller decides what these mean (a duplicate is often expected). */
        log_debug("postgresql: %s (SQLSTATE %s) in: %.*s", text, state, 60, sql);
    else
        log_error("postgresql: %s (SQLSTATE %s) in: %.*s", text, state, 60, sql);
    return r;
}

/* ---- the connection ---- */

static void notice_processor(void *arg, const char *message)
{
    char text[256];

    (void)arg;
    log_debug("postgresql: %s", redact(message, text, sizeof(text)));
}

/* The session's settings, after every (re)connection. */
static int session_setup(struct pg *db)
{
    PGresult *res;
    int r = 0;

    res = PQexec(db->conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';"
                           " SET IntervalStyle = 'iso_8601'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        r = pg_fail(db, res, "SET TimeZone", PQTRANS_IDLE);
    PQclear(res);
    return r;
}

static int reconnect(struct pg *db)
{
    char text[256];

    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        if (!db->down_logged)
            log_error("PostgreSQL unreachable: %s; retrying at the next request",
                      redact(PQerrorMessage(db->conn), text, sizeof(text)));
        db->down_logged = true;
        return -ENOTCONN;
    }
    db->lost = db->lost_in_txn = false;
    db->gen++;
    if (session_setup(db) < 0)
        return -ENOTCONN;
    if (db->down_logged)
        log_info("PostgreSQL connection is back");
    db->down_logged = false;
    return 0;
}

int pg_sql_open(const char *url, struct sql **ret)
{
    char why[256];
    int r = pg_sql_connect(url, ret, why, sizeof(why));

    if (r == -ENOTCONN)
        log_error("cannot connect to PostgreSQL: %s; check the store URL and that the database "
                  "is up", why);
    return r;
}

int pg_sql_connect(const char *url, struct sql **ret, char *why, size_t why_size)
{
    /* The URL's own parameters override the defaults before it and are overridden by those
     * after it (libpq, PQconnectdbParams with expand_dbname). */
    const char *keys[] = { "connect_timeout", "dbname", "client_encoding",
                           "fallback_application_name", NULL };
    const char *vals[] = { "10", url, "UTF8", "caresyncd", NULL };
    _cleanup_free_ struct pg *db = NULL;

    db = calloc(1, sizeof(struct pg));
    if (!db)
        return -ENOMEM;
    db->base.drv = &pg_driver;
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (!db->conn)
        return -ENOMEM;
    if (PQstatus(db->conn) != CONNECTION_OK) {
        redact(PQerrorMessage(db->conn), why, why_size);
        PQfinish(db->conn);
        return -ENOTCONN;
    }
    PQsetNoticeProcessor(db->conn, notice_processor, NULL);
    db->gen = 1;
    if (session_setup(db) < 0) {
        copy_text(why, why_size, "the session settings were refused");
        PQfinish(db->conn);
        return -ENOTCONN;
    }
    *ret = &TAKE_PTR(db)->base;
    return 0;
}

/* ---- ? and ?N into $N ---- */

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || (unsigned char)c >= 0x80;
}

/* Whether $ followed by @c may open a dollar-quoted string ($$ or $tag$; $1 is no tag). */
static bool dollar_tag_start(char c)
{
    return c == '$' || (ident_char(c) && !(c >= '0' && c <= '9'));
}

/* Copy the quoted text starting at @s (its opening quote @q) to @o; returns past its end. */
static const char *copy_quoted(const char *s, char q, bool backslash, char **o)
{
    *(*o)++ = *s++;
    while (*s) {
        if (backslash && *s == '\\' && s[1]) {
            *(*o)++ = *s++;
            *(*o)++ = *s++;
            continue;
        }
        if (*s == q) {
            *(*o)++ = *s++;
            if (*s != q) /* '' inside quotes is one quote */
                return s;
        }
        *(*o)++ = *s++;
    }
    return s;
}

/*
 * translate() - @sql with every ? and ?N outside quotes and comments renumbered $N, as SQLite
 * numbers them (a bare ? is one more than the highest number so far). 0, -EINVAL (?0 or a
 * number past PARAMS_MAX), -ENOMEM.
 */
static int translate(const char *sql, char **ret, int *ret_n)
{
    size_t len = strlen(sql);
    _cleanup_free_ char *out = NULL;
    const char *s = sql;
    char *o;
    int max = 0;

    out = malloc(len * 6 + 8); /* "?" becomes at most "$32766" */
    if (!out)
        return -ENOMEM;
    o = out;
    while (*s) {
        char prev = s > sql ? s[-1] : ' ';

        if (*s == '\'') {
            bool e = (prev == 'E' || prev == 'e') && (s - sql < 2 || !ident_char(s[-2]));

            s = copy_quoted(s, '\'', e, &o);
        } else if (*s == '"')
            s = copy_quoted(s, '"', false, &o);
        else if (s[0] == '-' && s[1] == '-') {
            size_t n = strcspn(s, "\n");

            memcpy(o, s, n);
            o += n;
            s += n;
        } else if (s[0] == '/' && s[1] == '*') {
            int depth = 0;

            do {
                if (s[0] == '/' && s[1] == '*') {
                    depth++;
                    *o++ = *s++;
                } else if (s[0] == '*' && s[1] == '/') {
                    depth--;
                    *o++ = *s++;
                }
                *o++ = *s++;
            } while (*s && depth > 0);
        } else if (*s == '$' && !ident_char(prev) && dollar_tag_start(s[1])) {
            /* A dollar-quoted string, $tag$ ... $tag$ (or a $1 written by hand: copied). */
            size_t t = 1 + strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_");
            const char *end;

            if (s[t] != '$') {
                *o++ = *s++;
                continue;
            }
            t++;
            end = s + t;
            while ((end = strchr(end, '$')) && strncmp(end, s, t) != 0)
                end++;
            end = end ? end + t : s + strlen(s);
            memcpy(o, s, (size_t)(end - s));
            o += end - s;
            s = end;
        } else if (*s == '?') {
            long n;

            s++;
            if (*s >= '0' && *s <= '9') {
                char *e;

                n = strtol(s, &e, 10);
                s = e;
            } else
                n = max + 1;
            if (n < 1 || n > PARAMS_MAX)
                return -EINVAL;
            if (n > max)
                max = (int)n;
            o += snprintf(o, 8, "$%ld", n);
        } else
            *o++ = *s++;
    }
    *o = '\0';
    *ret = TAKE_PTR(out);
    *ret_n = max;
    return 0;
}

/* ---- statements ---- */

static size_t bucket_of(const char *key)
{
    return (size_t)(((uintptr_t)key >> 3) * 0x9E3779B97F4A7C15ull >> 32) % STMT_BUCKETS;
}

static void stmt_clear_run(struct pg_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = st->ncols = 0;
    free(st->kinds);
    st->kinds = NULL;
    free(st->times);
    st->times = NULL;
}

static void pg_reset(struct sql_stmt *base)
{
    struct pg_stmt *st = (struct pg_stmt *)base;

    stmt_clear_run(st);
    for (int i = 0; i < st->nparams; i++) {
        st->values[i] = NULL;
        st->btypes[i] = BOUND_NULL;
    }
    st->bad_bind = 0;
}

static void stmt_free(struct pg_stmt *st)
{
    stmt_clear_run(st);
    free(st->text);
    free(st->ptypes);
    free(st->btypes);
    free(st->values);
    free(st->ints);
    free(st);
}

static int stmt_new(struct pg *db, const char *sql, struct pg_stmt **ret)
{
    struct pg_stmt *st;
    int r;

    st = calloc(1, sizeof(struct pg_stmt));
    if (!st)
        return -ENOMEM;
    st->base.drv = &pg_driver;
    st->db = db;
    st->key = sql;
    r = translate(sql, &st->text, &st->nparams);
    if (r < 0) {
        free(st);
        if (r == -EINVAL)
            log_error("postgresql: a parameter number out of range in: %.60s", sql);
        return r;
    }
    if (st->nparams > 0) {
        st->ptypes = calloc((size_t)st->nparams, sizeof(Oid));
        st->btypes = calloc((size_t)st->nparams, sizeof(Oid));
        st->values = calloc((size_t)st->nparams, sizeof(const char *));
        st->ints = calloc((size_t)st->nparams, sizeof(char[24]));
        if (!st->ptypes || !st->btypes || !st->values || !st->ints) {
            stmt_free(st);
            return -ENOMEM;
        }
    }
    pg_reset(&st->base);
    *ret = st;
    return 0;
}

static int pg_prepare(struct sql *base, const char *sql, struct sql_stmt **ret)
{
    struct pg *db = (struct pg *)base;
    size_t b = bucket_of(sql);
    struct pg_stmt *st;
    int r;

    if (!db->lost && PQstatus(db->conn) == CONNECTION_BAD)
        mark_lost(db, PQTRANS_IDLE);
    if (db->lost) {
        if (db->lost_in_txn)
            return -ENOTCONN; /* roll back first: the transaction is gone */
        r = reconnect(db);
        if (r < 0)
            return r;
    }
    for (st = db->buckets[b]; st; st = st->next)
        if (st->key == sql)
            break;
    if (!st) {
        r = stmt_new(db, sql, &st);
        if (r < 0)
            return r;
        st->next = db->buckets[b];
        db->buckets[b] = st;
    } else
        pg_reset(&st->base);
    *ret = &st->base;
    return 0;
}

static void pg_bind_int64(struct sql_stmt *base, int i, int64_t v)
{
    struct pg_stmt *st = (struct pg_stmt *)base;

    if (i < 1 || i > st->nparams) {
        st->bad_bind = i;
        return;
    }
    snprintf(st->ints[i - 1], sizeof(st->ints[i - 1]), "%" PRId64, v);
    st->values[i - 1] = st->ints[i - 1];
    st->btypes[i - 1] = OID_INT8;
}

static void pg_bind_text(struct sql_stmt *base, int i, const char *v)
{
    struct pg_stmt *st = (struct pg_stmt *)base;

    if (i < 1 || i > st->nparams) {
        st->bad_bind = i;
        return;
    }
    st->values[i - 1] = v;
    st->btypes[i - 1] = v ? 0 : BOUND_NULL;
}

/* Prepared on this connection with the types bound now (NULLs fit any)? Else prepare it. */
static int ensure_prepared(struct pg_stmt *st)
{
    struct pg *db = st->db;
    bool same = st->gen == db->gen;
    PGTransactionStatusType before;
    PGresult *res;
    int r = 0;

    for (int i = 0; same && i < st->nparams; i++)
        if (st->btypes[i] != BOUND_NULL && st->btypes[i] != st->ptypes[i])
            same = false;
    if (same)
        return 0;
    if (st->gen == db->gen) {
        /* The types changed (a parameter bound as text, now as an integer): a new name. */
        char drop[48];

        snprintf(drop, sizeof(drop), "DEALLOCATE %s", st->name);
        PQclear(PQexec(db->conn, drop));
    }
    for (int i = 0; i < st->nparams; i++)
        if (st->btypes[i] != BOUND_NULL)
            st->ptypes[i] = st->btypes[i];
        else if (st->gen != db->gen)
            st->ptypes[i] = 0;
    snprintf(st->name, sizeof(st->name), "cs%u", ++db->next_name);
    before = PQtransactionStatus(db->conn);
    res = PQprepare(db->conn, st->name, st->text, st->nparams, st->ptypes);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = pg_fail(db, res, st->key, before);
        st->gen = 0;
    } else
        st->gen = db->gen;
    PQclear(res);
    return r;
}

static void note_changes(struct pg *db, PGresult *res)
{
    const char *cmd = PQcmdStatus(res);

    if (strneq(cmd, "INSERT", 6) || strneq(cmd, "UPDATE", 6) || strneq(cmd, "DELETE", 6) ||
        strneq(cmd, "MERGE", 5))
        db->changes = strtoll(PQcmdTuples(res), NULL, 10);
}

static int stmt_run(struct pg_stmt *st)
{
    struct pg *db = st->db;
    PGTransactionStatusType before;
    ExecStatusType status;
    PGresult *res;
    int r;

    if (st->bad_bind) {
        log_error("postgresql: parameter %d bound, the statement has %d: %.60s", st->bad_bind,
                  st->nparams, st->key);
        return -EINVAL;
    }
    if (db->lost)
        return -ENOTCONN;
    r = ensure_prepared(st);
    if (r < 0)
        return r;
    before = PQtransactionStatus(db->conn);
    res = PQexecPrepared(db->conn, st->name, st->nparams, st->values, NULL, NULL, 0);
    status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        r = pg_fail(db, res, st->key, before);
        PQclear(res);
        return r;
    }
    note_changes(db, res);
    st->res = res;
    st->nrows = PQntuples(res);
    st->ncols = PQnfields(res);
    st->row = 0;
    if (st->ncols > 0) {
        st->kinds = calloc((size_t)st->ncols, sizeof(enum col_kind));
        st->times = calloc((size_t)st->ncols, sizeof(char[ISO_TIME_MAX]));
        if (!st->kinds || !st->times) {
            stmt_clear_run(st);
            return -ENOMEM;
        }
    }
    for (int c = 0; c < st->ncols; c++)
        switch (PQftype(res, c)) {
        case OID_INT8:
        case OID_INT4:
        case OID_INT2:
        case OID_OID:
            st->kinds[c] = COL_INT;
            break;
        case OID_BOOL:
            st->kinds[c] = COL_BOOL;
            break;
        case OID_TEXT:
        case OID_VARCHAR:
        case OID_BPCHAR:
        case OID_NAME:
        case OID_UNKNOWN:
            st->kinds[c] = COL_TEXT;
            break;
        case OID_TIMESTAMPTZ:
        case OID_TIMESTAMP:
            st->kinds[c] = COL_TIME;
            break;
        default:
            st->kinds[c] = COL_OTHER;
        }
    return st->nrows > 0 ? SQL_ROW : SQL_DONE;
}

static int pg_step(struct sql_stmt *base)
{
    struct pg_stmt *st = (struct pg_stmt *)base;

    if (!st->res)
        return stmt_run(st);
    if (st->row < st->nrows)
        st->row++;
    return st->row < st->nrows ? SQL_ROW : SQL_DONE;
}

static bool has_value(struct pg_stmt *st, int col)
{
    return st->res && col >= 0 && col < st->ncols && st->row < st->nrows &&
           !PQgetisnull(st->res, st->row, col);
}

static enum sql_type pg_column_type(struct sql_stmt *base, int col)
{
    struct pg_stmt *st = (struct pg_stmt *)base;

    if (!has_value(st, col))
        return SQL_NULL;
    switch (st->kinds[col]) {
    case COL_INT:
    case COL_BOOL:
        return SQL_INTEGER;
    case COL_TEXT:
    case COL_TIME:
        return SQL_TEXT;
    default:
        return SQL_OTHER;
    }
}

static int64_t pg_column_int64(struct sql_stmt *base, int col)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    const char *v;

    if (!has_value(st, col))
        return 0;
    v = PQgetvalue(st->res, st->row, col);
    if (st->kinds[col] == COL_BOOL)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/*
 * "2026-12-02 07:18:48.123456+00" (a timestamptz in the session's UTC, DateStyle ISO) as
 * "2026-12-02T07:18:48.123Z", the form iso_time() writes; the microseconds past the
 * millisecond are dropped (the store writes milliseconds). NULL when @v is not in that form
 * (years past 9999, BC, infinity), which is then read as it is.
 */
static const char *iso_from_pg(const char *v, char buf[static ISO_TIME_MAX])
{
    const char *f;
    size_t nf;

    if (strlen(v) < 19 || !digits(v, 4) || v[4] != '-' || !digits(v + 5, 2) || v[7] != '-' ||
        !digits(v + 8, 2) || v[10] != ' ' || !digits(v + 11, 2) || v[13] != ':' ||
        !digits(v + 14, 2) || v[16] != ':' || !digits(v + 17, 2))
        return NULL;
    f = v + 19;
    nf = 0;
    if (*f == '.') {
        f++;
        nf = strspn(f, "0123456789");
    }
    if (!streq(f + nf, "+00") && !streq(f + nf, ""))
        return NULL;
    memcpy(buf, v, 10);
    buf[10] = 'T';
    memcpy(buf + 11, v + 11, 8);
    buf[19] = '.';
    for (size_t i = 0; i < 3; i++)
        buf[20 + i] = i < nf ? f[i] : '0';
    buf[23] = 'Z';
    buf[24] = '\0';
    return buf;
}

static const char *pg_column_text(struct sql_stmt *base, int col)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    const char *v, *iso;

    if (!has_value(st, col))
        return NULL;
    v = PQgetvalue(st->res, st->row, col);
    switch (st->kinds[col]) {
    case COL_BOOL:
        return v[0] == 't' ? "1" : "0";
    case COL_TIME:
        iso = iso_from_pg(v, st->times[col]);
        return iso ? iso : v;
    default:
        return v;
    }
}

static int64_t pg_changes(struct sql *base)
{
    return ((struct pg *)base)->changes;
}

static bool starts_with_word(const char *sql, const char *word)
{
    size_t n = strlen(word);

    sql += strspn(sql, " \t\n");
    return strncasecmp(sql, word, n) == 0 && !ident_char(sql[n]);
}

static bool is_commit(const char *sql)
{
    return starts_with_word(sql, "COMMIT") || starts_with_word(sql, "END");
}

static bool is_rollback(const char *sql)
{
    return starts_with_word(sql, "ROLLBACK") || starts_with_word(sql, "ABORT");
}

static int pg_exec(struct sql *base, const char *sql)
{
    struct pg *db = (struct pg *)base;
    PGTransactionStatusType before;
    ExecStatusType status;
    PGresult *res;
    int r = 0;

    if (!db->lost && PQstatus(db->conn) == CONNECTION_BAD)
        mark_lost(db, PQTRANS_IDLE);
    if (db->lost) {
        /* The server rolled the transaction back when the connection went: a ROLLBACK has
         * nothing left to do, a COMMIT cannot be done, and either ends it for the caller. */
        if (is_rollback(sql)) {
            db->lost_in_txn = false;
            return 0;
        }
        if (is_commit(sql)) {
            db->lost_in_txn = false;
            return -ENOTCONN;
        }
        if (db->lost_in_txn)
            return -ENOTCONN;
        r = reconnect(db);
        if (r < 0)
            return r;
    }
    before = PQtransactionStatus(db->conn);
    res = PQexec(db->conn, sql);
    status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY)
        note_changes(db, res);
    else {
        r = pg_fail(db, res, sql, before);
        if (db->lost && is_commit(sql))
            db->lost_in_txn = false; /* the caller has ended it; the outcome is unknown */
        else if (db->lost && is_rollback(sql)) {
            db->lost_in_txn = false; /* rolled back with the connection */
            r = 0;
        }
    }
    PQclear(res);
    return r;
}

static void pg_close(struct sql *base)
{
    struct pg *db = (struct pg *)base;

    for (size_t b = 0; b < STMT_BUCKETS; b++)
        while (db->buckets[b]) {
            struct pg_stmt *st = db->buckets[b];

            db->buckets[b] = st->next;
            stmt_free(st);
        }
    PQfinish(db->conn);
    free(db);
}

static const struct sql_driver pg_driver = {
    .name = "postgresql",
    .dialect = SQL_POSTGRESQL,
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .step = pg_step,
    .reset = pg_reset,
    .column_type = pg_column_type,
    .column_int64 = pg_column_int64,
    .column_text = pg_column_text,
    .changes = pg_changes,
    .exec = pg_exec,
    .close = pg_close,
};
