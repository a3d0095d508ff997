#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_access_roles.py - what each role's device holds (docs/internals/access.md, "Who sees
# what"). One person is on the caseloads of a nurse, a social worker, a link worker, a
# volunteer and a personal assistant (and a coordinator sees everyone). The nurse records one
# of everything, each with a unique marker in its text or value. After everyone syncs, every
# forbidden item is absent from the raw bytes of the role's replica files (replica.db, -wal,
# -shm: every file in the home) and from `show --json`, and every allowed item is there.
# This is checked twice per role: on a device that already held the person and pulled the
# records as they changed, and on a device enrolled afterwards, which receives the person's
# projected state whole. Then visibility flips: About Me becomes shareable with VCSE and the
# nurse hands an action to the volunteer; the volunteer's next sync brings them (and the goal
# the action serves); flipped back, the next sync removes them from the volunteer's files.
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

# Everything the nurse records, by key. The value of each is a unique marker (see test()).
ITEMS = ['dob', 'email', 'gender', 'pref', 'addr', 'clinobs', 'ons4', 'visitnote', 'clinnote',
         'safenote', 'aboutme', 'econ', 'nok', 'goalA', 'goalB', 'actvol', 'actnurseA',
         'actnurseB', 'visitnurse', 'visitvol', 'alertall', 'alertpro', 'consent', 'plan',
         'review', 'progress']

# What each role may hold, from the table in docs/internals/access.md.
VCSE_PERSON = {'pref', 'addr'}                 # identity and contact, minus DOB/gender/email
VISIBLE = {
    'nurse': set(ITEMS),
    'social': set(ITEMS),                      # social workers: everything in the table
    'link': set(ITEMS) - {'clinobs', 'clinnote', 'safenote'},
    'coord': set(ITEMS) - {'clinobs', 'clinnote'},
    # The volunteer: their action and the goal it serves, their visit, the emergency contact,
    # the alert for all; never the goal served only by the nurse's action.
    'vol': VCSE_PERSON | {'econ', 'goalA', 'actvol', 'visitvol', 'alertall'},
    # The personal assistant has no action and no visit of their own.
    'pa': VCSE_PERSON | {'econ', 'alertall'},
}
ROLES = [('nurse', 'nurse', 'nina'), ('social', 'social_worker', 'sol'),
         ('link', 'link_worker', 'lena'), ('vol', 'volunteer', 'vic'),
         ('pa', 'personal_assistant', 'pat'), ('coord', 'coordinator', 'cora')]


def replica_files(client):
    """{file name: bytes} of every file of the home: replica.db, its -wal and -shm when they
    exist, and anything else there (token, CA)."""
    out = {os.path.relpath(path, client.home): data
           for path, data in client.replica_bytes().items()}
    h.check('replica.db' in out, '%s: no replica.db in the home' % client.name, sorted(out))
    return out


def hits(client, markers):
    """Which of @markers (a dict key -> marker) occur in @client's files: {key: [files]}."""
    files = replica_files(client)
    found = {}
    for key, m in markers.items():
        where = [f for f, data in files.items() if m.encode() in data]
        if where:
            found[key] = where
    return found


def show_text(client, pid):
    p = client.run('show', pid, '--json', quiet=True)
    return p.stdout


# Row ids of the items, by '<item>#id' (filled by test()).
IDS = {}

# Failed checks, collected so that one failure does not hide the others; test() fails at the
# end when there are any.
FAILURES = []


def soft(cond, msg, *details):
    if not cond:
        h.log('FAILED: ' + msg)
        for d in details:
            print('  detail: ' + h.clip(repr(d), 3000))
        FAILURES.append(msg)


def soft_eq(got, want, msg):
    soft(got == want, '%s: got %s, want %s' % (msg, h.clip(repr(got), 1000), repr(want)))


def check_role(client, role_key, pid, markers, when):
    """@client holds exactly the items VISIBLE[@role_key] allows (files and show --json)."""
    allowed = VISIBLE[role_key]
    forbidden = {k: m for k, m in markers.items() if k not in allowed}
    forbidden.update({k: i for k, i in IDS.items() if k.split('#')[0] not in allowed})
    wanted = {k: m for k, m in markers.items() if k in allowed}
    leaked = hits(client, forbidden)
    soft(not leaked, '%s (%s, %s): forbidden items in the replica files: %s' %
         (client.name, client.role, when, leaked))
    text = show_text(client, pid)
    leaked = sorted(k for k, m in forbidden.items() if m in text)
    soft(not leaked, '%s (%s, %s): forbidden items in show --json: %s' %
         (client.name, client.role, when, leaked))
    present = hits(client, wanted)
    missing = sorted(set(wanted) - set(present))
    # PRODUCT BUG (known, left failing): consent records never reach a professional's device
    # other than the writer's: daemon/store_sync.c view_field() returns early for every consent
    # field of a non-coordinator (never adding the field), and the "whole visible state" it
    # sends instead is send_person(v, person, UINT64_MAX), whose bound is bound as
    # (int64_t)UINT64_MAX = -1, so "seq <= -1" sends nothing. Shows up here as 'consent'
    # missing for social, link and the late nurse.
    soft(not missing, '%s (%s, %s): allowed items missing from the replica: %s' %
         (client.name, client.role, when, missing))
    h.log('%s (%s, %s): holds %d of %d allowed items, %d of %d forbidden' %
          (client.name, client.role, when, len(present), len(wanted),
           len(hits(client, forbidden)), len(forbidden)))


