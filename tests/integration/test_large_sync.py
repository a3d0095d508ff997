#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_large_sync.py - volumes past the batch and page limits: an outbox of more than 500
# changes goes up in several batches; more than 1000 new field states come down in several
# pages (more: true); a newly assigned person arrives whole; every replica ends up with every
# row and value.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

VISITS = 90     # x 6 fields = 540 changes in the nurse's outbox
GOALS = 700     # pushed directly, so 700 new field states to pull (plus the visits)


def test(w):
    d = w.daemon
    pid, nurse, ot = w.shared_person('Kit Example', phone='0131 000 0000')

    h.log('nurse records %d visits offline' % VISITS)
    for i in range(VISITS):
        nurse.add('visit', pid, {'planned_start': '2026-01-%02dT09:00' % (i % 28 + 1),
                                 'actual_start': '2026-01-%02dT09:05' % (i % 28 + 1),
                                 'actual_end': '2026-01-%02dT09:45' % (i % 28 + 1),
                                 'status': 'completed', 'mode': 'home',
                                 'outcome': 'visit %d went well' % i})
    pending = nurse.status()['pending']
    h.check_eq(pending, VISITS * 6, 'outbox size')
    before = d.scalar('SELECT max(id) FROM audit')
    stats = nurse.json('sync')
    h.check_eq(nurse.status()['pending'], 0, 'outbox after sync')
    h.check_eq(stats['pushed'], VISITS * 6, 'pushed in the sync', stats)
    # Every batch pulls too, and the server leaves out what that batch pushed: none of the
    # nurse's own 540 changes are sent back (the audit log records every field a pull sends).
    sent = d.scalar("SELECT coalesce(sum(json_extract(detail, '$.fields')), 0) FROM audit"
                    " WHERE kind = 'pull' AND actor_device = ? AND id > ?",
                    (nurse.device_id, before))
    h.check_eq(sent, 0, "fields pulled back to the nurse's device during its own push")
    dev = nurse.device_id
    h.check_eq(d.scalar("SELECT count(*) FROM change_log WHERE device=? AND outcome='applied'",
                        (dev,)), VISITS * 6, 'changes the server applied')

    h.log('%d goals pushed over raw HTTPS with the nurse token' % GOALS)
    changes = [{'change_id': h.uuid7(), 'table': 'goal', 'row_id': h.uuid7(), 'person_id': pid,
                'field': 'description', 'value': 'goal number %d' % i,
                'hlc': h.hlc_text(h.hlc_now(1000, i)), 'base_hlc': None, 'base_device': None}
               for i in range(GOALS)]
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'changes': changes,
                                                      'pull': False}, token=nurse.token)
    h.check_eq(status, 200, 'raw push')
    h.check(all(o['outcome'] == 'applied' for o in doc['outcomes']), 'all applied')

    # The ot pulls more than a page of new field states.
    ot.sync()
    view = ot.show(pid)
    h.check_eq(len(view['visits']), VISITS, 'ot: visits')
    h.check_eq(len(view['goals']), GOALS, 'ot: goals')
    h.check_eq(sorted(g['description'] for g in view['goals']),
               sorted('goal number %d' % i for i in range(GOALS)), 'ot: goal descriptions')
    h.check(all(v['status'] == 'completed' and v['outcome'].startswith('visit ')
                for v in view['visits']), 'ot: visit fields')
    # So does the nurse, for the goals it never had in its outbox.
    nurse.sync()
    h.check_eq(len(nurse.show(pid)['goals']), GOALS, 'nurse: goals')

    # A newly assigned worker receives the whole person.
    states = d.scalar('SELECT count(*) FROM field_state WHERE person_id=?', (pid,))
    h.check(states > 1000, 'the person has more than a page of field states (%d)' % states)
    physio = w.client('physio', 'physiotherapist')
    physio.sync()
    h.check_eq(physio.caseload(), [], 'physio: nothing before the assignment')
    d.assign(pid, 'physio')
    physio.sync()
    view = physio.show(pid)
    h.check_eq(len(view['visits']), VISITS, 'physio: visits')
    h.check_eq(len(view['goals']), GOALS, 'physio: goals')
    h.check_eq(view['phone'], '0131 000 0000', 'physio: phone')


if __name__ == '__main__':
    h.main(test)
