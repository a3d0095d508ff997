#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_driver.py - the PostgreSQL driver of sql.h (daemon/pg_sql.c) and its migration runner
# (daemon/pg_schema.c) on a private PostgreSQL 15 that accepts TCP only with TLS (pg.py):
#  * tests/unit/sql-conformance.c, the same checks the SQLite driver passes, over the unix
#    socket (no TLS) and over TCP with sslmode=verify-full; a certificate from another CA is
#    refused with a clear message; what the driver logs holds no bound value and no password;
#  * the database stopped under a run (a connection idle, another inside a transaction):
#    -ENOTCONN, nothing of the open transaction kept, and the same statements work once it is
#    started again;
#  * the migrations (schema/server-pg, embedded): an empty database gets all, a second run none;
#    two runners started together while a third party holds the migration lock both wait on it
#    and, released, apply every file once between them; a database migrated further than this
#    program knows is refused.
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
import pg as pgmod

CONFORMANCE = os.environ.get('SQL_CONFORMANCE')
MIGRATE = os.environ.get('PG_MIGRATE')
N_MIGRATIONS = len([f for f in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       '..', '..', 'schema', 'server-pg'))
                    if f.endswith('.sql')])
# Values the conformance run binds that the database refuses: never in the driver's log.
BOUND_REFUSED = ['not a number', 'not a time']


def conformance(pg, url, label):
    p = h.run([CONFORMANCE, '--url', url], expect=None, timeout=240)
    h.check(p.returncode == 0, '%s: sql-conformance failed (exit %d)' % (label, p.returncode),
            p.stdout, p.stderr)
    h.check('driver postgresql' in p.stdout, '%s: the PostgreSQL driver ran' % label)
    for v in BOUND_REFUSED + [pg.password]:
        h.check(v not in p.stderr, '%s: the log holds a bound value or the password' % label,
                p.stderr)
    h.log('%s: %s' % (label, p.stdout.strip().splitlines()[-1]))


