#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_conflict_same_field.py - two workers edit the same field of the same person while both
# are offline. After everyone syncs: every replica holds the same value (the later write),
# the other value is in the conflict log exactly once, and a coordinator can restore it, after
# which every replica holds the restored value and the conflict shows as resolved. A worker who
# is not a coordinator may not read the conflict log (exit 6, "not allowed").
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def test(w):
    d = w.daemon
    pid = d.add_person('Ada Example', phone='0131 000 0000', dob='1944-02-29')
    nurse = w.client('nurse', 'nurse', user='nina')
    link = w.client('link', 'link_worker', user='liam')
    coord = w.client('coord', 'coordinator', user='cora')
    d.assign(pid, 'nina')
    d.assign(pid, 'liam')
    for c in (nurse, link, coord):
        c.sync()
        h.check_eq(c.show(pid)['phone'], '0131 000 0000', c.name + ' sees the first phone')

    # Both edit the phone offline; the link worker edits second, so has the later clock.
    nurse.edit('person', pid, 'phone', '0131 111 1111')
    link.edit('person', pid, 'phone', '0131 222 2222')
    nurse.sync()
    link.sync()
    for c in (nurse, link, coord):
        c.sync()
    values = {c.name: c.show(pid)['phone'] for c in (nurse, link, coord)}
    h.log('phones after sync: %s' % values)
    h.check(len(set(values.values())) == 1, 'replicas disagree on the phone', values)
    winner = values['nurse']
    h.check_eq(winner, '0131 222 2222', 'the later write wins')
    h.check_eq(d.field('person', pid, 'phone')['value'], winner, 'server field_state')

    conflicts = coord.conflicts()
    mine = [c for c in conflicts if c['row_id'] == pid and c['field'] == 'phone']
    h.check_eq(len(mine), 1, 'conflict log entries for the phone')
    c = mine[0]
    h.check_eq(c['kind'], 'concurrent_edit', 'kind')
    h.check_eq(c['status'], 'open', 'status')
    h.check_eq(c['loser_value'], '0131 111 1111', 'loser value')
    h.check_eq(c['winner_value'], '0131 222 2222', 'winner value')
    h.check_eq(c['loser_user'], 'nina', 'loser user')
    h.check_eq(c['winner_user'], 'liam', 'winner user')
    h.check_eq(d.scalar("SELECT count(*) FROM conflicts WHERE tbl='person' AND field='phone'"),
               1, 'rows in the server conflicts table')

    # Syncing again adds nothing.
    for c2 in (nurse, link, coord):
        c2.sync()
    h.check_eq(len(coord.conflicts()), len(conflicts), 'conflicts after another round')

    # A worker may not read the conflict log.
    p = nurse.conflicts(expect=h.EXIT_FORBIDDEN)
    h.check('not allowed' in p.stderr.lower(), 'non-coordinator message says "not allowed"',
            p.stderr)

    # The coordinator restores the lost value; every device converges on it.
    coord.resolve(c['id'], 'restore')
    for c2 in (nurse, link, coord):
        c2.sync()
    for c2 in (nurse, link, coord):
        h.check_eq(c2.show(pid)['phone'], '0131 111 1111', c2.name + ' has the restored value')
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 111 1111', 'server field_state')
    still_open = [x for x in coord.conflicts() if x['id'] == c['id']]
    h.check_eq(still_open, [], 'the resolved conflict is no longer open')
    done = [x for x in coord.conflicts(all=True) if x['id'] == c['id']]
    h.check_eq(len(done), 1, 'the resolved conflict is listed by --all')
    h.check_eq(done[0]['status'], 'resolved', 'status with --all')
    h.check_eq(done[0].get('resolution'), 'restore', 'resolution with --all')
    h.check_eq(done[0].get('resolved_by'), 'cora', 'resolved_by')
    # Resolving again supersedes the first resolution: keep puts the winner back everywhere.
    coord.resolve(c['id'], 'keep')
    for c2 in (nurse, link, coord):
        c2.sync()
        h.check_eq(c2.show(pid)['phone'], '0131 222 2222', c2.name + ' has the kept value')


if __name__ == '__main__':
    h.main(test)
