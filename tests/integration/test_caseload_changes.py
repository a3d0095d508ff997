#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_caseload_changes.py - caseload changes a coordinator makes from their own client: a
# leaver's whole caseload transferred to a new worker moves every person (the leaver's device
# purges them at its next sync, after pushing what it recorded before the handover; the new
# worker's device receives them whole), the leaver's named-coordinator roles go with it; one
# person transferred; assign and unassign; a named coordinator, one per person, shown by
# `caresync team`; refusals (not a coordinator, unknown user or person, a volunteer as named
# coordinator, a person not on the caseload). Every change is audited as the coordinator.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def caseload_ids(c):
    return sorted(p['id'] for p in c.caseload())


def team(c, pid):
    return c.json('team', pid, quiet=True)


def test(w):
    d = w.daemon
    people = [d.add_person('Leaver Person %d' % i, phone='0131 000 000%d' % i) for i in range(3)]
    other = d.add_person('Other Person', phone='0131 000 0009')
    lena = w.client('lena', 'nurse')       # leaving
    nora = w.client('nora', 'nurse')       # joining
    ben = w.client('ben', 'nurse')
    vic = w.client('vic', 'volunteer')
    cora = w.client('cora', 'coordinator')
    for p in people:
        d.assign(p, 'lena')
    d.assign(other, 'ben')
    d.assign(people[0], 'vic')
    for c in (lena, nora, ben, vic, cora):
        c.sync()
    h.check_eq(caseload_ids(lena), sorted(people), 'lena\'s caseload')
    h.check_eq(caseload_ids(nora), [], 'nora starts empty')

    # ---- named coordinator: one per person ----
    cora.run('named-coordinator', people[0], 'lena')
    t = team(cora, people[0])
    h.check_eq(t['named_coordinator']['user'], 'lena', 'named coordinator')
    h.check_eq(sorted(m['user'] for m in t['team']), ['lena', 'vic'], 'the team')
    h.check_eq(t['name'], 'Leaver Person 0', 'the person\'s name')
    p = cora.run('named-coordinator', other, 'lena', expect=h.EXIT_USAGE)
    h.check('caseload' in p.stderr, 'a professional must hold the person', p.stderr)
    cora.run('named-coordinator', people[0], 'vic', expect=h.EXIT_USAGE)
    cora.run('named-coordinator', people[0], 'nobody', expect=h.EXIT_NOTFOUND)
    cora.run('named-coordinator', people[1], 'cora')  # a coordinator needs no assignment
    nora.run('named-coordinator', people[1], 'nora', expect=h.EXIT_FORBIDDEN)
    # Everyone on the team may read it, from their own device.
    h.check_eq(team(vic, people[0])['named_coordinator']['user'], 'lena', 'vic reads the team')
    vic.run('team', people[1], expect=h.EXIT_NOTFOUND)  # not on vic's caseload
    out = lena.run('team', people[0], quiet=True).stdout
    h.check('named coordinator: lena' in out, 'human team output', out)

    # ---- lena leaves: her whole caseload goes to nora ----
    lena.edit('person', people[2], 'phone', '0131 222 2222')  # recorded before she left
    nora.run('transfer', '--from', 'lena', '--to', 'nora', expect=h.EXIT_FORBIDDEN)
    doc = cora.json('transfer', '--from', 'lena', '--to', 'nora')
    h.check_eq((doc['from'], doc['to'], sorted(doc['moved']), doc['already']),
               ('lena', 'nora', sorted(people), []), 'the transfer moved every person')
    h.check_eq(d.scalar('SELECT count(*) FROM assignments a JOIN users u ON u.id = a.user_id'
                        " WHERE u.name = 'lena' AND a.end_seq IS NULL"), 0,
               'lena has no active assignment left')
    lena.sync()
    h.check_eq(caseload_ids(lena), [], 'the leaver\'s device purged every person')
    h.check_eq(lena.status()['pending'], 0, 'her last edit was sent first')
    nora.sync()
    h.check_eq(caseload_ids(nora), sorted(people), 'the new worker received every person')
    h.check_eq(nora.show(people[1])['phone'], '0131 000 0001', 'whole, with their fields')
    h.check_eq(nora.show(people[2])['phone'], '0131 222 2222', 'and the leaver\'s last edit')
    t = team(cora, people[0])
    h.check_eq(t['named_coordinator']['user'], 'nora', 'the named-coordinator role moved too')
    h.check_eq(sorted(m['user'] for m in t['team']), ['nora', 'vic'], 'the team after')
    h.check_eq(team(cora, people[1])['named_coordinator']['user'], 'cora',
               'a named coordinator who is not the leaver stays')
    h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind = 'transfer'"
                        " AND actor_user = 'cora'"), 3, 'one audit event per person moved')
    out = cora.run('transfer', '--from', 'lena', '--to', 'nora', quiet=True).stdout
    h.check('moved 0 person(s)' in out, 'an empty caseload moves nobody', out)

    # ---- one person; errors ----
    cora.run('transfer', '--from', 'nora', '--to', 'ben', '--person', people[1])
    nora.sync()
    ben.sync()
    h.check_eq(caseload_ids(nora), sorted([people[0], people[2]]), 'nora kept the others')
    h.check_eq(caseload_ids(ben), sorted([other, people[1]]), 'ben received the one person')
    cora.run('transfer', '--from', 'nora', '--to', 'ben', '--person', other,
             expect=h.EXIT_NOTFOUND)                      # nora does not hold them
    cora.run('transfer', '--from', 'ghost', '--to', 'ben', expect=h.EXIT_NOTFOUND)
    cora.run('transfer', '--from', 'ben', '--to', 'ben', expect=h.EXIT_USAGE)
    cora.run('transfer', '--from', 'ben', expect=h.EXIT_USAGE)
    st, _, _, doc = d.request('POST', '/v1/assignments/transfer',
                              {'from': 'ben', 'to': 'nora', 'extra': 1}, token=cora.token)
    h.check_eq((st, doc['error']['code']), (400, 'unknown_field'), 'strict transfer body')

    # ---- assign and unassign from the client ----
    cora.run('assign', other, 'nora')
    cora.run('assign', other, 'nora')  # already: fine, nothing changes
    nora.sync()
    h.check(other in caseload_ids(nora), 'assigned from the coordinator\'s client')
    cora.run('unassign', other, 'nora')
    nora.sync()
    h.check(other not in caseload_ids(nora), 'unassigned: purged at the next sync')
    cora.run('assign', other, 'nobody', expect=h.EXIT_NOTFOUND)
    cora.run('assign', '01a20a20-0000-7000-8000-000000000000', 'nora', expect=h.EXIT_NOTFOUND)
    cora.run('assign', 'not-an-id', 'nora', expect=h.EXIT_USAGE)
    ben.run('assign', other, 'ben', expect=h.EXIT_FORBIDDEN)
    st, _, _, doc = d.request('POST', '/v1/assignments',
                              {'person_id': other, 'user': 'nora', 'action': 'adopt'},
                              token=cora.token)
    h.check_eq((st, doc['error']['code']), (400, 'invalid_value'), 'a bad action')
    h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind IN ('assign', 'unassign')"
                        " AND actor_user = 'cora'"), 2, 'assign and unassign audited')

    # Unassigning a professional named coordinator ends the role; one row per person always.
    cora.run('named-coordinator', other, 'ben')
    cora.run('named-coordinator', other, 'cora')
    h.check_eq(d.scalar('SELECT count(*) FROM named_coordinators WHERE person_id = ?',
                        (other,)), 1, 'one named coordinator per person')
    h.check_eq(team(ben, other)['named_coordinator']['user'], 'cora', 'the latest one')
    cora.run('named-coordinator', other, 'ben')
    cora.run('unassign', other, 'ben')
    h.check_eq(team(cora, other)['named_coordinator'], None,
               'the role ends with the assignment')


if __name__ == '__main__':
    h.main(test)
