#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_idle_timeout.py - a request that waits for the store is not idle (issue 11, item 4): while
# its job is queued or running, evhttp's idle timeout (serve --idle-timeout) is lifted, so a
# device whose sync waits longer than that still gets its reply; once the reply is sent the
# timeout is back. (With libevent 2.1.12 evhttp stops reading a connection once its request is
# in, so its idle timer does not run while the job is out even without the lift; this test
# holds the behaviour whichever mechanism keeps it.)
#
# The store is made slow deterministically: the test holds the store's write lock (BEGIN
# IMMEDIATE on the store file, as a second writer would) for several idle timeouts, and the
# daemon's writer waits behind it (its busy timeout is 10 s).
#
#   1. --idle-timeout 1 takes effect: a connection that sends nothing is closed.
#   2. A push sent while the lock is held waits 4 idle timeouts and gets 200, and its change is
#      stored; so does /readyz (its probe write is a write job too).
#   3. The connection is idle again after the reply: the server closes it.
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from test_group_commit import WriteLock

IDLE_S = 1
HOLD_S = 4 * IDLE_S


def raw(method, path, body=b'', token=None):
    head = '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n' % (method, path,
                                                                          len(body))
    if token:
        head += 'Authorization: Bearer %s\r\nContent-Type: application/json\r\n' % token
    return head.encode() + b'\r\n' + body


def test(w):
    d = w.daemon
    d.stop(expect_rc=0)
    d.serve_args = ['--idle-timeout', str(IDLE_S)]
    d.start()
    pid = d.add_person('Ida Waiting')
    c = w.client('nina', 'nurse')
    d.assign(pid, 'nina')
    c.sync()

    h.log('-- 1. --idle-timeout %d: a connection that sends nothing is closed' % IDLE_S)
    s = h.tls_connect(d)
    try:
        h.check(h.closed_by_server(s, 10 * IDLE_S),
                'an idle connection was not closed after --idle-timeout %d' % IDLE_S)
    finally:
        s.close()

    h.log('-- 2. a push and a /readyz wait %d s for the store, longer than the idle timeout'
          % HOLD_S)
    row = h.uuid7()
    change = h.make_change('goal', row, pid, 'description', 'Waited for the store')
    body = json.dumps({'cursor': '', 'pull': False, 'changes': [change]}).encode()
    push = h.tls_connect(d)
    ready = h.tls_connect(d)
    try:
        with WriteLock(d):
            push.sendall(raw('POST', '/v1/sync', body, c.token))
            ready.sendall(raw('GET', '/readyz'))
            time.sleep(HOLD_S)
            h.check_eq(d.scalar('SELECT count(*) FROM change_log WHERE row_id=?', (row,)), 0,
                       'nothing was committed while the store was locked')
        status, _, got = h.read_response(push, 30)
        h.check_eq(status, 200, 'the push that waited %d s for the store was answered' % HOLD_S,
                   got[:500], open(d.log_path, errors='replace').read()[-3000:])
        doc = json.loads(got)
        h.check_eq([r.get('outcome') for r in doc.get('outcomes', [])], ['applied'],
                   'its change was applied', doc)
        h.check_eq(d.field('goal', row, 'description')['value'], 'Waited for the store',
                   'the change that waited is stored')
        status, _, got = h.read_response(ready, 30)
        h.check_eq(status, 200, '/readyz that waited %d s for the store was answered' % HOLD_S,
                   got[:500])

        h.log('-- 3. after its reply the connection is idle again, and closed')
        h.check(h.closed_by_server(push, 10 * IDLE_S),
                'the idle timeout was not put back after the reply')
    finally:
        push.close()
        ready.close()

    h.log('-- the daemon keeps serving, and the device syncs')
    c.sync()


if __name__ == '__main__':
    h.sqlite_only('it holds the embedded store\'s write lock (WriteLock) under a waiting push')
    h.main(test)
