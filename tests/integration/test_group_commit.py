#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_group_commit.py - store work off the event loop (issue 11, item 4): one writer thread
# commits the syncs waiting together, each in its own savepoint, and answers none before the
# commit; a bounded queue answers 503 queue_full with Retry-After, and the client waits and
# comes back.
#
# The test makes the writer wait, deterministically, by holding the store's write lock from
# here (BEGIN IMMEDIATE on the store file, as a second writer would): every sync that arrives
# meanwhile queues behind it, and all of them go into the next group when the lock is let go.
#
#   1. Many devices sync at once: every sync succeeds, every note each device was told is
#      stored is in the store exactly once, several were committed together (the daemon's
#      count of write jobs, groups and commits), and after a kill -9 right after the replies
#      everything acknowledged is still there (acknowledged => durable).
#   2. A bad batch in a group: its own half-applied change is rolled back and it gets its own
#      400; the good devices in the same group are stored; the audit chain verifies.
#   3. Queue full: --queue-depth 1; a request that finds it full gets 503 queue_full with
#      Retry-After and a clear message, writes nothing, and a real client that meets it waits
#      and succeeds once there is room.
#   4. A full disk during a group: every sync of the group fails (503 storage_full, the CLI
#      keeps its outbox), nothing is acknowledged or written, the audit chain verifies, the
#      daemon keeps serving, and after space is freed everything is stored exactly once.
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

DEVICES = 8
MNT_SIZE = 8 << 20
FULL_NOTE = 'Full disk group %d part %d ' + 'x' * 12000


class WriteLock:
    """The store's write lock, held from the test: the daemon's writer waits behind it (up to
    its busy timeout of 10 s, longer than any hold here)."""

    def __init__(self, daemon):
        self.con = sqlite3.connect(daemon.store_path, isolation_level=None, timeout=30)

    def __enter__(self):
        self.con.execute('BEGIN IMMEDIATE')
        h.log('holding the store write lock')
        return self

    def __exit__(self, *exc):
        self.con.execute('ROLLBACK')
        self.con.close()
        h.log('released the store write lock')
        return False


def start_sync(client, *extra):
    """`caresync [EXTRA...] --home HOME sync` in the background (EXTRA: global options)."""
    argv = [h.CARESYNC] + list(extra) + ['--home', client.home, 'sync']
    h.log('$ ' + ' '.join(argv) + ' &')
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, what, expect=0):
    out, err = proc.communicate(timeout=120)
    if expect is not None:
        h.check_eq(proc.returncode, expect, what + ' exit code', out, err)
    return out, err


def note_count(d, text):
    return d.scalar("SELECT count(*) FROM field_state WHERE tbl='note' AND field='text'"
                    " AND value=?", (text,))


def work_stats(d):
    """The daemon's last 'store work:' line (logged at a clean stop), as numbers."""
    text = open(d.log_path, errors='replace').read()
    m = re.findall(r'store work: (\d+) write jobs in (\d+) groups, (\d+) commits '
                   r'\(largest group (\d+)\)', text)
    h.check(m, 'the daemon logged what its writer did', text[-2000:])
    jobs, groups, commits, largest = (int(x) for x in m[-1])
    return {'jobs': jobs, 'groups': groups, 'commits': commits, 'largest': largest}


def audit_ok(d):
    d.admin(['audit', 'verify'])  # exit 0: the chain verifies


