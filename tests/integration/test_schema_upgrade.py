#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_schema_upgrade.py - offline work survives an upgrade. A replica written by the previous
# release (schema/client/0001_init.sql only, user_version 1) holding a synced person and two
# pending edits to their phone is opened by the current caresync: it is migrated in place to the
# latest schema, the outbox is intact (same change ids, values and bases), the person's row and
# field versions are kept, the new commands work on it, and `sync` delivers both edits (the
# server and another device end with the newer phone; nothing is logged as a conflict).
#
# The old replica is built by hand with Python's sqlite3, from a real enrolment made with the
# current client into a scratch home (for a valid device id, token, CA and settings): every meta
# key of the scratch replica is copied, as are its person row and field versions after a sync.
import glob
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, '..', '..', 'schema', 'client')
OLD_PERSON_COLUMNS = ('id', 'person_id', 'name', 'preferred_name', 'birth_date', 'phone',
                      'address', '_deleted')


def build_old_replica(scratch_home, old_home, pid, edits):
    """Write @old_home/replica.db as release 1 would have left it; returns the outbox rows."""
    os.mkdir(old_home, 0o700)
    for fn in ('token', 'ca.pem'):
        shutil.copy2(os.path.join(scratch_home, fn), os.path.join(old_home, fn))
        os.chmod(os.path.join(old_home, fn), 0o600)
    src = sqlite3.connect(os.path.join(scratch_home, 'replica.db'))
    meta = src.execute('SELECT key, value FROM meta').fetchall()
    person = src.execute('SELECT %s FROM person WHERE id = ?' % ', '.join(OLD_PERSON_COLUMNS),
                         (pid,)).fetchone()
    versions = src.execute('SELECT tbl, row_id, field, hlc, device FROM field_version'
                           ' WHERE tbl = ? AND row_id = ?', ('person', pid)).fetchall()
    device = dict(meta)['device_id']
    src.close()
    h.check(person is not None, 'the scratch replica holds the person after its sync')
    h.check(any(v[2] == 'phone' for v in versions), 'the scratch replica has a phone version',
            versions)

    path = os.path.join(old_home, 'replica.db')
    con = sqlite3.connect(path)
    with open(os.path.join(SCHEMA, '0001_init.sql')) as f:
        con.executescript(f.read())
    con.execute('PRAGMA user_version=1')
    con.executemany('INSERT INTO meta(key, value) VALUES(?, ?)', meta)
    con.execute('INSERT INTO person(%s) VALUES(%s)' % (', '.join(OLD_PERSON_COLUMNS),
                                                       ', '.join('?' * len(OLD_PERSON_COLUMNS))),
                person)
    con.executemany('INSERT INTO field_version(tbl, row_id, field, hlc, device)'
                    ' VALUES(?, ?, ?, ?, ?)', versions)

    # The pending edits, as release 1's `caresync edit` wrote them: each a new clock past the
    # device's clock, based on the version the device then held (the previous edit's own).
    base = [v for v in versions if v[2] == 'phone'][0]
    base_hlc, base_dev = base[3], base[4]
    clock = max(int(dict(meta).get('hlc') or 0), h.hlc_now())
    rows = []
    for value in edits:
        clock += 1
        row = {'change_id': h.uuid7(), 'tbl': 'person', 'row_id': pid, 'person_id': pid,
               'field': 'phone', 'value': value, 'hlc': clock, 'base_hlc': base_hlc,
               'base_device': base_dev, 'created_ms': clock >> 16}
        con.execute('INSERT INTO outbox(change_id, tbl, row_id, person_id, field, value, hlc,'
                    ' base_hlc, base_device, created_ms) VALUES(:change_id, :tbl, :row_id,'
                    ' :person_id, :field, :value, :hlc, :base_hlc, :base_device, :created_ms)',
                    row)
        con.execute('UPDATE person SET phone = ? WHERE id = ?', (value, pid))
        con.execute('UPDATE field_version SET hlc = ?, device = ? WHERE tbl = ? AND row_id = ?'
                    ' AND field = ?', (clock, device, 'person', pid, 'phone'))
        base_hlc, base_dev = clock, device
        rows.append(row)
    con.execute("INSERT INTO meta(key, value) VALUES('hlc', ?) ON CONFLICT(key) DO UPDATE"
                " SET value = excluded.value", (str(clock),))
    con.commit()
    con.close()
    os.chmod(path, 0o600)
    return rows


