#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_out_of_scope.py - a worker edits offline and is unassigned before syncing. The edit is
# not applied on the server and not dropped: it is in the conflict log as out_of_scope for a
# coordinator. The person is purged from the worker's device once the edit has been sent.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def test(w):
    d = w.daemon
    pid = d.add_person('Fay Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    coord = w.client('coord', 'coordinator')
    d.assign(pid, 'nurse')
    nurse.sync()
    coord.sync()

    nurse.edit('person', pid, 'phone', '0131 777 7777')
    nurse.add('goal', pid, {'description': 'Offline goal'})
    h.check(nurse.status()['pending'] >= 2, 'edits are pending')
    d.unassign(pid, 'nurse')
    nurse.sync()

    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 000 0000',
               'server phone unchanged')
    rows = d.query("SELECT change_id, field, outcome FROM change_log WHERE device=?",
                   (nurse.device_id,))
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

    ids = [p['id'] for p in nurse.caseload()]
    h.check(pid not in ids, 'the person is purged from the device', ids)
    st = nurse.status()
    h.check_eq(st['pending'], 0, 'outbox empty')
    h.check_eq(st['pending_purges'], 0, 'no purge left pending')
    # The coordinator's replica still shows the server value.
    coord.sync()
    h.check_eq(coord.show(pid)['phone'], '0131 000 0000', 'coordinator replica')


if __name__ == '__main__':
    h.main(test)
