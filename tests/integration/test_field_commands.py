#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_field_commands.py - the field-worker commands not exercised elsewhere, each with its
# observable effect: caseload --review-due [DAYS] / --alerts / --referred, open --json (About Me
# first, active alerts, contacts, goals, actions, the next visit, recent notes newest first),
# goal status, entered-in-error, consent withdraw, alert deactivate, help and CMD --help. Every
# command refuses a bad argument (exit 2) and an unknown id (exit 3) with nothing queued. The
# text of an append-only record cannot be changed: `edit` refuses it (exit 2), and a forged push
# of a new value by the device is answered "lost", logged as append_only and changes nothing;
# a push to a server-authoritative field is refused (403) with nothing written.
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

COMMANDS = ['today', 'caseload', 'open', 'show', 'visit', 'note', 'observe', 'progress', 'goal',
            'action', 'consent', 'contact', 'alert', 'review', 'about-me', 'register',
            'entered-in-error', 'export', 'enrol', 'sync', 'edit', 'add', 'delete', 'status',
            'conflicts', 'resolve', 'help']
SUBCOMMANDS = [('visit', 'add'), ('visit', 'start'), ('visit', 'complete'), ('visit', 'miss'),
               ('note', 'add'), ('goal', 'add'), ('goal', 'status'), ('action', 'add'),
               ('action', 'status'), ('consent', 'record'), ('consent', 'withdraw'),
               ('contact', 'add'), ('alert', 'raise'), ('alert', 'deactivate'),
               ('review', 'add')]


def ids(rows):
    return {r['id'] for r in rows}