def outage(pg, url):
    """sql-conformance --outage: stop PostgreSQL when it says, start it when it says."""
    p = subprocess.Popen([CONFORMANCE, '--url', url, '--outage'], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = []
    try:
        for line in p.stdout:
            said.append(line.rstrip())
            if line.startswith('conformance: stop the database'):
                pg.stop()
                h.log('PostgreSQL stopped under the run')
                p.stdin.write('stopped\n')
                p.stdin.flush()
            elif line.startswith('conformance: start the database'):
                pg.start()
                h.log('PostgreSQL started again')
                p.stdin.write('started\n')
                p.stdin.flush()
        rc = p.wait(timeout=120)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    h.check(rc == 0, 'outage: sql-conformance --outage failed (exit %d)' % rc,
            '\n'.join(said), err)
    h.check('conformance: start the database' in said, 'outage: the run reached the restart',
            '\n'.join(said))
    lost = [l for l in err.splitlines() if 'connection lost' in l or 'unreachable' in l]
    h.check(lost, 'outage: the loss is logged', err)
    h.check(pg.password not in err, 'outage: the password is not logged', err)
    h.log('outage: -ENOTCONN while stopped, recovered after start; %s' % said[-1])


def wrong_ca(pg):
    """verify-full against a CA that did not issue the server's certificate: refused."""
    url = pg.url + '?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt'
    p = h.run([CONFORMANCE, '--url', url], expect=1)
    h.check('cannot connect to PostgreSQL' in p.stderr and 'certificate' in p.stderr,
            'a certificate from another CA is refused, and said so', p.stderr)
    h.check(pg.password not in p.stderr, 'the password is not logged', p.stderr)


def new_database(pg, name):
    pg.psql('CREATE DATABASE %s OWNER %s' % (name, pgmod.ROLE), user='postgres', db='postgres')
    return pg.url.rsplit('/', 1)[0] + '/' + name + '?sslmode=verify-full&sslrootcert=' + pg.ca


def applied(p):
    h.check(p.stdout.startswith('applied '), 'pg-migrate says how many it applied', p.stdout)
    return int(p.stdout.split()[1])


def flags(pg, db):
    """The store's flags are integers 0/1 (sql.h), and devices.redecide holds 2 (a
    coordinator's devices, store_people.c): each takes an int8 parameter, as the driver binds
    one, and compares with an integer literal, as the store's SQL writes it."""
    for table, col, top in (('change_log', 'conflict', 1), ('conflicts', 'review', 1),
                            ('conflict_resolutions', 'wrote', 1),
                            ('conflict_resolutions', 'before_exists', 1),
                            ('devices', 'redecide', 2), ('devices', 'redecide_done', 1)):
        p = pg.psql('PREPARE p(bigint) AS UPDATE %s SET %s = $1 WHERE %s = 0;'
                    ' EXECUTE p(%d)' % (table, col, col, top), db=db, expect=None)
        h.check(p.returncode == 0, '%s.%s takes %d from an int8 parameter' % (table, col, top),
                p.stderr)


def migrations(pg):
    url = new_database(pg, 'mig_once')
    h.check_eq(applied(h.run([MIGRATE, url])), N_MIGRATIONS, 'an empty database gets all')
    rows = pg.query('SELECT version, name FROM schema_migrations ORDER BY version', db='mig_once')
    h.check_eq([int(r[0]) for r in rows], list(range(1, N_MIGRATIONS + 1)), 'every one recorded')
    h.check_eq(pg.query('SELECT count(*) FROM store_head', db='mig_once'), [['1']],
               'the append point is there')
    flags(pg, 'mig_once')
    h.check_eq(applied(h.run([MIGRATE, url])), 0, 'a second run applies none')
    h.check_eq(len(pg.query('SELECT 1 FROM schema_migrations', db='mig_once')), N_MIGRATIONS,
               'and records none twice')

    # A migration this program does not know: refused, nothing changed.
    pg.psql("INSERT INTO schema_migrations(version, name) VALUES (%d, 'from_the_future')"
            % (N_MIGRATIONS + 1), db='mig_once')
    p = h.run([MIGRATE, url], expect=1)
    h.check('newer than this caresyncd' in p.stderr, 'a newer schema is refused, and said so',
            p.stderr)

    # Two runners at once, held at the lock until both wait on it.
    url = new_database(pg, 'mig_race')
    holder = pg.session('holder', db='mig_race')
    holder.run('BEGIN')
    holder.run('SELECT pg_advisory_xact_lock(72657, 1)')
    runners = [subprocess.Popen([MIGRATE, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        end = time.monotonic() + 60
        waiting = 0
        while time.monotonic() < end:
            waiting = int(pg.query("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                   " 'mig_race' AND application_name = 'caresyncd' AND"
                                   " wait_event_type = 'Lock'")[0][0])
            if waiting == 2:
                break
            time.sleep(0.05)
        h.check_eq(waiting, 2, 'both runners wait on the migration lock')
        holder.run('ROLLBACK')
        outs = [r.communicate(timeout=120) for r in runners]
    finally:
        for r in runners:
            if r.poll() is None:
                r.kill()
                r.wait()
        holder.close()
    for r, (out, err) in zip(runners, outs):
        h.check_eq(r.returncode, 0, 'a runner started together with another succeeds', out, err)
    counts = [int(out.split()[1]) for out, _ in outs]
    h.check_eq(sum(counts), N_MIGRATIONS, 'between them every file applied once (%s)' % counts)
    logged = sorted(l.split('migration ')[-1] for _, err in outs for l in err.splitlines()
                    if 'applied schema migration' in l)
    h.check_eq(len(logged), N_MIGRATIONS, 'each file logged as applied once', logged)
    h.check_eq(len(set(logged)), N_MIGRATIONS, 'no file applied twice', logged)
    rows = pg.query('SELECT version FROM schema_migrations ORDER BY version', db='mig_race')
    h.check_eq([int(r[0]) for r in rows], list(range(1, N_MIGRATIONS + 1)), 'every one recorded')
    h.log('migrations: %d on an empty database, 0 again, two runners at once applied %s'
          % (N_MIGRATIONS, counts))


def test(pg):
    h.check(CONFORMANCE and MIGRATE, 'SQL_CONFORMANCE and PG_MIGRATE name the test programs')
    migrations(pg)
    conformance(pg, pg.socket_url, 'unix socket, no TLS')
    conformance(pg, pg.tls_url, 'TCP, TLS verify-full')
    wrong_ca(pg)
    outage(pg, pg.tls_url)


pgmod.main(test, tls=True)
