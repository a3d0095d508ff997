#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_write_order.py - writers of several daemons on one PostgreSQL no longer take turns for
# their whole transaction (issue 12, "finer locks"; docs/internals/scale-out.md, "The daemon on
# PostgreSQL"). Two daemons on one private PostgreSQL 15; a psql session holds what a writer
# needs, so that the interleaving is forced, not hoped for:
#  (a) psql holds person A's lock (pg_advisory_xact_lock(72657, hashtext(A))): a push of an
#      edit to A through daemon 1 waits for it, and meanwhile a push of an edit to person B
#      through daemon 2 completes (when the head was taken at BEGIN, the waiting push held it
#      and B's push waited too). Released, A's push completes; each change stored once.
#  (b) psql holds A's lock again: a push of an edit to A through daemon 1 waits for it, and a
#      coordinator's resolution of a conflict on A through daemon 2 waits behind that push (it
#      takes the writers' gate exclusive). Released, both complete in that order: the push's
#      edit and the resolution's value both stand, the conflict log holds the one conflict,
#      resolved once, and no conflict more.
#  (c) psql holds the head with an uncommitted higher number (a field of A rewritten at it):
#      a pull-only sync reads up to the head it saw, and its cursor does not pass it; after the
#      commit the next pull brings the change (nothing skipped).
#  (d) a deadlock, forced: psql holds the lock of the person a push takes second; the push
#      takes the first and waits; psql then asks for the first. PostgreSQL's check runs first
#      for the push, which waited longer, and fails its transaction (40P01); the daemon tries
#      the push once more, by itself, behind psql, and the device gets 200, each change stored
#      once (without that retry, it gets 503). Should psql come to wait too late and be the
#      one failed, the round is done again (at most 5 times).
# Always on a private PostgreSQL (whatever CARESYNC_TEST_STORE says).
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_daemon_lifecycle import wait_for  # noqa: E402
from test_pg_store import main as pg_store_main, switch  # noqa: E402


