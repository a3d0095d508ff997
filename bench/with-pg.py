#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# with-pg.py - run a command beside a private PostgreSQL 15 made for it (tests/integration/pg.py:
# initdb in a temporary folder, a free loopback port, no system service), then remove it.
#
#   bench/with-pg.py -- COMMAND [ARG...]
#
# The command finds the database's URL in $CARESYNC_BENCH_PG_URL (role and database caresync,
# password auth over TCP). The server is configured for a benchmark, not for the tests: 256 MB of
# shared buffers and 300 connections (three daemons with their readers fit several times), and
# synchronous_commit stays on, so every COMMIT waits for its WAL flush as in production.
# Exits with the command's status.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
import pg  # noqa: E402


def main():
    args = sys.argv[1:]
    if args[:1] == ['--']:
        args = args[1:]
    if not args:
        sys.exit('usage: bench/with-pg.py -- COMMAND [ARG...]')
    db = pg.PostgreSQL()
    if db.missing:
        sys.exit('with-pg.py: ' + db.missing)
    try:
        db.start()
        db.stop()
        with open(os.path.join(db.data, 'postgresql.conf'), 'a') as f:
            f.write('# bench/with-pg.py\nshared_buffers = 256MB\nmax_connections = 300\n')
        db.start()
        env = dict(os.environ, CARESYNC_BENCH_PG_URL=db.url)
        rc = subprocess.call(args, env=env)
    finally:
        db.close()
    sys.exit(rc)


if __name__ == '__main__':
    main()
