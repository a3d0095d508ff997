#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_store.py - the store on PostgreSQL (issue 12), end to end with the real programs: a
# private PostgreSQL 15 (pg.py), 'caresyncd init --store', serve, a real client enrolled and
# syncing (a push and a pull), then a second data directory that JOINS the same database and a
# second daemon serving it. The device syncs alternately through both (its replica's server
# URL switched each time, as a load balancer would), and each sees the other's writes: a user
# added on one daemon is seen by the other, a revocation made through one is refused by both.
# The two daemons share one certificate: the second directory is made with --no-dev-ca and
# given the first's ca.pem, server.pem and server.key, so the device trusts both.
# Also: init on a wrong password or a database that is down fails with exit 1 and a one-line
# reason naming the URL without its password; backup and restore refuse (exit 2) and point to
# pg_dump; store.url is mode 0600; the audit chain verifies through either directory.
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from pg import PostgreSQL


def switch(client, daemon):
    """Point @client's replica at @daemon (what a load balancer does between requests)."""
    db = sqlite3.connect(os.path.join(client.home, 'replica.db'))
    db.execute("UPDATE meta SET value = ? WHERE key = 'server_url'", (daemon.url,))
    db.commit()
    db.close()


def test(root, pg):
    password = pg.url.split('://', 1)[1].split('@', 1)[0].split(':', 1)[1]
    # The harness's Daemon.query() and World.client() read this database.
    h.TEST_STORE, h.TEST_PG = 'postgresql', pg
    w = h.World(root)
    a = w.daemon
    a._pg_db = 'caresync'  # pg.url's database: both daemons below share it
    p = h.run([h.CARESYNCD, 'init', '--data', a.data, '--store', pg.url])
    h.check('a new caresync store in PostgreSQL' in p.stdout, 'init says it made a new store',
            p.stdout)
    h.check(password not in p.stdout + p.stderr, 'init never prints the password')
    url_file = os.path.join(a.data, 'store.url')
    h.check_eq(stat.S_IMODE(os.stat(url_file).st_mode), 0o600, 'store.url is mode 0600')
    with open(url_file) as f:
        h.check_eq(f.read(), pg.url + '\n', 'store.url holds the URL on one line')
    h.check(not os.path.exists(a.store_path), 'no store.db beside store.url')
    # Run again on the same directory: refused, the store untouched.
    p = h.run([h.CARESYNCD, 'init', '--data', a.data, '--store', pg.url], expect=4)
    a.start()

    # One device through daemon A: a push and a pull.
    pid = a.add_person('Ann Example', phone='0131 000 0001')
    nurse = w.client('nurse', 'nurse')
    a.assign(pid, 'nurse')
    nurse.sync()
    h.check_eq(nurse.show(pid)['phone'], '0131 000 0001', 'the pull brought the person')
    nurse.edit('person', pid, 'phone', '0131 111 1111')
    out = nurse.sync().stdout
    h.check('1 applied' in out, 'the push applied the edit', out)
    rows = pg.query("SELECT value FROM field_state WHERE tbl = 'person' AND field = 'phone'")
    h.check_eq(rows, [['0131 111 1111']], 'the edit is in PostgreSQL')

    # A second data directory joins the same database; a second daemon serves it.
    b = h.Daemon(root, 'server-b')
    b._pg_db = 'caresync'
    p = h.run([h.CARESYNCD, 'init', '--data', b.data, '--store', pg.url, '--no-dev-ca'])
    h.check('joined the caresync store already in PostgreSQL' in p.stdout,
            'init on a database holding a store says it joins it', p.stdout)
    for f in ('ca.pem', 'server.pem', 'server.key'):
        shutil.copy2(os.path.join(a.data, f), os.path.join(b.data, f))
    b.start()
    try:
        h.check_eq(pg.query("SELECT count(*) FROM meta WHERE key IN ('node_id', 'epoch')"),
                   [['2']], 'one node id and one epoch for both daemons')

        # The device syncs alternately through B and A; each sees the other's writes.
        ot = w.client('ot', 'occupational_therapist')
        a.assign(pid, 'ot')
        ot.sync()
        for i, d in enumerate((b, a, b, a)):
            switch(nurse, d)
            switch(ot, d if i % 2 else (a if d is b else b))
            value = '0131 222 22%02d' % i
            nurse.edit('person', pid, 'phone', value)
            nurse.sync()
            ot.sync()
            h.check_eq(ot.show(pid)['phone'], value,
                       'round %d: the ot, through the other daemon, sees the edit' % i)
        h.check_eq(pg.query('SELECT count(*) FROM conflicts'), [['0']], 'no conflicts')

        # Concurrent offline edits of one field, sent through different daemons: one winner,
        # the loser logged once, both replicas equal.
        switch(nurse, a)
        switch(ot, b)
        nurse.edit('person', pid, 'address', '1 Nurse Road')
        ot.edit('person', pid, 'address', '2 Therapist Street')
        nurse.sync()
        ot.sync()
        nurse.sync()
        h.check_eq(nurse.show(pid)['address'], ot.show(pid)['address'],
                   'both replicas hold the same winner')
        h.check_eq(pg.query('SELECT count(*) FROM conflicts'), [['1']],
                   'the loser is in the conflict log once')

        # Syncs through both daemons at once, each pushing edits: the head orders the writers
        # of both; none fails, and both replicas end equal to each other.
        errors = []

        def burst(c, d, field):
            switch(c, d)
            for i in range(6):
                c.edit('person', pid, field, '%s %d' % (c.name, i))
                p = c.run('sync', expect=None, quiet=True)
                if p.returncode != 0:
                    errors.append((c.name, p.returncode, p.stderr))

        threads = [threading.Thread(target=burst, args=(nurse, a, 'phone')),
                   threading.Thread(target=burst, args=(ot, b, 'address'))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        h.check_eq(errors, [], 'every concurrent sync succeeded')
        for c in (nurse, ot, nurse):
            c.sync()
        h.check_eq((nurse.show(pid)['phone'], nurse.show(pid)['address']),
                   ('nurse 5', 'ot 5'), 'each daemon\'s writes reached the other\'s device')
        h.check_eq(ot.show(pid)['phone'], 'nurse 5', 'and the other way')

        # A user added through one directory is seen by the other.
        b.add_user('carol', 'social_worker')
        out = a.admin(['user', 'list']).stdout
        h.check('carol' in out, 'a user added on B is listed on A', out)
        carol = h.Client(w, 'carol', 'carol', 'social_worker')
        carol.run('enrol', '--server', b.url, '--ca', b.ca, '--code', a.enrol_code('carol'))
        carol.sync()

        # A revocation made through A is refused by both daemons at once (the token asked
        # directly: the device wipes itself at its first refusal).
        token = ot.token
        for d in (a, b):
            st, raw = d.push(token, [])
            h.check_eq(st, 200, 'the ot syncs through %s before the revocation' % d.data, raw)
        a.revoke(ot.device_id)
        for d in (a, b):
            st, raw = d.push(token, [])
            h.check(st in (401, 403, 410), 'the revoked token is refused by %s' % d.data, st,
                    raw)
        switch(nurse, b)
        nurse.sync()

        # The audit chain: one chain, whole, through either directory.
        for d in (a, b):
            out = d.admin(['audit', 'verify']).stdout
            h.check('verified' in out, 'audit verify through %s' % d.data, out)
        # The database away: /readyz and syncs answer 503 (nothing half-written); back, both
        # daemons carry on by themselves (each connection reconnects at its next use).
        token = carol.token
        for d in (a, b):
            st, _, raw, _ = d.request('GET', '/readyz')
            h.check_eq(st, 200, '/readyz on %s with the database up' % d.data, raw)
        before = pg.query('SELECT seq, audit_id FROM store_head')
        pg.stop()
        for d in (a, b):
            st, _, raw, _ = d.request('GET', '/readyz')
            h.check_eq(st, 503, '/readyz on %s with the database away' % d.data, raw)
            st, doc = d.push(token, [], pull=True)
            h.check_eq(st, 503, 'a sync through %s with the database away' % d.data, doc)
        pg.start()
        h.check_eq(pg.query('SELECT seq, audit_id FROM store_head'), before,
                   'nothing was written while the database was away')
        for d in (a, b):
            for _ in range(2):  # the first use of a lost connection may still find it gone
                st, doc = d.push(token, [], pull=True)
                if st == 200:
                    break
            h.check_eq(st, 200, 'a sync through %s once the database is back' % d.data, doc)
            st, _, raw, _ = d.request('GET', '/readyz')
            h.check_eq(st, 200, '/readyz on %s once the database is back' % d.data, raw)

        # What has no meaning on PostgreSQL refuses, pointing to PostgreSQL's tools.
        p = b.admin(['backup'], '--output', os.path.join(root, 'x.db'), expect=2)
        h.check('pg_dump' in p.stderr, 'backup points to pg_dump', p.stderr)
        p = b.admin(['restore'], '--input', os.path.join(root, 'x.db'), expect=2)
        h.check('pg_restore' in p.stderr, 'restore points to pg_restore', p.stderr)
    finally:
        b.kill()
    a.stop()

    # Wrong password, database down: exit 1, one line naming --store without the password.
    bad = pg.url.replace(':' + password + '@', ':wrong-' + password[:4] + '@')
    p = h.run([h.CARESYNCD, 'init', '--data', os.path.join(root, 'c'), '--store', bad],
              expect=1)
    h.check('--store' in p.stderr and 'wrong-' not in p.stderr.split('(--store)')[0]
            .split('PostgreSQL store ')[-1], 'the error names --store without the password',
            p.stderr)
    h.check_eq(len(p.stderr.strip().splitlines()), 1, 'one line', p.stderr)
    h.check('password authentication failed' in p.stderr, 'the line says why', p.stderr)
    h.check(not os.path.exists(os.path.join(root, 'c', 'store.url')),
            'a failed init writes no store.url')
    pg.stop()
    p = h.run([h.CARESYNCD, 'user', 'list', '--data', a.data], expect=1)
    h.check('cannot connect to the PostgreSQL store' in p.stderr and password not in p.stderr,
            'the database down: the reason, no password', p.stderr)
    h.check_eq(len(p.stderr.strip().splitlines()), 1, 'the database down: one line', p.stderr)
    pg.start()
    out = a.admin(['user', 'list']).stdout
    h.check('carol' in out and 'nurse' in out, 'the database back: the store as it was', out)


def main(test=test):
    """Run test(root, pg) on a private PostgreSQL with daemons 'server' and 'server-b' in a
    temporary root (test_pg_write_order runs its own test through it)."""
    h.require_binaries()
    pg = PostgreSQL()
    if pg.missing:
        print('SKIP: ' + pg.missing)
        sys.exit(77)
    root = tempfile.mkdtemp(prefix='caresync-it-')
    ok = False
    try:
        pg.start()
        test(root, pg)
        ok = True
    except Exception:
        traceback.print_exc()
        for name in ('server', 'server-b'):
            h.Daemon(root, name).dump_log()
    finally:
        pg.close()
    if ok and not os.environ.get('KEEP_TMP'):
        shutil.rmtree(root, ignore_errors=True)
    else:
        h.log('kept ' + root)
    print('%d passed, %d failed' % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
