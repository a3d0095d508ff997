#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_audit.py - the audit log through the real daemon: a worker's sync, a coordinator's
# resolution, an assignment change, an enrolment and a revocation are all in the chain;
# `caresyncd audit verify` passes, then names the first row after someone edits the store file
# behind the daemon's back; `caresyncd audit export --person` gives that person's trail with
# before and after values and the pulls that sent their data to devices.
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def test(w):
    d = w.daemon
    pid = d.add_person('Audra Trail', phone='01632 960100')
    other = d.add_person('Other Person', phone='01632 960200')
    nurse = w.client('nurse', 'nurse')
    sw = w.client('sw', 'social_worker')
    coord = w.client('coord', 'coordinator')
    for who in ('nurse', 'sw'):
        d.assign(pid, who)
    d.assign(other, 'nurse')
    for c in (nurse, sw, coord):
        c.sync()
    nurse.edit('person', pid, 'phone', '01632 960111')
    sw.edit('person', pid, 'phone', '01632 960222')
    nurse.sync()
    sw.sync()
    conflict = [c for c in coord.conflicts() if c['person_id'] == pid][0]
    coord.resolve(conflict['id'], 'restore')
    d.unassign(other, 'nurse')
    nurse.sync()
    d.admin(['device', 'revoke'], sw.device_id)

    p = d.admin(['audit', 'verify'])
    h.check('intact' in p.stdout, 'audit verify reports an intact chain', p.stdout)
    kinds = {r['kind'] for r in d.query('SELECT DISTINCT kind FROM audit')}
    for k in ('user_add', 'enrol', 'assign', 'unassign', 'change', 'pull', 'purge', 'resolve',
              'revoke'):
        h.check(k in kinds, 'audit has %s events' % k, sorted(kinds))

    trail = json.loads(d.admin(['audit', 'export'], '--person', pid).stdout)
    h.check(all(e['person_id'] == pid for e in trail), 'the trail is one person only')
    # One "change" event per sync, person, writer and device, listing its changes.
    events = [e for e in trail if e['kind'] == 'change']
    h.check(all('recorded_at' in e['detail'] for e in events), 'when it was recorded')
    changes = [c for e in events for c in e['detail']['changes'] if c['field'] == 'phone']
    pairs = {(c['before'], c['after']) for c in changes}
    h.check(('01632 960100', '01632 960111') in pairs, 'the nurse edit with before/after', pairs)
    h.check(any(c['after'] == '01632 960222' for c in changes), 'the sw edit', pairs)
    h.check(all('happened_at' in c and 'outcome' in c for c in changes),
            'when it happened and its outcome')
    by_actor = {e['actor_user'] for e in events
                if any(c['field'] == 'phone' for c in e['detail']['changes'])}
    h.check({'nurse', 'sw'} <= by_actor, 'each edit is under its writer', by_actor)
    devices = {e['detail']['device'] for e in trail if e['kind'] == 'pull'}
    h.check({nurse.device_id, sw.device_id, coord.device_id} <= devices,
            'pulls that sent the person to each device are in the trail', devices)
    h.check(any(e['kind'] == 'resolve' and e['actor_user'] == 'coord' for e in trail),
            'the resolution, by the coordinator')

    # Someone with the file rewrites history behind the daemon's back.
    d.stop()
    target = d.query("SELECT min(id) AS id FROM audit WHERE kind = 'change' AND"
                     " detail LIKE '%01632 960111%'")[0]['id']
    db = sqlite3.connect(os.path.join(d.data, 'store.db'))
    db.executescript("DROP TRIGGER audit_no_update;"
                     " UPDATE audit SET detail = replace(detail, '01632 960111', '01632 960999')"
                     " WHERE id = %d;" % target)
    db.close()
    p = d.admin(['audit', 'verify'], expect=1)
    h.check(('entry %d ' % target) in p.stderr, 'verify names the edited entry', p.stderr)
    d.start()


if __name__ == '__main__':
    h.sqlite_only('it tampers with store.db\'s audit rows through SQLite; on PostgreSQL the '
                  'chain is guarded by triggers (test_pg_schema)')
    h.main(test)
