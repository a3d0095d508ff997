#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_disk_full.py - a full disk, on the device and on the server (section 6 of issue 9).
#
# Device: its home is a small tmpfs holding a synced caseload and one unsent note; the tmpfs is
# filled to the last byte. Every reading command (today, open, show, caseload, status, export)
# still works and prints the data; a write (note add) fails with exit 1 and one line saying the
# disk is full and what to do; nothing is lost (the outbox and the replica are as before). Once
# space is freed, the write and a sync succeed and the server holds each note exactly once.
#
# Server: the daemon's data directory is a small tmpfs; once it is full a push is refused
# (503 with a clear error; the CLI exits 7 and keeps its outbox), reads keep working, nothing
# acknowledged is lost, and after space is freed the same push succeeds, exactly once.
#
# Needs root to mount a tmpfs; skipped (exit 77) with the reason otherwise.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

MNT_SIZE = 8 << 20

# On a full disk the daemon answers 500 internal_error to every sync, a pull as much as a push
# (the device's report is written in the sync's own transaction). The fix belongs to
# daemon/store_sync.c and daemon/http.c, outside this branch: map -ENOSPC to 503 with
# Retry-After and serve a pull-only sync when its report cannot be written. Set this to True
# with that fix, and the server part checks it.
DAEMON_DISK_FULL_FIXED = True


def note_count(d, text):
    return d.scalar("SELECT count(*) FROM field_state WHERE tbl='note' AND field='text'"
                    " AND value=?", (text,))


def check_reads(nurse, pid, visit, alert, note_text):
    """Every reading command works and shows the data."""
    today = nurse.today()
    h.check(visit in str(today), 'today lists the visit on a full disk', today)
    doc = nurse.open(pid)
    h.check('Bramble' in str(doc) and alert in str(doc), 'open shows About Me and the alert',
            doc)
    p = nurse.show(pid)
    h.check_eq(p['id'], pid, 'show on a full disk')
    h.check(note_text in str(p['notes']), 'show has the unsent note', p['notes'])
    h.check_eq([r['id'] for r in nurse.caseload()], [pid], 'caseload on a full disk')
    nurse.run('export', pid, '--fhir')
    return nurse.status()


def device_part(w, mnt):
    d = w.daemon
    pid = d.add_person('Dora Disk', phone='0131 496 0101')
    d.add_user('nina', 'nurse')
    nurse = h.Client(w, 'nurse', 'nina', 'nurse')
    nurse.home = os.path.join(mnt, 'home')
    nurse.enrol(d.enrol_code('nina'))
    d.assign(pid, 'nina')
    nurse.sync()
    nurse.run('about-me', pid, 'what_matters', 'My cat Bramble and the allotment club')
    alert = nurse.new('alert', 'raise', pid, 'Cat: keep the door shut', '--category', 'animal')
    visit = nurse.new('visit', 'add', pid, '--at', h.today_local() + 'T23:50', '--type',
                      'wound care')
    nurse.sync()
    nurse.new('note', 'add', pid, 'Unsent before the disk filled')
    before = nurse.status()
    h.check(before['pending'] > 0, 'the note is waiting', before)

    filler = h.fill_disk(mnt)
    st = check_reads(nurse, pid, visit, alert, 'Unsent before the disk filled')
    h.check_eq(st['pending'], before['pending'], 'outbox intact on a full disk')

    r = nurse.run('note', 'add', pid, 'Written on a full disk', expect=h.EXIT_LOCAL)
    err = r.stderr.strip()
    h.check(len(err.splitlines()) == 1 and 'disk is full' in err and 'free' in err,
            'one line: the disk is full, free some space', err)
    st = check_reads(nurse, pid, visit, alert, 'Unsent before the disk filled')
    h.check_eq(st['pending'], before['pending'], 'the refused write queued nothing')

    # Sync is a write too (the pulled changes and the cursor): it says the same, loses nothing.
    r = nurse.run('sync', expect=h.EXIT_LOCAL)
    h.check('disk is full' in r.stderr, 'sync on a full disk says the disk is full', r.stderr)

    os.unlink(filler)
    nurse.new('note', 'add', pid, 'Written after freeing space')
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'outbox sent')
    for text in ('Unsent before the disk filled', 'Written after freeing space'):
        h.check_eq(note_count(d, text), 1, 'the server has %r exactly once' % text)
    h.check_eq(note_count(d, 'Written on a full disk'), 0, 'the refused note was not written')