def test(w):
    d = w.daemon
    today = h.today_local()
    alice = d.add_person('Alice Alerts')
    bob = d.add_person('Bob Review')
    cara = d.add_person('Cara Later')
    dan = d.add_person('Dan Overdue')
    nurse = w.client('nurse', 'nurse', user='nina')
    coord = w.client('coord', 'coordinator', user='cora')
    for pid in (alice, bob, cara, dan):
        d.assign(pid, 'nina')
    nurse.sync()

    # ---- the data behind the filters ----
    al1 = nurse.new('alert', 'raise', alice, 'Dog: ring first', '--category', 'animal')
    al2 = nurse.new('alert', 'raise', alice, 'Lone-worker risk: visit in pairs', '--category',
                    'lone-worker', '--audience', 'professionals')
    al3 = nurse.new('alert', 'raise', alice, 'Scaffolding at the door', '--category', 'access')
    nurse.run('alert', 'deactivate', al3)
    a = nurse.row(alice, 'alerts', al3)
    h.check_eq(a['status'], 'inactive', 'alert deactivate')
    h.check_eq(nurse.row(alice, 'alerts', al2)['audience'], 'professionals', 'alert audience')
    plans = {}
    for pid, days in ((bob, 5), (cara, 60), (dan, -1)):
        g = nurse.new('goal', 'add', pid, 'Stay at home safely')
        plans[pid] = nurse.row(pid, 'goals', g)['care_plan_id']
        nurse.edit('care_plan', plans[pid], 'review_due', h.today_local(days))

    rows = nurse.json('caseload', quiet=True)
    h.check_eq(ids(rows), {alice, bob, cara, dan}, 'caseload without filters')
    counts = {r['id']: r['alerts'] for r in rows}
    h.check_eq(counts, {alice: 2, bob: 0, cara: 0, dan: 0}, 'active alert counts', rows)
    due = {r['id']: r['review_due'] for r in rows}
    h.check_eq(due, {alice: None, bob: h.today_local(5), cara: h.today_local(60),
                     dan: h.today_local(-1)}, 'review_due in the caseload', rows)
    h.check_eq(ids(nurse.json('caseload', '--review-due', quiet=True)), {bob, dan},
               'caseload --review-due (default window: overdue or due within 14 days)')
    h.check_eq(ids(nurse.json('caseload', '--review-due', '90', quiet=True)), {bob, cara, dan},
               'caseload --review-due 90')
    h.check_eq(ids(nurse.json('caseload', '--review-due', '0', quiet=True)), {dan},
               'caseload --review-due 0: overdue only')
    rows = nurse.json('caseload', '--alerts', quiet=True)
    h.check_eq([(r['id'], r['alerts']) for r in rows], [(alice, 2)], 'caseload --alerts')
    h.check_eq(nurse.json('caseload', '--referred', quiet=True), [],
               'caseload --referred with nobody referred')
    nurse.run('caseload', '--review-due', 'soon', expect=h.EXIT_USAGE)
    nurse.run('caseload', '--review-due', '-3', expect=h.EXIT_USAGE)
    nurse.run('caseload', '--urgent', expect=h.EXIT_USAGE)

    # A person registered in the field is "referred" once the server has them.
    erin = nurse.new('register', '--name', 'Erin Referred', '--dob', '1960-01-31')
    nurse.sync()
    h.check_eq(ids(nurse.json('caseload', '--referred', quiet=True)), {erin},
               'caseload --referred after sync')
    coord.sync()
    h.check(erin in ids(coord.json('caseload', '--referred', quiet=True)),
            "the coordinator's --referred")

    # ---- open: About Me first, then what a visitor needs ----
    nurse.run('about-me', alice, 'what_matters', 'My dog Rex and my garden')
    nurse.run('about-me', alice, 'communication', 'I am deaf in my left ear')
    jo = nurse.new('contact', 'add', alice, '--name', 'Jo Daughter', '--relationship', 'daughter',
                   '--code', 'NOK', '--next-of-kin', '--phone', '07700 900456')
    g_active = nurse.new('goal', 'add', alice, 'Get back to the garden', '--importance', '8')
    nurse.run('goal', 'status', g_active, '--lifecycle', 'active', '--achievement', 'improving')
    g = nurse.row(alice, 'goals', g_active)
    h.check_eq((g['lifecycle_status'], g['achievement_status']), ('active', 'improving'),
               'goal status')
    g_dropped = nurse.new('goal', 'add', alice, 'Learn to drive')
    nurse.run('goal', 'status', g_dropped, '--lifecycle', 'cancelled')
    act = nurse.new('action', 'add', g_active, 'Raised beds from the council', '--who', 'OT team',
                    '--who-kind', 'team', '--due', h.today_local(10))
    nurse.run('action', 'status', act, 'on-hold', '--reason', 'waiting for funding',
              '--confidence', '4')
    a = nurse.row(alice, 'actions', act)
    h.check_eq((a['status'], a['status_reason'], a['confidence']),
               ('on-hold', 'waiting for funding', '4'), 'action status')
    v_past = nurse.new('visit', 'add', alice, '--at', h.today_local(-2) + 'T10:00')
    v_far = nurse.new('visit', 'add', alice, '--at', h.today_local(14) + 'T10:00')
    v_near = nurse.new('visit', 'add', alice, '--at', h.today_local(3) + 'T10:00', '--type',
                       'review visit')
    n_old = nurse.new('note', 'add', alice, 'Older note', '--at', h.today_local(-2) + 'T10:30')
    n_new = nurse.new('note', 'add', alice, 'Newer note', '--at', h.today_local(-1) + 'T10:30')
    o = nurse.run('open', alice, '--json', quiet=True).stdout
    keys = list(json.loads(o, object_pairs_hook=collections.OrderedDict).keys())
    h.check_eq(keys, ['person', 'about_me', 'alerts', 'contacts', 'goals', 'actions',
                      'next_visit', 'recent_notes'], 'open --json: sections in order')
    op = json.loads(o)
    h.check_eq(op['person']['id'], alice, 'open: person')
    h.check_eq(op['person']['name'], 'Alice Alerts', 'open: person name')
    h.check_eq((op['about_me']['what_matters'], op['about_me']['communication']),
               ('My dog Rex and my garden', 'I am deaf in my left ear'), 'open: About Me')
    h.check_eq(ids(op['alerts']), {al1, al2}, 'open: only active alerts')
    h.check_eq(ids(op['contacts']), {jo}, 'open: contacts')
    h.check(g_active in ids(op['goals']), 'open: the active goal', op['goals'])
    h.check(g_dropped not in ids(op['goals']), 'open: not the cancelled goal', op['goals'])
    h.check_eq(ids(op['actions']), {act}, 'open: actions')
    h.check(isinstance(op['next_visit'], dict), 'open: next_visit', op)
    h.check_eq(op['next_visit']['id'], v_near, 'open: the nearest planned visit is next')
    h.check_eq([n['id'] for n in op['recent_notes']][:2], [n_new, n_old],
               'open: recent notes, newest first')
    op = nurse.open(bob)
    h.check_eq((op['about_me'], op['next_visit'], op['alerts']), (None, None, []),
               'open: a person with none of those')
    nurse.open(h.uuid7(), expect=h.EXIT_NOTFOUND)
    nurse.open('alice', expect=h.EXIT_USAGE)
    del v_past, v_far

    # ---- entered-in-error, consent withdraw ----
    obs = nurse.new('observe', alice, 'weight', '610', '--unit', 'kg')
    nurse.run('entered-in-error', 'note', n_old, '--reason', 'written about the wrong person')
    nurse.run('entered-in-error', 'observation', obs, '--reason', 'typo: 61.0 kg')
    n = nurse.row(alice, 'notes', n_old)
    h.check_eq((n['status'], n['error_reason'], n['text']),
               ('entered-in-error', 'written about the wrong person', 'Older note'),
               'note entered in error keeps its text')
    o = nurse.row(alice, 'observations', obs)
    h.check_eq((o['status'], o['value']), ('entered-in-error', '610'), 'observation in error')
    h.check(n_old not in [x['id'] for x in nurse.open(alice)['recent_notes']],
            'open: a note entered in error is not a recent note')
    cons = nurse.new('consent', 'record', alice, '--sector', 'health', '--decision', 'permit',
                     '--basis', 'implied')
    h.check_eq(nurse.row(alice, 'consents', cons)['status'], 'active', 'consent recorded active')
    nurse.run('consent', 'withdraw', cons)
    c = nurse.row(alice, 'consents', cons)
    h.check_eq(c['status'], 'inactive', 'consent withdraw')
    h.check(c['withdrawn_at'], 'withdrawn_at is set', c)
    nurse.sync()
    coord.sync()
    c = coord.row(alice, 'consents', cons)
    h.check_eq(c['status'], 'inactive', 'the withdrawal reaches the coordinator')
    n = coord.row(alice, 'notes', n_old)
    h.check_eq(n['status'], 'entered-in-error', 'entered-in-error reaches the coordinator')
    h.check_eq(coord.row(alice, 'alerts', al3)['status'], 'inactive',
               'the deactivation reaches the coordinator')

    # ---- refused: every command with a bad argument (2) or an unknown id (3) ----
    pending = nurse.status()['pending']
    unknown = h.uuid7()
    bad = [
        ('today', '--date', '2026-13-01'),
        ('today', '--date', 'next-week'),  # tomorrow is a day (issue 10 §4)
        ('visit', 'add', alice, '--at', 'tomorrow'),
        ('visit', 'add', alice, '--at', today + 'T10:00', '--mode', 'boat'),
        ('visit', 'add', alice),
        ('visit', 'start', v_near, '--at', '10 o\'clock'),
        ('visit', 'start', 'not-an-id'),
        ('visit', 'complete', v_near, '--at', today + 'T25:00'),
        ('visit', 'complete', v_near, '--next', 'soon'),
        ('visit', 'miss', v_near, '--reason', 'asleep'),
        ('visit', 'miss', v_near),
        ('note', 'add', alice, 'x', '--category', 'gossip'),
        ('note', 'add', alice),
        ('note', 'add', alice, 'x', '--at', 'yesterday'),
        ('observe', alice, 'vibes', '3'),
        ('observe', alice, 'pulse'),
        ('progress', g_active, 'Better', '--rating', '11'),
        ('progress', g_active, 'Better', '--status', 'great'),
        ('goal', 'add', alice, 'x', '--importance', '11'),
        ('goal', 'add', alice, 'x', '--target-date', '2027-02-30'),
        ('goal', 'add', alice),
        ('goal', 'status', g_active, '--lifecycle', 'finished'),
        ('goal', 'status', g_active, '--achievement', 'great'),
        ('action', 'add', g_active, 'x'),
        ('action', 'add', g_active, 'x', '--who', 'me', '--who-kind', 'robot'),
        ('action', 'add', g_active, 'x', '--who', 'me', '--confidence', '12'),
        ('action', 'status', act, 'done'),
        ('action', 'status', act),
        ('consent', 'record', alice, '--sector', 'everyone', '--decision', 'permit'),
        ('consent', 'record', alice, '--sector', 'all'),
        ('consent', 'record', alice, '--sector', 'all', '--decision', 'maybe'),
        ('consent', 'withdraw', 'not-an-id'),
        ('contact', 'add', alice, '--phone', '1'),
        ('contact', 'add', alice, '--name', 'X', '--code', 'BFF'),
        ('alert', 'raise', alice, 'x', '--category', 'dragons'),
        ('alert', 'raise', alice, 'x'),
        ('alert', 'raise', alice, 'x', '--category', 'animal', '--audience', 'everyone'),
        ('alert', 'deactivate', 'not-an-id'),
        ('review', 'add', alice, 'x', '--outcome', 'maybe'),
        ('review', 'add', alice, 'x'),
        ('review', 'add', alice, 'x', '--outcome', 'continue', '--next', '2027-02-30'),
        ('about-me', alice, 'favourite_colour', 'blue'),
        ('about-me', alice, 'what_matters'),
        ('register',),
        ('register', '--name', 'Z', '--dob', '1950-02-30'),
        ('entered-in-error', 'note', n_new),
        ('entered-in-error', 'person', alice, '--reason', 'x'),
        ('entered-in-error', 'banana', n_new, '--reason', 'x'),
        ('export', alice),
        ('export', 'alice', '--fhir'),
        ('edit', 'note', n_new, 'text', 'Rewritten'),
        ('edit', 'observation', obs, 'value', '61.0'),
        ('edit', 'consent', cons, 'decision', 'deny'),
    ]
    for args in bad:
        nurse.run(*args, expect=h.EXIT_USAGE)
    missing = [
        ('open', unknown),
        ('visit', 'add', unknown, '--at', today + 'T10:00'),
        ('visit', 'start', unknown),
        ('visit', 'complete', unknown),
        ('visit', 'miss', unknown, '--reason', 'no-answer'),
        ('note', 'add', unknown, 'x'),
        ('note', 'add', alice, 'x', '--visit', unknown),
        ('observe', unknown, 'pulse', '70'),
        ('observe', alice, 'pulse', '70', '--visit', unknown),
        ('progress', unknown, 'Better'),
        ('goal', 'add', unknown, 'x'),
        ('goal', 'add', alice, 'x', '--plan', unknown),
        ('goal', 'add', alice, 'x', '--parent', unknown),
        ('goal', 'status', unknown, '--lifecycle', 'active'),
        ('action', 'add', unknown, 'x', '--who', 'me'),
        ('action', 'status', unknown, 'completed'),
        ('consent', 'record', unknown, '--sector', 'all', '--decision', 'permit'),
        ('consent', 'withdraw', unknown),
        ('contact', 'add', unknown, '--name', 'X'),
        ('alert', 'raise', unknown, 'x', '--category', 'animal'),
        ('alert', 'deactivate', unknown),
        ('review', 'add', unknown, 'x', '--outcome', 'continue'),
        ('review', 'add', alice, 'x', '--outcome', 'continue', '--plan', unknown),
        ('about-me', unknown, 'what_matters', 'x'),
        ('entered-in-error', 'note', unknown, '--reason', 'x'),
        ('export', unknown, '--fhir'),
        ('show', unknown),
    ]
    for args in missing:
        nurse.run(*args, expect=h.EXIT_NOTFOUND)
    h.check_eq(nurse.status()['pending'], pending, 'refused commands queue nothing')
    h.check_eq(nurse.row(alice, 'notes', n_new)['text'], 'Newer note', 'the note is unchanged')

    # ---- a forged push cannot rewrite an append-only field, nor a server field ----
    before = d.field('note', n_new, 'text')
    h.check_eq(before['value'], 'Newer note', 'server note text')
    st, doc = d.push(nurse.token, [h.make_change('note', n_new, alice, 'text', 'Forged text',
                                                 base=before)])
    h.check_eq(st, 200, 'forged push to an append-only field is answered')
    h.check_eq(doc['outcomes'][0]['outcome'], 'lost', 'forged push outcome')
    h.check_eq(d.field('note', n_new, 'text')['value'], 'Newer note', 'server text unchanged')
    got = [c for c in coord.conflicts() if c['row_id'] == n_new]
    h.check_eq([(c['kind'], c['field'], c['loser_value']) for c in got],
               [('append_only', 'text', 'Forged text')], 'the forged write is logged')
    counts = d.counts()
    st, doc = d.push(nurse.token, [h.make_change('person', alice, alice, 'status', 'closed')])
    h.check_eq(st, 403, 'a device may not write person.status')
    h.check_eq(doc['error']['code'], 'forbidden', 'error code')
    h.check_eq(d.counts(), counts, 'nothing written by the refused push')
    nurse.sync()
    coord.sync()
    for c in (nurse, coord):
        h.check_eq(c.row(alice, 'notes', n_new)['text'], 'Newer note',
                   c.name + ' keeps the original text')

    # ---- help (last: it needs no data) ----
    out = nurse.run('help').stdout
    for cmd in COMMANDS:
        h.check(any(line.split()[:1] == [cmd] for line in out.splitlines()),
                '`caresync help` lists %s' % cmd, out)
    failed = []
    for words in [(c,) for c in COMMANDS] + SUBCOMMANDS:
        p = nurse.run(*(list(words) + ['--help']), expect=None, quiet=True)
        if (p.returncode != 0 or 'usage' not in p.stdout.lower() or
                ' '.join(words) not in p.stdout):
            failed.append((' '.join(words), p.returncode, p.stdout[:200], p.stderr.strip()))
    h.check_eq(failed, [], 'every `CMD --help` exits 0 and prints its usage')
    nurse.run('help', 'today', quiet=True)
    nurse.run('frobnicate', expect=h.EXIT_USAGE)
    nurse.run('help', 'frobnicate', expect=h.EXIT_USAGE)
    nurse.run('visit', 'teleport', h.uuid7(), expect=h.EXIT_USAGE)
    nurse.run('visit', expect=h.EXIT_USAGE)


if __name__ == '__main__':
    h.main(test)
