#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# with-pg.py - run a command beside a private PostgreSQL 15 made for it (tests/integration/pg.py:
# initdb in a temporary folder, a free loopback port, no system service), then remove it.
#
#   bench/with-pg.py [--stat-statements FILE] -- COMMAND [ARG...]
#
# The command finds the database's URL in $CARESYNC_BENCH_PG_URL (role and database caresync,
# password auth over TCP) and the postmaster's pid in $CARESYNC_BENCH_PG_PID (bench-load counts
# the CPU of that server only, not of other PostgreSQL servers on the machine). The server is configured for a benchmark, not for the tests: 256 MB of
# shared buffers and 300 connections (three daemons with their readers fit several times), and
# synchronous_commit stays on, so every COMMIT waits for its WAL flush as in production.
# Exits with the command's status.
#
# --stat-statements FILE loads pg_stat_statements (track = all, so the statements of the plpgsql
# triggers are counted apart; track_planning on, so planning is told from execution) and, when
# the command ends, writes to FILE the totals and the statements by total execution time and by
# calls. The role caresync may call pg_stat_statements_reset(): a command that resets after its
# setup (psql "$CARESYNC_BENCH_PG_URL" -c 'SELECT pg_stat_statements_reset()') measures only
# what follows.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
import pg  # noqa: E402


TOP = 25


def stat_dump(db, path):
    """The totals, then the top statements by execution time and by calls, into @path."""
    cols = ('calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3),'
            ' round(total_plan_time::numeric, 1), plans, rows,'
            " regexp_replace(left(query, 400), '\\s+', ' ', 'g')")
    out = []
    tot = db.psql('SELECT count(*), sum(calls), round(sum(total_exec_time)::numeric, 1),'
                  ' round(sum(total_plan_time)::numeric, 1), sum(plans)'
                  ' FROM pg_stat_statements', user='postgres').stdout.strip()
    out.append('statements|calls|exec_ms|plan_ms|plans\n' + tot + '\n')
    for order in ('total_exec_time', 'calls', 'total_plan_time'):
        out.append('\n# by %s\ncalls|exec_ms|mean_ms|plan_ms|plans|rows|query\n' % order)
        out.append(db.psql('SELECT %s FROM pg_stat_statements ORDER BY %s DESC LIMIT %d'
                           % (cols, order, TOP), user='postgres').stdout)
    with open(path, 'w') as f:
        f.write(''.join(out))


def main():
    args = sys.argv[1:]
    stat_file = None
    if args[:1] == ['--stat-statements'] and len(args) > 1:
        stat_file = os.path.abspath(args[1])
        args = args[2:]
    if args[:1] == ['--']:
        args = args[1:]
    if not args:
        sys.exit('usage: bench/with-pg.py [--stat-statements FILE] -- COMMAND [ARG...]')
    db = pg.PostgreSQL()
    if db.missing:
        sys.exit('with-pg.py: ' + db.missing)
    try:
        db.start()
        db.stop()
        with open(os.path.join(db.data, 'postgresql.conf'), 'a') as f:
            f.write('# bench/with-pg.py\nshared_buffers = 256MB\nmax_connections = 300\n')
            if stat_file:
                f.write("shared_preload_libraries = 'pg_stat_statements'\n"
                        'pg_stat_statements.track = all\n'
                        'pg_stat_statements.track_planning = on\n')
        db.start()
        if stat_file:
            db.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements;'
                    ' GRANT pg_read_all_stats TO caresync;'
                    ' GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO caresync',
                    user='postgres')
        with open(os.path.join(db.data, 'postmaster.pid')) as f:
            postmaster = f.readline().strip()
        env = dict(os.environ, CARESYNC_BENCH_PG_URL=db.url, CARESYNC_BENCH_PG_PID=postmaster)
        rc = subprocess.call(args, env=env)
        if stat_file:
            stat_dump(db, stat_file)
    finally:
        db.close()
    sys.exit(rc)


if __name__ == '__main__':
    main()
