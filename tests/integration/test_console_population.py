#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_console_population.py - the population page and the administrators' staff page, in a
# real browser on the real daemon with the demo data set: every figure and chart row on the page
# equals a count made here, independently, from the store file (python sqlite3 over the field
# state); a figure's link opens the list behind it with that many rows, and its CSV has them
# too. An administrator adds a member of staff, changes their role, makes an enrolment code that
# a real device enrols with, and disables them (their device wipes); coordinators' data stays
# closed to the administrator.
import csv
import datetime
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_browser as cb
import harness as h


def pivot(con, tbl, fields):
    rows = {}
    for row_id, person, field, value in con.execute(
            'SELECT row_id, person_id, field, value FROM field_state WHERE tbl=?', (tbl,)):
        r = rows.setdefault(row_id, {'person_id': person})
        if field in fields or field == '_deleted':
            r[field] = value
    return {k: v for k, v in rows.items() if v.get('_deleted') != '1'}


def expected(d, stale_days=7):
    """The page's figures, counted here from the store file (docs/PROTOCOL.md, 'GET population')."""
    con = d.db()
    try:
        today = datetime.datetime.now(datetime.timezone.utc).date()
        people = pivot(con, 'person', {'name', 'status'})
        for p in people.values():
            p['status'] = p.get('status') or 'active'
        live = set(people)
        plans = [p for p in pivot(con, 'care_plan', {'status', 'agreed_on', 'review_due'}).values()
                 if p['person_id'] in live]
        visits = [v for v in pivot(con, 'visit', {'planned_start', 'status',
                                                  'missed_reason'}).values()
                  if v['person_id'] in live and v.get('planned_start')]
        goals = [g for g in pivot(con, 'goal', {'achievement_status'}).values()
                 if g['person_id'] in live]
        e = {}
        by_status = {}
        for p in people.values():
            by_status[p['status']] = by_status.get(p['status'], 0) + 1
        e['people_by_status'] = by_status
        agreed = {p['person_id'] for p in plans
                  if p.get('status') == 'active' and p.get('agreed_on')}
        e['without_agreed_plan'] = sum(1 for k, p in people.items()
                                       if p['status'] == 'active' and k not in agreed)
        active_plans = [p for p in plans if p.get('status') == 'active' and p.get('review_due')
                        and people[p['person_id']]['status'] == 'active']
        t, t30 = today.isoformat(), (today + datetime.timedelta(days=30)).isoformat()
        e['reviews_overdue'] = sum(1 for p in active_plans if p['review_due'] < t)
        e['reviews_due_30_days'] = sum(1 for p in active_plans if t <= p['review_due'] <= t30)
        lo = (today - datetime.timedelta(days=90)).isoformat()
        weeks, reasons = {}, {}
        for v in visits:
            day = v['planned_start'][:10]
            if not (lo < day <= t):
                continue
            dd = datetime.date.fromisoformat(day)
            monday = (dd - datetime.timedelta(days=dd.weekday())).isoformat()
            w = weeks.setdefault(monday, {'completed': 0, 'missed': 0, 'cancelled': 0})
            if v.get('status') in w:
                w[v['status']] += 1
            if v.get('status') == 'missed':
                r = v.get('missed_reason') or 'not given'
                reasons[r] = reasons.get(r, 0) + 1
        e['visits_by_week'] = weeks
        e['missed_reasons'] = reasons
        ach = {}
        for g in goals:
            a = g.get('achievement_status') or 'not recorded'
            ach[a] = ach.get(a, 0) + 1
        e['goals_by_achievement'] = ach
        e['open_conflicts'] = con.execute("SELECT count(*) FROM conflicts c WHERE NOT EXISTS "
                                          "(SELECT 1 FROM conflict_resolutions r WHERE "
                                          "r.conflict_id = c.id)").fetchone()[0]
        since = (datetime.datetime.now(datetime.timezone.utc) -
                 datetime.timedelta(days=stale_days)).strftime('%Y-%m-%dT%H:%M:%S')
        e['devices_not_synced'] = sum(
            1 for (rev, last) in con.execute('SELECT revoked_at, last_sync_at FROM devices')
            if rev is None and (last is None or last[:19] < since))
        return e
    finally:
        con.close()


