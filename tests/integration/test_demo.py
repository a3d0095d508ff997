#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_demo.py - 'caresyncd demo --profile demo' fills a fresh store with invented data shaped
# like the domain model's seed profile: counts in range, every row's person exists, every person
# has a care plan, references point at rows of the same person, identifiers come from the test
# and drama ranges, nurses have visits today, and five conflicts wait for a coordinator. A nurse
# enrols and syncs her caseload. The same seed gives the same data; a used store is refused.
# (The 'load' profile is for benchmarks and is not run here.)
import collections
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

SEED = '7'


def demo(d, *args, expect=0):
    p = d.admin(['demo'], *args, '--json', expect=expect)
    if expect != 0:
        return p
    return json.loads(p.stdout)


def rows(d):
    """Every synced row of the store: {table: {row_id: {field: value, '_person': id}}}."""
    out = collections.defaultdict(dict)
    for r in d.query('SELECT tbl, row_id, field, person_id, value FROM field_state'):
        row = out[r['tbl']].setdefault(r['row_id'], {'_person': r['person_id']})
        row[r['field']] = r['value']
    return out


def nhs_valid(n):
    if not re.fullmatch(r'999\d{7}', n):
        return False
    check = 11 - sum(int(c) * (10 - i) for i, c in enumerate(n[:9])) % 11
    return (0 if check == 11 else check) == int(n[9]) and check != 10


def in_range(got, lo, hi, what):
    h.check(lo <= got <= hi, '%s: %d is not in %d..%d' % (what, got, lo, hi))


def check_store(d, s):
    t = s['tables']
    h.check_eq(s['people'], {'active': 28, 'referred': 1, 'closed': 1}, 'people by status')
    h.check_eq(t['person'], 30, 'people')
    for name, lo, hi in (('related_person', 30, 90), ('about_me', 18, 30), ('care_plan', 30, 60),
                         ('goal', 60, 160), ('plan_action', 80, 450), ('visit', 300, 2000),
                         ('note', 300, 2200), ('observation', 200, 4000),
                         ('goal_progress', 60, 700), ('plan_review', 3, 30), ('consent', 30, 40),
                         ('alert', 3, 25)):
        in_range(t[name], lo, hi, name)
    h.check_eq(s['conflicts'], 5, 'seeded conflicts')
    in_range(s['visits_today'], 8, 40, 'visits planned today')
    roles = collections.Counter(u['role'] for u in s['staff'])
    h.check_eq(dict(roles), {'nurse': 2, 'occupational_therapist': 1, 'physiotherapist': 1,
                             'social_worker': 2, 'link_worker': 1, 'volunteer': 1,
                             'coordinator': 1}, 'staff roles')
    for u in s['staff']:
        h.check(u['enrol'].endswith('enrol --data %s %s' % (d.data, u['name'])),
                'summary gives the enrolment command', u)

    data = rows(d)
    h.check_eq({k: len(v) for k, v in data.items()},
               {k: v for k, v in t.items() if v}, 'summary counts against the store')
    people = data['person']
    for tbl, rs in data.items():
        for rid, r in rs.items():
            h.check(r['_person'] in people, '%s %s belongs to a person that exists' % (tbl, rid))
    # Every person has a care and support plan; references stay within the person.
    plans = collections.defaultdict(list)
    for rid, r in data['care_plan'].items():
        plans[r['_person']].append(r)
    for pid, p in people.items():
        h.check(any(c.get('kind') == 'pcsp' for c in plans[pid]), 'a pcsp for ' + p['name'])
    refs = (('goal', 'care_plan_id', 'care_plan'), ('goal', 'parent_goal_id', 'goal'),
            ('plan_action', 'goal_id', 'goal'), ('plan_review', 'care_plan_id', 'care_plan'),
            ('note', 'visit_id', 'visit'), ('observation', 'visit_id', 'visit'),
            ('goal_progress', 'goal_id', 'goal'))
    for tbl, field, target in refs:
        for rid, r in data[tbl].items():
            if field in r:
                ref = data[target].get(r[field])
                h.check(ref is not None and ref['_person'] == r['_person'],
                        '%s.%s of %s points at a %s of the same person' % (tbl, field, rid,
                                                                         target), r)
    for pid in data['about_me']:
        h.check(pid in people, 'about_me id is its person id')

    # Fictional identifiers: NHS numbers from the 999 test range with a valid check digit,
    # Ofcom drama phone numbers, Northbrook addresses, example.org e-mail.
    nhs = [p['nhs_number'] for p in people.values()]
    h.check(all(nhs_valid(n) for n in nhs), 'NHS numbers are valid test-range numbers', nhs)
    h.check_eq(len(set(nhs)), len(nhs), 'NHS numbers are unique')
    for tbl in ('person', 'related_person'):
        for r in data[tbl].values():
            h.check(re.fullmatch(r'01632 960\d{3}|07700 900\d{3}', r['phone']),
                    'drama-range phone number', r)
            h.check(r.get('email', '@example.org').endswith('@example.org'), 'e-mail', r)
    h.check(all(', Northbrook NB' in p['address'] for p in people.values()), 'addresses')

    # Visits: completed / missed (with a reason) / cancelled in the past, planned ahead, and
    # several planned today for each nurse.
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    past = [v for v in data['visit'].values() if v['planned_start'][:10] < today]
    st = collections.Counter(v['status'] for v in past)
    share = st['completed'] / len(past)
    h.check(0.8 <= share <= 0.95, 'completed share of past visits %.2f' % share, dict(st))
    h.check(st['missed'] > 0 and st['cancelled'] > 0 and st['planned'] <= 1,
            'past visit statuses', dict(st))
    for v in data['visit'].values():
        h.check((v['status'] == 'missed') == ('missed_reason' in v), 'missed reason', v)
    for nurse in ('nurse.amira', 'nurse.ben'):
        mine = [v for v in data['visit'].values() if v['planned_start'].startswith(today)
                and v['assigned_to'] == nurse and v['status'] == 'planned']
        in_range(len(mine), 2, 6, 'visits planned today for ' + nurse)

    # Caseloads: every active person on 1-4 caseloads, nobody else on any.
    active = d.query("SELECT a.person_id, count(*) AS n FROM assignments a"
                     " WHERE a.end_seq IS NULL GROUP BY a.person_id")
    per = {r['person_id']: r['n'] for r in active}
    for pid, p in people.items():
        if p['status'] == 'active':
            in_range(per.get(pid, 0), 1, 4, 'caseloads of ' + p['name'])
        else:
            h.check(pid not in per, '%s %s is on no caseload' % (p['status'], p['name']))
    if d.pg or d.query("SELECT name FROM sqlite_master WHERE name = 'audit'"):
        h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind = 'demo_import'"), 30,
                   'one audit event per person imported')
    return data