def lock_waiters(pg):
    """How many backends wait for an advisory lock."""
    return int(pg.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted")[0][0])


class Background:
    """@fn() on a thread; its result or exception kept."""

    def __init__(self, fn):
        self.result = self.error = None
        self.t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.t.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def done(self):
        return not self.t.is_alive()

    def join(self, timeout=60):
        self.t.join(timeout)
        h.check(not self.t.is_alive(), 'the background request finished')
        if self.error:
            raise self.error
        return self.result


def field(pg, person, name):
    rows = pg.query("SELECT value FROM field_state WHERE tbl = 'person' AND row_id = '%s'"
                    " AND field = '%s'" % (person, name))
    return rows[0][0] if rows else None


def stored_once(pg, change):
    return pg.query("SELECT count(*) FROM change_log WHERE change_id = '%s'"
                    % change['change_id']) == [['1']]


def applied_once_released(s, push, what):
    """End psql session @s's transaction, then @push's reply: 200, its one change applied."""
    s.run('COMMIT')
    s.close()
    status, doc = push.join()
    h.check_eq(status, 200, what + ' once released', doc)
    h.check_eq(doc['outcomes'][0]['outcome'], 'applied', what + ': applied', doc)


def person_lock(pg, name, person):
    s = pg.session(name)
    s.run('BEGIN')
    s.run("SELECT pg_advisory_xact_lock(72657, hashtext('%s'))" % person)
    return s


def part_a(pg, a, b, nurse, ot, pa, pb):
    s = person_lock(pg, 'hold-a', pa)
    ca = h.make_change('person', pa, pa, 'phone', '0131 100 0001')
    cb = h.make_change('person', pb, pb, 'phone', '0131 200 0002')
    try:
        push_a = Background(lambda: a.push(nurse.token, [ca]))
        wait_for(lambda: lock_waiters(pg) >= 1, 'the push of A to wait for A\'s lock', 30)
        h.check(not push_a.done(), '(a) the push of A waits while A is locked')
        t0 = time.monotonic()
        push_b = Background(lambda: b.push(ot.token, [cb]))
        status, doc = push_b.join(timeout=30)
        h.check_eq(status, 200, '(a) the push of B through the other daemon', doc)
        h.log('(a) B stored in %.2f s while A waits' % (time.monotonic() - t0))
        h.check_eq(doc['outcomes'][0]['outcome'], 'applied', '(a) B applied', doc)
        h.check(not push_a.done(), '(a) A still waits after B is stored')
        h.check_eq(field(pg, pa, 'phone'), '0131 000 0001', '(a) A unchanged while it waits')
    except BaseException:
        s.run('ROLLBACK')
        raise
    applied_once_released(s, push_a, '(a) the push of A')
    h.check_eq(field(pg, pa, 'phone'), '0131 100 0001', '(a) A stored')
    h.check_eq(field(pg, pb, 'phone'), '0131 200 0002', '(a) B stored')
    h.check(stored_once(pg, ca) and stored_once(pg, cb), '(a) each change stored once')


def part_b(pg, a, b, nurse, ot, cora, pa):
    # A conflict on A's address: both edit offline from the same version; the ot's is later.
    for c in (nurse, ot, cora):
        switch(c, a)
        c.sync()
    nurse.edit('person', pa, 'address', '1 Nurse Road')
    ot.edit('person', pa, 'address', '2 Therapist Street')
    nurse.sync()
    ot.sync()
    cora.sync()
    open_ = [c for c in cora.conflicts() if c['field'] == 'address']
    h.check_eq(len(open_), 1, '(b) one open conflict on the address', open_)
    conflict = open_[0]
    n_conflicts = pg.query('SELECT count(*) FROM conflicts')
    base = pg.query("SELECT hlc, device FROM field_state WHERE tbl = 'person' AND row_id = '%s'"
                    " AND field = 'phone'" % pa)[0]
    cp = h.make_change('person', pa, pa, 'phone', '0131 300 0003',
                       base={'hlc': int(base[0]), 'device': base[1]})
    switch(cora, b)
    s = person_lock(pg, 'hold-b', pa)
    try:
        push = Background(lambda: a.push(nurse.token, [cp]))
        wait_for(lambda: lock_waiters(pg) >= 1, 'the push of A to wait for A\'s lock', 30)
        resolve = Background(lambda: cora.resolve(conflict['id'], 'value', '3 Agreed Lane',
                                                  reason='rang the family'))
        # The resolution waits for the writers' gate, behind the push holding it shared.
        wait_for(lambda: lock_waiters(pg) >= 2, 'the resolution to wait behind the push', 30)
        time.sleep(0.3)
        h.check(not push.done() and not resolve.done(), '(b) both wait while A is locked')
        h.check_eq(field(pg, pa, 'address'), '2 Therapist Street', '(b) nothing written yet')
    except BaseException:
        s.run('ROLLBACK')
        raise
    applied_once_released(s, push, '(b) the push of A')
    resolve.join()
    # The serial order: the push, then the resolution. Both stand; nothing lost.
    h.check_eq(field(pg, pa, 'phone'), '0131 300 0003', '(b) the push\'s edit stands')
    h.check_eq(field(pg, pa, 'address'), '3 Agreed Lane', '(b) the resolution\'s value stands')
    h.check(stored_once(pg, cp), '(b) the push stored once')
    h.check_eq(pg.query('SELECT count(*) FROM conflicts'), n_conflicts, '(b) no conflict more')
    h.check_eq(pg.query('SELECT count(*) FROM conflict_resolutions WHERE conflict_id = %d'
                        % conflict['id']), [['1']], '(b) resolved once')
    for c in (nurse, ot, cora):
        c.sync()
        h.check_eq((c.show(pa)['phone'], c.show(pa)['address']),
                   ('0131 300 0003', '3 Agreed Lane'), '(b) %s has both' % c.name)


def part_c(pg, a, b, ot, pa):
    status, doc = a.push(ot.token, [], pull=True)
    h.check_eq(status, 200, '(c) a first pull', doc)
    cursor = doc['cursor']
    while doc.get('more'):
        status, doc = a.push(ot.token, [], cursor=cursor, pull=True)
        cursor = doc['cursor']
    s = pg.session('hold-head')
    s.run('BEGIN')
    held = int(s.run('UPDATE store_head SET seq = seq + 1 RETURNING seq')[0])
    s.run("UPDATE field_state SET value = 'psql wrote this', seq = %d WHERE tbl = 'person'"
          " AND row_id = '%s' AND field = 'phone'" % (held, pa))
    try:
        pull = Background(lambda: b.push(ot.token, [], cursor=cursor, pull=True))
        # Its page is read up to the head it saw; it then waits for the head (its audit).
        time.sleep(1.0)
    finally:
        s.run('COMMIT')
        s.close()
    status, doc = pull.join()
    h.check_eq(status, 200, '(c) the pull while the head was held', doc)
    got = int(doc['cursor'].split(':')[0])
    values = [c['value'] for c in doc.get('changes', []) if c.get('field') == 'phone']
    h.check(got < held or 'psql wrote this' in values,
            '(c) the cursor passes the held number only with its change', (got, held, values))
    seen = 'psql wrote this' in values
    status, doc = a.push(ot.token, [], cursor=doc['cursor'], pull=True)
    h.check_eq(status, 200, '(c) the next pull', doc)
    values = [c['value'] for c in doc.get('changes', []) if c.get('field') == 'phone']
    h.check(seen or 'psql wrote this' in values, '(c) the change is pulled, not skipped',
            (held, doc))
    h.log('(c) held %d; first pull cursor %d, change in %s pull' % (held, got,
                                                                   'first' if seen else 'next'))


def part_d(pg, a, nurse, pa, pb):
    # The push locks its people in ascending order of hashtext(id) (store_batch.c).
    first, second = sorted((pa, pb), key=lambda p: int(pg.query("SELECT hashtext('%s')" % p)[0][0]))
    # PostgreSQL checks a waiter once, deadlock_timeout (1 s) after it began to wait: if psql
    # comes to wait later than that (a loaded machine), psql is the one failed. Then try again.
    for attempt in range(5):
        changes = [h.make_change('person', p, p, 'preferred_name', 'Deadlock %d.%d' % (attempt, i))
                   for i, p in enumerate((first, second))]
        s = person_lock(pg, 'hold-second', second)
        try:
            push = Background(lambda: a.push(nurse.token, changes))
            wait_for(lambda: lock_waiters(pg) >= 1, 'the push to wait for the second person', 30)
            h.check(not push.done(), '(d) the push waits for the second person')
            # The circle closes: psql waits for the first person, which the push holds.
            s.send("SELECT pg_advisory_xact_lock(72657, hashtext('%s'))" % first)
            out = s.wait(30)
            h.check(out is not None, '(d) the deadlock is broken', out)
        except BaseException:
            s.run('ROLLBACK')
            raise
        push_failed = not any('ERROR' in line for line in out)
        s.run('COMMIT' if push_failed else 'ROLLBACK')
        s.close()
        status, doc = push.join()
        what = ('the push PostgreSQL chose to fail, tried again by the daemon' if push_failed
                else 'the push, psql failed')
        h.log('(d) attempt %d: %s' % (attempt, what))
        h.check_eq(status, 200, '(d) ' + what, doc)
        h.check_eq([o['outcome'] for o in doc['outcomes']], ['applied', 'applied'],
                   '(d) both changes applied', doc)
        h.check(all(stored_once(pg, c) for c in changes), '(d) each change stored once')
        h.check_eq([field(pg, p, 'preferred_name') for p in (first, second)],
                   ['Deadlock %d.0' % attempt, 'Deadlock %d.1' % attempt], '(d) both stored')
        if push_failed:
            return
    raise AssertionError('(d) psql, not the push, was failed in every attempt')


def test(root, pg):
    h.TEST_STORE, h.TEST_PG = 'postgresql', pg
    w = h.World(root)
    a = w.daemon
    a._pg_db = 'caresync'
    h.run([h.CARESYNCD, 'init', '--data', a.data, '--store', pg.url])
    a.start()
    b = h.Daemon(root, 'server-b')
    b._pg_db = 'caresync'
    h.run([h.CARESYNCD, 'init', '--data', b.data, '--store', pg.url, '--no-dev-ca'])
    for f in ('ca.pem', 'server.pem', 'server.key'):
        shutil.copy2(os.path.join(a.data, f), os.path.join(b.data, f))
    b.start()
    try:
        pa = a.add_person('Ann Order', phone='0131 000 0001')
        pb = a.add_person('Ben Order', phone='0131 000 0002')
        nurse = w.client('nurse', 'nurse')
        ot = w.client('ot', 'occupational_therapist')
        cora = w.client('cora', 'coordinator')
        for p in (pa, pb):
            a.assign(p, 'nurse')
            a.assign(p, 'ot')
        for c in (nurse, ot, cora):
            c.sync()
        part_a(pg, a, b, nurse, ot, pa, pb)
        part_b(pg, a, b, nurse, ot, cora, pa)
        part_c(pg, a, b, ot, pa)
        part_d(pg, a, nurse, pa, pb)
        for d in (a, b):
            out = d.admin(['audit', 'verify']).stdout
            h.check('verified' in out, 'audit verify through %s' % d.data, out)
    finally:
        b.stop()


if __name__ == '__main__':
    pg_store_main(test)
