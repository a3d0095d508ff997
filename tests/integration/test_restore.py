#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_restore.py - the server's store goes back in time (issue 10, section 1). Two variants,
# each in a data directory of its own:
#   - documented: `caresyncd backup` while serving, devices work, `caresyncd restore`;
#   - copied file: `sqlite3 .backup` of store.db while serving, devices work, the daemon is
#     stopped and the copy put back as store.db (no restore command).
# Between the backup and the restore two nurses and a coordinator edit the same fields (a
# conflict), add notes and rows and sync; one nurse keeps an edit unsent. After the restore a
# nurse adds eight notes and syncs before anyone else (the changes the old server numbered
# above the others' cursors), then every device syncs, without anyone touching it. Then:
#   - no change the restored server numbered is at or below a cursor a device held;
#   - every change any device recorded is on the server exactly once (History), every outbox
#     is empty, every replica holds the server's version of each field it holds and exactly the
#     server's notes of its caseload (nothing more, nothing less);
#   - the audit log names the restore / rewind with the span of the chain that was lost, and
#     `audit verify` passes.
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def cursor_seq(c):
    rows = c.db_rows("SELECT value FROM meta WHERE key = 'cursor'")
    text = rows[0]['value'] if rows else ''
    return int(text.split(':')[0]) if text else 0


def notes_of(c, person):
    return sorted(r['id'] for r in c.db_rows(
        'SELECT id FROM note WHERE person_id = ? AND _deleted = 0', (person,)))


def server_notes(d, person):
    return sorted(r['row_id'] for r in d.query(
        "SELECT row_id FROM field_state WHERE tbl = 'note' AND field = '_deleted'"
        " AND person_id = ? AND value = '0' UNION SELECT row_id FROM field_state f"
        " WHERE tbl = 'note' AND person_id = ? AND NOT EXISTS (SELECT 1 FROM field_state g"
        " WHERE g.tbl = 'note' AND g.row_id = f.row_id AND g.field = '_deleted')",
        (person, person)))


def note(c, hist, person, text):
    rid = c.add('note', person, {'category': 'visit', 'text': text})
    hist.note_outbox(c)
    return rid


def sync(c, hist):
    before = hist.note_outbox(c)
    c.sync(quiet=True)
    hist.note_synced(c, before)


def scenario(w, variant):
    d = w.daemon
    prefix = 'rs-%s-' % variant
    hist = h.History()
    p1 = d.add_person('Ada ' + variant, phone='0100')
    p2 = d.add_person('Bea ' + variant, phone='0200')
    amy = w.client('amy-' + variant, 'nurse')
    ben = w.client('ben-' + variant, 'nurse')
    cora = w.client('cora-' + variant, 'coordinator')
    for p in (p1, p2):
        d.assign(p, amy.user)
        d.assign(p, ben.user)
    clients = [amy, ben, cora]
    for c in clients:
        sync(c, hist)
    note(amy, hist, p1, prefix + 'before-backup')
    amy.edit('person', p1, 'phone', prefix + 'p1-a0')
    hist.note_outbox(amy)
    for c in clients:
        sync(c, hist)

    backup = os.path.join(w.root, 'backup-' + variant)
    if variant == 'documented':
        d.admin(['backup'], '--output', backup)
        h.check(os.path.exists(backup), 'caresyncd backup wrote nothing')
        h.check_eq(os.stat(backup).st_mode & 0o777, 0o600, 'backup file mode')
    else:
        src = sqlite3.connect(d.store_path, timeout=10)
        dst = sqlite3.connect(backup)
        src.backup(dst)
        dst.close()
        src.close()

    # After the backup: conflicts, new rows, notes, all synced (the server will lose them).
    amy.edit('person', p1, 'phone', prefix + 'p1-amy')
    ben.edit('person', p1, 'phone', prefix + 'p1-ben')
    hist.note_outbox(amy)
    hist.note_outbox(ben)
    lost_note = note(amy, hist, p1, prefix + 'amy-after-backup')
    note(ben, hist, p2, prefix + 'ben-after-backup')
    ben.edit('person', p2, 'address', prefix + 'p2-address')
    hist.note_outbox(ben)
    for c in clients:
        sync(c, hist)
    cora.edit('person', p2, 'preferred_name', prefix + 'p2-cora')
    hist.note_outbox(cora)
    for c in clients + [amy]:
        sync(c, hist)
    h.check(d.scalar('SELECT count(*) FROM change_log WHERE value = ?',
                     (prefix + 'amy-after-backup',)) == 1, 'the note reached the server')
    # One edit left unsent on amy's device.
    amy.edit('person', p2, 'phone', prefix + 'p2-amy-unsent')
    hist.note_outbox(amy)
    held = {c.name: cursor_seq(c) for c in clients}
    h.log('cursors before the restore: %s' % held)

    d.stop()
    for ext in ('-wal', '-shm'):
        if os.path.exists(d.store_path + ext):
            os.unlink(d.store_path + ext)
    if variant == 'documented':
        d.admin(['restore'], '--input', backup)
    else:
        shutil.copyfile(backup, d.store_path)
    d.start()

    # Ben first: eight new notes numbered by the restored server.
    ben_notes = [note(ben, hist, p1, prefix + 'ben-new-%d' % i) for i in range(8)]
    sync(ben, hist)
    new_seqs = [r['seq'] for r in d.query(
        "SELECT seq FROM field_state WHERE tbl = 'note' AND row_id IN (%s)" %
        ','.join('?' * len(ben_notes)), ben_notes)]
    h.check(new_seqs and min(new_seqs) > max(held.values()),
            'a change the restored server numbered is at or below a cursor a device holds',
            {'lowest new seq': min(new_seqs) if new_seqs else None, 'cursors': held})
    for c in clients:
        sync(c, hist)
    for c in clients:
        sync(c, hist)

    hist.check(d, clients, prefix)
    for p in (p1, p2):
        want = server_notes(d, p)
        for c in clients:
            h.check_eq(notes_of(c, p), want, '%s: notes of %s' % (c.name, p))
    h.check(lost_note in notes_of(amy, p1) and lost_note in server_notes(d, p1),
            'amy\'s note written after the backup is back on the server')
    for rid in ben_notes:
        h.check(rid in notes_of(amy, p1), 'amy has ben\'s new note %s' % rid)
    h.check_eq(d.field('person', p2, 'phone')['value'], prefix + 'p2-amy-unsent',
               'amy\'s unsent edit')
    events = d.query("SELECT kind, detail FROM audit WHERE kind IN ('restore', 'rewind')"
                     " ORDER BY id")
    h.check(events, 'the audit log names no restore or rewind')
    h.check('lost' in events[0]['detail'], 'the audit event names the lost span', events[0])
    h.log('audit: %s' % events[0])
    d.admin(['audit', 'verify'])


def test(w):
    scenario(w, 'copied')
    w.daemon.stop()
    w2 = h.World(os.path.join(w.root, 'second'))
    os.makedirs(w2.root)
    try:
        w2.start()
        scenario(w2, 'documented')
        w2.daemon.stop()
    finally:
        w2.close()
    w.daemon.start()


if __name__ == '__main__':
    h.sqlite_only('caresyncd restore puts back a store.db file (PostgreSQL: pg_restore, docs/DEPLOYMENT.md)')
    h.main(test)
