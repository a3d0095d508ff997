#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_auth.py - authentication: a missing or wrong token gets 401 with a JSON error; an
# enrolment code works once (reuse: 401 invalid_code, client exit 5); a revoked device is
# refused (401 device_revoked) and its client's sync exits 5; other devices keep working.
# The client refuses a server whose certificate its CA did not sign, and plain http.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

SYNC_BODY = {'cursor': '', 'changes': []}


def expect_error(d, status, code, **kw):
    got, _, raw, doc = d.request('POST', kw.pop('path', '/v1/sync'), kw.pop('body', SYNC_BODY),
                                 **kw)
    h.check_eq(got, status, 'status')
    h.check(isinstance(doc, dict) and isinstance(doc.get('error'), dict),
            'the error is a JSON object {"error": {...}}', raw)
    h.check_eq(doc['error'].get('code'), code, 'error code')
    h.check(doc['error'].get('message'), 'the error has a message', doc)
    return doc


def test(w):
    d = w.daemon
    pid = d.add_person('Gus Example')
    nurse = w.client('nurse', 'nurse')
    other = w.client('other', 'nurse', user='nurse')  # a second device of the same user
    d.assign(pid, 'nurse')
    nurse.sync()
    other.sync()

    expect_error(d, 401, 'missing_token')
    expect_error(d, 401, 'invalid_token', token='cs1_' + '0' * 64)
    expect_error(d, 401, 'invalid_token', token='not-a-token')
    expect_error(d, 401, 'invalid_token', token=nurse.token[:-1] + ('0' if nurse.token[-1] != '0'
                                                                    else '1'))
    got, _, _, doc = d.request('POST', '/v1/sync', SYNC_BODY, token=nurse.token)
    h.check_eq(got, 200, 'the real token works')

    # An enrolment code works once.
    d.add_user('zed', 'volunteer')
    code = d.enrol_code('zed')
    zed = h.Client(w, 'zed', 'zed', 'volunteer')
    zed.enrol(code)
    zed2 = h.Client(w, 'zed2', 'zed', 'volunteer')
    p = zed2.enrol(code, expect=h.EXIT_AUTH)
    h.check(p.stderr.strip(), 'the client says why', p.stderr)
    h.check(not os.path.exists(os.path.join(zed2.home, 'token')),
            'a failed enrolment leaves no token')
    expect_error(d, 401, 'invalid_code', path='/v1/enrol', body={'code': code})
    expect_error(d, 401, 'invalid_code', path='/v1/enrol', body={'code': 'AAAA-BBBB-CCCC'})

    # The client verifies the server against its CA: another CA fails (network error, 4) and
    # leaves nothing; plain http is refused (usage, 2).
    other_ca = h.Daemon(w.root, 'other-server')
    other_ca.init()
    code = d.enrol_code('zed')
    bad = h.Client(w, 'badca', 'zed', 'volunteer')
    p = bad.run('enrol', '--server', d.url, '--ca', other_ca.ca, '--code', code,
                expect=h.EXIT_NETWORK)
    h.check(not os.path.exists(os.path.join(bad.home, 'token')), 'no token after a TLS failure')
    plain = h.Client(w, 'plain', 'zed', 'volunteer')
    plain.run('enrol', '--server', d.url.replace('https', 'http'), '--ca', d.ca, '--code', code,
              expect=h.EXIT_USAGE)
    h.Client(w, 'zed3', 'zed', 'volunteer').enrol(code)  # the code was not used up

    # Token and replica are the owner's only.
    for fn in ('token', 'replica.db'):
        mode = os.stat(os.path.join(nurse.home, fn)).st_mode & 0o777
        h.check_eq(mode & 0o077, 0, '%s is readable by its owner only (mode %o)' % (fn, mode))

    # Revocation.
    dev = nurse.device_id
    token = nurse.token
    tokens = [c.token for c in (nurse, other, zed)]
    d.revoke(dev)
    expect_error(d, 401, 'device_revoked', token=token)
    p = nurse.sync(expect=h.EXIT_AUTH)
    h.check('revoked' in p.stderr.lower(), 'the client says the device was revoked', p.stderr)
    h.check(not os.path.exists(os.path.join(nurse.home, 'token')), 'the revoked token is wiped')
    other.sync()  # the user's other device is unaffected
    # Tokens never reach the daemon's log.
    with open(d.log_path, 'rb') as f:
        text = f.read()
    for t in tokens:
        h.check(t.encode() not in text and t[4:].encode() not in text,
                'a device token is in the daemon log')
    h.check_eq(d.scalar('SELECT count(*) FROM devices WHERE revoked_at IS NOT NULL'), 1,
               'revoked devices')


if __name__ == '__main__':
    h.main(test)
