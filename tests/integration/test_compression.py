#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_compression.py - gzip on the wire (docs/PROTOCOL.md "Compression"), against the demo data.
# Replies: a large success is gzip-encoded when Accept-Encoding allows it and inflates to what the
# identity reply says; identity, gzip;q=0, other codings, a malformed header, small replies and
# errors stay identity. Request bodies: a gzip push is applied exactly like the same push sent
# plain; a corrupt, truncated or padded stream is 400, a bomb (50 MiB of JSON in ~50 KiB) is 413
# naming the 4 MiB limit without the daemon growing, any other coding is 415; nothing is written
# and the daemon goes on serving.
import gzip
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

BODY_LIMIT = 4194304
USER = 'nurse.amira'  # on about a dozen demo caseloads


def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def sync(d, token, body, accept=None, encoding=None, raw=None):
    """POST /v1/sync of @body (or of the bytes @raw), gzip-encoded when @encoding is 'gzip'.
    Returns (status, headers, raw reply, reply inflated if gzip-encoded, parsed JSON or None)."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {}
    if accept is not None:
        headers['Accept-Encoding'] = accept
    if encoding is not None:
        headers['Content-Encoding'] = encoding
        if encoding.lower() == 'gzip' and raw is None:
            data = gzip.compress(data)
    status, rh, reply, doc = d.request('POST', '/v1/sync', data, token=token, headers=headers)
    h.check_eq(int(rh.get('content-length', -1)), len(reply), 'Content-Length')
    plain = reply
    if rh.get('content-encoding') == 'gzip':
        plain = gzip.decompress(reply)
        doc = json.loads(plain)
    return status, rh, reply, plain, doc


def enrol_raw(d, user):
    status, _, _, doc = d.request('POST', '/v1/enrol', {'code': d.enrol_code(user)})
    h.check_eq(status, 200, 'raw enrolment')
    return doc['token']


def goal_change(pid, text):
    return {'change_id': h.uuid7(), 'table': 'goal', 'row_id': h.uuid7(), 'person_id': pid,
            'field': 'description', 'value': text, 'hlc': h.hlc_text(h.hlc_now()),
            'base_hlc': None, 'base_device': None}


def check_error(what, got, status, code, limit=None):
    st, rh, reply, _, doc = got
    h.check_eq(st, status, what + ': status')
    h.check('content-encoding' not in rh, what + ': an error is never encoded', rh)
    h.check(isinstance(doc, dict) and isinstance(doc.get('error'), dict),
            what + ': a JSON error', reply[:300])
    h.check_eq(doc['error'].get('code'), code, what + ': code')
    if limit is not None:
        h.check_eq(doc['error'].get('limit'), limit, what + ': limit')
    return rh


def vm_hwm_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


# ---- replies ----

def test_replies(d, token):
    first = {'cursor': '', 'changes': []}
    st, rh, wire, plain, doc = sync(d, token, first, accept='gzip')
    h.check_eq(st, 200, 'gzip pull')
    h.check_eq(rh.get('content-encoding'), 'gzip', 'a large pull comes back gzip-encoded')
    h.check_eq(rh.get('vary'), 'Accept-Encoding', 'Vary')
    st, rh2, wire2, _, doc2 = sync(d, token, first, accept='identity')
    h.check('content-encoding' not in rh2, 'identity pull not encoded', rh2)
    h.check_eq(rh2.get('vary'), 'Accept-Encoding', 'Vary on an identity reply too')
    h.check_eq(len(plain), len(wire2), 'the gzip reply inflates to the identity reply\'s size')
    for key in ('changes', 'purge', 'drop', 'cursor', 'more', 'outcomes', 'policy'):
        h.check_eq(doc[key], doc2[key], 'gzip and identity pulls agree on ' + key)
    h.log('first page: %d bytes identity, %d gzip (%.1fx)' % (len(wire2), len(wire),
                                                             len(wire2) / len(wire)))
    h.check(len(wire) * 5 < len(wire2), 'gzip makes a pull page at least 5 times smaller')

    for accept, want in (('gzip, deflate, br, zstd', True), ('x-gzip', True), ('*', True),
                         ('br;q=1, GZIP;q=0.1', True), ('identity', False), ('gzip;q=0', False),
                         ('gzip;q=0, *', False), ('deflate, br', False), ('gzip;q=2', False),
                         ('gzip;level=9', False), ('', False)):
        st, rh, _, _, doc = sync(d, token, first, accept=accept)
        h.check_eq(st, 200, 'pull with Accept-Encoding: %r' % accept)
        h.check_eq(rh.get('content-encoding') == 'gzip', want,
                   'gzip-encoded with Accept-Encoding: %r' % accept, rh)
        h.check_eq(doc['changes'], doc2['changes'], 'same page with %r' % accept)

    # A small success (a push-only round with nothing in it) and an error stay identity.
    st, rh, _, _, doc = sync(d, token, {'cursor': '', 'changes': [], 'pull': False},
                             accept='gzip')
    h.check(st == 200 and 'content-encoding' not in rh, 'a small reply is not encoded', rh)
    h.check_eq(doc['outcomes'], [], 'small reply parses')
    status, rh, _, doc = d.request('GET', '/v1/nothing', token=token,
                                   headers={'Accept-Encoding': 'gzip'})
    h.check(status == 404 and 'content-encoding' not in rh and doc['error']['code'] ==
            'not_found', 'an error is not encoded', rh)
    return doc2


# ---- request bodies ----

def test_requests(d, token, pid):
    before = d.counts()

    def refused(what, got, status, code, limit=None):
        rh = check_error(what, got, status, code, limit)
        h.check_eq(d.counts(), before, what + ': nothing written')
        return rh

    body = json.dumps({'cursor': '', 'pull': False,
                       'changes': [goal_change(pid, 'Walk to the shop %d' % i)
                                   for i in range(20)]}).encode()
    gz = gzip.compress(body)
    flipped = bytearray(gz)
    flipped[len(gz) // 2] ^= 0x55
    refused('a changed byte', sync(d, token, None, encoding='gzip', raw=bytes(flipped)), 400,
            'malformed_json')
    refused('truncated', sync(d, token, None, encoding='gzip', raw=gz[:-4]), 400,
            'malformed_json')
    refused('bytes after the stream', sync(d, token, None, encoding='gzip', raw=gz + b'\n'),
            400, 'malformed_json')
    refused('two members', sync(d, token, None, encoding='gzip', raw=gz + gz), 400,
            'malformed_json')
    refused('plain JSON labelled gzip', sync(d, token, None, encoding='gzip', raw=body), 400,
            'malformed_json')
    refused('zlib, not gzip', sync(d, token, None, encoding='gzip', raw=zlib.compress(body)),
            400, 'malformed_json')
    for enc in ('br', 'deflate', 'zstd', 'gzip, br', 'gzip;q=1', 'identity, gzip'):
        rh = refused('Content-Encoding: ' + enc, sync(d, token, None, encoding=enc, raw=gz),
                     415, 'unsupported_encoding')
        h.check_eq(rh.get('accept-encoding'), 'gzip', '415 names what the server accepts')

    # A bomb: 50 MiB of valid JSON (spaces) in about 50 KiB. Inflating stops at the limit.
    bomb = deflate(b'{"cursor":"","changes":[],"pull":false' + b' ' * (50 << 20) + b'}', 9)
    h.check(len(bomb) < 100 * 1024, 'the bomb is small on the wire (%d bytes)' % len(bomb))
    hwm = vm_hwm_kib(d.proc.pid)
    refused('50 MiB in %d bytes' % len(bomb), sync(d, token, None, encoding='gzip', raw=bomb),
            413, 'body_too_large', limit=BODY_LIMIT)
    grew = vm_hwm_kib(d.proc.pid) - hwm
    h.log('daemon peak memory grew by %d KiB for the bomb' % grew)
    h.check(grew < 30 * 1024, 'the daemon did not inflate the bomb (peak grew %d KiB)' % grew)
    # At the limit once inflated: accepted; one byte over: refused.
    head = b'{"cursor":"","changes":[],"pull":false'
    at = head + b' ' * (BODY_LIMIT - len(head) - 1) + b'}'
    st, _, _, _, doc = sync(d, token, None, encoding='gzip', raw=deflate(at))
    h.check_eq(st, 200, 'a body that inflates to exactly 4 MiB')
    refused('inflates to 4 MiB + 1', sync(d, token, None, encoding='gzip',
                                          raw=deflate(at[:-1] + b' }')),
            413, 'body_too_large', limit=BODY_LIMIT)

    # The same kind of push, plain then gzip, is applied alike; the gzip one sent again plain
    # gets the very same outcomes (so the server read the same content) and writes nothing.
    plain_push = {'cursor': '', 'pull': False,
                  'changes': [goal_change(pid, 'Plain goal %d' % i) for i in range(20)]}
    gzip_push = {'cursor': '', 'pull': False,
                 'changes': [goal_change(pid, 'Gzip goal %d' % i) for i in range(20)]}
    st, _, _, _, a = sync(d, token, plain_push)
    h.check_eq(st, 200, 'plain push')
    st, _, _, _, b = sync(d, token, gzip_push, encoding='gzip')
    h.check_eq(st, 200, 'gzip push')
    h.check_eq([o['outcome'] for o in b['outcomes']], [o['outcome'] for o in a['outcomes']],
               'same outcomes for plain and gzip pushes')
    h.check_eq([o['change_id'] for o in b['outcomes']],
               [c['change_id'] for c in gzip_push['changes']], 'gzip push: outcome ids')
    for c in gzip_push['changes']:
        h.check_eq(d.field('goal', c['row_id'], 'description')['value'], c['value'],
                   'gzip push stored')
    after = d.counts()
    h.check_eq(after['change_log'], before['change_log'] + 40, 'journal rows for both pushes')
    st, _, _, _, again = sync(d, token, gzip_push, encoding='identity')
    h.check_eq(st, 200, 'the gzip push sent again plain')
    h.check_eq(again['outcomes'], b['outcomes'], 'replayed plain: same outcomes')
    st, _, _, _, again = sync(d, token, gzip_push, encoding='GZIP')
    h.check_eq(again['outcomes'], b['outcomes'], 'replayed gzip (any case): same outcomes')
    h.check_eq(d.counts(), after, 'replays wrote nothing')


def test(w):
    d = w.daemon
    d.admin(['demo'], '--profile', 'demo')
    token = enrol_raw(d, USER)
    page = test_replies(d, token)
    pid = next(c['row_id'] for c in page['changes'] if c['table'] == 'person')
    test_requests(d, token, pid)
    # And the daemon still serves a plain request.
    st, _, _, _, doc = sync(d, token, {'cursor': '', 'changes': [], 'pull': False})
    h.check_eq(st, 200, 'still serving')


if __name__ == '__main__':
    h.main(test)
