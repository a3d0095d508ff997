#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_compression.py - gzip on the wire (docs/PROTOCOL.md "Compression"), against the demo data.
# Replies: a large success is gzip-encoded when Accept-Encoding allows it and inflates to what the
# identity reply says; identity, gzip;q=0, other codings, a malformed header, small replies and
# errors stay identity. Request bodies: a gzip push is applied exactly like the same push sent
# plain; a corrupt, truncated or padded stream is 400, a bomb (50 MiB of JSON in ~50 KiB) is 413
# naming the 4 MiB limit without the daemon growing, any other coding is 415; nothing is written
# and the daemon goes on serving. The real client gets its first sync compressed, compresses its
# own pushes and sends them again plain on a 415, and a hostile server's bomb stops at the
# client's 64 MiB reply limit.
import gzip
import http.server
import json
import os
import ssl
import sys
import threading
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
    for key in ('changes', 'purge', 'drop', 'more', 'outcomes', 'policy'):
        h.check_eq(doc[key], doc2[key], 'gzip and identity pulls agree on ' + key)
    # The cursor's position (before ':'); the rest is the audit chain head, which each pull moves.
    h.check_eq(doc['cursor'].split(':')[0], doc2['cursor'].split(':')[0],
               'gzip and identity pulls agree on the cursor position')
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


# ---- the real client, and a hostile server ----

class FakeServer:
    """A TLS server on the daemon's port with its certificate, scripted per test: records every
    request (headers, body) and answers with replies[i] (status, headers, body), the last one
    repeated."""

    def __init__(self, d, replies):
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get('Content-Length', 0))
                server.requests.append((dict(self.headers), self.rfile.read(n)))
                status, headers, body = replies[min(len(server.requests), len(replies)) - 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d.data, 'server.pem'), os.path.join(d.data, 'server.key'))
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', d.port), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def error_reply(status, code, extra=None):
    headers = {'Content-Type': 'application/json'}
    headers.update(extra or {})
    return (status, headers, json.dumps({'error': {'code': code, 'message': code}}).encode())


def test_client(w, raw_token):
    d = w.daemon
    nurse = w.client('nurse', 'nurse', user=USER)
    nurse.sync()
    # The first sync came gzip-encoded: its bytes on the wire (the access log) against the same
    # pages fetched identity by the raw device of the same user.
    device = nurse.device_id
    with open(d.log_path, encoding='utf-8', errors='replace') as f:
        got = sum(int(line.split('"')[2].split()[1]) for line in f
                  if '"POST /v1/sync" 200 ' in line and line.rstrip().endswith('device=' + device))
    identity, cursor = 0, ''
    while True:
        st, _, wire, _, doc = sync(d, raw_token, {'cursor': cursor, 'changes': []},
                                   accept='identity')
        h.check_eq(st, 200, 'identity page')
        identity += len(wire)
        cursor = doc['cursor']
        if not doc['more']:
            break
    h.log('first sync of %s: %d bytes on the wire, %d identity (%.1fx)' %
          (USER, got, identity, identity / max(got, 1)))
    h.check(0 < got * 5 < identity, 'the client\'s first sync came compressed')

    # Edits worth more than 4 KiB, pushed through a server that refuses gzip bodies with 415:
    # the client sends the same body again uncompressed.
    people = [p['id'] for p in nurse.caseload()][:2]
    words = ('Ring the bell twice and wait; the key safe code is with the coordinator. ' * 30)
    for i, pid in enumerate(people):
        nurse.edit('person', pid, 'communication_needs', ('%d ' % i) + words[:1900])
        nurse.edit('person', pid, 'access_instructions', ('%d ' % i) + words[100:2000])
    d.stop()
    with FakeServer(d, [error_reply(415, 'unsupported_encoding', {'Accept-Encoding': 'gzip'}),
                        error_reply(503, 'busy')]) as fake:
        p = nurse.sync(expect=h.EXIT_SERVER)
    syncs = [(hd, body) for hd, body in fake.requests if body]
    h.check_eq(len(syncs), 2, 'a gzip push, then the same push plain', fake.requests)
    (h1, b1), (h2, b2) = syncs
    h.check_eq(h1.get('Content-Encoding'), 'gzip', 'the client compresses a large push')
    h.check('Content-Encoding' not in h2, 'after a 415 the client sends plain', h2)
    h.check_eq(gzip.decompress(b1), b2, 'the same body both times')
    pushed = json.loads(b2)['changes']
    h.check_eq(len(pushed), 4, 'the four edits pushed')
    h.log('client push: %d bytes gzip, %d plain' % (len(b1), len(b2)))
    h.check('busy' in p.stderr, 'the final error is reported', p.stderr)

    # A hostile server's bomb: 80 MiB once inflated, under 400 KiB on the wire. The client's
    # reply limit (64 MiB) counts what the reply inflates to, not what crossed the wire.
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b' ' * (1 << 20)
    bomb = b''.join(c.compress(chunk) for _ in range(80)) + c.flush()
    h.check(len(bomb) < 400 * 1024, 'the bomb is small on the wire (%d bytes)' % len(bomb))
    with FakeServer(d, [(200, {'Content-Type': 'application/json', 'Content-Encoding': 'gzip'},
                         bomb)]):
        p = nurse.sync(expect=h.EXIT_SERVER)
    h.check('larger than 64 MiB' in p.stderr, 'the bomb is refused at the reply limit', p.stderr)
    # A reply that does not inflate is the server's fault, not the network's.
    with FakeServer(d, [(200, {'Content-Type': 'application/json', 'Content-Encoding': 'gzip'},
                         bomb[:20] + b'\x00' * 200 + bomb[-8:])]):
        p = nurse.sync(expect=h.EXIT_SERVER)
    h.check('compressed reply is corrupt' in p.stderr, 'a corrupt reply is named', p.stderr)

    # Back to the real daemon: the pending edits go through (compressed) and are stored.
    d.start()
    nurse.sync()
    for c in pushed:
        h.check_eq(d.field('person', c['row_id'], c['field'])['value'], c['value'],
                   'pushed through the real daemon')
    h.check_eq(nurse.status()['pending'], 0, 'nothing left in the outbox')


def test(w):
    d = w.daemon
    d.admin(['demo'], '--profile', 'demo')
    token = enrol_raw(d, USER)
    page = test_replies(d, token)
    pid = next(c['row_id'] for c in page['changes'] if c['table'] == 'person')
    test_requests(d, token, pid)
    test_client(w, token)
    # And the daemon still serves a plain request.
    st, _, _, _, doc = sync(d, token, {'cursor': '', 'changes': [], 'pull': False})
    h.check_eq(st, 200, 'still serving')


if __name__ == '__main__':
    h.main(test)
