#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_offline.py - with the daemon stopped every local command works (caseload, show, edit,
# add, delete, status); sync exits 4 and keeps the pending edits; after the daemon restarts,
# sync pushes them and the server has them. Invalid edits are refused locally.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def test(w):
    d = w.daemon
    pid = d.add_person('Hal Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    nurse.sync()
    goal = nurse.add('goal', pid, {'description': 'Goal to delete'})
    nurse.sync()
    d.stop(expect_rc=0)

    ids = [p['id'] for p in nurse.caseload()]
    h.check_eq(ids, [pid], 'caseload offline')
    nurse.edit('person', pid, 'phone', '0131 888 8888')
    new_goal = nurse.add('goal', pid, {'description': 'Offline goal', 'lifecycle_status':
                                       'proposed'})
    nurse.delete('goal', goal)
    p = nurse.show(pid)
    h.check_eq(p['phone'], '0131 888 8888', 'the edit is visible offline')
    h.check_eq([g['id'] for g in p['goals']], [new_goal], 'goals offline')
    pending = nurse.status()['pending']
    h.check(pending >= 4, 'edits are pending (%d)' % pending)
    # Bad values are refused locally (usage, 2) and queue nothing.
    nurse.edit('person', pid, 'birth_date', '1990-02-30', expect=h.EXIT_USAGE)
    nurse.edit('person', pid, 'phone', '1' * 65, expect=h.EXIT_USAGE)
    nurse.edit('goal', new_goal, 'lifecycle_status', 'finished', expect=h.EXIT_USAGE)
    nurse.edit('person', pid, 'nhs_number', '1', expect=h.EXIT_USAGE)
    nurse.edit('goal', h.uuid7(), 'description', 'x', expect=h.EXIT_NOTFOUND)
    h.check_eq(nurse.status()['pending'], pending, 'nothing queued by refused edits')

    r = nurse.sync(expect=h.EXIT_NETWORK)
    h.check(r.stderr.strip(), 'sync says why it failed', r.stderr)
    st = nurse.status()
    h.check_eq(st['pending'], pending, 'pending edits kept after the failed sync')
    h.check(st.get('last_error'), 'status shows the last error', st)
    h.check_eq(nurse.show(pid)['phone'], '0131 888 8888', 'the edit survives the failed sync')

    d.start()
    nurse.sync()
    st = nurse.status()
    h.check_eq(st['pending'], 0, 'outbox empty after sync')
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 888 8888', 'server phone')
    h.check_eq(d.field('goal', goal, '_deleted')['value'], '1', 'server tombstone')
    h.check_eq(d.field('goal', new_goal, 'description')['value'], 'Offline goal',
               'server new goal')
    h.check_eq(d.scalar("SELECT count(*) FROM change_log WHERE outcome != 'applied'"), 0,
               'everything applied')


if __name__ == '__main__':
    h.main(test)
