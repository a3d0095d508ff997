#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_truncated_reply.py - a reply cut off on its way back (a TLS-terminating proxy that gives
# up, a dropped link) is a network failure: `caresync sync` exits 4 ("nothing was lost: try
# again"), keeps its outbox, and the next sync sends it, each change once on the server. A
# complete refusal from the server (403) stays what it is.
#
# The proxy here terminates TLS with the daemon's own certificate (which the device trusts
# through the dev CA), speaks TLS to the daemon, and forwards the reply up to a cut point: inside
# the status line, inside the headers, just before the blank line that ends them, inside the
# body, or nothing at all. It then closes with a TLS close_notify (a proxy closing cleanly) or
# drops the TCP connection (a link going down).
import os
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


class CuttingProxy:
    """TLS on both sides; forwards requests whole and replies up to self.cut bytes (None: all;
    'headers-2': two bytes short of the end of the header block; 'body+N': N bytes into the
    body). self.clean: close with close_notify rather than just dropping the socket."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.cut = None
        self.clean = True
        self.cuts = 0
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(os.path.join(daemon.data, 'server.pem'),
                                        os.path.join(daemon.data, 'server.key'))
        self.client_ctx = daemon.ssl_context()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    def _accept(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _limit(self, reply):
        """How many bytes of @reply (what has arrived so far) to pass on, or None: all."""
        if self.cut is None:
            return None
        if isinstance(self.cut, int):
            return self.cut
        end = reply.find(b'\r\n\r\n')
        if end < 0:
            return None  # wait for more
        if self.cut == 'headers-2':
            return end + 2
        return end + 4 + int(self.cut.split('+')[1])

    def _serve(self, raw):
        try:
            down = self.server_ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        up = None
        try:
            up = self.client_ctx.wrap_socket(
                socket.create_connection(('127.0.0.1', self.daemon.port), timeout=30),
                server_hostname='127.0.0.1')
            down.settimeout(30)
            while True:
                # One request: headers, then Content-Length bytes of body.
                req = b''
                while b'\r\n\r\n' not in req:
                    chunk = down.recv(65536)
                    if not chunk:
                        return
                    req += chunk
                head, _, body = req.partition(b'\r\n\r\n')
                length = 0
                for line in head.split(b'\r\n')[1:]:
                    name, _, value = line.partition(b':')
                    if name.strip().lower() == b'content-length':
                        length = int(value.strip())
                while len(body) < length:
                    chunk = down.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                up.sendall(head + b'\r\n\r\n' + body)
                # The reply: pass it on whole, or up to the cut and then close.
                reply, sent = b'', 0
                want = None
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        return
                    reply += chunk
                    limit = self._limit(reply)
                    if limit is not None:
                        self.cuts += 1
                        if limit > sent:
                            down.sendall(reply[sent:limit])
                        h.log('proxy: cut the reply after %d bytes (%s close)' %
                              (limit, 'clean' if self.clean else 'abrupt'))
                        if self.clean:
                            try:
                                down.unwrap()
                            except (OSError, ssl.SSLError):
                                pass
                        else:
                            down.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                            b'\x01\x00\x00\x00\x00\x00\x00\x00')
                        return
                    if self.cut is None:
                        down.sendall(reply[sent:])
                        sent = len(reply)
                    if want is None and b'\r\n\r\n' in reply:
                        hd = reply.split(b'\r\n\r\n', 1)[0]
                        want = len(hd) + 4
                        for line in hd.split(b'\r\n')[1:]:
                            name, _, value = line.partition(b':')
                            if name.strip().lower() == b'content-length':
                                want += int(value.strip())
                    if want is not None and len(reply) >= want:
                        if sent < len(reply):
                            down.sendall(reply[sent:])
                        break
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            if up:
                up.close()
            down.close()

    def close(self):
        self.sock.close()


def note_count(d, text):
    return d.scalar("SELECT count(*) FROM field_state WHERE tbl='note' AND field='text'"
                    " AND value=?", (text,))


def test(w):
    d = w.daemon
    pid = d.add_person('Tess Truncated')
    d.add_user('nina', 'nurse')
    d.assign(pid, 'nina')
    proxy = CuttingProxy(d)
    nurse = h.Client(w, 'nurse', 'nina', 'nurse')
    nurse.run('enrol', '--server', proxy.url, '--ca', d.ca, '--code', d.enrol_code('nina'))
    nurse.sync()
    h.check_eq([p['id'] for p in nurse.caseload()], [pid], 'synced through the proxy')

    cuts = [0, 5, 12, 30, 60, 'headers-2', 'body+0', 'body+3']
    for n, cut in enumerate(cuts):
        for clean in (True, False):
            text = 'Note %d %s' % (n, 'clean' if clean else 'abrupt')
            nurse.new('note', 'add', pid, text)
            pending = nurse.status()['pending']
            proxy.cut, proxy.clean = cut, clean
            before = proxy.cuts
            r = nurse.sync(expect=None)
            proxy.cut = None
            h.check(proxy.cuts > before, 'the proxy cut the reply at %r' % (cut,))
            h.check_eq(r.returncode, h.EXIT_NETWORK,
                       'sync with the reply cut at %r (%s close): exit code' %
                       (cut, 'clean' if clean else 'abrupt'), r.stderr)
            err = r.stderr.strip()
            h.check(len(err.splitlines()) == 1 and 'nothing was lost' in err and
                    'check the server address' not in err,
                    'one line: a network failure, nothing lost, try again', err)
            h.check_eq(nurse.status()['pending'], pending, 'the outbox is kept')
    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'the next sync sends the outbox')
    for n in range(len(cuts)):
        for kind in ('clean', 'abrupt'):
            h.check_eq(note_count(d, 'Note %d %s' % (n, kind)), 1, 'note %d %s on the server once'
                       % (n, kind))

    # A complete refusal is still the server's answer: the conflict log is for coordinators.
    r = nurse.run('conflicts', expect=h.EXIT_FORBIDDEN)
    h.check('not allowed' in r.stderr, 'a 403 through the proxy is still "not allowed"',
            r.stderr)
    proxy.close()


if __name__ == '__main__':
    h.main(test)
