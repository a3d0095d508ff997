#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_about_me_merge.py - About Me is one row per person whose id is the person's id, so two
# workers who both start it offline (`caresync about-me`) write the same row. Different sections
# merge: after everyone syncs, every replica and the server hold both, in one row, with no
# conflict. The same section written concurrently gives one winner everywhere (the later edit)
# and exactly one conflict, flagged for review, with the other words kept as the loser, whichever
# device syncs first.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

MATTERS = 'My cat Bramble, and getting to the allotment club on Thursdays'
PLEASE = 'Please knock loudly and wait; please do not talk to my son about money'


def about(c, pid):
    return c.show(pid)['about_me']


def test(w):
    d = w.daemon
    pid = d.add_person('Doreen Ashworth', dob='1942-03-03')
    nurse = w.client('nurse', 'nurse', user='nina')
    link = w.client('link', 'link_worker', user='liam')
    coord = w.client('coord', 'coordinator', user='cora')
    everyone = (nurse, link, coord)
    for u in ('nina', 'liam'):
        d.assign(pid, u)
    for c in everyone:
        c.sync()
        h.check_eq(about(c, pid), None, c.name + ': no About Me yet')

    # Both start the About Me offline, each with a different section.
    nurse.run('about-me', pid, 'what_matters', MATTERS)
    link.run('about-me', pid, 'please_do', PLEASE)
    a = about(nurse, pid)
    h.check(isinstance(a, dict), 'about_me is an object once written', a)
    h.check_eq(a['id'], pid, "the About Me row's id is the person's id")
    h.check_eq(a['what_matters'], MATTERS, 'the nurse sees her section offline')
    nurse.sync()
    link.sync()
    for c in everyone:
        c.sync()
    for c in everyone:
        a = about(c, pid)
        h.check(isinstance(a, dict), c.name + ': about_me object', a)
        h.check_eq((a['id'], a['what_matters'], a['please_do']), (pid, MATTERS, PLEASE),
                   c.name + ': both sections survive')
    h.check_eq(d.query("SELECT DISTINCT row_id FROM field_state WHERE tbl='about_me'"),
               [{'row_id': pid}], 'one About Me row on the server')
    h.check_eq(d.field('about_me', pid, 'what_matters')['value'], MATTERS, 'server section 1')
    h.check_eq(d.field('about_me', pid, 'please_do')['value'], PLEASE, 'server section 2')
    h.check_eq([c for c in coord.conflicts() if c['table'] == 'about_me'], [],
               'different sections do not conflict')

    # The same section, concurrently; the earlier writer syncs first, then (another section)
    # the later writer syncs first.
    cases = (('communication', (nurse, 'I lip-read: face me and speak clearly'),
              (link, 'Write important things down for me'), False),
             ('wellness', (link, 'Walking with my frame every morning'),
              (nurse, 'Short walks; I tire after lunch'), True))
    for section, (first, v1), (second, v2), later_syncs_first in cases:
        first.run('about-me', pid, section, v1)
        second.run('about-me', pid, section, v2)
        order = (second, first) if later_syncs_first else (first, second)
        for c in order:
            c.sync()
        for c in everyone:
            c.sync()
        for c in everyone:
            a = about(c, pid)
            h.check_eq(a[section], v2, '%s: %s holds the later words' % (section, c.name))
            h.check_eq((a['what_matters'], a['please_do']), (MATTERS, PLEASE),
                       '%s: %s keeps the other sections' % (section, c.name))
        h.check_eq(d.field('about_me', pid, section)['value'], v2, section + ': server')
        mine = [c for c in coord.conflicts() if c['table'] == 'about_me' and
                c['field'] == section]
        h.check_eq(len(mine), 1, section + ': conflicts', mine)
        x = mine[0]
        h.check_eq((x['kind'], x['review'], x['row_id'], x['person_id']),
                   ('concurrent_edit', True, pid, pid), section + ': conflict entry')
        h.check_eq((x['winner_value'], x['loser_value']), (v2, v1), section + ': values')
        h.check_eq((x['winner_user'], x['loser_user']), (second.user, first.user),
                   section + ': authors')

    # Another round adds nothing.
    n = len(coord.conflicts())
    for c in everyone:
        c.sync()
    h.check_eq(len(coord.conflicts()), n, 'conflicts after another round')
    h.check_eq(len([c for c in coord.conflicts() if c['table'] == 'about_me']), 2,
               'two About Me conflicts in all')

    # A bad section name, or a person not on the device, is refused and queues nothing.
    pending = nurse.status()['pending']
    nurse.run('about-me', pid, 'favourite_colour', 'blue', expect=h.EXIT_USAGE)
    nurse.run('about-me', pid, 'what_matters', 'x' * 4001, expect=h.EXIT_USAGE)
    nurse.run('about-me', h.uuid7(), 'what_matters', 'x', expect=h.EXIT_NOTFOUND)
    h.check_eq(nurse.status()['pending'], pending, 'refused About Me edits queue nothing')


if __name__ == '__main__':
    h.main(test)