def many_devices(w, pid):
    d = w.daemon
    nurses = []
    for i in range(DEVICES):
        c = w.client('n%d' % i, 'nurse', user='nurse%d' % i)
        d.assign(pid, 'nurse%d' % i)
        c.sync()
        nurses.append(c)
    for i, c in enumerate(nurses):
        c.new('note', 'add', pid, 'Group note from device %d' % i)

    with WriteLock(d):
        procs = [start_sync(c) for c in nurses]
        # Give them time to arrive and queue behind the lock; those that come later only make
        # smaller groups, which the checks below allow.
        time.sleep(3)
        h.check(all(p.poll() is None for p in procs),
                'no sync is answered while its commit cannot be made')
    for i, p in enumerate(procs):
        finish(p, 'sync of device %d' % i)
    for i, c in enumerate(nurses):
        h.check_eq(c.status()['pending'], 0, 'device %d was told its note is stored' % i)
        h.check_eq(note_count(d, 'Group note from device %d' % i), 1,
                   'the note of device %d is stored once' % i)

    # Acknowledged => durable: a kill -9 right after the replies loses nothing.
    d.kill()
    d.start()
    for i in range(DEVICES):
        h.check_eq(note_count(d, 'Group note from device %d' % i), 1,
                   'after kill -9, the note of device %d is still stored' % i)
    d.stop(expect_rc=0)
    st = work_stats(d)
    h.log('writer after restart: %r' % st)
    d.start()
    return nurses


def check_grouped(d):
    st = work_stats(d)
    h.check(st['largest'] >= 2, 'syncs waiting together were committed together', st)
    h.check(st['commits'] < st['jobs'], 'fewer commits than write jobs', st)
    return st


def bad_batch_in_group(w, pid, nurses):
    d = w.daemon
    qid = d.add_person('Quentin Other')
    d.add_user('bea', 'nurse')
    bad = h.Client(w, 'bad', 'bea', 'nurse')
    bad.enrol(d.enrol_code('bea'))
    d.assign(pid, 'bea')
    d.assign(qid, 'bea')
    bad.sync()
    row = h.uuid7()
    # The first change is applied, then the second gives the same new row to another person:
    # the batch is refused at its second change, inside the group.
    changes = [h.make_change('goal', row, pid, 'description', 'Half of a bad batch'),
               h.make_change('goal', row, qid, 'description', 'The other half')]
    for i, c in enumerate(nurses):
        c.new('note', 'add', pid, 'Beside a bad batch %d' % i)

    result = {}
    with WriteLock(d):
        procs = [start_sync(c) for c in nurses]
        def push():
            result['r'] = d.push(bad.token, changes)
        t = threading.Thread(target=push)
        t.start()
        time.sleep(3)
    t.join(60)
    for i, p in enumerate(procs):
        finish(p, 'sync beside a bad batch, device %d' % i)
    status, doc = result['r']
    h.check_eq((status, (doc or {}).get('error', {}).get('code')), (400, 'row_owner_mismatch'),
               'the bad batch gets its own error', doc)
    h.check_eq(d.scalar("SELECT count(*) FROM field_state WHERE row_id=?", (row,)), 0,
               'the applied half of the bad batch was rolled back with it')
    h.check_eq(d.scalar('SELECT count(*) FROM change_log WHERE row_id=?', (row,)), 0,
               'nothing of the bad batch is journaled')
    for i in range(len(nurses)):
        h.check_eq(note_count(d, 'Beside a bad batch %d' % i), 1,
                   'device %d in the same group is stored' % i)
    audit_ok(d)


