#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_local_time.py - what a person reads is in the device's time zone, what is stored and sent
# is UTC (issue 10 §4). A nurse's device runs under TZ=Europe/London, a link worker's under UTC;
# visits and notes are booked on both sides of both 2027 daylight-saving changes (28 March and
# 31 October). Times typed without an offset are local to the typing device and stored as UTC
# "...Z"; a time in the spring-forward gap is refused naming --at; an ambiguous autumn time is
# the earlier one (BST). today, open, show and conflicts print local times, never "...Z";
# --json keeps the UTC wire form. --date takes today, tomorrow, yesterday, +N, -N and
# YYYY-MM-DD, and refuses anything else naming --date; "overdue" means still planned on a day
# before today, whatever the --date.
import datetime
import os
import re
import sys
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

LONDON = 'Europe/London'
RAW_ISO = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d')


def local_text(iso, zone):
    """The local 'YYYY-MM-DD HH:MM' of a UTC ISO time @iso in @zone."""
    t = datetime.datetime.fromisoformat(iso.replace('Z', '+00:00'))
    return t.astimezone(zoneinfo.ZoneInfo(zone)).strftime('%Y-%m-%d %H:%M')


def line_before(out, marker):
    """The line of @out just before the first line containing @marker."""
    lines = out.splitlines()
    for i, ln in enumerate(lines):
        if marker in ln and i > 0:
            return lines[i - 1]
    raise AssertionError('%r not in output:\n%s' % (marker, h.clip(out)))


def line_with(out, marker):
    for ln in out.splitlines():
        if marker in ln:
            return ln
    raise AssertionError('%r not in output:\n%s' % (marker, h.clip(out)))


