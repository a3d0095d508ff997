#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_limits.py - limits on what an anonymous peer can consume (docs/PROTOCOL.md "Enrolment
# throttling"): wrong enrolment codes are throttled per client address and per server with
# 429 too_many_attempts and Retry-After, a correct code is refused while throttled but not used
# up, and enrols once the wait is over; other addresses are not held up by one address's
# guesses until the server-wide allowance runs out. The daemon keeps serving throughout.
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def enrol_from(d, source, code):
    """POST /v1/enrol from loopback address @source. Returns (status, headers, doc)."""
    conn = http.client.HTTPSConnection('127.0.0.1', d.port, context=d.ssl_context(), timeout=30,
                                       source_address=(source, 0))
    try:
        conn.request('POST', '/v1/enrol', body=json.dumps({'code': code}).encode(),
                     headers={'Content-Type': 'application/json'})
        resp = conn.getresponse()
        raw = resp.read()
        status, hdrs = resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    doc = json.loads(raw) if raw else None
    h.log('enrol from %s -> %d %s' % (source, status, h.clip(raw.decode(), 200)))
    return status, hdrs, doc


def throttled(what, got, scope):
    status, hdrs, doc = got
    h.check_eq(status, 429, what + ': status')
    h.check(isinstance(doc, dict) and doc['error']['code'] == 'too_many_attempts',
            what + ': too_many_attempts', doc)
    h.check(scope in doc['error']['message'] and 'wait' in doc['error']['message'],
            what + ': the message says whose attempts and to wait', doc)
    wait = hdrs.get('retry-after', '')
    h.check(wait.isdigit() and int(wait) >= 1, what + ': Retry-After in whole seconds', hdrs)
    return int(wait)


def test(w):
    d = w.daemon
    d.stop()
    # Small allowances so the test is quick: 3 wrong codes per 2 s from one address, 5 per
    # 60 s in all.
    d.serve_args = ['--enrol-limit', '3/2', '--enrol-server-limit', '5/60']
    d.start()
    d.add_user('nurse', 'nurse')
    code = d.enrol_code('nurse')

    for i in range(3):
        status, _, doc = enrol_from(d, '127.0.0.1', 'WRONG-%d' % i)
        h.check_eq(status, 401, 'wrong code %d: 401 invalid_code' % i)
    wait = throttled('a 4th wrong code from the same address',
                     enrol_from(d, '127.0.0.1', 'WRONG-X'), 'from this address')
    # The right code is not looked at while throttled, so it is not used up.
    throttled('the right code while throttled', enrol_from(d, '127.0.0.1', code),
              'from this address')
    # Another address is not held up.
    status, _, _ = enrol_from(d, '127.0.0.2', 'WRONG-Y')
    h.check_eq(status, 401, 'another address still gets its answer')
    # Other requests are served meanwhile.
    status, _, _, _ = d.request('POST', '/v1/sync', {'cursor': '', 'changes': []})
    h.check_eq(status, 401, 'the daemon keeps serving (a sync without a token)')

    time.sleep(wait + 0.2)
    status, _, doc = enrol_from(d, '127.0.0.1', code)
    h.check_eq(status, 200, 'after the wait, the right code enrols')
    h.check(doc.get('token'), 'a token is issued')

    # The server-wide allowance: 5 wrong codes in all (4 so far), spread over addresses.
    status, _, _ = enrol_from(d, '127.0.0.3', 'WRONG-Z')
    h.check_eq(status, 401, 'the fifth wrong code in all is still answered')
    throttled('a sixth wrong code, from a fresh address', enrol_from(d, '127.0.0.4', 'WRONG-W'),
              'on this server')
    status, _, _, _ = d.request('GET', '/v1/conflicts?mine=1')
    h.check_eq(status, 401, 'the daemon keeps serving')


if __name__ == '__main__':
    h.main(test)