def test(w):
    d = w.daemon
    s = demo(d, '--profile', 'demo', '--seed', SEED)
    h.log('demo profile written in %.2f s' % s['seconds'])
    data = check_store(d, s)
    ex = s['example_person']
    h.check_eq((ex['name'], ex['preferred_name']), ('Doreen Ashworth', 'Dee'), 'example person')

    # A used store is refused and left as it was; a bad profile is a usage error.
    counts = d.counts()
    demo(d, expect=4)
    h.check_eq(d.counts(), counts, 'counts after the refused second run')
    demo(d, '--profile', 'huge', expect=2)

    # A nurse enrols and syncs: her caseload, the example person's plan, her day.
    nurse = w.client('amira', 'nurse', user='nurse.amira')
    nurse.sync()
    mine = {r['person_id'] for r in d.query(
        "SELECT a.person_id FROM assignments a JOIN users u ON u.id = a.user_id"
        " WHERE u.name = 'nurse.amira' AND a.end_seq IS NULL")}
    cl = nurse.caseload()
    h.check(len(cl) > 0, 'the nurse has a caseload')
    h.check_eq({p['id'] for p in cl}, mine, "the nurse's caseload")
    h.check(ex['id'] in mine, 'the example person is on her caseload')
    doc = nurse.show(ex['id'])
    h.check_eq(doc['name'], 'Doreen Ashworth', 'show --json name')
    for label in ('care_plans', 'goals', 'actions', 'visits', 'notes'):
        h.check(len(doc.get(label, [])) > 0, 'show --json has %s' % label, sorted(doc))
    h.check_eq(len(doc['visits']), sum(1 for v in data['visit'].values()
                                       if v['_person'] == ex['id']), 'her visits on the device')

    # Determinism: the same seed in another store gives the same people and counts; another
    # seed gives other people.
    d2 = h.Daemon(w.root, 'server2')
    d2.init()
    s2 = demo(d2, '--seed', SEED)
    h.check_eq(s2['tables'], s['tables'], 'row counts for the same seed')
    h.check_eq(s2['conflicts'], s['conflicts'], 'conflicts for the same seed')
    names = lambda dd: sorted((r['name'], r['nhs_number']) for r in rows(dd)['person'].values())
    h.check_eq(names(d2), names(d), 'people for the same seed')
    d3 = h.Daemon(w.root, 'server3')
    d3.init()
    demo(d3, '--seed', '8')
    h.check(names(d3) != names(d), 'another seed gives other people')


if __name__ == '__main__':
    h.main(test)
