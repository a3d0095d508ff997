#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_consent_withdrawal.py - the person decides who is involved (docs/internals/access.md,
# "Who sees what"; domain model §4.3 "Consent deny"). A consent record denying the VCSE sector,
# written by a nurse, takes the person off the volunteer's device at its next sync (gone from
# the caseload, and none of their values left in the replica's files) while the nurse keeps
# them; withdrawing that deny brings the person back to the volunteer at their next sync,
# projected as before (what a volunteer may hold, nothing more). A deny for sector "all" takes
# the person off the nurse's, the social worker's, the link worker's and the volunteer's
# devices, but not the coordinator's; other people on those caseloads stay.
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

FAILURES = []


def soft(cond, msg, *details):
    if not cond:
        h.log('FAILED: ' + msg)
        for d in details:
            print('  detail: ' + h.clip(repr(d), 3000))
        FAILURES.append(msg)


def hits(client, markers):
    """{marker: [files of the home that contain it]} for the markers found."""
    found = {}
    for path, data in client.replica_bytes().items():
        for m in markers:
            if m.encode() in data:
                found.setdefault(m, []).append(os.path.relpath(path, client.home))
    return found


def caseload(client):
    return {p['id'] for p in client.caseload()}


def test(w):
    d = w.daemon
    tag = '%08x' % random.getrandbits(32)

    def mk(kind):
        return '%s.%s.' % (tag, kind)

    # ---- part 1: a VCSE deny, then its withdrawal ----
    name = 'Ivy Consent' + mk('name')
    phone, addr = mk('phone'), mk('addr')
    pid = d.add_person(name, phone=phone, address=addr, dob='1938-04-11')
    other = d.add_person('Olive Stays', phone='01632 960777')
    nurse = w.client('nurse', 'nurse', user='nina')
    vol = w.client('vol', 'volunteer', user='vic')
    for u in ('nina', 'vic'):
        d.assign(pid, u)
        d.assign(other, u)
    nurse.sync()
    # What the volunteer may hold (alert for all, their action and its goal, their visit) and
    # what they may not (a clinical observation, About Me not shareable).
    visible = {'alert': mk('alert'), 'goal': mk('goal'), 'action': mk('action'),
               'visit': mk('visit'), 'name': name, 'phone': phone, 'addr': addr}
    hidden = {'clinobs': mk('clinobs'), 'aboutme': mk('aboutme'), 'dob': '1938-04-11'}
    nurse.new('alert', 'raise', pid, visible['alert'], '--category', 'animal')
    goal = nurse.new('goal', 'add', pid, visible['goal'])
    act = nurse.new('action', 'add', goal, visible['action'], '--who', 'vic', '--who-kind',
                    'volunteer')
    visit = nurse.new('visit', 'add', pid, '--at', h.today_local(1) + 'T11:00', '--type',
                      visible['visit'], '--for', 'vic')
    nurse.new('observe', pid, 'blood-pressure', hidden['clinobs'], '--unit', 'mmHg')
    nurse.run('about-me', pid, 'what_matters', hidden['aboutme'])
    nurse.sync()
    vol.sync()
    h.check_eq(caseload(vol), {pid, other}, 'the volunteer holds both people')
    found = hits(vol, visible.values())
    h.check_eq(sorted(found), sorted(visible.values()), 'the volunteer holds what they may')
    h.check(not hits(vol, hidden.values()), 'the volunteer holds nothing they may not')
    # The volunteer records a note of their own, offline; meanwhile the person says no to VCSE
    # sharing. The volunteer's next sync pushes the note before it purges the person.
    vnote = vol.new('note', 'add', pid, mk('volnote'), '--visit', visit)
    deny = nurse.new('consent', 'record', pid, '--sector', 'vcse', '--decision', 'deny',
                     '--basis', 'explicit', '--notes', 'Does not want the befriending service')
    nurse.sync()
    vol.sync()
    soft(vol.status()['pending'] == 0, 'the volunteer pushed the note')
    soft(caseload(vol) == {other}, 'after the deny the volunteer holds only the other person',
         caseload(vol))
    p = vol.show(pid, expect=None)
    soft(p.returncode == h.EXIT_NOTFOUND, 'show of the denied person: exit %d, want 3' %
         p.returncode)
    left = hits(vol, list(visible.values()) + [mk('volnote')])
    soft(not left, 'values of the denied person still in the volunteer\'s files: %s' % left)
    soft(vol.status().get('pending_purges', 0) == 0, 'no purge left pending')
    # The nurse keeps them; the volunteer's own note stays on the server (direct care data
    # recorded earlier is kept).
    nurse.sync()
    soft(pid in caseload(nurse), 'the nurse keeps the person')
    soft(nurse.show(pid)['name'] == name, 'the nurse still holds their record')
    # The note recorded before the deny reached the device is not lost: it is applied, or (if
    # the server treats the person as out of the volunteer's scope) kept in the conflict log.
    stored = d.scalar("SELECT count(*) FROM change_log WHERE row_id = ?", (vnote,))
    applied = (d.field('note', vnote, 'author') or {}).get('value') == 'vic'
    h.log("the volunteer's note: %s" % ('applied' if applied else
                                        'stored, not applied' if stored else 'LOST'))
    soft(stored > 0, "the volunteer's note recorded before the deny is kept on the server")

    # Withdrawn: back at the volunteer's next sync, projected.
    nurse.run('consent', 'withdraw', deny)
    nurse.sync()
    vol.sync()
    # PRODUCT BUG (left failing): the person does not come back. daemon/store_sync.c
    # view_field() answers a consent change that no longer denies with
    # send_person(v, person, UINT64_MAX), and send_person() binds that bound with
    # sqlite3_bind_int64(st, 2, (int64_t)upto), i.e. -1, so "seq <= -1" sends nothing. The
    # assignment is unchanged, so no start event re-sends them either.
    soft(caseload(vol) == {pid, other}, 'after the withdrawal the volunteer holds the person '
         'again', caseload(vol))
    expected = set(visible.values()) | ({mk('volnote')} if applied else set())
    back = hits(vol, expected)
    missing = sorted(expected - set(back))
    soft(not missing, 'after the withdrawal the volunteer is missing: %s' % missing)
    leaked = hits(vol, hidden.values())
    soft(not leaked, 'after the withdrawal the volunteer holds what they may not: %s' % leaked)
    p = vol.show(pid, expect=None)
    if p.returncode == 0:
        doc = json.loads(p.stdout)
        soft((doc['name'], doc['phone'], doc['address']) == (name, phone, addr),
             'the person is back in full', doc)
        soft([a['id'] for a in doc['actions']] == [act], 'their action is back', doc['actions'])
        soft([g['id'] for g in doc['goals']] == [goal], 'its goal is back', doc['goals'])
        soft(not doc.get('birth_date') and not doc.get('about_me'),
             'still no date of birth or About Me', doc)
    else:
        soft(False, 'show of the person after the withdrawal: exit %d' % p.returncode)

    # ---- part 2: a deny for every sector ----
    pid2 = d.add_person('Alma Everyone' + mk('name2'), phone=mk('phone2'))
    sw = w.client('social', 'social_worker', user='sol')
    lw = w.client('link', 'link_worker', user='lena')
    coord = w.client('coord', 'coordinator', user='cora')
    workers = (nurse, sw, lw, vol)
    for c in workers:
        d.assign(pid2, c.user)
        if c in (sw, lw):
            d.assign(other, c.user)
    nurse.sync()
    for c in workers + (coord,):
        c.sync()
        h.check(pid2 in caseload(c), c.name + ' holds the second person')
    nurse.edit('person', pid2, 'address', mk('addr2'))
    nurse.sync()
    for c in workers + (coord,):
        c.sync()
    marks2 = [mk('name2'), mk('phone2'), mk('addr2')]
    for c in workers + (coord,):
        h.check_eq(sorted(hits(c, marks2)), sorted(marks2), c.name + ' holds their values')

    nurse.new('consent', 'record', pid2, '--sector', 'all', '--decision', 'deny', '--basis',
              'explicit')
    nurse.sync()
    for c in workers + (coord,):
        c.sync()
    for c in workers:
        held = caseload(c)
        soft(pid2 not in held, '%s still holds the person after a deny for all' % c.name, held)
        soft(other in held, '%s lost another person' % c.name, held)
        left = hits(c, marks2)
        soft(not left, '%s: values of the denied person still in the files: %s' % (c.name, left))
    soft(pid2 in caseload(coord), 'the coordinator keeps the person')
    soft(sorted(hits(coord, marks2)) == sorted(marks2), 'the coordinator keeps their values')
    h.check(not FAILURES, '%d checks failed:\n  %s' % (len(FAILURES), '\n  '.join(FAILURES)))


if __name__ == '__main__':
    h.main(test)
