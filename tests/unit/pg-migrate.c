/* SPDX-License-Identifier: MIT */
/*
 * pg-migrate.c - pg_schema_migrate() on the database a URL names, for
 * tests/integration/test_pg_driver.py (until `caresyncd init --store` runs it). Prints
 * "applied N"; exit 0, or 1 with the error.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pg_sql.h"

int main(int argc, char **argv)
{
    struct sql *db = NULL;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: pg-migrate URL\n");
        return 2;
    }
    log_set_prefix("pg-migrate");
    r = pg_sql_open(argv[1], &db);
    if (r < 0)
        return 1;
    r = pg_schema_migrate(db);
    sql_close(db);
    if (r < 0) {
        fprintf(stderr, "pg-migrate: %s\n", strerror(-r));
        return 1;
    }
    printf("applied %d\n", r);
    return 0;
}
