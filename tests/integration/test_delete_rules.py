#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_delete_rules.py - who may delete what (docs/internals/access.md, "Who may delete what").
# People are never deleted from a device (a coordinator closes a record); clinical records
# (notes, observations, progress, reviews, consent) are marked entered-in-error; visits are
# cancelled. The CLI refuses those deletes (exit 6 "not allowed", nothing queued) and the server
# refuses a raw push of `_deleted` = 1 (403 forbidden, nothing written), for every role. The
# deletes that remain allowed (a goal, an action, a contact by a professional; an alert or a
# contact by a coordinator) sync as before, and a coordinator undoes any of them with
# `caresync restore-row TABLE ID --reason TEXT` (online): the row comes back on every device,
# and both the delete and the restore are in `caresyncd audit export --person`.
import json
import os
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


def refused(d, client, changes, what):
    """A raw push of @changes by @client: 403 forbidden, nothing written."""
    before = (d.counts(), [d.field(c['table'], c['row_id'], c['field']) for c in changes])
    status, doc = d.push(client.token, changes)
    err = (doc or {}).get('error') or {}
    soft(status == 403 and err.get('code') == 'forbidden',
         '%s: %s: want 403 forbidden, got %s %s' % (client.name, what, status, doc))
    after = (d.counts(), [d.field(c['table'], c['row_id'], c['field']) for c in changes])
    soft(after == before, '%s: %s: the store changed after a refused push' % (client.name, what),
         before, after)


def cli_refused(client, table, row, what, hint=None):
    """`caresync delete TABLE ROW` exits 6 "not allowed" and queues nothing."""
    pending = client.status()['pending']
    p = client.run('delete', table, row, expect=None)
    soft(p.returncode == h.EXIT_FORBIDDEN, '%s: %s: CLI exit %d, want 6 (%s)' %
         (client.name, what, p.returncode, p.stderr.strip()))
    soft('not allowed' in p.stderr.lower(), '%s: %s: message says "not allowed"' %
         (client.name, what), p.stderr)
    if hint:
        soft(hint in p.stderr, '%s: %s: message says what to do (%r)' % (client.name, what, hint),
             p.stderr)
    soft(client.status()['pending'] == pending, '%s: %s: the refused delete was queued' %
         (client.name, what))


def ids(c, pid, label):
    return sorted(r['id'] for r in c.show(pid).get(label) or [])


def sync_all(clients):
    for c in clients:
        c.sync()
    for c in clients:
        c.sync()