def queue_full(w, pid, nurses):
    d = w.daemon
    d.stop(expect_rc=0)
    d.serve_args = ['--queue-depth', '1']
    d.start()
    a, b, late = nurses[0], nurses[1], nurses[2]
    a.new('note', 'add', pid, 'Queued first')
    b.new('note', 'add', pid, 'Queued second')
    late.new('note', 'add', pid, 'Came back later')
    with WriteLock(d):
        pa = start_sync(a)
        time.sleep(1)
        pb = start_sync(b)
        time.sleep(1)
        full = None
        for _ in range(20):
            try:
                status, hdrs, _, doc = d.request('POST', '/v1/sync',
                                                 {'cursor': '', 'pull': False, 'changes': []},
                                                 token=nurses[3].token, timeout=2)
            except OSError:
                continue  # queued (it fills the queue itself) and cut off by our timeout
            if status == 503:
                full = (status, hdrs, doc)
                break
        h.check(full is not None, 'a request meets the full queue')
        status, hdrs, doc = full
        err = (doc or {}).get('error', {})
        h.check_eq(err.get('code'), 'queue_full', 'the 503 says the queue is full', doc)
        h.check('retry-after' in hdrs and hdrs['retry-after'].isdigit(),
                '503 queue_full carries Retry-After in seconds', hdrs)
        h.check('nothing was written' in err.get('message', ''), 'the message says so', err)
        # A real client meeting the full queue waits as told and comes back.
        pl = start_sync(late, '--verbose')
        time.sleep(2)
    for p, what in ((pa, 'first'), (pb, 'second')):
        finish(p, 'the %s queued sync' % what)
    _, err_text = finish(pl, 'the sync that met a full queue')
    h.check('queue_full' in err_text and 'sending again' in err_text,
            'the client backed off on 503 queue_full and sent again', err_text[-1500:])
    for text in ('Queued first', 'Queued second', 'Came back later'):
        h.check_eq(note_count(d, text), 1, '%r is stored once' % text)
    d.stop(expect_rc=0)
    st = work_stats(d)
    h.check('refused with the queue full' in open(d.log_path).read(), 'the refusals are counted')
    d.serve_args = []
    d.start()
    return st


def disk_full_group(w, mnt):
    w2 = h.world_on(w, os.path.join(mnt, 'server'))
    d = w2.daemon
    try:
        pid = d.add_person('Fay Full')
        devs = []
        for i in range(4):
            c = w2.client('f%d' % i, 'nurse', user='fnurse%d' % i)
            d.assign(pid, 'fnurse%d' % i)
            c.sync()
            devs.append(c)
        # As test_disk_full: restart so the write-ahead log starts empty, then fill the disk.
        d.stop(expect_rc=0)
        d.start()
        for i, c in enumerate(devs):
            for k in range(3):
                c.new('note', 'add', pid, FULL_NOTE % (i, k))
        acked = d.counts()
        pending = [c.status()['pending'] for c in devs]
        filler = h.fill_disk(mnt)
        with WriteLock(d):
            procs = [start_sync(c) for c in devs]
            time.sleep(3)
        for i, p in enumerate(procs):
            out, err = finish(p, 'sync %d into a full disk' % i, expect=None)
            h.check_eq(p.returncode, h.EXIT_SERVER, 'sync %d into a full disk exit code' % i,
                       out, err)
            h.check_eq(devs[i].status()['pending'], pending[i], 'device %d keeps its outbox' % i)
        h.check_eq(d.counts(), acked, 'nothing of the failed group was written')
        status, _, _, _ = d.request('GET', '/v1/devices', token=devs[0].token)
        h.check_eq(status, 403, 'the daemon keeps serving on a full disk')
        os.unlink(filler)
        audit_ok(d)
        for c in devs:
            c.sync()
        for i in range(len(devs)):
            for k in range(3):
                h.check_eq(note_count(d, FULL_NOTE % (i, k)), 1,
                           'note %d.%d stored once after space was freed' % (i, k))
        audit_ok(d)
        d.stop(expect_rc=0)
    finally:
        w2.close()


def test(w):
    d = w.daemon
    pid = d.add_person('Gwen Group')
    nurses = many_devices(w, pid)
    bad_batch_in_group(w, pid, nurses)
    d.stop(expect_rc=0)
    check_grouped(d)
    d.start()
    queue_full(w, pid, nurses)
    mnt = os.path.join(w.root, 'server-fs')
    why = h.mount_tmpfs(mnt, MNT_SIZE)
    if why:
        h.log('skipping the full-disk part: ' + why)
        return
    try:
        disk_full_group(w, mnt)
    finally:
        h.umount(mnt)


if __name__ == '__main__':
    h.sqlite_only("the writer's group commit of SQLite savepoints (PostgreSQL: one transaction per job, pg_store.c)")
    h.main(test)
