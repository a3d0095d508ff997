#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_config.py - caresyncd's configuration file (issue 14, "Configuration"): a good file is
# 'ok' and serves with its values (data, listen and limits from the file alone); a bad value, an
# unknown key, a line that is not key = value and a key given twice are each refused naming
# FILE:LINE (config check and serve both exit 2, serve starts nothing); a flag overrides the
# file's value for its key, the file's other keys still apply; --config of a missing file is
# refused. The example file (contrib/caresyncd.conf) passes 'config check', and the systemd
# unit (contrib/systemd/caresyncd.service) rates 2.0 or lower in 'systemd-analyze security'.
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def serve_log_line(d, prefix):
    for line in open(d.log_path, encoding='utf-8', errors='replace'):
        if prefix in line:
            return line
    return ''


def test(w):
    d = w.daemon
    nurse = w.client('nurse', 'nurse')
    d.stop()

    h.log('-- a good file: comments, blank lines, quotes, every kind of value')
    port = d.port  # the client knows this one
    good = write(os.path.join(w.root, 'good.conf'),
                 '# caresyncd test configuration\n'
                 '\n'
                 'data = "%s"\n'
                 'listen = 127.0.0.1:%d\n'
                 '   max_conns_per_addr=5   \n'
                 'max_conns = 50\n'
                 'enrol_limit = 3/60\n'
                 'log_level = info\n'
                 'log_format = text\n'
                 'quiet = false\n'
                 'metrics_listen = off\n' % (d.data, port))
    p = h.run([h.CARESYNCD, 'config', 'check', good])
    h.check_eq(p.stdout.strip(), good + ': ok', 'config check of a good file')

    h.log('-- serve from the file alone: its data, listen and limits')
    saved_start = d._start

    def start_from_file(timeout, argv_extra=None):
        # Only --config: the daemon must find DIR and ADDR:PORT in the file.
        import subprocess
        d.log_file = open(d.log_path, 'ab')
        argv = [h.CARESYNCD, 'serve', '--config', good] + (argv_extra or [])
        h.log('$ ' + ' '.join(argv) + ' &')
        d.proc = subprocess.Popen(argv, stdout=d.log_file, stderr=subprocess.STDOUT)
        import socket
        import ssl
        import time
        deadline = time.monotonic() + timeout
        while True:
            h.check(d.proc.poll() is None, 'serve --config exited early', open(d.log_path).read())
            try:
                with socket.create_connection(('127.0.0.1', d.port), timeout=2) as s:
                    with d.ssl_context().wrap_socket(s, server_hostname='127.0.0.1'):
                        return
            except (OSError, ssl.SSLError):
                h.check(time.monotonic() < deadline, 'serve --config never accepted TLS')
                time.sleep(0.05)

    open(d.log_path, 'w').close()
    start_from_file(20)
    nurse.sync()
    line = serve_log_line(d, 'connections: at most')
    h.check('at most 50, 5 per address' in line, 'the limits come from the file', line)
    d.stop()

    h.log('-- a flag overrides the file for its key; the other keys still apply')
    open(d.log_path, 'w').close()
    start_from_file(20, ['--max-conns', '40'])
    line = serve_log_line(d, 'connections: at most')
    h.check('at most 40, 5 per address' in line, '--max-conns beats max_conns, the file still '
            'gives max_conns_per_addr', line)
    nurse.sync()
    d.stop()
    d._start = saved_start

    h.log('-- bad files: each names FILE:LINE and exits 2, serve included')
    bad = [
        ('bad value', 'data = /x\nmax_conns = lots\n', 2, "max_conns takes a whole number"),
        ('unknown key', 'data = /x\n\n# fine\nmax_connections = 5\n', 4, "unknown key 'max_connections'"),
        ('not key = value', 'listen 127.0.0.1:1\n', 1, "expected 'key = value'"),
        ('twice', 'max_conns = 5\nmax_conns = 6\n', 2, 'max_conns is given twice'),
        ('bad listen', 'listen = nowhere\n', 1, 'listen takes HOST:PORT'),
        ('bad level', 'log_level = loud\n', 1, 'log_level takes error, warn, info or debug'),
        ('bad format', 'log_format = xml\n', 1, 'log_format takes text or json'),
        ('bad bool', 'quiet = maybe\n', 1, 'quiet takes true or false'),
        ('no such user', 'user = no-such-user-here\n', 1, "no user 'no-such-user-here'"),
        ('open quote', 'data = "/x\n', 1, "opens a '\"'"),
    ]
    for what, text, line_no, msg in bad:
        path = write(os.path.join(w.root, 'bad.conf'), text)
        p = h.run([h.CARESYNCD, 'config', 'check', path], expect=2)
        where = '%s:%d: ' % (path, line_no)
        h.check(where in p.stderr and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1,
                '%s: one line naming %s and saying %r' % (what, where, msg), p.stderr)
        p = h.run([h.CARESYNCD, 'serve', '--config', path, '--data', d.data, '--listen',
                   '127.0.0.1:0'], expect=2, timeout=20)
        h.check(where in p.stderr, '%s: serve refuses the file naming the line' % what,
                p.stderr)

    h.log('-- a bad flag is named as the flag; a missing --config file is refused')
    p = h.run([h.CARESYNCD, 'serve', '--config', good, '--max-conns', 'x'], expect=2)
    h.check('--max-conns takes a whole number' in p.stderr, 'the flag is named', p.stderr)
    p = h.run([h.CARESYNCD, 'serve', '--config', os.path.join(w.root, 'none.conf')], expect=2)
    h.check('no configuration file' in p.stderr, 'a missing --config is named', p.stderr)
    p = h.run([h.CARESYNCD, 'config', 'check', os.path.join(w.root, 'none.conf')], expect=1)
    p = h.run([h.CARESYNCD, 'serve', '--config', write(os.path.join(w.root, 'nodata.conf'),
                                                          'listen = 127.0.0.1:0\n')], expect=2)
    h.check('--data DIR (or data = DIR' in p.stderr, 'no data anywhere is a usage error', p.stderr)
    p = h.run([h.CARESYNCD, 'serve', '--config', good, '--tls-key', '/x.key'], expect=2)
    h.check('tls_certificate and tls_key go together' in p.stderr, 'a key without a certificate',
            p.stderr)

    h.log('-- the shipped example configuration and systemd unit')
    contrib = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'contrib')
    example = os.path.join(contrib, 'caresyncd.conf')
    h.run([h.CARESYNCD, 'config', 'check', example])
    unit = os.path.join(contrib, 'systemd', 'caresyncd.service')
    if shutil.which('systemd-analyze'):
        p = h.run(['systemd-analyze', 'security', '--offline=true', '--threshold=20', unit],
                  expect=None)
        h.check(p.returncode == 0, 'systemd-analyze security rates the unit 2.0 or lower',
                p.stdout[-600:], p.stderr)
        h.log(p.stdout.strip().splitlines()[-1])
    else:
        h.log('SKIP the unit check: no systemd-analyze')

    h.log('-- the daemon still serves from flags after all that')
    d.start()
    nurse.sync()


if __name__ == '__main__':
    h.main(test)
