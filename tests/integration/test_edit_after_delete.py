#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_edit_after_delete.py - one worker deletes a goal while another, offline, edits it. The
# row stays deleted on every replica and the edit is in the conflict log (edit_after_delete,
# flagged for review), whichever syncs first. A coordinator's --restore brings the row back
# with the edited value everywhere. The other two resolutions: --keep leaves the value and
# closes the conflict; --value writes a new value that reaches every replica.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def goal_ids(c, pid):
    return sorted(g['id'] for g in c.show(pid)['goals'])


def sync_all(clients):
    for c in clients:
        c.sync()
    for c in clients:
        c.sync()


def test(w):
    d = w.daemon
    pid = d.add_person('Nia Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    sw = w.client('sw', 'social_worker')
    coord = w.client('coord', 'coordinator')
    everyone = (nurse, sw, coord)
    d.assign(pid, 'nurse')
    d.assign(pid, 'sw')
    nurse.sync()
    g1 = nurse.add('goal', pid, {'description': 'Cook a meal', 'lifecycle_status': 'active'})
    g2 = nurse.add('goal', pid, {'description': 'Visit the library', 'lifecycle_status': 'active'})
    sync_all(everyone)
    h.check_eq(goal_ids(sw, pid), sorted([g1, g2]), 'sw has both goals')

    # g1: the delete syncs first; g2: the edit syncs first.
    nurse.delete('goal', g1)
    sw.edit('goal', g1, 'description', 'Cook a meal with my daughter')
    nurse.sync()
    sw.sync()
    sw.delete('goal', g2)
    nurse.edit('goal', g2, 'description', 'Visit the library on Tuesdays')
    nurse.sync()
    sw.sync()
    sync_all(everyone)
    for c in everyone:
        h.check_eq(goal_ids(c, pid), [], c.name + ': both goals stay deleted')
    for g in (g1, g2):
        h.check_eq(d.field('goal', g, '_deleted')['value'], '1', 'server tombstone of ' + g)

    open_ = coord.conflicts()
    ead = {c['row_id']: c for c in open_ if c['kind'] == 'edit_after_delete'}
    h.check_eq(sorted(ead), sorted([g1, g2]), 'edit_after_delete conflicts', open_)
    h.check_eq(len(open_), 2, 'no other conflicts', open_)
    h.check_eq(ead[g1]['loser_value'], 'Cook a meal with my daughter', 'g1 loser value')
    h.check_eq(ead[g1]['loser_user'], 'sw', 'g1 loser user')
    h.check_eq(ead[g2]['loser_value'], 'Visit the library on Tuesdays', 'g2 loser value')
    h.check_eq(ead[g1]['review'], True, 'goal description conflicts are flagged for review')

    # Restore g1: undeleted, with the edit, everywhere. The restore is a sequential write by
    # a coordinator who saw the delete: it must not itself enter the conflict log.
    coord.resolve(ead[g1]['id'], 'restore')
    left = coord.conflicts()
    h.check_eq(sorted(c['id'] for c in left), [ead[g2]['id']],
               'open conflicts after restoring g1 (only g2 may be left)', left)
    sync_all(everyone)
    for c in everyone:
        goals = {g['id']: g for g in c.show(pid)['goals']}
        h.check_eq(sorted(goals), [g1], c.name + ': g1 is back')
        h.check_eq(goals[g1]['description'], 'Cook a meal with my daughter', c.name + ': g1 text')
    # Keep g2 deleted.
    coord.resolve(ead[g2]['id'], 'keep')
    sync_all(everyone)
    for c in everyone:
        h.check_eq(goal_ids(c, pid), [g1], c.name + ': g2 stays deleted')
    h.check_eq(coord.conflicts(), [], 'nothing open')
    resolved = {c['id']: c for c in coord.conflicts(all=True)}
    h.check_eq(resolved[ead[g1]['id']].get('resolution'), 'restore', 'g1 resolution')
    h.check_eq(resolved[ead[g2]['id']].get('resolution'), 'keep', 'g2 resolution')

    # A concurrent edit resolved with a new value.
    nurse.edit('goal', g1, 'lifecycle_status', 'on-hold')
    sw.edit('goal', g1, 'lifecycle_status', 'completed')
    nurse.sync()
    sw.sync()
    conflict = [c for c in coord.conflicts() if c['field'] == 'lifecycle_status']
    h.check_eq(len(conflict), 1, 'one concurrent edit', conflict)
    h.check_eq(conflict[0]['kind'], 'concurrent_edit', 'kind')
    coord.resolve(conflict[0]['id'], 'value', 'active')
    sync_all(everyone)
    for c in everyone:
        g = [x for x in c.show(pid)['goals'] if x['id'] == g1][0]
        h.check_eq(g['lifecycle_status'], 'active', c.name + ': the coordinator\'s value')
    # A bad value is refused and changes nothing.
    coord.resolve(conflict[0]['id'], 'value', 'not-a-status', expect=h.EXIT_USAGE)
    h.check_eq(d.scalar("SELECT count(*) FROM conflicts WHERE status='open'"), 0,
               'nothing open on the server')


if __name__ == '__main__':
    h.main(test)
