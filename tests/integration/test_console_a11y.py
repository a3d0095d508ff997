#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_console_a11y.py - an accessibility scan (axe-core, WCAG 2.0/2.1 A and AA rules) of every
# page of the web console, with data on it, in a real browser on the real daemon: no serious
# or critical violation; every page fits a tablet's width; the first Tab reaches the skip
# link. axe-core is not in Debian: it is installed from npm into ~/.cache/caresync-tests (never
# the tree) and injected with Selenium; SKIP only when npm cannot fetch it.
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_browser as cb
import harness as h

CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'caresync-tests')
AXE = os.path.join(CACHE, 'node_modules', 'axe-core', 'axe.min.js')


def axe_source():
    if not os.path.exists(AXE):
        os.makedirs(CACHE, exist_ok=True)
        try:
            p = subprocess.run(['npm', 'install', '--prefix', CACHE, '--no-audit', '--no-fund',
                                'axe-core@4'], capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            p = None
            h.log('npm: %s' % e)
        if p is None or p.returncode != 0 or not os.path.exists(AXE):
            print('SKIP: npm could not fetch axe-core into %s%s' %
                  (CACHE, (': ' + p.stderr.strip()[-300:]) if p else ''))
            sys.exit(77)
    with open(AXE) as f:
        return f.read()


def scan(drv, name):
    # Selenium runs the script through the DevTools protocol, which the page's CSP does not
    # govern: the console itself still allows no script but its own.
    drv.execute_script(axe_source.text)
    res = drv.execute_async_script(
        'var done = arguments[arguments.length - 1];'
        'axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a",'
        ' "wcag21aa"]}}).then(function (r) { done(r.violations.map(function (v) {'
        ' return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,'
        ' target: v.nodes[0] && v.nodes[0].target.join(" ")}; })); },'
        ' function (e) { done([{id: "axe-error", impact: "critical", help: String(e)}]); });')
    bad = [v for v in res if v['impact'] in ('serious', 'critical')]
    h.log('%s: %d violations, %d serious or critical %s' % (name, len(res), len(bad), res))
    h.check_eq(bad, [], 'no serious or critical accessibility violation on ' + name)


def test(w):
    cb.require_browser()
    axe_source.text = axe_source()
    d = w.daemon
    cora = cb.Staff(d, 'cora', 'coordinator')
    ada = cb.Staff(d, 'ada', 'admin')
    pat, _, _ = cb.two_nurses(w, 'Pat Axeworth', [('phone', '0131 333 1111', '0131 333 2222')])
    drv = cb.browser(d)
    try:
        drv.get(d.url + '/console/sign-in')
        cb.wait(drv, lambda dr: cb.css(dr, '#user'), 'the sign-in page')
        scan(drv, 'sign-in')
        cb.sign_in(drv, d, cora)
        pages = [('conflicts', '#/conflicts', 'article.conflict'),
                 ('people', '#/people', '#people tbody tr'),
                 ('person', '#/person/' + pat, '#team li'),
                 ('devices', '#/devices', '#devices tbody tr'),
                 ('staff', '#/staff', '#staff tbody tr'),
                 ('audit', '#/audit?person=' + pat, '#audit tbody tr'),
                 ('population', '#/population', '#people-by-status tbody tr'),
                 ('a population list', '#/population/list?what=status&arg=active&days=7',
                  '#population-list tbody tr')]
        for name, hash_, ready in pages:
            drv.get(d.url + '/console/' + hash_)
            cb.wait(drv, lambda dr: cb.css(dr, ready), 'the %s page' % name)
            scan(drv, name)
        # A tablet held upright: every page fits its width (wide tables scroll inside their own
        # box, the page itself never sideways).
        drv.set_window_size(820, 1180)
        for name, hash_, ready in pages:
            drv.get(d.url + '/console/' + hash_)
            cb.wait(drv, lambda dr: cb.css(dr, ready), 'the %s page on a tablet' % name)
            over = drv.execute_script('return document.documentElement.scrollWidth - '
                                      'document.documentElement.clientWidth')
            h.check(over <= 0, '%s fits a tablet\'s width (%d px too wide)' % (name, over))
        cb.screenshot(drv, 'tablet-population')
        drv.set_window_size(1280, 900)
        # The confirmation dialog, open.
        cb.css(drv, 'a[data-view=devices]')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, 'button.revoke'), 'a revoke button')
        cb.css(drv, 'button.revoke')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, 'dialog[open]'), 'the confirmation')
        scan(drv, 'devices with the confirmation open')
        cb.css(drv, '#confirm-cancel')[0].click()
        # An administrator's staff page, with an enrolment code and its QR code shown.
        cb.css(drv, '#sign-out')[0].click()
        cb.wait(drv, lambda dr: dr.current_url.endswith('/console/sign-in'), 'signed out')
        cb.sign_in(drv, d, ada)
        cb.wait(drv, lambda dr: cb.css(dr, 'button.enrol'), 'the staff page')
        cb.css(drv, 'tr[data-user=nina] button.enrol')[0].click()
        cb.wait(drv, lambda dr: cb.css(dr, '#enrol-code svg'), 'an enrolment QR code')
        scan(drv, 'staff (administrator)')
        # The keyboard: the first Tab reaches the skip link, and it moves focus to the content.
        from selenium.webdriver.common.keys import Keys
        drv.get(d.url + '/console/#/staff')
        drv.refresh()  # a new document, not a change of view within it
        cb.wait(drv, lambda dr: cb.css(dr, '#staff tbody tr'), 'the staff page')
        drv.find_element('tag name', 'body').send_keys(Keys.TAB)
        h.check_eq(drv.switch_to.active_element.get_attribute('class'), 'skip',
                   'the first Tab reaches the skip link')
    finally:
        drv.quit()


if __name__ == '__main__':
    h.main(test)
