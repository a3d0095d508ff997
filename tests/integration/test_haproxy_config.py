#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_haproxy_config.py - the shipped HAProxy configuration (contrib/haproxy/caresync.cfg,
# docs/DEPLOYMENT.md) works as the page says, with Debian's haproxy:
#  * `haproxy -c` accepts it as shipped (only the CA file's path points at a real CA);
#  * run (in the foreground, as this user, without chroot) in front of a real caresyncd, with
#    only addresses, ports and the certificate's name changed: the health checks (HTTPS GET
#    /readyz, verified against the daemon's CA) mark that daemon up and the two addresses
#    where nothing listens down; a client enrols and syncs through HAProxy with TLS passthrough
#    (it sees the daemon's own certificate, checked against the CA it pinned); with the daemon
#    stopped it is marked down and a sync fails as a network error, nothing half-done; started
#    again it is marked up and the edit made meanwhile syncs.
# Every change to the shipped text is an exact substitution that must match once, so a change
# of the shipped file that this test no longer covers fails it. Skips (exit 77) only when
# haproxy is missing.
import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, '..', '..', 'contrib', 'haproxy', 'caresync.cfg')
CA_PATH = 'ca-file /etc/haproxy/caresync-ca.pem'


def substitute(text, pairs):
    for old, new in pairs:
        h.check_eq(text.count(old), 1, 'the shipped configuration holds %r once' % old)
        text = text.replace(old, new)
    return text


def haproxy_check(path):
    p = subprocess.run(['haproxy', '-c', '-f', path], capture_output=True, text=True, timeout=60)
    h.check(p.returncode == 0, 'haproxy -c refused %s' % path, p.stdout + p.stderr)


def states(stats_port):
    """{server name: status} from HAProxy's statistics (CSV)."""
    with urllib.request.urlopen('http://127.0.0.1:%d/stats;csv' % stats_port, timeout=5) as r:
        lines = r.read().decode().splitlines()
    head = lines[0].lstrip('# ').split(',')
    out = {}
    for line in lines[1:]:
        row = dict(zip(head, line.split(',')))
        if row.get('pxname') == 'caresyncd' and row.get('svname', '').startswith('caresyncd'):
            out[row['svname']] = row['status']
    return out


def wait_states(stats_port, want, timeout=60):
    end = time.monotonic() + timeout
    got = None
    while time.monotonic() < end:
        try:
            got = states(stats_port)
        except OSError:
            got = None
        if got and all(got.get(k, '').startswith(v) for k, v in want.items()):
            h.log('haproxy: %s' % got)
            return
        time.sleep(0.2)
    raise AssertionError('haproxy servers: got %s, want %s' % (got, want))


def phone(d, pid):
    rows = d.query("SELECT value AS v FROM field_state WHERE tbl = 'person' AND row_id = ?"
                   " AND field = 'phone'", (pid,))
    return rows[0]['v'] if rows else None


def test(w):
    with open(SHIPPED, encoding='utf-8') as f:
        shipped = f.read()
    d = w.daemon
    # As shipped, with a real CA where the page says to put it.
    checked = os.path.join(w.root, 'haproxy-check.cfg')
    with open(checked, 'w') as f:
        f.write(substitute(shipped, [(CA_PATH, 'ca-file ' + d.ca)]))
    haproxy_check(checked)
    h.log('haproxy -c: the shipped configuration is valid')

    front, stats = h.free_port(), h.free_port()
    down1, down2 = h.free_port(), h.free_port()
    run_cfg = substitute(shipped, [
        # Foreground, as this user, no chroot, no system log or socket.
        ('    log /dev/log local0\n', ''), ('    chroot /var/lib/haproxy\n', ''),
        ('    user haproxy\n', ''), ('    group haproxy\n', ''), ('    daemon\n', ''),
        ('    stats socket /run/haproxy/admin.sock mode 660 level admin\n', ''),
        ('    log global\n', ''),
        # Started as root, HAProxy raises its own file limit; this user may not.
        ('    maxconn 20000\n', '    maxconn 500\n'),
        ('    bind :443\n', '    bind 127.0.0.1:%d\n' % front),
        ('    bind 127.0.0.1:8404\n', '    bind 127.0.0.1:%d\n' % stats),
        (CA_PATH, 'ca-file ' + d.ca),
        ('verifyhost caresync.example.org', 'verifyhost localhost'),
        ('10.0.0.11:8443', '127.0.0.1:%d' % d.port),
        ('10.0.0.12:8443', '127.0.0.1:%d' % down1),
        ('10.0.0.13:8443', '127.0.0.1:%d' % down2),
    ])
    cfg = os.path.join(w.root, 'haproxy.cfg')
    with open(cfg, 'w') as f:
        f.write(run_cfg)
    haproxy_check(cfg)
    log = open(os.path.join(w.root, 'haproxy.log'), 'wb')
    proxy = subprocess.Popen(['haproxy', '-db', '-f', cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_states(stats, {'caresyncd1': 'UP', 'caresyncd2': 'DOWN', 'caresyncd3': 'DOWN'})
        with open(d.log_path, errors='replace') as f:
            h.check('/readyz' in f.read(), 'the daemon logged no /readyz from the health checks')
        url = 'https://127.0.0.1:%d' % front
        d.add_user('ann', 'nurse')
        pid = d.add_person('Ada Lovelace', phone='0111')
        d.assign(pid, 'ann')
        c = h.Client(w, 'ann', 'ann', 'nurse')
        c.run('enrol', '--server', url, '--ca', d.ca, '--code', d.enrol_code('ann'))
        c.sync()
        h.check_eq(c.show(pid)['phone'], '0111', 'the person pulled through HAProxy')
        before = phone(d, pid)

        # The daemon goes away: its health check fails, HAProxy takes it out, and a device's
        # sync fails as a network error with its edit kept for later.
        d.stop()
        wait_states(stats, {'caresyncd1': 'DOWN'})
        c.edit('person', pid, 'phone', '0222')
        c.sync(expect=h.EXIT_NETWORK)
        h.check_eq(phone(d, pid), before, 'the server\'s phone while the daemon was away')
        d.start()
        wait_states(stats, {'caresyncd1': 'UP'})
        c.sync()
        h.check(phone(d, pid) != before and '0222' in phone(d, pid),
                'the edit made while the daemon was away is on the server: %r' % phone(d, pid))
        h.log('HAProxy: passthrough, /readyz checks, a daemon out and back in')
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        log.close()


if not shutil.which('haproxy'):
    print('SKIP: haproxy is not installed (Debian package haproxy; tools/deps.sh installs it)')
    sys.exit(77)
h.main(test)
