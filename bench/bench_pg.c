/* SPDX-License-Identifier: MIT */
/*
 * bench_pg.c - what a statement costs through the PostgreSQL driver (daemon/pg_sql.c: prepared
 * once per connection, then PQexecPrepared) against PQexecParams of the same text (parsed and
 * planned at every run), both one round trip a run. A figure, never pass/fail.
 *
 *   bench-pg --url postgresql://...  [--n RUNS]
 *
 * On its own table (bench_pg, 1,000 rows, made afresh), a store-like lookup (a key, a bound,
 * a time column, an ORDER BY) run RUNS times each way, five rounds; prints the median
 * microseconds per run of each way and of the first run on a new connection (where the
 * prepared way adds its Parse round trip once; both pay the new session's catalog lookups).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "pg_sql.h"

static const char *LOOKUP = "SELECT id, name, at FROM bench_pg WHERE id = ? AND n >= ?"
                            " ORDER BY id";
static const char *LOOKUP_PQ = "SELECT id, name, at FROM bench_pg WHERE id = $1 AND n >= $2"
                               " ORDER BY id";

static void lookup_driver(struct sql *db, int64_t id)
{
    struct sql_stmt *st;

    if (sql_prepare(db, LOOKUP, &st) < 0)
        bench_die("bench-pg: prepare failed\n");
    sql_bind_int64(st, 1, id);
    sql_bind_int64(st, 2, 0);
    if (sql_step(st) != SQL_ROW || !sql_column_text(st, 2))
        bench_die("bench-pg: the driver's lookup found no row\n");
    sql_reset(st);
}

static void lookup_params(PGconn *c, int64_t id)
{
    static const Oid types[] = { 20, 20 };
    char a[24], b[] = "0";
    const char *vals[] = { a, b };
    PGresult *res;

    snprintf(a, sizeof(a), "%lld", (long long)id);
    res = PQexecParams(c, LOOKUP_PQ, 2, types, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        bench_die("bench-pg: PQexecParams: %s\n", PQerrorMessage(c));
    PQclear(res);
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int n = 5000;
    double drv[5], par[5], first[5], first_par[5];
    struct sql *db;
    PGconn *c;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else
            bench_die("usage: bench-pg --url URL [--n RUNS]\n");
    }
    if (!url || n < 1)
        bench_die("usage: bench-pg --url URL [--n RUNS]\n");
    if (pg_sql_open(url, &db) < 0)
        bench_die("bench-pg: cannot connect\n");
    if (sql_exec(db, "DROP TABLE IF EXISTS bench_pg;"
                     "CREATE TABLE bench_pg (id bigint PRIMARY KEY, name text NOT NULL,"
                     " at timestamptz NOT NULL, n bigint NOT NULL);"
                     "INSERT INTO bench_pg SELECT i, 'name ' || i,"
                     " timestamptz '2026-01-01' + i * interval '1 minute', i"
                     " FROM generate_series(1, 1000) i; ANALYZE bench_pg") < 0)
        bench_die("bench-pg: cannot make the table\n");
    c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        bench_die("bench-pg: %s\n", PQerrorMessage(c));
    for (int round = 0; round < 5; round++) {
        struct sql *fresh;
        double t;

        if (pg_sql_open(url, &fresh) < 0)
            bench_die("bench-pg: cannot connect\n");
        t = bench_now_s();
        lookup_driver(fresh, 1);
        first[round] = (bench_now_s() - t) * 1e6;
        sql_close(fresh);
        {
            PGconn *fc = PQconnectdb(url);

            if (PQstatus(fc) != CONNECTION_OK)
                bench_die("bench-pg: %s\n", PQerrorMessage(fc));
            t = bench_now_s();
            lookup_params(fc, 1);
            first_par[round] = (bench_now_s() - t) * 1e6;
            PQfinish(fc);
        }
        t = bench_now_s();
        for (int i = 0; i < n; i++)
            lookup_driver(db, 1 + i % 1000);
        drv[round] = (bench_now_s() - t) * 1e6 / n;
        t = bench_now_s();
        for (int i = 0; i < n; i++)
            lookup_params(c, 1 + i % 1000);
        par[round] = (bench_now_s() - t) * 1e6 / n;
    }
    printf("{\"runs\": %d, \"driver_prepared_us\": %.1f, \"pqexecparams_us\": %.1f,"
           " \"driver_first_run_us\": %.1f, \"pqexecparams_first_run_us\": %.1f}\n", n,
           bench_median(drv, 5), bench_median(par, 5), bench_median(first, 5),
           bench_median(first_par, 5));
    (void)sql_exec(db, "DROP TABLE bench_pg");
    PQfinish(c);
    sql_close(db);
    return 0;
}
