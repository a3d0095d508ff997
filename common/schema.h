/* SPDX-License-Identifier: MIT */
/* schema.h - the embedded, numbered, forward-only migrations (generated from schema/). */
#pragma once

#include <stddef.h>

struct schema_migration {
    const char *name; /* file name, e.g. "0001_init.sql" */
    const char *sql;
};

extern const struct schema_migration schema_server[];
extern const size_t schema_server_count;
/* schema/server-pg: the PostgreSQL store's (daemon/pg_schema.c). */
extern const struct schema_migration schema_server_pg[];
extern const size_t schema_server_pg_count;
extern const struct schema_migration schema_client[];
extern const size_t schema_client_count;
