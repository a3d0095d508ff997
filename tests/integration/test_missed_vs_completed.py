#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_missed_vs_completed.py - a nurse and a social worker share a visit. Offline, the social
# worker finds nobody in and marks it missed (`visit miss --reason no-answer`) while the nurse,
# who did see the person, starts and completes it (`visit start`, `visit complete`: an actual
# start time is recorded). Whatever the clocks and whatever order the two devices sync in, the
# visit ends up completed on every replica and on the server, the missed mark is logged exactly
# once as a missed_vs_completed conflict for a coordinator, and further syncs add nothing.
# Four visits cover {missed clock later, missed clock earlier} x {missed device syncs first,
# completed device syncs first}.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def complete(nurse, vid, day):
    nurse.run('visit', 'start', vid, '--at', day + 'T10:05')
    nurse.run('visit', 'complete', vid, '--outcome', 'Seen; dressing changed', '--at',
              day + 'T10:40')


def miss(sw, vid):
    sw.run('visit', 'miss', vid, '--reason', 'no-answer')


def scenario(w, nurse, sw, coord, missed_first_to_sync, label):
    """Two visits: on the first the missed mark has the later clock, on the second the earlier.
    The device named by @missed_first_to_sync pushes first."""
    d = w.daemon
    day = h.today_local()
    pid = d.add_person('Visit Sharer %s' % label)
    d.assign(pid, nurse.user)
    d.assign(pid, sw.user)
    nurse.sync()
    late, early = (nurse.new('visit', 'add', pid, '--at', day + 'T10:00', '--type', 'joint'),
                   nurse.new('visit', 'add', pid, '--at', day + 'T15:00', '--type', 'joint'))
    for c in (nurse, sw, coord):
        c.sync()

    # Offline. "late": completed, then missed (the missed clock is the later one).
    # "early": missed, then completed (the missed clock is the earlier one).
    complete(nurse, late, day)
    miss(sw, late)
    miss(sw, early)
    complete(nurse, early, day)
    for vid in (late, early):
        h.check_eq(nurse.row(pid, 'visits', vid)['status'], 'completed', 'nurse before sync')
        h.check_eq(sw.row(pid, 'visits', vid)['status'], 'missed', 'social worker before sync')
    order = (sw, nurse) if missed_first_to_sync else (nurse, sw)
    h.log('%s: %s syncs first' % (label, order[0].name))
    for c in order:
        c.sync()
    for c in (nurse, sw, coord):
        c.sync()

    conflicts = coord.conflicts()
    for vid, what in ((late, 'missed clock later'), (early, 'missed clock earlier')):
        name = '%s, %s' % (label, what)
        for c in (nurse, sw, coord):
            v = c.row(pid, 'visits', vid)
            h.check_eq(v['status'], 'completed', '%s: %s holds completed' % (name, c.name), v)
            h.check(v['actual_start'] and v['actual_start'].startswith(day + 'T10:05'),
                    '%s: %s keeps the actual start' % (name, c.name), v)
        h.check_eq(d.field('visit', vid, 'status')['value'], 'completed',
                   name + ': server status')
        mine = [x for x in conflicts if x['row_id'] == vid]
        mvc = [x for x in mine if x['kind'] == 'missed_vs_completed']
        h.check_eq(len(mvc), 1, name + ': missed_vs_completed entries', mine)
        x = mvc[0]
        h.check_eq((x['table'], x['field'], x['status']), ('visit', 'status', 'open'),
                   name + ': conflict entry')
        # The winner is the status that carried the evidence of contact when the two met: the
        # completion, or the start (in progress) that preceded it.
        h.check(x['winner_value'] in ('completed', 'in-progress'), name + ': winner value', x)
        h.check_eq((x['loser_value'], x['current_value']), ('missed', 'completed'),
                   name + ': loser and current value')
        h.check_eq((x['winner_user'], x['loser_user']), (nurse.user, sw.user),
                   name + ': authors')
        # The missed mark is logged once, whatever the kind; nobody conflicts with themselves.
        h.check_eq([c['kind'] for c in conflicts if c['loser_change_id'] == x['loser_change_id']],
                   ['missed_vs_completed'], name + ': entries for the missed mark', mine)
        h.check_eq([c for c in mine if c['winner_device'] == c['loser_device']], [],
                   name + ': no device conflicts with its own edits')
        h.log('%s: conflicts for the visit: %s' % (name, [(c['kind'], c['field'],
                                                          c['loser_value']) for c in mine]))

    # More rounds change nothing.
    for c in (sw, nurse, coord):
        c.sync()
    again = coord.conflicts()
    h.check_eq(sorted(x['id'] for x in again), sorted(x['id'] for x in conflicts),
               label + ': conflicts after another round')
    for vid in (late, early):
        for c in (nurse, sw, coord):
            h.check_eq(c.row(pid, 'visits', vid)['status'], 'completed',
                       '%s: %s after another round' % (label, c.name))


def test(w):
    nurse = w.client('nurse', 'nurse', user='nina')
    sw = w.client('sw', 'social_worker', user='sol')
    coord = w.client('coord', 'coordinator', user='cora')
    scenario(w, nurse, sw, coord, True, 'missed syncs first')
    scenario(w, nurse, sw, coord, False, 'completed syncs first')


if __name__ == '__main__':
    h.main(test)
