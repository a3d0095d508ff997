#!/bin/sh
# SPDX-License-Identifier: MIT
# layers.sh - the server's layering, checked on the source (issue 11: "no file outside the
# SQLite backend calls sqlite3_* on the server"). Only the SQLite backend's files,
# daemon/sqlite_*.c, may call SQLite, and only the PostgreSQL backend's, daemon/pg_*.[ch], may
# call libpq (issue 12); everything else runs its SQL over daemon/sql.h. Prints each
# offending file and line and fails. Usage: layers.sh SOURCE_ROOT
set -u
root=${1:?usage: layers.sh SOURCE_ROOT}
# Files not yet moved into the SQLite backend, each with who moves it. Keep this list empty.
pending=""
status=0
for f in "$root"/daemon/*.c; do
    base=${f##*/}
    case $base in
    sqlite_*.c) continue ;;
    esac
    skip=0
    for p in $pending; do
        [ "$base" = "$p" ] && skip=1
    done
    [ $skip = 1 ] && continue
    if grep -n 'sqlite3_\|SQLITE_\|<sqlite3\.h>\|"sqlite_sql\.h"' "$f" >/tmp/layers.$$ 2>/dev/null; then
        sed "s|^|daemon/$base:|; s|\$|: SQLite outside the SQLite backend: move it into a daemon/sqlite_*.c file or write it over sql.h|" /tmp/layers.$$ >&2
        status=1
    fi
done
for f in "$root"/daemon/*.c "$root"/daemon/*.h; do
    base=${f##*/}
    case $base in
    pg_*) continue ;;
    esac
    if grep -n '\bPQ[a-z]\|\bPG\(conn\|result\)\b\|<libpq-fe\.h>' "$f" >/tmp/layers.$$ 2>/dev/null; then
        sed "s|^|daemon/$base:|; s|\$|: libpq outside the PostgreSQL backend: move it into a daemon/pg_*.c file or write it over sql.h|" /tmp/layers.$$ >&2
        status=1
    fi
done
rm -f /tmp/layers.$$
for p in $pending; do
    if [ ! -e "$root/daemon/$p" ]; then
        echo "layers.sh: daemon/$p is gone: take it off the pending list" >&2
        status=1
    fi
done
[ $status = 0 ] && echo "ok: only daemon/sqlite_*.c call SQLite, only daemon/pg_* libpq"
exit $status
