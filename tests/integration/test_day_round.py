#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_day_round.py - one community nurse's day, done entirely offline (the daemon is stopped):
# today's worklist shows the visits booked for her today (and not tomorrow's, nor a colleague's
# unless --all), she starts a visit, records observations and a note, records goal progress in
# the person's words, adds a goal and an action, updates an existing action, records consent,
# adds a carer, raises an alert, records a plan review, completes the visit booking the next one,
# marks another person's visit missed with a reason and registers a person she met. Then she
# syncs once, and a coordinator's replica holds every one of those values (the clinical
# observations excepted, which a coordinator may not hold: another nurse's replica has them), the
# person she registered is there with status "referred", and nothing was logged as a conflict.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def test(w):
    d = w.daemon
    today, tomorrow, next_week = h.today_local(), h.today_local(1), h.today_local(7)
    pat = d.add_person('Pat Example', phone='0131 496 0001', dob='1941-06-01')
    quinn = d.add_person('Quinn Example', phone='0131 496 0002')
    nurse = w.client('nurse', 'nurse', user='nina')
    link = w.client('link', 'link_worker', user='liam')
    coord = w.client('coord', 'coordinator', user='cora')
    nurse2 = w.client('nurse2', 'nurse', user='nora')
    for pid in (pat, quinn):
        d.assign(pid, 'nina')
    d.assign(pat, 'liam')
    d.assign(pat, 'nora')
    for c in (nurse, link, coord, nurse2):
        c.sync()

    # The week is planned at base: the coordinator books the nurse's visits (two today, one
    # tomorrow) and one for the link worker; the link worker has agreed a goal and an action
    # with Pat and noted the cat.
    v_pat = coord.new('visit', 'add', pat, '--at', today + 'T09:30', '--end', today + 'T10:15',
                      '--type', 'leg ulcer dressing', '--mode', 'home', '--for', 'nina')
    v_quinn = coord.new('visit', 'add', quinn, '--at', today + 'T11:00', '--type', 'wound check',
                        '--for', 'nina')
    v_tomorrow = coord.new('visit', 'add', pat, '--at', tomorrow + 'T09:30', '--for', 'nina')
    v_overdue = coord.new('visit', 'add', quinn, '--at', h.today_local(-1) + 'T16:00',
                          '--type', 'bloods', '--for', 'nina')
    v_liam = coord.new('visit', 'add', pat, '--at', today + 'T14:00', '--type', 'social',
                       '--mode', 'home', '--for', 'liam')
    link.sync()
    g_walk = link.new('goal', 'add', pat, 'Walk to the post office with my frame by June',
                      '--importance', '9')
    a_exercise = link.new('action', 'add', g_walk, 'Daily exercises from the physio sheet',
                          '--who', 'Pat', '--who-kind', 'person', '--confidence', '6')
    link.new('alert', 'raise', pat, 'Cat (Bramble): keep the front door shut', '--category',
             'animal')
    for c in (coord, link, nurse, coord):
        c.sync()
    plan_id = nurse.row(pat, 'goals', g_walk)['care_plan_id']
    h.check(plan_id, 'goal add made (or used) a care plan', nurse.show(pat))

    # ---- the round, with no network ----
    d.stop(expect_rc=0)

    items = nurse.today('--date', today)
    ids = [v['id'] for v in items]
    h.check_eq(ids, [v_overdue, v_pat, v_quinn],
               "nina's worklist for today: yesterday's overdue visit first, then in time order",
               items)
    h.check_eq([v['overdue'] for v in items], [True, False, False], 'overdue flags', items)
    items = items[1:]
    first = items[0]
    h.check_eq(first['person_id'], pat, 'worklist person_id')
    h.check_eq(first['person_name'], 'Pat Example', 'worklist person_name')
    h.check_eq(first['status'], 'planned', 'worklist status')
    h.check_eq(first['visit_type'], 'leg ulcer dressing', 'worklist visit_type')
    h.check_eq(first['mode'], 'home', 'worklist mode')
    h.check_eq(first['assigned_to'], 'nina', 'worklist assigned_to')
    h.check(first['planned_start'].startswith(today + 'T09:30'), 'worklist planned_start', first)
    h.check_eq(first['alerts'], ['Cat (Bramble): keep the front door shut'],
               "Pat's alert shows on the worklist")
    h.check_eq(items[1]['alerts'], [], 'Quinn has no alerts')
    h.check(v_liam not in ids, "a colleague's visit is not on nina's list", ids)
    every = [v['id'] for v in nurse.today('--date', today, '--all')]
    h.check_eq(every, [v_overdue, v_pat, v_quinn, v_liam], "--all adds a colleague's visit")
    h.check_eq(nurse.today(), nurse.today('--date', today), 'today is the default date')
    h.check_eq([v['id'] for v in nurse.today('--date', tomorrow)],
               [v_overdue, v_pat, v_quinn, v_tomorrow],
               "tomorrow's worklist: everything still planned before it, then tomorrow's")

    # Pat's visit.
    nurse.run('visit', 'start', v_pat, '--at', today + 'T09:35')
    v = nurse.row(pat, 'visits', v_pat)
    h.check_eq(v['status'], 'in-progress', 'status after visit start')
    h.check(v['actual_start'] and v['actual_start'].startswith(today + 'T09:35'),
            'actual_start after visit start', v)
    o_bp = nurse.new('observe', pat, 'blood-pressure', '128/82', '--unit', 'mmHg', '--visit',
                     v_pat)
    o_pulse = nurse.new('observe', pat, 'pulse', '72', '--unit', '/min', '--visit', v_pat)
    n_visit = nurse.new('note', 'add', pat, 'Dressing changed; wound edges look healthy.',
                        '--visit', v_pat, '--category', 'visit')
    gp = nurse.new('progress', g_walk, 'I got to the garden gate on Tuesday without a rest',
                   '--rating', '6', '--status', 'improving')
    g_lonely = nurse.new('goal', 'add', pat, 'Feel less lonely in the evenings', '--importance',
                         '8', '--target-date', '2027-01-31')
    a_befriend = nurse.new('action', 'add', g_lonely, 'Befriending phone call', '--who',
                           'Riverside Neighbours', '--who-kind', 'volunteer', '--when',
                           'Wednesday evenings', '--confidence', '7', '--due', next_week)
    nurse.run('action', 'status', a_exercise, 'in-progress', '--confidence', '7')
    c_share = nurse.new('consent', 'record', pat, '--sector', 'all', '--decision', 'permit',
                        '--basis', 'explicit', '--notes', 'Agreed at the home visit')
    rp_jo = nurse.new('contact', 'add', pat, '--name', 'Jo Neighbour', '--relationship',
                      'neighbour', '--code', 'NBOR', '--phone', '0131 496 0123', '--carer',
                      '--emergency')
    al_key = nurse.new('alert', 'raise', pat, 'Key safe by the back door; Jo holds the code',
                       '--category', 'access')
    r_six = nurse.new('review', 'add', pat, 'Six-week review: walking better, evenings lonely',
                      '--outcome', 'revise', '--next', '2027-02-15', '--with-person')
    p = nurse.run('visit', 'complete', v_pat, '--outcome', 'Dressing changed, healing well',
                  '--follow-up', '--at', today + 'T10:10', '--next', next_week + 'T09:30')
    v_next = p.stdout.strip().split()[-1]
    h.check_eq(len(v_next), 36, 'visit complete --next prints the new visit id')

    # Quinn does not answer.
    nurse.run('visit', 'miss', v_quinn, '--reason', 'no-answer', '--note',
              'No answer at 11:05; card left through the door')

    # Someone met at Quinn's door who needs support.
    sam = nurse.new('register', '--name', 'Sam Field', '--dob', '1950-05-05', '--phone',
                    '0131 496 0999', '--preferred-name', 'Sammy')
    n_sam = nurse.new('note', 'add', sam, 'Met at a neighbour\'s door; asked for help with'
                      ' shopping', '--category', 'social-care')

    # Still offline: the worklist and the replica reflect the round.
    h.check_eq([v['id'] for v in nurse.today('--date', today)], [v_overdue],
               'only the overdue visit is left on the worklist')
    h.check_eq([v['id'] for v in nurse.today('--date', next_week)],
               [v_overdue, v_tomorrow, v_next],
               'next week: the visits still planned before it, then the one just booked')
    h.check(sam in [p['id'] for p in nurse.caseload()], 'the registered person is on the device')
    pending = nurse.status()['pending']
    h.check(pending >= 30, 'the round is pending (%d changes)' % pending)
    nurse.sync(expect=h.EXIT_NETWORK)
    h.check_eq(nurse.status()['pending'], pending, 'a failed sync keeps the round')

    # ---- back at base ----
    d.start()
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'outbox empty after sync')
    h.check_eq(d.scalar("SELECT count(*) FROM change_log WHERE outcome != 'applied'"), 0,
               'every change applied',
               d.query("SELECT tbl, field, value, outcome FROM change_log"
                       " WHERE outcome != 'applied'"))
    coord.sync()

    p = coord.show(pat)
    v = h.by_id(p['visits'], v_pat, 'visit')
    h.check_eq(v['status'], 'completed', 'visit status')
    h.check(v['actual_start'].startswith(today + 'T09:35'), 'actual_start', v)
    h.check(v['actual_end'] and v['actual_end'].startswith(today + 'T10:10'), 'actual_end', v)
    h.check_eq(v['outcome'], 'Dressing changed, healing well', 'visit outcome')
    h.check_eq(v['follow_up_needed'], '1', 'follow-up flag')
    v = h.by_id(p['visits'], v_next, 'next visit')
    h.check_eq(v['status'], 'planned', 'next visit status')
    h.check(v['planned_start'].startswith(next_week + 'T09:30'), 'next visit time', v)
    h.check_eq(v['assigned_to'], 'nina', 'the next visit is booked for the nurse')

    # Clinical observations are not a coordinator's to hold (domain model §4.3, D9): they are
    # on the server and on another clinician's replica.
    h.check_eq([o['id'] for o in p['observations']], [],
               "the coordinator's replica holds no clinical observations")
    nurse2.sync()
    obs = nurse2.show(pat)['observations']
    o = h.by_id(obs, o_bp, 'observation')
    h.check_eq((o['kind'], o['value'], o['unit'], o['visit_id']),
               ('blood-pressure', '128/82', 'mmHg', v_pat), 'blood pressure')
    h.check_eq(o['author'], 'nina', 'observation author')
    o = h.by_id(obs, o_pulse, 'observation')
    h.check_eq((o['kind'], o['value'], o['unit']), ('pulse', '72', '/min'), 'pulse')
    h.check_eq(d.field('observation', o_bp, 'value')['value'], '128/82', 'server observation')
    n = h.by_id(p['notes'], n_visit, 'note')
    h.check_eq((n['text'], n['visit_id'], n['category']),
               ('Dressing changed; wound edges look healthy.', v_pat, 'visit'), 'visit note')
    h.check_eq(n['author'], 'nina', 'note author')
    g = h.by_id(p['progress'], gp, 'progress')
    h.check_eq((g['goal_id'], g['in_own_words'], g['rating'], g['achievement_status']),
               (g_walk, 'I got to the garden gate on Tuesday without a rest', '6', 'improving'),
               'goal progress in the person\'s words')
    h.check_eq(h.by_id(p['goals'], g_walk, 'goal')['achievement_status'], 'improving',
               'progress with --status updates the goal')
    g = h.by_id(p['goals'], g_lonely, 'goal')
    h.check_eq((g['description'], g['importance'], g['target_date'], g['care_plan_id']),
               ('Feel less lonely in the evenings', '8', '2027-01-31', plan_id),
               'new goal (on the existing plan)')
    a = h.by_id(p['actions'], a_befriend, 'action')
    h.check_eq((a['goal_id'], a['what'], a['who'], a['who_kind'], a['when_text'],
                a['confidence'], a['due_date']),
               (g_lonely, 'Befriending phone call', 'Riverside Neighbours', 'volunteer',
                'Wednesday evenings', '7', next_week), 'new action')
    a = h.by_id(p['actions'], a_exercise, 'action')
    h.check_eq((a['status'], a['confidence']), ('in-progress', '7'), 'updated action')
    c = h.by_id(p['consents'], c_share, 'consent')
    h.check_eq((c['sector'], c['decision'], c['basis'], c['status'], c['notes']),
               ('all', 'permit', 'explicit', 'active', 'Agreed at the home visit'), 'consent')
    h.check_eq(c['recorded_by'], 'nina', 'consent recorded_by')
    r = h.by_id(p['contacts'], rp_jo, 'contact')
    h.check_eq((r['name'], r['relationship'], r['relationship_code'], r['phone'],
                r['is_unpaid_carer'], r['is_emergency_contact']),
               ('Jo Neighbour', 'neighbour', 'NBOR', '0131 496 0123', '1', '1'), 'carer')
    a = h.by_id(p['alerts'], al_key, 'alert')
    h.check_eq((a['category'], a['status'], a['text']),
               ('access', 'active', 'Key safe by the back door; Jo holds the code'), 'alert')
    h.check_eq(len([x for x in p['alerts'] if x['status'] == 'active']), 2, 'active alerts')
    r = h.by_id(p['reviews'], r_six, 'review')
    h.check_eq((r['outcome'], r['next_review_date'], r['with_person'], r['summary']),
               ('revise', '2027-02-15', '1', 'Six-week review: walking better, evenings lonely'),
               'plan review')
    h.check_eq(h.by_id(p['care_plans'], plan_id, 'care plan')['review_due'], '2027-02-15',
               "the plan's next review date follows the review")

    q = coord.show(quinn)
    v = h.by_id(q['visits'], v_quinn, 'visit')
    h.check_eq((v['status'], v['missed_reason']), ('missed', 'no-answer'), 'missed visit')
    h.check('No answer at 11:05; card left through the door' in
            [n['text'] for n in q['notes']] + [v['outcome']],
            'the reason note is kept with the missed visit', q)

    h.check(sam in [x['id'] for x in coord.caseload()], 'the coordinator sees the new person')
    s = coord.show(sam)
    h.check_eq((s['name'], s['birth_date'], s['phone'], s['preferred_name'], s['status']),
               ('Sam Field', '1950-05-05', '0131 496 0999', 'Sammy', 'referred'),
               'the registered person')
    h.check_eq(h.by_id(s['notes'], n_sam, 'note')['category'], 'social-care', 'their note')
    h.check(sam in [x['id'] for x in coord.json('caseload', '--referred', quiet=True)],
            'caseload --referred lists them')
    h.check_eq(d.field('person', sam, 'status')['value'], 'referred', 'server status')
    nurse.sync()
    h.check_eq(nurse.show(sam)['status'], 'referred', "the nurse's replica learns the status")
    h.check_eq(coord.conflicts(), [], 'an uncontested round logs no conflicts')


if __name__ == '__main__':
    h.main(test)
