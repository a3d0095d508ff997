/* SPDX-License-Identifier: MIT */
/*
 * pg_sql.h - the PostgreSQL driver of sql.h (libpq), and the runner of its migrations
 * (schema/server-pg). docs/internals/scale-out.md, "The driver".
 */
#pragma once

#include <stddef.h>

#include "sql.h"

/*
 * pg_sql_open() - connect to the database @url names ("postgresql://user:pw@host:port/db?...",
 * or any libpq connection string), with TLS as its sslmode/sslrootcert say (verify-full checks
 * the server's name against its certificate). The session runs in UTC with ISO dates, UTF-8.
 * Returns 0 and the connection in *ret, or -ENOTCONN (unreachable, refused, authentication or
 * TLS failed: the reason is logged once, without the password), -ENOMEM.
 */
int pg_sql_open(const char *url, struct sql **ret);
/* pg_sql_connect() - pg_sql_open() without the log line: on -ENOTCONN the reason (libpq's
 * first line, no password) is in @why for the caller's own message. */
int pg_sql_connect(const char *url, struct sql **ret, char *why, size_t why_size);

/* pg_sql_is() - whether @db is a pg_sql_open() connection. */
bool pg_sql_is(const struct sql *db);

/*
 * pg_schema_migrate() - apply the migrations of schema/server-pg that @db's database has not
 * recorded in schema_migrations, each in one transaction holding pg_advisory_xact_lock(72657, 1),
 * so that daemons starting together migrate one at a time and each file runs once. Returns the
 * number applied (0: already current), or -EPROTO when the database records a migration this
 * program does not know (a newer caresyncd migrated it), or the -errno of sql.h.
 */
int pg_schema_migrate(struct sql *db);