def test(w):
    d = w.daemon
    tag = '%08x' % random.getrandbits(32)

    def mk(kind):
        # TAG.kind. : no marker is a substring of another.
        return '%s.%s.' % (tag, kind)

    markers = {k: mk(k) for k in ITEMS}
    # A birth date no other value of the test has (dates elsewhere are around today).
    markers['dob'] = '1931-05-%02d' % random.randint(10, 28)
    markers['email'] = 'e%s@example.org' % tag
    name = 'Rosa Access'
    pid = d.add_person(name, phone='01632 960123', dob=markers['dob'], address=markers['addr'])

    clients = {}
    for key, role, user in ROLES:
        clients[key] = w.client(key, role, user=user)
        if role != 'coordinator':
            d.assign(pid, user)
    nurse, vol = clients['nurse'], clients['vol']
    # Everyone holds the person before the records exist: they arrive as changes.
    for c in clients.values():
        c.sync()
        h.check(pid in [p['id'] for p in c.caseload()], c.name + ' holds the person')

    # ---- the nurse records one of everything ----
    nurse.edit('person', pid, 'preferred_name', markers['pref'])
    nurse.edit('person', pid, 'email', markers['email'])
    nurse.edit('person', pid, 'gender', markers['gender'])
    rid = {}     # item -> the id of the row that carries it
    rid['clinobs'] = nurse.new('observe', pid, 'blood-pressure', markers['clinobs'], '--unit',
                               'mmHg')
    rid['ons4'] = nurse.new('observe', pid, 'ons4', markers['ons4'])
    rid['visitnote'] = nurse.new('note', 'add', pid, markers['visitnote'], '--category', 'visit')
    rid['clinnote'] = nurse.new('note', 'add', pid, markers['clinnote'], '--category',
                                'clinical')
    rid['safenote'] = nurse.new('note', 'add', pid, markers['safenote'], '--category',
                                'safeguarding-concern')
    nurse.run('about-me', pid, 'what_matters', markers['aboutme'])
    nurse.run('about-me', pid, 'shareable_with_vcse', '0')
    rid['econ'] = nurse.new('contact', 'add', pid, '--name', markers['econ'], '--code', 'ECON',
                            '--emergency')
    rid['nok'] = nurse.new('contact', 'add', pid, '--name', markers['nok'], '--code', 'NOK',
                           '--next-of-kin')
    goal_a = rid['goalA'] = nurse.new('goal', 'add', pid, markers['goalA'])
    act_vol = rid['actvol'] = nurse.new('action', 'add', goal_a, markers['actvol'], '--who',
                                        'vic', '--who-kind', 'volunteer')
    rid['actnurseA'] = nurse.new('action', 'add', goal_a, markers['actnurseA'], '--who', 'nina',
                                 '--who-kind', 'worker')
    goal_b = rid['goalB'] = nurse.new('goal', 'add', pid, markers['goalB'])
    act_b = rid['actnurseB'] = nurse.new('action', 'add', goal_b, markers['actnurseB'], '--who',
                                         'nina', '--who-kind', 'worker')
    at = h.today_local(1) + 'T10:00'
    rid['visitnurse'] = nurse.new('visit', 'add', pid, '--at', at, '--type',
                                  markers['visitnurse'])
    visit_vol = rid['visitvol'] = nurse.new('visit', 'add', pid, '--at', at, '--type',
                                            markers['visitvol'], '--for', 'vic')
    rid['alertall'] = nurse.new('alert', 'raise', pid, markers['alertall'], '--category',
                                'animal')
    rid['alertpro'] = nurse.new('alert', 'raise', pid, markers['alertpro'], '--category',
                                'clinical', '--audience', 'professionals')
    rid['consent'] = nurse.new('consent', 'record', pid, '--sector', 'all', '--decision',
                               'permit', '--basis', 'explicit', '--notes', markers['consent'])
    plan = rid['plan'] = nurse.row(pid, 'goals', goal_a)['care_plan_id']
    h.check_eq(nurse.row(pid, 'goals', goal_b)['care_plan_id'], plan, 'both goals on one plan')
    nurse.edit('care_plan', plan, 'summary', markers['plan'])
    rid['review'] = nurse.new('review', 'add', pid, markers['review'], '--outcome', 'continue')
    rid['progress'] = nurse.new('progress', goal_a, markers['progress'], '--rating', '5')
    # A forbidden row must not reach the device at all: not even its id (field versions,
    # tombstones). About Me's id is the person's, and the plan's id is the goals'
    # care_plan_id (a reference the volunteer's goal carries), so they are left out.
    IDS.update({k + '#id': v for k, v in rid.items() if k != 'plan'})
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'the nurse pushed everything')
    # The server has every item (the store is not projected).
    if d.pg:  # no file: every value the change log holds
        store = (d.scalar("SELECT string_agg(value, ' ') FROM change_log") or '').encode()
    else:
        store = open(d.store_path, 'rb').read() + (open(d.store_path + '-wal', 'rb').read()
                                                   if os.path.exists(d.store_path + '-wal')
                                                   else b'')
    h.check(all(m.encode() in store for m in markers.values()), 'the server holds every item',
            [k for k, m in markers.items() if m.encode() not in store])

    # ---- each role, incrementally (held the person already) and whole (enrolled now) ----
    late = {}
    for key, role, user in ROLES:
        late[key] = w.client(key + '-late', role, user=user)
    for key, _, _ in ROLES:
        clients[key].sync()
        late[key].sync()
    for key, _, _ in ROLES:
        check_role(clients[key], key, pid, markers, 'pulled as changes')
        check_role(late[key], key, pid, markers, 'enrolled later')

    # A few positive checks through the CLI's view as well.
    for c in (vol, late['vol']):
        p = c.show(pid)
        soft_eq((p['name'], p.get('preferred_name'), p['address'], p['phone']),
                (name, markers['pref'], markers['addr'], '01632 960123'),
                c.name + ': identity and contact')
        soft(not p.get('birth_date'), c.name + ': no date of birth', p)
        soft_eq([g['id'] for g in p['goals']], [goal_a], c.name + ': the goal they serve')
        soft_eq([a['id'] for a in p['actions']], [act_vol], c.name + ': their own action')
        soft_eq([v['id'] for v in p['visits']], [visit_vol], c.name + ': their own visit')
        soft(not p.get('about_me'), c.name + ': no About Me', p.get('about_me'))
    for c in (clients['pa'], late['pa']):
        p = c.show(pid)
        soft_eq((p['goals'], p['actions'], p['visits'], p['notes'], p['observations']),
                ([], [], [], [], []), c.name + ': no plan, visits, notes or observations')

    # ---- flip: About Me shareable, the goal-B action handed to the volunteer ----
    nurse.run('about-me', pid, 'shareable_with_vcse', '1')
    nurse.edit('plan_action', act_b, 'who', 'vic')
    nurse.sync()
    vol.sync()
    clients['pa'].sync()
    flipped = {k: markers[k] for k in ('aboutme', 'goalB', 'actnurseB')}
    soft_eq(sorted(hits(vol, flipped)), sorted(flipped),
            'the volunteer now holds About Me, the handed-over action and its goal')
    p = vol.show(pid)
    soft_eq((p.get('about_me') or {}).get('what_matters'), markers['aboutme'],
            'volunteer: About Me once shareable')
    soft_eq(sorted(a['id'] for a in p['actions']), sorted([act_vol, act_b]),
            'volunteer: both their actions')
    soft_eq(sorted(g['id'] for g in p['goals']), sorted([goal_a, goal_b]),
            'volunteer: both goals their actions serve')
    # The PA sees the About Me too (same rule), but not the volunteer's action.
    pa = clients['pa']
    soft(hits(pa, {'aboutme': markers['aboutme']}), 'PA holds the shareable About Me')
    soft(not hits(pa, {k: markers[k] for k in ('goalB', 'actnurseB')}),
         'PA: not the volunteer\'s action or its goal')
    # Still nothing else forbidden on the volunteer's device.
    rest = {k: m for k, m in markers.items() if k not in VISIBLE['vol'] and k not in flipped}
    soft(not hits(vol, rest), 'volunteer: nothing else forbidden after the flip',
         hits(vol, rest))

    # ---- flip back: gone from the volunteer's and the PA's files ----
    nurse.run('about-me', pid, 'shareable_with_vcse', '0')
    nurse.edit('plan_action', act_b, 'who', 'nina')
    nurse.sync()
    vol.sync()
    pa.sync()
    p = vol.show(pid)
    soft(not p.get('about_me'), 'volunteer: About Me gone from show', p.get('about_me'))
    soft_eq([a['id'] for a in p['actions']], [act_vol], 'volunteer: the action went back')
    soft_eq([g['id'] for g in p['goals']], [goal_a], 'volunteer: its goal went with it')
    soft(not pa.show(pid).get('about_me'), 'PA: About Me gone from show')
    residue = hits(vol, flipped)
    soft(not residue, 'RESIDUE: values no longer visible still in the volunteer\'s replica '
         'files after the drop (files listed): %s' % residue)
    residue = hits(pa, {'aboutme': markers['aboutme']})
    soft(not residue, 'RESIDUE: About Me still in the PA\'s replica files: %s' % residue)
    check_role(vol, 'vol', pid, markers, 'after the flip back')
    check_role(pa, 'pa', pid, markers, 'after the flip back')
    # The nurse still has everything.
    check_role(nurse, 'nurse', pid, markers, 'at the end')
    h.check(not FAILURES, '%d checks failed:\n  %s' % (len(FAILURES), '\n  '.join(FAILURES)))

if __name__ == '__main__':
    h.main(test)
