#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_small_things.py - the smaller things of issue 10 §7, each through the real daemon and
# the real CLI: `assign` repeated and `unassign` of someone never assigned say nothing changed;
# `transfer --person` of someone the receiver already holds says what it did; `team` leaves out
# a worker whose sector a consent refusal denies; a device's offline `export --fhir` reaches the
# server's audit log at the next sync, the device as its actor; a bad value typed with a
# task-shaped command's option names the option (--dob), not the field (person.birth_date);
# `caresyncd audit export --person` of an unknown person exits 3 as `export` does; `enrol`
# makes the missing parent folders of its home, private (0700).
import json
import os
import stat
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


def test(w):
    d = w.daemon
    pid = d.add_person('Ann Small', phone='01632 960001')
    coord = w.client('coord', 'coordinator', user='cora')
    nurse = w.client('nurse', 'nurse', user='nina')
    vol = w.client('vol', 'volunteer', user='vic')

    # 1. assign twice, unassign someone never assigned.
    p = coord.run('assign', pid, 'nina')
    soft('nothing changed' not in p.stdout, 'a first assign changes something', p.stdout)
    p = coord.run('assign', pid, 'nina')
    soft('nothing changed' in p.stdout and 'already' in p.stdout,
         'a repeated assign says the person was already there and nothing changed', p.stdout)
    p = coord.run('unassign', pid, 'vic', expect=None)
    soft(p.returncode == 0 and 'was not on' in p.stdout and 'nothing changed' in p.stdout
         and 'is off' not in p.stdout,
         'unassign of someone never assigned says so and exits 0', p.returncode, p.stdout)

    # 2. transfer --person of someone the receiver already holds.
    d.assign(pid, 'vic')
    p = coord.run('transfer', '--from', 'vic', '--to', 'nina', '--person', pid)
    soft('moved 0' not in p.stdout and 'already on' in p.stdout and 'off vic' in p.stdout,
         'transfer says it took the person off the sender, the receiver already holding them',
         p.stdout)
    team = [x['user'] for x in coord.json('team', pid)['team']]
    soft(team == ['nina'], 'the transfer ended the volunteer\'s assignment', team)

    # 3. team leaves out a volunteer whom a consent refusal removed.
    d.assign(pid, 'vic')
    nurse.sync()
    nurse.new('consent', 'record', pid, '--sector', 'vcse', '--decision', 'deny', '--basis',
              'explicit')
    nurse.sync()
    team = [x['user'] for x in coord.json('team', pid)['team']]
    soft('vic' not in team and 'nina' in team, 'team leaves out the denied volunteer', team)
    p = nurse.run('team', pid)
    soft('vic' not in p.stdout, 'the nurse\'s team leaves out the denied volunteer', p.stdout)

    # 4. an offline FHIR export is audited on the server at the next sync.
    dev = nurse.device_id
    before = d.scalar("SELECT count(*) FROM audit WHERE kind = 'export' AND person_id = ?",
                      (pid,))
    nurse.run('export', pid, '--fhir')
    nurse.sync()
    rows = d.query("SELECT actor_user, actor_device, detail FROM audit WHERE kind = 'export'"
                   " AND person_id = ?", (pid,))
    soft(len(rows) == before + 1 and rows[-1]['actor_device'] == dev
         and rows[-1]['actor_user'] == 'nina',
         'the device\'s export is in the server\'s audit log with the device as actor',
         [dict(r) for r in rows], dev)
    nurse.sync()
    soft(d.scalar("SELECT count(*) FROM audit WHERE kind = 'export' AND person_id = ?",
                  (pid,)) == before + 1, 'an export is sent once')

    # 5. a bad --dob names the option.
    p = nurse.run('register', '--name', 'Bea Typed', '--dob', '05/05/1950', expect=h.EXIT_USAGE)
    soft('--dob' in p.stderr and 'person.birth_date' not in p.stderr,
         'register names --dob, not person.birth_date', p.stderr)
    p = nurse.run('goal', 'add', pid, 'Walk to the shop', '--target-date', 'soon',
                  expect=h.EXIT_USAGE)
    soft('--target-date' in p.stderr and 'goal.target_date' not in p.stderr,
         'goal add names --target-date', p.stderr)

    # 6. audit export of an unknown person.
    p = d.admin(['audit', 'export'], '--person', h.uuid7(), expect=None)
    soft(p.returncode == 3 and 'no person' in p.stderr,
         'audit export --person UNKNOWN exits 3 and says so', p.returncode, p.stdout, p.stderr)

    # 7. enrol makes the home's parent folders, 0700.
    d.add_user('nora', 'nurse')
    deep = os.path.join(w.root, 'new', 'parents', 'home')
    c = h.Client(w, 'deep', 'nora', 'nurse')
    c.home = deep
    p = c.enrol(d.enrol_code('nora'), expect=None)
    soft(p.returncode == 0 and os.path.isdir(deep), 'enrol makes the missing parent folders',
         p.returncode, p.stderr)
    for path in (os.path.join(w.root, 'new'), os.path.join(w.root, 'new', 'parents')):
        if os.path.isdir(path):
            soft(stat.S_IMODE(os.stat(path).st_mode) == 0o700, '%s is 0700' % path,
                 oct(os.stat(path).st_mode))

    h.check(not FAILURES, '%d failure(s): %s' % (len(FAILURES), '; '.join(FAILURES)))


if __name__ == '__main__':
    h.main(test)
