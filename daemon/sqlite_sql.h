/* SPDX-License-Identifier: MIT */
/* sqlite_sql.h - the SQLite driver for sql.h (sqlite_sql.c), and what the SQLite backend's own
 * files (sqlite_*.c) reach through it: the raw statements of the one cache, the handle. */
#pragma once

#include <sqlite3.h>

#include "sql.h"

/*
 * sqlite_sql_open() - a driver connection over the open handle @db. sql_close() finalizes its
 * statements and closes @db; sqlite_sql_finalize() finalizes them and leaves @db open. 0 or
 * -ENOMEM.
 */
int sqlite_sql_open(sqlite3 *db, struct sql **ret);
void sqlite_sql_finalize(struct sql *db);
/* sqlite_sql_errno() - an SQLite result code as sql.h's negative errno (0 for OK/ROW/DONE). */
int sqlite_sql_errno(int rc);
