#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_console_pages.py - a coordinator's work in the web console, in a real browser (headless
# Chromium) on the real daemon with real field devices: a conflict two nurses made offline is
# shown with the person's name and both values, restored in the browser with a reason, and both
# devices converge on the restored value at their next sync; two more are resolved in one go;
# a person found by name is assigned to a nurse on their page and her device receives them; a
# referral is accepted; a device is revoked after a confirmation and wipes at its next sync.
# Screenshots of each page go to meson-logs/console-screens/.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_browser as cb
import harness as h


def open_view(drv, d, hash_, ready, what):
    drv.get(d.url + '/console/' + hash_)
    cb.wait(drv, ready, what)


def choose(drv, select_el, value):
    from selenium.webdriver.support.ui import Select
    Select(select_el).select_by_value(value)


def test(w):
    cb.require_browser()
    d = w.daemon
    cora = cb.Staff(d, 'cora', 'coordinator')
    quinn = d.add_person('Quinn Quarrier', phone='0131 222 0000')
    # Both nurses change Pat's phone, preferred name and address offline: three conflicts.
    pat, nina, ben = cb.two_nurses(w, 'Pat Pagewood', [
        ('phone', '0131 111 1111', '0131 111 2222'),
        ('preferred_name', 'Pat', 'Patty'),
        ('address', '1 Nina Road', '2 Ben Street')])

    # Two notes on Pat: a coordinator reads the visit note, never the clinical one.
    nina.add('note', pat, {'category': 'visit', 'text': 'Pat was cheerful today'})
    nina.add('note', pat, {'category': 'clinical', 'text': 'Leg ulcer dressing changed'})
    nina.sync()

    # A person met in the field: nina's device creates them, the server marks them referred.
    rae = h.uuid7()
    ch = lambda f, v: {'change_id': h.uuid7(), 'table': 'person', 'row_id': rae,
                       'person_id': rae, 'field': f, 'value': v,
                       'hlc': h.hlc_text(h.hlc_now(500)), 'base_hlc': None, 'base_device': None}
    st, _, _, _ = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False,
                                                  'changes': [ch('name', 'Rae Referwell')]},
                            token=nina.token)
    h.check_eq(st, 200, 'a referral pushed')
    h.check_eq(d.field('person', rae, 'status')['value'], 'referred', 'Rae is referred')

    drv = cb.browser(d)
    try:
        cb.sign_in(drv, d, cora)
        # ---- the conflict inbox ----
        cb.wait(drv, lambda dr: len(cb.css(dr, 'article.conflict')) == 3, 'three conflicts')
        page = drv.find_element('id', 'main').text
        for want in ('Pat Pagewood', '0131 111 1111', '0131 111 2222', 'nina', 'ben'):
            h.check(want in page, 'the inbox shows %r' % want, page[:2000])
        cb.screenshot(drv, 'conflicts')
        st, _, doc = cb.request(d, 'GET', '/console/api/conflicts',
                                cookie=cb.session_cookie(drv))
        phone = [c for c in doc['conflicts'] if c['field'] == 'phone'][0]
        loser = phone['loser_value']
        h.check(loser in ('0131 111 1111', '0131 111 2222') and loser != phone['winner_value'],
                'the phone conflict has a losing value', phone)

        # Restore the losing phone number with a reason, in the browser.
        card = [a for a in cb.css(drv, 'article.conflict')
                if a.find_element('css selector', 'form.resolve').get_attribute('data-conflict')
                == str(phone['id'])][0]
        card.find_element('css selector', 'input[value=restore]').click()
        card.find_element('css selector', 'input[name=reason]').send_keys(
            'Rang Pat: the other number is the new one')
        card.find_element('css selector', 'button[type=submit]').click()
        cb.wait(drv, cb.text_present('#status', 'resolved'), 'the resolution is confirmed')
        cb.wait(drv, lambda dr: len(cb.css(dr, 'article.conflict')) == 2, 'two conflicts left')
        for c in (nina, ben):
            c.sync()
            h.check_eq(c.show(pat)['phone'], loser, c.name + ' converged on the restored value')
        row = d.query("SELECT action, reason FROM conflict_resolutions WHERE conflict_id=?",
                      (phone['id'],))
        h.check_eq([(r['action'], r['reason']) for r in row],
                   [('restore', 'Rang Pat: the other number is the new one')],
                   'the resolution and its reason are kept')

        # Resolve the two others in one go: keep what won.
        for box in cb.css(drv, 'input.pick'):
            box.click()
        cb.css(drv, '#bulk-reason')[0].send_keys('Checked with Pat: both fine as they are')
        cb.css(drv, 'form.bulk button[type=submit]')[0].click()
        cb.wait(drv, cb.text_present('#status', '2 of 2 conflicts resolved'), 'bulk resolve')
        h.check_eq(d.scalar("SELECT count(*) FROM conflicts WHERE status='open'"), 0,
                   'no conflict left open')
        # The history shows under "resolved".
        open_view(drv, d, '#/conflicts?status=resolved',
                  lambda dr: len(cb.css(dr, 'article.conflict')) == 3, 'resolved conflicts')
        cb.screenshot(drv, 'conflicts-resolved')

        # Pat's page: the record as a coordinator may read it (docs/internals/access.md).
        open_view(drv, d, '#/person/' + pat, lambda dr: cb.css(dr, '#record-h'), 'Pat\'s record')
        page = drv.find_element('id', 'main').get_attribute('textContent')
        h.check('Pat was cheerful today' in page, 'the visit note is on Pat\'s page')
        h.check('Leg ulcer' not in page, 'the clinical note is not (coordinators may not read it)')
        st, _, doc = cb.request(d, 'GET', '/console/api/person?id=' + pat,
                                cookie=cb.session_cookie(drv))
        texts = [n.get('text') for n in doc['record']['notes']]
        h.check_eq(texts, ['Pat was cheerful today'], 'the API leaves the clinical note out too')

        # ---- people: search, person page, assign ----
        open_view(drv, d, '#/people', lambda dr: cb.css(dr, '#people'), 'the people list')
        box = cb.css(drv, '#people-q')[0]
        box.send_keys('quarr')
        box.submit()
        cb.wait(drv, lambda dr: len(cb.css(dr, '#people tbody tr')) == 1, 'one person found')
        cb.screenshot(drv, 'people')
        cb.css(drv, '#people tbody a')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, '#assign-user'), 'Quinn\'s page')
        h.check('Quinn Quarrier' in drv.find_element('id', 'main').text, 'the person page')
        choose(drv, cb.css(drv, '#assign-user')[0], 'nina')
        cb.css(drv, '#assign-form button')[0].click()
        cb.wait(drv, cb.text_present('#team', 'nina'), 'nina in Quinn\'s team')
        cb.screenshot(drv, 'person')
        nina.sync()
        h.check(quinn in [p['id'] for p in nina.caseload()], 'nina\'s device received Quinn')

        # ---- accept a referral ----
        open_view(drv, d, '#/person/' + rae, lambda dr: cb.css(dr, '#accept-referral'),
                  'Rae\'s page with the referral')
        cb.css(drv, '#accept-referral')[0].click()
        cb.wait(drv, cb.text_present('#person-status', 'active'), 'the referral accepted')
        h.check_eq(d.field('person', rae, 'status')['value'], 'active', 'Rae is active')

        # ---- devices: revoke ben's tablet after a confirmation ----
        open_view(drv, d, '#/devices', lambda dr: cb.css(dr, '#devices tbody tr'), 'devices')
        cb.screenshot(drv, 'devices')
        row = cb.css(drv, 'tr[data-device="%s"]' % ben.device_id)[0]
        row.find_element('css selector', 'button.revoke').click()
        cb.wait(drv, lambda dr: cb.css(dr, 'dialog[open]'), 'the confirmation')
        cb.screenshot(drv, 'devices-confirm')
        cb.css(drv, '#confirm-cancel')[0].click()
        h.check_eq(d.scalar('SELECT revoked_at FROM devices WHERE id=?', (ben.device_id,)),
                   None, 'cancel revokes nothing')
        row = cb.css(drv, 'tr[data-device="%s"]' % ben.device_id)[0]
        row.find_element('css selector', 'button.revoke').click()
        cb.wait(drv, lambda dr: cb.css(dr, 'dialog[open]'), 'the confirmation again')
        cb.css(drv, '#confirm-ok')[0].click()
        cb.wait(drv, cb.text_present('#status', 'revoked'), 'revoked')
        p = ben.sync(expect=h.EXIT_AUTH)
        h.check('wiped' in p.stderr, 'ben\'s device wiped', p.stderr)
        h.check(not os.path.exists(os.path.join(ben.home, 'replica.db')), 'the replica is gone')
        actor = d.scalar("SELECT actor_user FROM audit WHERE kind='revoke'")
        h.check_eq(actor, 'cora', 'the revocation is audited as cora')

        # ---- staff and audit pages ----
        open_view(drv, d, '#/staff', lambda dr: cb.css(dr, '#staff tbody tr'), 'staff')
        cb.screenshot(drv, 'staff')
        open_view(drv, d, '#/audit?person=' + pat, lambda dr: cb.css(dr, '#audit tbody tr'),
                  'Pat\'s audit trail')
        cb.css(drv, 'main button.secondary')[0].click()
        cb.wait(drv, cb.text_present('#chain', 'intact'), 'the chain verified')
        cb.screenshot(drv, 'audit')
    finally:
        drv.quit()
    nina.sync()


if __name__ == '__main__':
    h.main(test)