def test(w):
    d = w.daemon
    pid = d.add_person('Una Upgrade', phone='0131 000 0000', dob='1939-09-09')
    d.add_user('nina', 'nurse')
    d.assign(pid, 'nina')
    scratch = w.client('scratch', 'nurse', user='nina')
    other = w.client('other', 'social_worker', user='sol')
    d.assign(pid, 'sol')
    scratch.sync()
    other.sync()

    old_home = os.path.join(w.root, 'home-old')
    edits = ['0131 111 1111', '0131 222 2222']
    outbox = build_old_replica(scratch.home, old_home, pid, edits)
    shutil.rmtree(scratch.home)  # the scratch device lives on only in the old replica
    old = h.Client(w, 'old', 'nina', 'nurse')
    old.home = old_home

    # Opening it migrates it in place and keeps the pending edits.
    st = old.status()
    h.check_eq(st['pending'], len(edits), 'pending edits after the upgrade', st)
    latest = len(glob.glob(os.path.join(SCHEMA, '[0-9][0-9][0-9][0-9]_*.sql')))
    con = sqlite3.connect(os.path.join(old_home, 'replica.db'))
    try:
        h.check_eq(con.execute('PRAGMA user_version').fetchone()[0], latest,
                   'user_version after the upgrade')
        kept = con.execute('SELECT change_id, tbl, row_id, person_id, field, value, hlc,'
                           ' base_hlc, base_device FROM outbox ORDER BY seq').fetchall()
        h.check_eq([tuple(r) for r in kept],
                   [(r['change_id'], r['tbl'], r['row_id'], r['person_id'], r['field'],
                     r['value'], r['hlc'], r['base_hlc'], r['base_device']) for r in outbox],
                   'the outbox rows are unchanged')
        cols = [r[1] for r in con.execute('PRAGMA table_info(person)')]
        h.check('status' in cols and 'nhs_number' in cols, 'the person table was widened',
                cols)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in ('about_me', 'observation', 'consent', 'alert', 'related_person'):
            h.check(t in tables, 'the upgrade created table ' + t, tables)
    finally:
        con.close()
    p = old.show(pid)
    h.check_eq((p['name'], p['birth_date'], p['phone']),
               ('Una Upgrade', '1939-09-09', edits[-1]), 'the person row after the upgrade')
    h.check_eq(old.status()['device_id'], dict(st)['device_id'], 'device id kept')

    # The upgraded replica takes the new commands too.
    note = old.new('note', 'add', pid, 'Recorded after the upgrade', '--category', 'phone')
    old.sync()
    h.check_eq(old.status()['pending'], 0, 'outbox empty after sync')
    h.check_eq(d.field('person', pid, 'phone')['value'], edits[-1], 'server phone')
    log = d.query('SELECT change_id, outcome FROM change_log WHERE tbl = ? AND row_id = ?'
                  " AND field = 'phone' ORDER BY id", ('person', pid))
    got = {r['change_id']: r['outcome'] for r in log}
    for r in outbox:
        h.check(r['change_id'] in got, 'the server stored edit %s' % r['value'], log)
    h.check_eq(got[outbox[-1]['change_id']], 'applied', 'the newest edit applied', log)
    h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), 0, 'no conflicts')
    other.sync()
    o = other.show(pid)
    h.check_eq(o['phone'], edits[-1], 'another device sees the edit')
    h.check_eq(h.by_id(o['notes'], note, 'note')['text'], 'Recorded after the upgrade',
               'another device sees the new note')
    # A second sync has nothing to send.
    old.sync()
    h.check_eq(old.status()['pending'], 0, 'still nothing pending')


if __name__ == '__main__':
    h.sqlite_only('upgrades of SQLite store files (schema/server); schema/server-pg has test_pg_schema')
    h.main(test)