def server_part(w, mnt):
    w2 = h.world_on(w, os.path.join(mnt, 'server'))
    d = w2.daemon
    try:
        pid = d.add_person('Sid Server')
        nurse = w2.client('nurse', 'nurse', user='nora')
        d.assign(pid, 'nora')
        nurse.sync()
        nurse.new('note', 'add', pid, 'Acknowledged before the disk filled')
        nurse.sync()
        other = w2.client('other', 'nurse', user='olly')
        d.assign(pid, 'olly')

        # SQLite reuses its write-ahead log from the start once it has been checkpointed, so a
        # commit fits on a full disk while the log has room: restart the daemon, whose clean
        # stop checkpoints and removes the log, and push more than the little it then writes.
        d.stop(expect_rc=0)
        d.start()
        wal = d.store_path + '-wal'
        h.log('write-ahead log before filling: %d bytes' %
              (os.path.getsize(wal) if os.path.exists(wal) else 0))
        acked = d.counts()
        filler = h.fill_disk(mnt)
        nurse.new('note', 'add', pid, 'Pushed while the server disk is full')
        for i in range(4):
            nurse.new('note', 'add', pid, 'Padding %d ' % i + 'x' * 12000)
        pending = nurse.status()['pending']
        r = nurse.sync(expect=None)
        h.check(r.returncode != 0, 'a push to a full server is not reported as done', r.stdout)
        h.check_eq(nurse.status()['pending'], pending, 'the note stays in the outbox')
        status, hdrs, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False,
                                                              'changes': []}, token=nurse.token)
        if DAEMON_DISK_FULL_FIXED:
            h.check_eq(r.returncode, h.EXIT_SERVER, 'sync exit code on a full server', r.stderr)
            h.check('disk' in r.stderr and 'nothing was lost' in r.stderr,
                    'the CLI says the server disk is full and nothing was lost', r.stderr)
            # Every pull is audited, so a full server serves none: 503 storage_full with
            # Retry-After, the daemon keeps running, the devices keep their replicas.
            h.check_eq((status, (doc or {}).get('error', {}).get('code')), (503, 'storage_full'),
                       'a pull-only sync on a full server', doc)
            h.check('retry-after' in hdrs, '503 storage_full carries Retry-After', hdrs)
            h.check('disk is full' in open(d.log_path, errors='replace').read(),
                    'the daemon tells IT its disk is full')
        else:
            h.log('KNOWN GAP (needs the daemon store fix): push -> exit %d %r; pull-only -> %d'
                  % (r.returncode, r.stderr.strip(), status))
        h.check_eq(d.counts(), acked, 'nothing written or lost on a full server')

        os.unlink(filler)
        nurse.sync()
        h.check_eq(nurse.status()['pending'], 0, 'outbox sent after space was freed')
        for text in ['Acknowledged before the disk filled',
                     'Pushed while the server disk is full'] + \
                ['Padding %d ' % i + 'x' * 12000 for i in range(4)]:
            h.check_eq(note_count(d, text), 1, 'the server has %r exactly once' % text[:20])
        d.stop(expect_rc=0)
    finally:
        w2.close()


def test(w):
    dev_mnt = os.path.join(w.root, 'device-fs')
    srv_mnt = os.path.join(w.root, 'server-fs')
    why = h.mount_tmpfs(dev_mnt, MNT_SIZE)
    if why:
        print('SKIP: ' + why)
        sys.exit(77)
    try:
        device_part(w, dev_mnt)
    finally:
        h.umount(dev_mnt)
    why = h.mount_tmpfs(srv_mnt, MNT_SIZE)
    if why:
        print('SKIP: ' + why)
        sys.exit(77)
    try:
        server_part(w, srv_mnt)
    finally:
        h.umount(srv_mnt)


if __name__ == '__main__':
    h.sqlite_only("a full file system under store.db (PostgreSQL's disk is the database administrator's)")
    h.main(test)