def table_rows(drv, table_id):
    """{first cell: [other cells]} of a table on the page."""
    out = {}
    for tr in cb.css(drv, '#%s tbody tr' % table_id):
        # textContent: a table folded away in <details> has no rendered text.
        cells = [c.get_attribute('textContent').strip()
                 for c in tr.find_elements('css selector', 'th, td')]
        out[cells[0]] = cells[1:]
    return out


def test(w):
    cb.require_browser()
    d = w.daemon
    d.admin(['demo'], '--profile', 'demo', '--seed', '1')
    iona = cb.Staff(d, 'coord.iona', 'coordinator', add=False)
    ada = cb.Staff(d, 'ada', 'admin')
    amira = w.client('amira', 'nurse', user='nurse.amira')
    amira.sync()
    w.client('ben', 'nurse', user='nurse.ben')  # enrolled, never synced: counts as not synced
    want = expected(d)
    h.log('expected figures: %s' % want)
    h.check(want['without_agreed_plan'] + want['reviews_overdue'] + sum(
        want['people_by_status'].values()) > 0, 'the demo data gives figures to check')

    drv = cb.browser(d)
    try:
        cb.sign_in(drv, d, iona)
        drv.get(d.url + '/console/#/population')
        cb.wait(drv, lambda dr: cb.css(dr, '#people-by-status tbody tr'), 'the population page')
        cb.screenshot(drv, 'population')
        figs = {a.get_attribute('data-figure'): int(a.find_element('css selector', '.big').text)
                for a in cb.css(drv, '#figures a')}
        h.check_eq(figs, {'without_agreed_plan': want['without_agreed_plan'],
                          'reviews_overdue': want['reviews_overdue'],
                          'reviews_due': want['reviews_due_30_days'],
                          'devices_not_synced': want['devices_not_synced']},
                   'the headline figures equal the store\'s counts')
        h.check_eq({k: int(v[0]) for k, v in table_rows(drv, 'people-by-status').items()},
                   want['people_by_status'], 'people by status')
        h.check_eq({k: int(v[0]) for k, v in table_rows(drv, 'missed-reasons').items()},
                   want['missed_reasons'], 'missed reasons')
        h.check_eq({k: int(v[0]) for k, v in table_rows(drv, 'goals-by-achievement').items()},
                   want['goals_by_achievement'], 'goals by achievement')
        weeks = {k: dict(zip(('completed', 'missed', 'cancelled'), map(int, v)))
                 for k, v in table_rows(drv, 'visits-by-week').items()}
        h.check_eq(weeks, want['visits_by_week'], 'visits per week')
        last = list(table_rows(drv, 'open-conflicts').items())[-1]
        h.check_eq(int(last[1][0]), want['open_conflicts'], 'conflicts open now')

        # A figure's link opens its list; the list downloads as CSV with the same rows.
        cb.css(drv, '#figures a[data-figure=reviews_due]')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, '#csv') and '/population/list' in dr.current_url,
                'the list behind the figure')
        n = want['reviews_due_30_days']
        if n:
            cb.wait(drv, lambda dr: len(cb.css(dr, '#population-list tbody tr')) == n,
                    '%d people listed' % n)
        cb.screenshot(drv, 'population-list')
        href = cb.css(drv, '#csv')[0].get_attribute('href')
        path = href[href.index('/console/'):]
        st, hdrs, text = cb.request(d, 'GET', path, cookie=cb.session_cookie(drv))
        h.check_eq(st, 200, 'CSV export')
        h.check(hdrs['content-type'].startswith('text/csv') and
                'attachment' in hdrs.get('content-disposition', ''), 'a CSV attachment', hdrs)
        rows = list(csv.reader(io.StringIO(text)))
        h.check_eq(len(rows), n + 1 if n else 1, 'the CSV has a header and every row', rows[:3])
        if n:
            h.check_eq(rows[0], ['person_id', 'name', 'plan', 'review_due'], 'CSV header')
        # The status list behind a bar.
        status, count = sorted(want['people_by_status'].items())[0]
        st, _, doc = cb.request(d, 'GET', '/console/api/population/list?what=status&arg=' +
                                status, cookie=cb.session_cookie(drv))
        h.check_eq(len(doc['rows']), count, 'the list behind people %s' % status)
        # The demo's own pages, for README's pictures: a person and the conflict inbox.
        if n:
            cb.css(drv, '#population-list tbody a')[0].click()
            cb.wait(drv, lambda dr: cb.css(dr, '#record-h'), 'a person\'s record')
            cb.screenshot(drv, 'person-demo')
        drv.get(d.url + '/console/#/conflicts')
        cb.wait(drv, lambda dr: len(cb.css(dr, 'article.conflict')) == want['open_conflicts'],
                'the demo\'s open conflicts')
        cb.screenshot(drv, 'conflicts-demo')
        cb.css(drv, '#sign-out')[0].click()
        cb.wait(drv, lambda dr: dr.current_url.endswith('/console/sign-in'), 'signed out')

        # ---- an administrator's staff page ----
        cb.sign_in(drv, d, ada)
        cb.wait(drv, lambda dr: cb.css(dr, '#staff-add'), 'the staff page first')
        h.check_eq(len(cb.css(drv, 'a[data-view=conflicts]')), 0,
                   'no conflict log in an administrator\'s menu')
        st, _, doc = cb.request(d, 'GET', '/console/api/conflicts', cookie=cb.session_cookie(drv))
        h.check_eq((st, doc['error']['code']), (403, 'forbidden'), 'conflicts refused to admin')
        cb.css(drv, '#staff-name')[0].send_keys('ot.olu')
        from selenium.webdriver.support.ui import Select
        Select(cb.css(drv, '#staff-role')[0]).select_by_value('volunteer')
        cb.css(drv, '#staff-add button')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, 'tr[data-user="ot.olu"]'), 'ot.olu listed')
        h.check_eq(d.scalar("SELECT role FROM users WHERE name='ot.olu'"), 'volunteer', 'added')
        row = cb.css(drv, 'tr[data-user="ot.olu"]')[0]
        Select(row.find_element('css selector', 'select')).select_by_value(
            'occupational_therapist')
        row.find_element('css selector', 'button.secondary').click()
        cb.wait(drv, cb.text_present('#status', 'is now occupational_therapist'), 'role changed')
        h.check_eq(d.scalar("SELECT role FROM users WHERE name='ot.olu'"),
                   'occupational_therapist', 'the role changed in the store')
        # The staff table is drawn again after the change: find the row and click in one step,
        # retried while the table is being replaced (the old row gone, or not yet back).
        def click_enrol(dr):
            buttons = cb.css(dr, 'tr[data-user="ot.olu"] button.enrol')
            if not buttons:
                return False
            buttons[0].click()
            return True
        cb.wait(drv, click_enrol, 'ot.olu listed again after the role change, and Enrol clicked')
        cb.wait(drv, lambda dr: cb.css(dr, '#enrol-code .code') and cb.css(dr, '#enrol-code svg'),
                'the enrolment code and its QR code')
        cb.screenshot(drv, 'staff-admin')
        code = cb.css(drv, '#enrol-code .code')[0].text.strip()
        olu = h.Client(w, 'olu', 'ot.olu', 'occupational_therapist')
        olu.enrol(code)
        olu.sync()
        row = cb.css(drv, 'tr[data-user="ot.olu"]')[0]
        row.find_element('css selector', 'button.danger').click()
        cb.wait(drv, lambda dr: cb.css(dr, 'dialog[open]'), 'the confirmation')
        cb.css(drv, '#confirm-ok')[0].click()
        cb.wait(drv, cb.text_present('#status', 'is disabled'), 'disabled')
        olu.sync(expect=h.EXIT_AUTH)
        h.check(not os.path.exists(os.path.join(olu.home, 'replica.db')), 'olu\'s device wiped')
        # What staff/disable answers: the devices it revoked, then nothing more a second time.
        vic = w.client('vic', 'volunteer')
        vic.sync()
        vic_dev = d.scalar("SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id"
                           " WHERE u.name = 'vic'")
        cookie = cb.session_cookie(drv)
        st, _, sess = cb.request(d, 'GET', '/console/api/session', cookie=cookie)
        h.check_eq(st, 200, 'the session is read')
        for want in (([vic_dev], False), ([], True)):
            st, _, doc = cb.request(d, 'POST', '/console/api/staff/disable', {'name': 'vic'},
                                    cookie=cookie, csrf=sess['csrf'])
            h.check_eq((st, doc.get('user'), doc.get('devices_revoked'), doc.get('codes_voided'),
                        doc.get('was_disabled')), (200, 'vic') + want[:1] + (0,) + want[1:],
                       'staff/disable answers what it did')
    finally:
        drv.quit()


if __name__ == '__main__':
    h.main(test)