def test(w):
    d = w.daemon
    pid = d.add_person('Doreen Ashworth', phone='01632 960777', dob='1941-03-04',
                       address='12 Mill Lane, Northbrook NB1 2AA')
    nurse = w.client('nurse', 'nurse', user='nina')
    sw = w.client('social', 'social_worker', user='sol')
    lw = w.client('link', 'link_worker', user='lena')
    vol = w.client('vol', 'volunteer', user='vic')
    coord = w.client('coord', 'coordinator', user='cora')
    everyone = (nurse, sw, lw, vol, coord)
    for c in everyone:
        if c is not coord:
            d.assign(pid, c.user)
    nurse.sync()

    goal = nurse.new('goal', 'add', pid, 'Walk to the post office with my frame')
    act = nurse.new('action', 'add', goal, 'Daily exercises', '--who', 'nina', '--who-kind',
                    'worker')
    act_vol = nurse.new('action', 'add', goal, 'Walk with Dee', '--who', 'vic', '--who-kind',
                        'volunteer')
    visit = nurse.new('visit', 'add', pid, '--at', h.today_local(1) + 'T09:00', '--type',
                      'wound care')
    visit_vol = nurse.new('visit', 'add', pid, '--at', h.today_local(1) + 'T14:00', '--type',
                          'befriending', '--for', 'vic')
    note = nurse.new('note', 'add', pid, 'Bruising on both arms; son visited',
                     '--category', 'safeguarding-concern')
    obs = nurse.new('observe', pid, 'blood-pressure', '128/82', '--unit', 'mmHg')
    prog = nurse.new('progress', goal, 'Got to the gate', '--rating', '5')
    review = nurse.new('review', 'add', pid, 'Six-week review', '--outcome', 'continue')
    consent = nurse.new('consent', 'record', pid, '--sector', 'all', '--decision', 'permit')
    alert = nurse.new('alert', 'raise', pid, 'Cat: keep the door shut', '--category', 'animal')
    contact = nurse.new('contact', 'add', pid, '--name', 'Jo Neighbour', '--relationship',
                        'neighbour', '--emergency')
    contact2 = nurse.new('contact', 'add', pid, '--name', 'Sam Son', '--relationship', 'son')
    nurse.run('about-me', pid, 'what_matters', 'My cat Bramble and the allotment club')
    plan = nurse.row(pid, 'goals', goal)['care_plan_id']
    sync_all(everyone)
    note_vol = vol.new('note', 'add', pid, 'Dee was cheerful', '--category', 'visit')
    sync_all(everyone)

    # ---- the CLI refuses, for every role, what nobody may delete ----
    for c in (nurse, sw, lw, vol, coord):
        cli_refused(c, 'person', pid, 'deletes the person', 'coordinator')
    cli_refused(nurse, 'note', note, 'deletes her own safeguarding note', 'entered-in-error')
    cli_refused(nurse, 'observation', obs, 'deletes her own observation', 'entered-in-error')
    cli_refused(nurse, 'goal_progress', prog, 'deletes her progress entry', 'entered-in-error')
    cli_refused(nurse, 'plan_review', review, 'deletes a plan review', 'entered-in-error')
    cli_refused(nurse, 'consent', consent, 'deletes a consent record', 'entered-in-error')
    cli_refused(nurse, 'visit', visit, 'deletes a visit', 'cancelled')
    cli_refused(nurse, 'alert', alert, 'deletes an alert', 'deactivate')
    cli_refused(nurse, 'care_plan', plan, 'deletes the care plan')
    cli_refused(nurse, 'about_me', pid, 'deletes About Me')
    cli_refused(sw, 'note', note, 'deletes a safeguarding note')
    cli_refused(coord, 'note', note, 'deletes a safeguarding note')
    cli_refused(coord, 'visit', visit, 'deletes a visit', 'cancelled')
    cli_refused(coord, 'goal', goal, 'deletes a goal')
    cli_refused(vol, 'note', note_vol, 'deletes her own note', 'entered-in-error')
    cli_refused(vol, 'visit', visit_vol, 'deletes her own visit', 'cancelled')
    cli_refused(vol, 'plan_action', act_vol, 'deletes her own action')

    # ---- the server refuses the same deletes pushed raw, nothing written ----
    for c in (nurse, sw, lw, coord):
        refused(d, c, [h.make_change('person', pid, pid, '_deleted', '1')],
                'raw push deletes the person')
    for table, row in (('note', note), ('observation', obs), ('goal_progress', prog),
                       ('plan_review', review), ('consent', consent), ('visit', visit),
                       ('alert', alert), ('care_plan', plan), ('about_me', pid)):
        refused(d, nurse, [h.make_change(table, row, pid, '_deleted', '1')],
                'raw push deletes a ' + table)
    refused(d, coord, [h.make_change('visit', visit, pid, '_deleted', '1')],
            'raw push deletes a visit')
    refused(d, vol, [h.make_change('note', note_vol, pid, '_deleted', '1')],
            'raw push deletes her own note')
    refused(d, vol, [h.make_change('visit', visit_vol, pid, '_deleted', '1')],
            'raw push deletes her own visit')
    # A restore is not a device's write either: a worker's raw `_deleted` = 0 on a person.
    refused(d, nurse, [h.make_change('person', pid, pid, '_deleted', '0')],
            'raw push writes person._deleted = 0')
    sync_all(everyone)
    for c in everyone:
        soft(c.show(pid)['name'] == 'Doreen Ashworth', c.name + ': Dee is still there')
    soft(ids(coord, pid, 'visits') == sorted([visit, visit_vol]), 'both visits are still there')
    soft(ids(coord, pid, 'notes') == sorted([note, note_vol]), 'both notes are still there')

    # ---- what remains allowed: a professional deletes a goal's action and a contact; a
    # coordinator deletes an alert ----
    nurse.delete('plan_action', act)
    sw.delete('related_person', contact2)
    coord.delete('alert', alert)
    sync_all(everyone)
    for c in (nurse, sw, lw, coord):
        soft(act not in ids(c, pid, 'actions'), c.name + ': the action is deleted')
        soft(contact2 not in ids(c, pid, 'contacts'), c.name + ': the contact is deleted')
        soft(alert not in ids(c, pid, 'alerts'), c.name + ': the alert is deleted')

    # ---- a coordinator restores each; nobody else may ----
    p = nurse.run('restore-row', 'plan_action', act, '--reason', 'deleted by mistake',
                  expect=None)
    soft(p.returncode == h.EXIT_FORBIDDEN and 'not allowed' in p.stderr.lower(),
         'a nurse cannot restore-row (exit 6)', p.returncode, p.stderr)
    p = coord.run('restore-row', 'plan_action', act, expect=None)
    soft(p.returncode == h.EXIT_USAGE, 'restore-row needs --reason (exit 2)', p.returncode,
         p.stderr)
    for table, row in (('plan_action', act), ('related_person', contact2), ('alert', alert)):
        p = coord.run('restore-row', table, row, '--reason', 'deleted by mistake', expect=None)
        soft(p.returncode == 0, 'coordinator restores the ' + table, p.returncode, p.stderr)
        soft(d.field(table, row, '_deleted')['value'] == '0', 'server: the %s is restored' % table)
    p = coord.run('restore-row', 'person', pid, '--reason', 'checking', expect=None)
    soft(p.returncode == h.EXIT_USAGE and 'not deleted' in p.stderr,
         'restoring a row that is not deleted is refused (exit 2)', p.returncode, p.stderr)
    p = coord.run('restore-row', 'goal', h.uuid7(), '--reason', 'checking', expect=None)
    soft(p.returncode == h.EXIT_NOTFOUND, 'restoring an unknown row: exit 3', p.returncode,
         p.stderr)
    sync_all(everyone)
    for c in (nurse, sw, lw, coord):
        soft(act in ids(c, pid, 'actions'), c.name + ': the action is back')
        soft(contact2 in ids(c, pid, 'contacts'), c.name + ': the contact is back')
        soft(alert in ids(c, pid, 'alerts'), c.name + ': the alert is back')
    soft(h.by_id(nurse.show(pid)['actions'], act)['what'] == 'Daily exercises',
         'the restored action has its text')
    soft(contact in ids(nurse, pid, 'contacts'), 'the other contact was never touched')

    # ---- every delete and restore is in the person's audit trail ----
    trail = json.loads(d.admin(['audit', 'export'], '--person', pid).stdout)
    deletes = [(e['actor_user'], ch['table'], ch['row_id'])
               for e in trail if e['kind'] == 'change'
               for ch in (e.get('detail') or {}).get('changes', [])
               if ch.get('field') == '_deleted' and ch.get('after') == '1']
    soft(('nina', 'plan_action', act) in deletes, 'the audit has the nurse\'s delete', deletes)
    soft(('sol', 'related_person', contact2) in deletes, 'the audit has the sw\'s delete',
         deletes)
    soft(('cora', 'alert', alert) in deletes, 'the audit has the coordinator\'s delete', deletes)
    restores = [e for e in trail if e['kind'] == 'restore']
    got = sorted((e['actor_user'], e['detail'].get('table'), e['detail'].get('row_id'),
                  e['detail'].get('reason')) for e in restores)
    want = sorted(('cora', t, r, 'deleted by mistake') for t, r in
                  (('plan_action', act), ('related_person', contact2), ('alert', alert)))
    soft(got == want, 'the audit has each restore, with its reason', got, trail[-5:])
    p = d.admin(['audit', 'verify'])
    soft('intact' in p.stdout, 'the audit chain is intact', p.stdout)

    h.check(not FAILURES, '%d check(s) failed:\n  %s' % (len(FAILURES), '\n  '.join(FAILURES)))


if __name__ == '__main__':
    h.main(test)
