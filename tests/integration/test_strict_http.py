#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_strict_http.py - strict HTTP and input (docs/PROTOCOL.md "Strict requests"): a request
# with two Content-Length lines, a Content-Length that is not plain digits, or any
# Transfer-Encoding is refused with 400, nothing is processed (no hidden second request runs)
# and the connection is closed; a raw control character inside any string of a body is refused
# with 400 invalid_value naming the field (tab and newline are text); a token in the query
# string never reaches the access log. After every refusal a good request still succeeds.
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def change(pid, value, field='address'):
    return {'change_id': h.uuid7(), 'table': 'person', 'row_id': pid, 'person_id': pid,
            'field': field, 'value': value, 'hlc': h.hlc_text(h.hlc_now(1000)),
            'base_hlc': None, 'base_device': None}


def test(w):
    d = w.daemon
    pid = d.add_person('Ida Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    nurse.sync()
    token = nurse.token
    before = d.counts()

    def still_serving(what):
        got, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'changes': []},
                                   token=token)
        h.check_eq(got, 200, 'a good request after ' + what)
        h.check_eq(d.counts(), before, 'nothing was written by ' + what)

    # ---- request smuggling: Content-Length must be one line of plain digits ----
    good = json.dumps({'cursor': '', 'changes': [change(pid, 'smuggled address')]}).encode()
    hidden = b'GET /v1/conflicts?mine=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + \
        token.encode() + b'\r\n\r\n'

    def head(cls, extra=b''):
        return (b'POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'
                b'Authorization: Bearer ' + token.encode() + b'\r\n' + cls + extra + b'\r\n')

    cases = [
        ('two equal Content-Length lines',
         head(b'Content-Length: %d\r\nContent-Length: %d\r\n' % (len(good), len(good))) + good),
        ('two different Content-Length lines (a hidden request after the shorter body)',
         head(b'Content-Length: %d\r\nContent-Length: %d\r\n' % (len(good), len(good) +
                                                                  len(hidden))) + good + hidden),
        ("Content-Length '+N'", head(b'Content-Length: +%d\r\n' % len(good)) + good),
        # evhttp refuses these itself, before any handler runs: 400 (its own HTML page)
        # and a close. The test holds it to that.
        ("Content-Length with a space inside (evhttp's own 400)",
         head(b'Content-Length: 4 4\r\n') + good),
        ("Content-Length in hex (evhttp's own 400)", head(b'Content-Length: 0x10\r\n') + good),
        ('Transfer-Encoding: chunked',
         head(b'Transfer-Encoding: chunked\r\n') + b'%x\r\n' % len(good) + good + b'\r\n0\r\n\r\n'),
        ("Transfer-Encoding with a Content-Length (evhttp's own 400)",
         head(b'Content-Length: %d\r\nTransfer-Encoding: chunked\r\n' % len(good)) +
         b'%x\r\n' % len(good) + good + b'\r\n0\r\n\r\n'),
    ]
    for what, data in cases:
        h.log('-- ' + what)
        status, hdrs, body, closed, rest = h.raw_request(d, data)
        h.check_eq(status, 400, what + ': status')
        h.check(closed, what + ': the connection is closed')
        h.check_eq(rest, b'', what + ': no second response (nothing hidden ran)')
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        h.check("evhttp's own" in what or isinstance(doc, dict) and doc['error']['code'] == 'bad_request' and
                'Content-Length' in doc['error']['message'],
                what + ': a JSON error bad_request naming Content-Length', body[:300])
        h.check_eq(hdrs.get('connection', '').lower(), 'close', what + ': Connection: close')
        h.check_eq(d.field('person', pid, 'address'), None, what + ': nothing applied')
        still_serving(what)

    # ---- control characters inside strings ----
    def refused_text(what, path, doc_or_raw, field, tok=token):
        h.log('-- ' + what)
        status, _, raw, doc = d.request('POST', path, doc_or_raw, token=tok)
        h.check_eq(status, 400, what + ': status')
        h.check(isinstance(doc, dict) and doc['error']['code'] == 'invalid_value',
                what + ': invalid_value', raw[:300])
        h.check_eq(doc['error'].get('field'), field, what + ': names the field')
        h.check('control character' in doc['error']['message'], what + ': says why',
                doc['error']['message'])
        still_serving(what)

    for ch in ['\u0001', '\u001f', '\u007f', '\r', '\u001b']:
        refused_text('U+%04X in a value' % ord(ch), '/v1/sync',
                     {'cursor': '', 'changes': [change(pid, 'Flat 1' + ch + '2 Road')]},
                     'changes[0].value')
    refused_text('U+0001 in client_version', '/v1/sync',
                 {'cursor': '', 'changes': [], 'client_version': 'x\u0001'}, 'client_version')
    refused_text('U+0007 in a device name', '/v1/enrol',
                 {'code': 'nope', 'device_name': 'phone\u0007'}, 'device_name', tok=None)
    # A raw byte 0x01 inside a JSON string (not even escaped) is refused too.
    raw = json.dumps({'cursor': '', 'changes': [change(pid, 'AAAA')]}).replace('AAAA', 'A\x01A')
    status, _, _, doc = d.request('POST', '/v1/sync', raw, token=token)
    h.check_eq(status, 400, 'a raw U+0001 byte in a string: status')
    still_serving('a raw U+0001 byte')

    # Tab and newline are text: a multi-line note goes through, and reaches the store.
    status, _, _, doc = d.request('POST', '/v1/sync',
                                  {'cursor': '', 'changes': [change(pid, 'Flat 1\n\t2 Road')]},
                                  token=token)
    h.check_eq(status, 200, 'tab and newline are accepted')
    h.check_eq((d.field('person', pid, 'address') or {}).get('value'), 'Flat 1\n\t2 Road',
               'the value is stored')
    before = d.counts()

    # ---- a token in the query string never reaches the access log ----
    secret = token
    for method, path, body in [('POST', '/v1/sync?access_token=' + secret,
                                {'cursor': '', 'changes': []}),
                               ('GET', '/v1/conflicts?mine=1&token=' + secret, None),
                               ('GET', '/v1/devices?' + secret, None)]:
        d.request(method, path, body, token=token)
    still_serving('a token in the query')
    with open(d.log_path, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    h.check(secret not in text and secret[:16] not in text,
            'the token in a query string is not in the daemon log')
    h.check('"POST /v1/sync?' in text, 'the access log still shows the path and that there '
            'was a query')

    # ---- only HTTP/1.x: an HTTP/0.x request is not answered (evhttp would answer it bare) ----
    for version in (b'HTTP/0.9', b'HTTP/0.1', b'HTTP/2.0', b'XTTP/1.1'):
        status, _, body, closed, _ = h.raw_request(
            d, b'GET /v1/devices ' + version + b'\r\nHost: x\r\nAuthorization: Bearer ' +
            token.encode() + b'\r\n\r\n')
        h.check(status is None and not body and closed,
                '%s: the connection is closed with no reply' % version.decode(), status, body)
        still_serving(version.decode())

    # ---- the client refuses locally what the server would, so its outbox is never stuck ----
    pending = nurse.status()['pending']
    p = nurse.run('note', 'add', pid, 'bell \x07 rung', expect=h.EXIT_USAGE)
    h.check('control character' in p.stderr, 'the CLI says why', p.stderr)
    h.check_eq(nurse.status()['pending'], pending, 'nothing was queued')
    nurse.new('note', 'add', pid, 'two lines\n\tand a tab')
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'tabs and new lines travel')


if __name__ == '__main__':
    h.main(test)
