#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_different_fields.py - two workers edit different fields of the same row while offline:
# both edits survive on the server and on every replica, and nothing enters the conflict log.
# Values with quotes, backslashes, newlines and non-ASCII characters arrive unchanged.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

# Quotes, a backslash, a newline, accents and a 4-byte character survive every hop.
ADDRESS = 'Flat 2/1, "Rose Cottage"\\ 5 Rue de l\'\u00c9glise\nLeith \U0001F3E0'


def test(w):
    d = w.daemon
    pid = d.add_person('Bea Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    ot = w.client('ot', 'occupational_therapist')
    coord = w.client('coord', 'coordinator')
    d.assign(pid, 'nurse')
    d.assign(pid, 'ot')
    for c in (nurse, ot, coord):
        c.sync()
    goal = nurse.add('goal', pid, {'description': 'Walk to the post office',
                                   'lifecycle_status': 'active'})
    nurse.sync()
    ot.sync()
    h.check_eq(len(ot.show(pid)['goals']), 1, 'the ot sees the new goal')

    nurse.edit('person', pid, 'phone', '0131 333 3333')
    ot.edit('person', pid, 'address', ADDRESS)
    nurse.edit('goal', goal, 'achievement_status', 'improving')
    ot.edit('goal', goal, 'description', 'Walk to the post office and back')
    ot.sync()
    nurse.sync()
    for c in (ot, nurse, coord):
        c.sync()
    for c in (nurse, ot, coord):
        p = c.show(pid)
        h.check_eq(p['phone'], '0131 333 3333', c.name + ' phone')
        h.check_eq(p['address'], ADDRESS, c.name + ' address')
        g = [x for x in p['goals'] if x['id'] == goal]
        h.check_eq(len(g), 1, c.name + ' has the goal')
        h.check_eq(g[0]['achievement_status'], 'improving', c.name + ' goal achievement')
        h.check_eq(g[0]['description'], 'Walk to the post office and back',
                   c.name + ' goal description')
        h.check_eq(g[0]['lifecycle_status'], 'active', c.name + ' goal lifecycle')
    h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), 0, 'server conflicts')
    h.check_eq(coord.conflicts(), [], 'coordinator conflict list')
    h.check_eq(d.field('person', pid, 'address')['value'], ADDRESS, 'server address')


if __name__ == '__main__':
    h.main(test)
