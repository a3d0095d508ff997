#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_own_certificate.py - the trust's own certificate (issue 14, "Your own certificate"):
# 'caresyncd init --no-dev-ca' makes no CA and no certificate, and serve then says what to give
# it; tls_certificate / tls_key in the configuration file serve a chain (leaf + intermediate,
# made here with openssl from a root the devices hold); a client enrolled with --ca ROOT syncs;
# one enrolled without --ca trusts the system's CA store: refused while the store lacks the
# root, syncing once it holds it (a private mount namespace whose ca-certificates.crt has it;
# root only, that part skipped otherwise). SIGHUP while a client syncs in a loop and the
# certificate is renewed: no request fails, a connection opened before keeps working, and the
# next handshake presents the new certificate. The development CA's key can leave the data
# directory: serve and backup work without it, 'cert renew' says it needs it.
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def openssl(*args):
    h.run(['openssl'] + list(args), quiet=True)


def make_pki(root):
    """A root CA, an intermediate and two leaves (serial 1, 2) for 127.0.0.1 and localhost."""
    os.makedirs(root)
    p = lambda n: os.path.join(root, n)
    with open(p('ca.ext'), 'w') as f:
        f.write('basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')
    with open(p('leaf.ext'), 'w') as f:
        f.write('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', p('root.key'), '-out', p('root.pem'), '-days', '30',
            '-subj', '/CN=caresync test trust root', '-addext',
            'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', *ec, '-keyout', p('int.key'), '-out', p('int.csr'), '-subj',
            '/CN=caresync test trust issuing CA')
    openssl('x509', '-req', '-in', p('int.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'),
            '-set_serial', '100', '-days', '30', '-extfile', p('ca.ext'), '-out', p('int.pem'))
    for n in (1, 2):
        openssl('req', *ec, '-keyout', p('leaf%d.key' % n), '-out', p('leaf%d.csr' % n), '-subj',
                '/CN=localhost')
        openssl('x509', '-req', '-in', p('leaf%d.csr' % n), '-CA', p('int.pem'), '-CAkey',
                p('int.key'), '-set_serial', str(n), '-days', '30', '-extfile', p('leaf.ext'),
                '-out', p('leaf%d.pem' % n))
        with open(p('chain%d.pem' % n), 'w') as f:
            f.write(open(p('leaf%d.pem' % n)).read() + open(p('int.pem')).read())
    return p


class OwnDaemon(h.Daemon):
    """A daemon whose devices trust @root_ca, not the data directory's ca.pem."""
    root_ca = None

    @property
    def ca(self):
        return self.root_ca


def peer_serial(d):
    with socket.create_connection(('127.0.0.1', d.port), timeout=10) as s:
        with d.ssl_context().wrap_socket(s, server_hostname='127.0.0.1') as t:
            return t.getpeercert()['serialNumber']


def in_namespace(bundle, argv):
    """@argv in a private mount namespace where the system's CA store is @bundle."""
    return ['unshare', '-m', 'sh', '-c',
            'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"', bundle] + argv


