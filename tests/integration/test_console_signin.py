#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_console_signin.py - signing in to the web console in a real browser (headless Chromium)
# on the real daemon: a good sign-in (password and TOTP code) opens the console with an
# HttpOnly, Secure, SameSite=Strict cookie and the strict CSP; a wrong password, a wrong code
# and a code used twice are refused with one message; after five failures the account is
# throttled (429, even with the right password); field roles cannot sign in; a change without
# the session's CSRF token, or from another origin, is refused and changes nothing; signing out
# ends the session; a session idle past --console-idle-timeout, or older than
# --console-lifetime however busy, ends; every sign-in, failure and sign-out is audited.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_browser as cb
import harness as h


def audit_kinds(d):
    return [r['kind'] for r in d.query("SELECT kind FROM audit WHERE kind LIKE 'console_%' "
                                        "ORDER BY id")]


def test(w):
    cb.require_browser()
    d = w.daemon
    cora = cb.Staff(d, 'cora', 'coordinator')
    nina = w.client('nina', 'nurse')
    nina.sync()

    # Field roles get no console password, and one who changes role loses the console.
    p = h.run([h.CARESYNCD, 'user', 'passwd', '--data', d.data, 'nina'], expect=2)
    h.check('field role' in p.stderr, 'user passwd refuses a nurse', p.stderr)
    h.run([h.CARESYNCD, 'user', 'passwd', '--data', d.data, 'nobody'], expect=3)
    fay = cb.Staff(d, 'fay', 'coordinator')
    d.admin(['user', 'role'], 'fay', 'nurse')

    drv = cb.browser(d)
    try:
        # ---- wrong password, wrong code: refused, nothing signed in ----
        # (Failures pass the current code without using it up: only a sign-in uses a code.)
        msg = cb.sign_in(drv, d, cora, password='not the password', code=cb.totp(cora.secret),
                         expect_ok=False)
        h.check('password or code is wrong' in msg, 'wrong password refused', msg)
        h.check(cb.session_cookie(drv) is None, 'no cookie after a wrong password')
        cb.screenshot(drv, 'sign-in-refused')
        wrong = '%06d' % ((int(cb.totp(cora.secret)) + 1) % 1000000)
        msg = cb.sign_in(drv, d, cora, code=wrong, expect_ok=False)
        h.check('password or code is wrong' in msg, 'wrong code refused', msg)

        # ---- a good sign-in ----
        cb.sign_in(drv, d, cora)
        cb.screenshot(drv, 'conflicts-empty')
        c = drv.get_cookie('__Host-caresync')
        h.check(c and c['httpOnly'] and c['secure'] and c.get('sameSite') == 'Strict',
                'the session cookie is HttpOnly, Secure, SameSite=Strict', c)
        h.check_eq(drv.execute_script('return document.cookie'), '',
                   'page script cannot read the session cookie')
        st, hdrs, _ = cb.request(d, 'GET', '/console/')
        csp = hdrs.get('content-security-policy', '')
        h.check("default-src 'self'" in csp and "script-src 'self'" in csp and
                'unsafe-inline' not in csp and "frame-ancestors 'none'" in csp,
                'a strict Content-Security-Policy', csp)
        h.check_eq(hdrs.get('x-content-type-options'), 'nosniff', 'nosniff')

        # A code works once: the same code again is refused.
        st, _, doc = cb.api_sign_in(d, cora, code=cora.last)
        h.check_eq((st, doc['error']['code']), (401, 'sign_in_failed'), 'a code used twice')

        # ---- CSRF: a change without the token, with a wrong one, from another origin ----
        cookie = cb.session_cookie(drv)
        st, _, s = cb.request(d, 'GET', '/console/api/session', cookie=cookie)
        h.check_eq((st, s['user'], s['role']), (200, 'cora', 'coordinator'), 'the session')
        body = {'device_id': nina.device_id}
        st, _, doc = cb.request(d, 'POST', '/console/api/devices/revoke', body, cookie=cookie)
        h.check_eq((st, doc['error']['code']), (403, 'csrf'), 'revoke without a CSRF token')
        st, _, doc = cb.request(d, 'POST', '/console/api/devices/revoke', body, cookie=cookie,
                                csrf='0' * 64)
        h.check_eq((st, doc['error']['code']), (403, 'csrf'), 'revoke with a wrong CSRF token')
        st, _, doc = cb.request(d, 'POST', '/console/api/devices/revoke', body, cookie=cookie,
                                csrf=s['csrf'], headers={'Origin': 'https://evil.example'})
        h.check_eq((st, doc['error']['code']), (403, 'cross_origin'), 'revoke from elsewhere')
        st, _, doc = cb.request(d, 'POST', '/console/api/devices/revoke', body)
        h.check_eq(st, 401, 'revoke without a session')
        h.check_eq(d.scalar('SELECT revoked_at FROM devices WHERE id=?', (nina.device_id,)),
                   None, 'nothing was revoked')
        nina.sync()

        # ---- sign out: the session is gone, the cookie no longer works ----
        cb.css(drv, '#sign-out')[0].click()
        cb.wait(drv, lambda dr: dr.current_url.endswith('/console/sign-in'), 'the sign-in page')
        st, _, doc = cb.request(d, 'GET', '/console/api/session', cookie=cookie)
        h.check_eq(st, 401, 'the old cookie after sign-out')
        drv.get(d.url + '/console/')
        cb.wait(drv, lambda dr: dr.current_url.endswith('/console/sign-in'),
                'the console sends a signed-out browser to sign in')

        # ---- a field role (fay became a nurse) cannot sign in ----
        msg = cb.sign_in(drv, d, fay, expect_ok=False)
        h.check('for coordinators and administrators' in msg, 'field role refused', msg)

        # ---- throttling: five failures, then even the right password waits ----
        # The reused code above was the first failure since the good sign-in.
        for i in range(4):
            st, _, doc = cb.api_sign_in(d, cora, password='wrong %d' % i,
                                        code=cb.totp(cora.secret))
            h.check_eq(st, 401, 'failure %d' % (i + 2))
        st, hdrs, doc = cb.api_sign_in(d, cora, code=cb.totp(cora.secret))
        h.check_eq((st, doc['error']['code']), (429, 'too_many_attempts'), 'throttled')
        h.check(int(hdrs.get('retry-after', '0')) > 0, 'Retry-After', hdrs)
        msg = cb.sign_in(drv, d, cora, code=cb.totp(cora.secret), expect_ok=False)
        h.check('too many failed sign-ins' in msg, 'the browser shows the throttle', msg)
        cb.screenshot(drv, 'sign-in-throttled')
    finally:
        drv.quit()

    kinds = audit_kinds(d)
    h.check_eq(kinds.count('console_sign_in'), 1, 'one sign-in audited', kinds)
    h.check_eq(kinds.count('console_sign_out'), 1, 'one sign-out audited', kinds)
    h.check(kinds.count('console_sign_in_failed') >= 10, 'every failure audited', kinds)
    reasons = [r['why'] for r in d.query("SELECT json_extract(detail, '$.reason') AS why "
                                         "FROM audit WHERE kind='console_sign_in_failed'")]
    for r in ('wrong password', 'wrong or reused code', 'field role', 'throttled'):
        h.check(r in reasons, 'the audit says why: ' + r, reasons)
    h.run([h.CARESYNCD, 'audit', 'verify', '--data', d.data])

    # ---- session expiry: idle, and absolute lifetime however busy ----
    d.stop()
    d.serve_args = ['--console-idle-timeout', '2', '--console-lifetime', '6']
    d.start()
    ivy = cb.Staff(d, 'ivy', 'coordinator')
    bo = cb.Staff(d, 'bo', 'coordinator')
    st, hdrs, s = cb.api_sign_in(d, ivy)
    h.check_eq(st, 200, 'ivy signs in')
    cookie = cb.cookie_of(hdrs)
    time.sleep(3)
    st, hdrs, doc = cb.request(d, 'GET', '/console/api/session', cookie=cookie)
    h.check_eq((st, doc['error']['code']), (401, 'session_expired'), 'idle past the timeout')
    h.check(hdrs.get('set-cookie', '').startswith('__Host-caresync=;'), 'the cookie is cleared',
            hdrs)
    st, hdrs, s = cb.api_sign_in(d, bo)
    cookie = cb.cookie_of(hdrs)
    ended = None
    for _ in range(20):  # busy: a request every second, never idle for 2 s
        st, _, doc = cb.request(d, 'GET', '/console/api/session', cookie=cookie)
        if st != 200:
            ended = doc['error']['code']
            break
        time.sleep(1)
    h.check_eq(ended, 'session_expired', 'a busy session still ends at its lifetime')
    reasons = [r['why'] for r in d.query("SELECT json_extract(detail, '$.reason') AS why "
                                         "FROM audit WHERE kind='console_session_expired'")]
    h.check_eq(sorted(reasons), ['idle timeout', 'lifetime reached'], 'expiries audited')


if __name__ == '__main__':
    h.main(test)
