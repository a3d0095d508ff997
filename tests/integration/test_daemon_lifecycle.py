#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_daemon_lifecycle.py - caresyncd as a service (issue "Nothing lost, nothing removed by
# mistake", item 6): SIGHUP reloads the certificate and key and reopens the log file without
# dropping connections (an open keep-alive connection goes on working, new ones get the renewed
# certificate); one daemon per data directory (a second serve is refused, exit 4, naming the
# first's pid); several --listen addresses, host names included; TLS handshake failures logged,
# rate-limited.
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def peer_cert(d, port):
    """The DER certificate the daemon presents on 127.0.0.1:@port."""
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        with d.ssl_context().wrap_socket(s, server_hostname='127.0.0.1') as t:
            return t.getpeercert(binary_form=True)


def wait_for(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError('timed out waiting for ' + what)


def test(w):
    d = w.daemon
    nurse = w.client('nurse', 'nurse')
    pid = d.add_person('Lara Lifecycle', phone='0131 000 0001')
    d.assign(pid, 'nurse')
    nurse.sync()

    h.log('-- one daemon per data directory')
    p = h.run([h.CARESYNCD, 'serve', '--data', d.data, '--listen', '127.0.0.1:0'], expect=None,
              timeout=20)
    h.check_eq(p.returncode, 4, 'a second serve on the same data directory exits 4', p.stderr)
    h.check('already serving' in p.stderr and str(d.proc.pid) in p.stderr,
            'it says another daemon serves it, with its pid', p.stderr)
    nurse.sync()

    h.log('-- several --listen addresses, a host name among them; a log file')
    d.stop()
    second = h.free_port()
    log_path = os.path.join(w.root, 'caresyncd-file.log')
    d.serve_args = ['--listen', 'localhost:%d' % second, '--log-file', log_path]
    d.start()
    for port in (d.port, second):
        conn = http.client.HTTPSConnection('127.0.0.1', port, context=d.ssl_context(),
                                           timeout=10)
        conn.request('POST', '/v1/sync', body='{"cursor": "", "changes": []}',
                     headers={'Authorization': 'Bearer ' + nurse.token,
                              'Content-Type': 'application/json'})
        h.check_eq(conn.getresponse().status, 200, 'a sync on port %d' % port)
        conn.close()
    wait_for(lambda: os.path.exists(log_path) and 'listening on' in open(log_path).read(),
             'the log file')

    h.log('-- SIGHUP: reload the certificate, reopen the log, keep open connections')
    before = peer_cert(d, d.port)
    keep = http.client.HTTPSConnection('127.0.0.1', d.port, context=d.ssl_context(), timeout=10)
    body = '{"cursor": "", "changes": []}'
    hdrs = {'Authorization': 'Bearer ' + nurse.token, 'Content-Type': 'application/json'}
    keep.request('POST', '/v1/sync', body=body, headers=hdrs)
    r = keep.getresponse()
    r.read()
    h.check_eq(r.status, 200, 'a keep-alive connection before SIGHUP')
    h.run([h.CARESYNCD, 'cert', 'renew', '--data', d.data])
    os.rename(log_path, log_path + '.1')  # what logrotate does
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(log_path) and 'reloaded the certificate' in
             open(log_path).read(), 'the reload line in the reopened log')
    h.check(d.proc.poll() is None, 'the daemon is still running after SIGHUP')
    after = peer_cert(d, d.port)
    h.check(after != before, 'new connections get the renewed certificate')
    keep.request('POST', '/v1/sync', body=body, headers=hdrs)
    r = keep.getresponse()
    r.read()
    h.check_eq(r.status, 200, 'the connection opened before SIGHUP still works')
    keep.close()
    nurse.sync()
    nurse.new('note', 'add', pid, 'After the reload')
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'a device syncs after the reload')

    h.log('-- a certificate that does not load keeps the old one serving')
    key = os.path.join(d.data, 'server.key')
    saved = open(key, 'rb').read()
    with open(key, 'wb') as f:
        f.write(b'not a key\n')
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: 'kept the certificate in use' in open(log_path).read(), 'the refusal line')
    h.check_eq(peer_cert(d, d.port), after, 'the old certificate still serves')
    with open(key, 'wb') as f:
        f.write(saved)

    h.log('-- TLS handshake failures are logged, rate-limited')
    for _ in range(20):
        with socket.create_connection(('127.0.0.1', d.port), timeout=5) as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')  # plain HTTP to the TLS port
            try:
                s.recv(100)
            except OSError:
                pass
    wait_for(lambda: 'TLS handshake with 127.0.0.1' in open(log_path).read(),
             'a handshake failure line', timeout=60)
    n = open(log_path).read().count('TLS handshake with')
    h.check(1 <= n <= 3, '20 failed handshakes make at most a few log lines (%d)' % n)
    nurse.sync()


if __name__ == '__main__':
    h.main(test)