def test(w):
    pki = make_pki(os.path.join(w.root, 'pki'))

    h.log('-- the development CA key can leave the data directory')
    dev = w.daemon
    nurse_dev = w.client('devnurse', 'nurse')
    dev.stop()
    key_away = os.path.join(w.root, 'ca.key.offline')
    os.rename(os.path.join(dev.data, 'ca.key'), key_away)
    dev.start()
    nurse_dev.sync()
    if not dev.pg:  # a PostgreSQL store is backed up with pg_dump
        dev.admin(['backup'], '--output', os.path.join(w.root, 'b.db'))
    p = dev.admin(['cert', 'renew'], expect=None)
    h.check(p.returncode != 0 and 'ca.key' in p.stderr, 'cert renew needs ca.key back', p.stderr)
    dev.stop()

    h.log('-- init --no-dev-ca: a store and nothing else')
    d = OwnDaemon(w.root, 'own')
    d.root_ca = pki('root.pem')
    p = h.run([h.CARESYNCD, 'init', '--data', d.data, '--no-dev-ca'])
    h.check('tls_certificate' in p.stdout, 'init says what to give serve', p.stdout)
    h.check_eq(sorted(os.listdir(d.data)), ['store.db'], 'no CA, no certificate, no key')
    p = h.run([h.CARESYNCD, 'serve', '--data', d.data, '--listen', '127.0.0.1:0',
               '--metrics-listen', 'off'], expect=1, timeout=20)
    h.check('tls_certificate and tls_key' in p.stderr, 'serve says to give a certificate',
            p.stderr)

    h.log('-- serve the chain named in the configuration file')
    live_cert = os.path.join(w.root, 'live', 'fullchain.pem')
    live_key = os.path.join(w.root, 'live', 'privkey.pem')
    os.makedirs(os.path.dirname(live_cert))
    open(live_cert, 'w').write(open(pki('chain1.pem')).read())
    open(live_key, 'w').write(open(pki('leaf1.key')).read())
    conf = os.path.join(w.root, 'own.conf')
    with open(conf, 'w') as f:
        f.write('tls_certificate = %s\ntls_key = %s\nmetrics_listen = off\n' % (live_cert,
                                                                             live_key))
    d.serve_args = ['--config', conf]
    d.start()
    h.check_eq(peer_serial(d), '01', 'the first leaf is served')
    w2 = h.World(w.root)
    w2.daemon = d
    d.add_user('nina', 'nurse')
    pid = d.add_person('Olive Own')
    d.assign(pid, 'nina')
    nurse = h.Client(w2, 'nina', 'nina', 'nurse')
    nurse.enrol(d.enrol_code('nina'))  # --ca root.pem: the intermediate comes from the server
    nurse.sync()

    h.log('-- a client without --ca trusts the system CA store')
    sysnurse_home = os.path.join(w.root, 'home-system')
    d.add_user('sam', 'nurse')
    d.assign(pid, 'sam')
    code = d.enrol_code('sam')
    p = h.run([h.CARESYNC, '--home', sysnurse_home, 'enrol', '--server', d.url, '--code', code],
              expect=h.EXIT_NETWORK)
    h.check("system's CA store" in p.stderr, 'refused: the system store lacks our root',
            p.stderr)
    if os.geteuid() == 0 and os.path.exists('/etc/ssl/certs/ca-certificates.crt'):
        bundle = os.path.join(w.root, 'system-bundle.crt')
        with open(bundle, 'w') as f:
            f.write(open('/etc/ssl/certs/ca-certificates.crt').read() +
                    open(pki('root.pem')).read())
        h.run(in_namespace(bundle, [h.CARESYNC, '--home', sysnurse_home, 'enrol', '--server',
                                    d.url, '--code', code]))
        h.check(not os.path.exists(os.path.join(sysnurse_home, 'ca.pem')), 'no CA file kept')
        h.run(in_namespace(bundle, [h.CARESYNC, '--home', sysnurse_home, 'sync']))
        p = h.run([h.CARESYNC, '--home', sysnurse_home, 'sync'], expect=h.EXIT_NETWORK)
        h.check("system's CA store" in p.stderr, 'outside, the system store still lacks it',
                p.stderr)
    else:
        h.log('SKIP the system store part: needs root and /etc/ssl/certs/ca-certificates.crt')

    h.log('-- renewal: replace the files and SIGHUP while a client syncs in a loop')
    keep = http.client.HTTPSConnection('127.0.0.1', d.port, context=d.ssl_context(), timeout=10)
    hdrs = {'Authorization': 'Bearer ' + nurse.token, 'Content-Type': 'application/json'}
    body = '{"cursor": "", "changes": []}'
    keep.request('POST', '/v1/sync', body=body, headers=hdrs)
    r = keep.getresponse()
    r.read()
    h.check_eq(r.status, 200, 'a keep-alive connection before the renewal')
    results, stop = [], threading.Event()

    def loop():
        while not stop.is_set() or len(results) < 6:
            results.append(nurse.sync(expect=None, quiet=True).returncode)

    t = threading.Thread(target=loop)
    t.start()
    while len(results) < 3:
        time.sleep(0.05)
    # What certbot's deploy hook does: the new files in place, then a reload.
    for src, dst in ((pki('chain2.pem'), live_cert), (pki('leaf2.key'), live_key)):
        open(dst + '.new', 'w').write(open(src).read())
        os.rename(dst + '.new', dst)
    at = len(results)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while peer_serial(d) != '02':
        h.check(time.monotonic() < deadline, 'the new certificate is served after SIGHUP')
        time.sleep(0.05)
    while len(results) < at + 3:
        time.sleep(0.05)
    stop.set()
    t.join(120)
    h.check(not t.is_alive(), 'the sync loop ended')
    h.check_eq(set(results), {0}, 'every sync around the reload succeeded (%d)' % len(results))
    keep.request('POST', '/v1/sync', body=body, headers=hdrs)
    r = keep.getresponse()
    r.read()
    h.check_eq(r.status, 200, 'the connection opened before the reload still works')
    keep.close()
    log = open(d.log_path, encoding='utf-8', errors='replace').read()
    h.check('SIGHUP: reloaded the certificate' in log and live_cert in log,
            'the reload is logged with the file', log[-2000:])

    h.log('-- a broken renewal keeps the certificate in use')
    open(live_key, 'w').write(open(pki('leaf1.key')).read())  # does not match chain2
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while 'kept the certificate in use' not in open(d.log_path).read():
        h.check(time.monotonic() < deadline, 'a mismatched key is refused at SIGHUP')
        time.sleep(0.05)
    h.check_eq(peer_serial(d), '02', 'still the renewed certificate')
    nurse.sync()
    d.stop()


if __name__ == '__main__':
    h.main(test)
