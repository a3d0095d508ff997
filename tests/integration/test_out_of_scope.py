#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_out_of_scope.py - safe handover. A worker edits offline and is unassigned before syncing:
# edits recorded within the handover grace period after the assignment ended are kept (the visit
# really happened); edits recorded after it are not applied and not dropped: they are in the
# conflict log as out_of_scope for a coordinator. Either way the person is purged from the
# worker's device once the edits have been sent.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def purged(nurse, pid, canaries):
    ids = [p['id'] for p in nurse.caseload()]
    h.check(pid not in ids, 'the person is purged from the device', ids)
    st = nurse.status()
    h.check_eq(st['pending'], 0, 'outbox empty')
    h.check_eq(st['pending_purges'], 0, 'no purge left pending')
    # No trace left in the replica's database, WAL or any other file of the home.
    hits = ['%s in %s' % (c, path) for path, data in nurse.replica_bytes().items()
            for c in canaries if c.encode() in data]
    h.check_eq(hits, [], 'no value of the purged person in the device files')


def test(w):
    d = w.daemon
    coord = w.client('coord', 'coordinator')

    h.log('-- within the grace period (default 72 h): kept')
    kept = d.add_person('Kit Canaryhandover', phone='0131 000 0001')
    nurse = w.client('nurse', 'nurse')
    d.assign(kept, 'nurse')
    nurse.sync()
    nurse.edit('person', kept, 'phone', 'UNIQ-KEPT-5555')
    d.unassign(kept, 'nurse')
    nurse.sync()
    h.check_eq(d.field('person', kept, 'phone')['value'], 'UNIQ-KEPT-5555',
               'an edit recorded before the assignment ended is kept')
    h.check_eq(d.query("SELECT count(*) AS n FROM conflicts WHERE kind='out_of_scope'")[0]['n'],
               0, 'nothing routed to the coordinator')
    purged(nurse, kept, ['UNIQ-KEPT-5555', 'Canaryhandover'])

    h.log('-- after the grace period (daemon serving with --handover-grace-hours 0): logged')
    d.stop()
    d.serve_args = ['--handover-grace-hours', '0']
    d.start()
    pid = d.add_person('Fay Canarylate', phone='0131 000 0000')
    d.assign(pid, 'nurse')
    nurse.sync()
    coord.sync()
    d.unassign(pid, 'nurse')
    # The device does not know yet: it records offline after the assignment ended.
    nurse.edit('person', pid, 'phone', '0131 777 7777')
    nurse.add('goal', pid, {'description': 'UNIQ-LATE-GOAL'})
    h.check(nurse.status()['pending'] >= 2, 'edits are pending')
    nurse.sync()

    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 000 0000',
               'server phone unchanged')
    rows = d.query("SELECT change_id, field, outcome FROM change_log WHERE device=? AND"
                   " person_id=?", (nurse.device_id, pid))
    h.check(rows and all(r['outcome'] == 'out_of_scope' for r in rows),
            'every change of the worker is stored as out_of_scope', rows)
    logged = d.query("SELECT loser_change_id, kind FROM conflicts WHERE kind='out_of_scope'")
    h.check_eq(sorted(r['loser_change_id'] for r in logged),
               sorted(r['change_id'] for r in rows), 'out_of_scope conflicts')
    seen = [c for c in coord.conflicts() if c['kind'] == 'out_of_scope']
    h.check_eq(len(seen), len(rows), 'coordinator sees the out_of_scope entries')
    phone = [c for c in seen if c['field'] == 'phone']
    h.check_eq(len(phone), 1, 'the phone edit is listed')
    h.check_eq(phone[0]['loser_value'], '0131 777 7777', 'the lost value is kept')
    h.check_eq(phone[0]['loser_user'], 'nurse', 'who wrote it')
    purged(nurse, pid, ['0131 777 7777', 'UNIQ-LATE-GOAL', 'Canarylate'])
    # The coordinator's replica still shows the server value.
    coord.sync()
    h.check_eq(coord.show(pid)['phone'], '0131 000 0000', 'coordinator replica')


if __name__ == '__main__':
    h.main(test)