def test(w):
    d = w.daemon
    dee = d.add_person('Dee Summer')
    nurse = w.client('nurse', 'nurse', user='nina')        # in London
    link = w.client('link', 'link_worker', user='liam')    # a device left on UTC
    coord = w.client('coord', 'coordinator', user='cora')  # in London
    nurse.env['TZ'] = LONDON
    coord.env['TZ'] = LONDON
    link.env['TZ'] = 'UTC'
    d.assign(dee, 'nina')
    d.assign(dee, 'liam')
    for c in (nurse, link, coord):
        c.sync()

    # ---- the reproduction: booked on a UTC device, read in London in summer ----
    v_utc = link.new('visit', 'add', dee, '--at', '2027-07-02T09:30', '--type', 'social')
    link.sync()
    nurse.sync()
    v = nurse.row(dee, 'visits', v_utc)
    h.check_eq(v['planned_start'], '2027-07-02T09:30:00Z',
               'a time typed on a UTC device is stored and sent as UTC', v)
    out = nurse.run('today', '--date', '2027-07-02', '--all').stdout
    h.check('10:30' in line_before(out, 'visit ' + v_utc),
            'London reads 09:30 UTC on 2 July as 10:30 (BST)', out)
    out = link.run('today', '--date', '2027-07-02', '--all').stdout
    h.check('09:30' in line_before(out, 'visit ' + v_utc), 'the UTC device reads 09:30', out)

    # ---- typed in London on both sides of both changes: stored as UTC ----
    cases = [
        ('2027-03-27T09:30', '2027-03-27T09:30:00Z', '2027-03-27 09:30'),  # GMT, Saturday
        ('2027-03-29T09:30', '2027-03-29T08:30:00Z', '2027-03-29 09:30'),  # BST, Monday
        ('2027-10-30T09:30', '2027-10-30T08:30:00Z', '2027-10-30 09:30'),  # BST, Saturday
        ('2027-11-01T09:30', '2027-11-01T09:30:00Z', '2027-11-01 09:30'),  # GMT, Monday
        ('2027-10-31T01:30', '2027-10-31T00:30:00Z', '2027-10-31 01:30'),  # twice: the first
        ('2027-07-02T10:45+01:00', '2027-07-02T09:45:00Z', '2027-07-02 10:45'),  # an offset
    ]
    booked = []
    for typed, stored, shown in cases:
        vid = nurse.new('visit', 'add', dee, '--at', typed, '--type', 'wound check')
        v = nurse.row(dee, 'visits', vid)
        h.check_eq(v['planned_start'], stored, 'London typed %s' % typed, v)
        booked.append((vid, stored, shown))
    # The end is converted too (and compared with the start in UTC across the change).
    vid = nurse.new('visit', 'add', dee, '--at', '2027-10-31T00:45', '--end', '2027-10-31T01:15')
    v = nurse.row(dee, 'visits', vid)
    h.check_eq((v['planned_start'], v['planned_end']),
               ('2027-10-30T23:45:00Z', '2027-10-31T00:15:00Z'), 'start and end across the change')

    # The spring-forward gap: 01:30 on 28 March 2027 does not exist in London.
    before = nurse.status()['pending']
    p = nurse.run('visit', 'add', dee, '--at', '2027-03-28T01:30', expect=h.EXIT_USAGE)
    err = p.stderr.strip()
    h.check(len(err.splitlines()) == 1 and '--at' in err and '2027-03-28T01:30' in err,
            'the gap is refused in one line naming --at and the time', err)
    h.check('exist' in err, 'the refusal says the local time does not exist', err)
    h.check_eq(nurse.status()['pending'], before, 'nothing queued for a refused time')
    for args in (('visit', 'start', v_utc, '--at', '2027-03-28T01:00'),
                 ('note', 'add', dee, 'text', '--at', '2027-03-28T01:59'),
                 ('visit', 'complete', v_utc, '--next', '2027-03-28T01:15')):
        p = nurse.run(*args, expect=h.EXIT_USAGE)
        opt = '--next' if '--next' in args else '--at'
        h.check(opt in p.stderr and len(p.stderr.strip().splitlines()) == 1,
                '%s in the gap refused naming %s' % (args[0:2], opt), p.stderr)
    h.check_eq(nurse.status()['pending'], before, 'nothing queued for the refused times')
    # A UTC device has no gap.
    link.new('visit', 'add', dee, '--at', '2027-03-28T01:30', '--for', 'liam')

    # ---- read back in London: show, today, open ----
    out = nurse.run('show', dee).stdout
    for vid, stored, shown in booked:
        h.check(shown in out, 'show prints %s as %s' % (stored, shown), out)
    h.check(not RAW_ISO.search(out.replace(dee, '')), 'show prints no raw ISO time', out)
    nurse.sync()
    link.sync()
    out = link.run('show', dee).stdout
    h.check('2027-03-29 08:30' in out, 'the UTC device shows the BST booking at 08:30', out)

    for vid, stored, shown in booked:
        day, clock = shown.split()
        out = nurse.run('today', '--date', day).stdout
        got = line_before(out, 'visit ' + vid)
        h.check(got.startswith(clock) or (' ' + clock) in got,
                'today --date %s shows %s at %s' % (day, vid, clock), out)
        items = nurse.today('--date', day)
        h.check(vid in [x['id'] for x in items], 'today --date %s --json lists it' % day)
        h.check_eq(h.by_id(items, vid)['planned_start'], stored, '--json stays UTC')

    # Notes happened in the past (the server corrects a future one): 2026's last BST evening.
    n_summer = nurse.new('note', 'add', dee, 'Summer evening call', '--at', '2026-10-24T18:00')
    n = nurse.row(dee, 'notes', n_summer)
    h.check_eq(n['occurred_at'], '2026-10-24T17:00:00Z', 'a note --at is stored as UTC', n)
    out = nurse.run('open', dee).stdout
    h.check(not RAW_ISO.search(out), 'open prints no raw ISO time', out)
    h.check('2026-10-24 18:00' in line_with(out, 'Summer evening call'),
            'open prints the note at its London time', out)
    nxt = out.split('NEXT VISIT', 1)[1].split('RECENT NOTES', 1)[0]
    h.check('2027-03-27 09:30' in nxt, 'open prints the next visit in local time', out)

    # ---- --date forms ----
    for word, off in (('today', 0), ('tomorrow', 1), ('yesterday', -1), ('+3', 3), ('-2', -2),
                      ('+0', 0)):
        h.check_eq(nurse.today('--date', word), nurse.today('--date', h.today_local(off)),
                   '--date %s is %s' % (word, h.today_local(off)))
    for bad in ('2027-02-30', 'next-week', '27/07/2027', '+', '+99999999'):
        p = nurse.run('today', '--date', bad, expect=h.EXIT_USAGE)
        err = p.stderr.strip()
        h.check(len(err.splitlines()) == 1 and '--date' in err and 'tomorrow' in err,
                '--date %s refused naming --date and the forms it takes' % bad, err)

    # ---- overdue is relative to now ----
    v_late = nurse.new('visit', 'add', dee, '--at', h.today_local(-1) + 'T16:00')
    items = nurse.today('--date', '2027-07-01')
    overdue = [x['id'] for x in items if x['overdue']]
    h.check_eq(overdue, [v_late], 'only the visit still planned from yesterday is overdue', items)
    out = nurse.run('today', '--date', '2027-07-01').stdout
    h.check_eq(out.count('OVERDUE'), 1, 'one OVERDUE line', out)
    h.check(not RAW_ISO.search(out), 'today prints no raw ISO time', out)
    items = nurse.today('--date', 'yesterday')
    h.check_eq([x['id'] for x in items if x['overdue']], [v_late], "yesterday's list", items)

    # ---- conflicts as a coordinator reads them, in London ----
    nurse.sync()
    link.sync()
    coord.sync()
    nurse.edit('visit', v_utc, 'planned_start', '2027-07-02T11:00')  # London: 10:00 UTC
    link.edit('visit', v_utc, 'planned_start', '2027-07-02T11:00')   # UTC: 11:00 UTC
    nurse.sync()
    link.sync()
    coord.sync()
    ks = [k for k in coord.conflicts() if k['row_id'] == v_utc]
    h.check_eq(len(ks), 1, 'one conflict on the visit time', coord.conflicts())
    h.check_eq(sorted([ks[0]['winner_value'], ks[0]['loser_value']]),
               ['2027-07-02T10:00:00Z', '2027-07-02T11:00:00Z'],
               '`edit` of a date-time stores UTC; the conflict log holds both', ks[0])
    out = coord.run('conflicts').stdout
    h.check(not RAW_ISO.search(out), 'conflicts prints no raw ISO time', out)
    logged = line_with(out, 'logged')
    h.check(local_text(ks[0]['created_at'], LONDON) in logged,
            'the conflict was logged at %s London time' % ks[0]['created_at'], logged)
    value = line_with(out, 'value ')
    h.check('2027-07-02 11:00 BST' in value and '2027-07-02 12:00 BST' in value,
            'both values of the visit time in London time', out)


if __name__ == '__main__':
    h.main(test)
