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

/*
 * COPY ... FROM STDIN over @db (a pg_sql_open() connection), for `caresyncd store migrate`,
 * which loads millions of rows: one stream per table instead of a round trip per row.
 *
 * pg_sql_copy_begin() runs @copy_sql ("COPY t (a, b) FROM STDIN", text format) and leaves the
 * connection taking data; pg_sql_copy_put() sends @n bytes of rows in COPY's text format
 * (tab-separated, \N for NULL, backslash escapes; rows end with '\n'; a row may span calls);
 * pg_sql_copy_end() ends the stream and returns the number of rows the server stored in
 * *ret_rows, or, with @abort_reason not NULL, abandons it (the COPY fails with that reason,
 * which aborts the transaction it ran in). When the server refuses the rows, @reterr_why (if not
 * NULL) gets its message, cut before any quoted value as every message the driver logs (a
 * constraint's or a trigger's words, never a row's values). Each returns 0 or the -errno of
 * sql.h; after a
 * failed begin or put, call pg_sql_copy_end() with a reason to leave COPY mode. No other
 * statement may run on @db between begin and end.
 */
int pg_sql_copy_begin(struct sql *db, const char *copy_sql);
int pg_sql_copy_put(struct sql *db, const char *buf, size_t n);
int pg_sql_copy_end(struct sql *db, const char *abort_reason, int64_t *ret_rows, char *reterr_why,
                    size_t why_size);
