#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_visit_outcome.py - the missed-versus-completed rule (docs/internals/merge.md). A visit
# completed with an actual start on one device and marked missed on another, later, stays
# completed on every replica whichever arrives first, and the clash is logged once as
# missed_vs_completed. Without an actual start the plain clock rule applies (a concurrent edit).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def visit(c, pid, vid):
    return [v for v in c.show(pid)['visits'] if v['id'] == vid][0]


def test(w):
    d = w.daemon
    pid = d.add_person('Pam Example')
    nurse = w.client('nurse', 'nurse')
    sw = w.client('sw', 'social_worker')
    coord = w.client('coord', 'coordinator')
    everyone = (nurse, sw, coord)
    d.assign(pid, 'nurse')
    d.assign(pid, 'sw')
    nurse.sync()
    v = [nurse.add('visit', pid, {'planned_start': '2026-03-0%dT10:00' % i, 'status': 'planned'})
         for i in (1, 2, 3)]
    for c in everyone:
        c.sync()

    # v[0]: missed after the completion (the later clock loses to the rule); v[1]: missed
    # before it (the later clock and the rule agree); v[2]: completed without an actual start,
    # then missed (the plain clock rule). The nurse's pushes arrive first here.
    sw.edit('visit', v[1], 'status', 'missed')
    for k in (0, 1):
        nurse.edit('visit', v[k], 'actual_start', '2026-03-0%dT10:05' % (k + 1))
        nurse.edit('visit', v[k], 'status', 'completed')
    nurse.edit('visit', v[2], 'status', 'completed')
    for k in (0, 2):
        sw.edit('visit', v[k], 'status', 'missed')
    sw.edit('visit', v[0], 'missed_reason', 'no-answer')
    nurse.sync()
    sw.sync()
    for c in everyone:
        c.sync()
    for c in everyone:
        c.sync()
    for k in (0, 1):
        for c in everyone:
            h.check_eq(visit(c, pid, v[k])['status'], 'completed',
                       '%s: visit %d with an actual start stays completed' % (c.name, k))
        h.check_eq(d.field('visit', v[k], 'status')['value'], 'completed', 'server status')
    for c in everyone:
        h.check_eq(visit(c, pid, v[2])['status'], 'missed',
                   '%s: without an actual start the later edit wins' % c.name)

    conflicts = [c for c in coord.conflicts() if c['field'] == 'status']
    by_row = {}
    for c in conflicts:
        by_row.setdefault(c['row_id'], []).append(c)
    for k in (0, 1):
        got = by_row.get(v[k], [])
        h.check_eq([c['kind'] for c in got], ['missed_vs_completed'],
                   'visit %d: conflict kinds' % k, conflicts)
        h.check_eq(got[0]['loser_value'], 'missed', 'visit %d: the missed mark is kept' % k)
    got = by_row.get(v[2], [])
    h.check_eq([c['kind'] for c in got], ['concurrent_edit'], 'visit 2: conflict kinds',
               conflicts)
    h.check_eq(got[0]['loser_value'], 'completed', 'visit 2: loser')


def test_other_order(w):
    """The same clash arriving the other way round: the missed mark reaches the server first."""
    d = w.daemon
    pid = d.add_person('Quin Example')
    nurse = w.client('nurse2', 'nurse')
    sw = w.client('sw2', 'social_worker')
    d.assign(pid, 'nurse2')
    d.assign(pid, 'sw2')
    nurse.sync()
    vid = nurse.add('visit', pid, {'planned_start': '2026-03-04T10:00', 'status': 'planned'})
    nurse.sync()
    sw.sync()
    nurse.edit('visit', vid, 'actual_start', '2026-03-04T10:05')
    nurse.edit('visit', vid, 'status', 'completed')
    sw.edit('visit', vid, 'status', 'missed')
    sw.sync()
    nurse.sync()
    sw.sync()
    for c in (nurse, sw):
        h.check_eq(visit(c, pid, vid)['status'], 'completed', c.name + ': completed wins')
    kinds = [r['kind'] for r in d.query("SELECT kind FROM conflicts WHERE row_id=? AND"
                                        " field='status'", (vid,))]
    h.check_eq(kinds, ['missed_vs_completed'], 'conflict kinds')


def both(w):
    test(w)
    test_other_order(w)


if __name__ == '__main__':
    h.main(both)
