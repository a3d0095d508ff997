#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_service.py - caresyncd run as a system service (issue 14, "systemd"): started as root
# with user = nobody it binds (a port below 1024 too), hands the data directory to nobody
# (directory 0700, store, WAL, lock and keys 0600, all nobody's) and serves as nobody (every uid
# and gid of the process, no supplementary group of root's); clients sync and SIGHUP reloads
# as nobody; a daemon started as nobody serves the same directory again, and one asked to
# become another user without being root is refused. Readiness reaches systemd: with
# NOTIFY_SOCKET set, READY=1 once serving, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on
# SIGTERM. The privilege part needs root (skipped otherwise).
import os
import pwd
import signal
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def proc_ids(pid):
    out = {}
    for line in open('/proc/%d/status' % pid):
        k, _, v = line.partition(':')
        if k in ('Uid', 'Gid', 'Groups'):
            out[k] = [int(x) for x in v.split()]
    return out


def low_port():
    """A free TCP port below 1024 on 127.0.0.1, or None."""
    for port in range(987, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
                return port
            except OSError:
                continue
    return None


def notify_part(w):
    h.log('-- sd_notify: READY, RELOADING, STOPPING')
    d = w.daemon
    path = os.path.join(w.root, 'notify.sock')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    d.stop()
    d.env = {'NOTIFY_SOCKET': path}
    d.start()
    got = sock.recv(4096).decode()
    if got == '' or 'READY=1' not in got:
        raise AssertionError('READY=1 after start, got %r' % got)
    d.proc.send_signal(signal.SIGHUP)
    got = [sock.recv(4096).decode(), sock.recv(4096).decode()]
    h.check_eq(got, ['RELOADING=1', 'READY=1'], 'a reload is announced and ends')
    d.stop()
    h.check_eq(sock.recv(4096).decode(), 'STOPPING=1', 'SIGTERM is announced')
    sock.close()
    d.env = {}


def test(w):
    d = w.daemon
    nurse = w.client('nurse', 'nurse')
    pid = d.add_person('Pia Privilege')
    d.assign(pid, 'nurse')
    nurse.sync()
    notify_part(w)
    if os.geteuid() != 0:
        h.log('SKIP the privilege drop: not root')
        return
    nobody = pwd.getpwnam('nobody')
    os.chmod(w.root, 0o711)  # mkdtemp's 0700 would keep nobody from reaching the data directory

    h.log('-- started as root with user = nobody')
    conf = os.path.join(w.root, 'svc.conf')
    extra = []
    lp = low_port()
    if lp:
        extra = ['--listen', '127.0.0.1:%d' % lp]
    with open(conf, 'w') as f:
        f.write('user = nobody\nmetrics_listen = off\n')
    d.serve_args = ['--config', conf] + extra
    open(d.log_path, 'w').close()
    d.start()
    ids = proc_ids(d.proc.pid)
    h.check_eq(ids['Uid'], [nobody.pw_uid] * 4, 'every uid of the serving process is nobody\'s')
    h.check_eq(ids['Gid'], [nobody.pw_gid] * 4, 'every gid is nobody\'s group')
    h.check(0 not in ids['Groups'], 'no supplementary group of root\'s', ids)
    st = os.stat(d.data)
    h.check_eq((st.st_uid, stat.S_IMODE(st.st_mode)), (nobody.pw_uid, 0o700),
               'the data directory is nobody\'s, 0700')
    store = ('store.url',) if d.pg else ('store.db', 'store.db-wal')
    for name in store + ('caresyncd.lock', 'server.key', 'ca.key'):
        st = os.stat(os.path.join(d.data, name))
        h.check_eq((st.st_uid, stat.S_IMODE(st.st_mode)), (nobody.pw_uid, 0o600),
                   '%s is nobody\'s, 0600' % name)
    h.check_eq(os.stat(os.path.join(d.data, 'server.pem')).st_uid, nobody.pw_uid,
               'server.pem is nobody\'s')
    log = open(d.log_path).read()
    h.check('running as user nobody' in log, 'the drop is logged', log[-1500:])
    h.check('cannot read' not in log, 'nobody can read the certificate and key', log[-1500:])
    if lp:
        import ssl
        with socket.create_connection(('127.0.0.1', lp), timeout=10) as s:
            with d.ssl_context().wrap_socket(s, server_hostname='127.0.0.1'):
                pass
        h.log('port %d (below 1024) bound before the drop, serving as nobody' % lp)
    nurse.edit('person', pid, 'phone', '0131 496 5555')
    nurse.sync()
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 496 5555',
               'nobody writes the store')
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while 'SIGHUP: reloaded the certificate' not in open(d.log_path).read():
        h.check(time.monotonic() < deadline, 'SIGHUP reloads as nobody')
        time.sleep(0.05)
    nurse.sync()
    d.stop()

    h.log('-- started as nobody: the same directory serves; another user is refused')
    env_argv = ['setpriv', '--reuid', str(nobody.pw_uid), '--regid', str(nobody.pw_gid),
                '--clear-groups']
    p = h.run(env_argv + [h.CARESYNCD, 'serve', '--data', d.data, '--listen', '127.0.0.1:0',
                          '--metrics-listen', 'off', '--user', 'root'], expect=1, timeout=20)
    h.check('not started as root' in p.stderr, 'becoming root as nobody is refused', p.stderr)
    saved = h.CARESYNCD
    wrapper = os.path.join(w.root, 'as-nobody.sh')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec %s "%s" "$@"\n' % (' '.join(env_argv), saved))
    os.chmod(wrapper, 0o755)
    h.CARESYNCD = wrapper
    try:
        d.serve_args = ['--metrics-listen', 'off', '--user', 'nobody']
        d.start()
        h.check_eq(proc_ids(d.proc.pid)['Uid'][0], nobody.pw_uid, 'serving as nobody')
        nurse.sync()
        d.stop()
    finally:
        h.CARESYNCD = saved
    d.serve_args = []
    d.start()


if __name__ == '__main__':
    h.main(test)
