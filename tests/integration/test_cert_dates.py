#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_cert_dates.py - the development certificates 'caresyncd init' makes, and their renewal.
#
# The server certificate is valid from at least a day ago (a device whose clock is slow by more
# than the old one hour could not enrol) for at most 366 days; the CA from at least a day ago.
# 'caresyncd cert renew' reissues the server certificate and key from the same CA: ca.pem and
# ca.key are unchanged, the names are kept (and --san adds one), the dates are fresh, and an
# enrolled device keeps syncing with the restarted daemon, which presents the new certificate.
# Renewing without the CA key, or for a directory that was never initialised, fails (exit 1)
# saying what to do.
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

DAY = 86400


def x509(path, *args):
    p = subprocess.run(['openssl', 'x509', '-in', path, '-noout'] + list(args),
                       capture_output=True, text=True, check=True)
    return p.stdout


def dates(path):
    got = {}
    for line in x509(path, '-dates').splitlines():
        k, _, v = line.partition('=')
        got[k.strip()] = ssl.cert_time_to_seconds(v.strip())
    return got['notBefore'], got['notAfter']


def check_dates(path, what, max_days):
    nb, na = dates(path)
    now = time.time()
    h.log('%s: valid from %s to %s' % (what, time.ctime(nb), time.ctime(na)))
    h.check(nb <= now - DAY, '%s is valid from at least a day ago (notBefore %s)' %
            (what, time.ctime(nb)))
    h.check(na > now + 300 * DAY, '%s is valid for most of a year at least' % what)
    h.check(na - nb <= max_days * DAY, '%s lives at most %d days (%.1f)' %
            (what, max_days, (na - nb) / DAY))


def served_cert(d):
    with socket.create_connection(('127.0.0.1', d.port), timeout=10) as s:
        with d.ssl_context().wrap_socket(s, server_hostname='127.0.0.1') as t:
            return ssl.DER_cert_to_PEM_cert(t.getpeercert(binary_form=True))


def pem_of(path):
    with open(path) as f:
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(f.read()))


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def test(w):
    d = w.daemon
    server_pem = os.path.join(d.data, 'server.pem')
    check_dates(server_pem, 'the server certificate', 366)
    check_dates(d.ca, 'the development CA', 3660)

    pid = d.add_person('Cass Cert')
    nurse = w.client('nurse', 'nurse', user='nina')
    d.assign(pid, 'nina')
    nurse.sync()

    ca_before, ca_key_before = read(d.ca), read(os.path.join(d.data, 'ca.key'))
    key_before = read(os.path.join(d.data, 'server.key'))
    serial_before = x509(server_pem, '-serial')
    r = d.admin(['cert', 'renew'], '--san', 'caresync.example.org')
    h.check('server.pem' in r.stdout and 'SIGHUP' in r.stdout,
            'cert renew says what it made and to send serve SIGHUP', r.stdout)
    h.check_eq(read(d.ca), ca_before, 'ca.pem unchanged')
    h.check_eq(read(os.path.join(d.data, 'ca.key')), ca_key_before, 'ca.key unchanged')
    h.check(read(os.path.join(d.data, 'server.key')) != key_before, 'a new server key')
    h.check(x509(server_pem, '-serial') != serial_before, 'a new serial')
    check_dates(server_pem, 'the renewed server certificate', 366)
    sans = x509(server_pem, '-ext', 'subjectAltName')
    for name in ('IP Address:127.0.0.1', 'DNS:localhost', 'DNS:caresync.example.org'):
        h.check(name in sans, 'renewed certificate names %s' % name, sans)
    # Renewing again without --san keeps the names it had.
    d.admin(['cert', 'renew'])
    h.check('DNS:caresync.example.org' in x509(server_pem, '-ext', 'subjectAltName'),
            'names kept across renewals')
    p = subprocess.run(['openssl', 'verify', '-CAfile', d.ca, server_pem], capture_output=True,
                       text=True)
    h.check_eq(p.returncode, 0, 'openssl verify of the renewed certificate', p.stdout + p.stderr)

    # The running daemon keeps its old certificate until restarted; then it serves the new one
    # and the device, which trusts the same CA, keeps syncing.
    nurse.sync()
    d.stop(expect_rc=0)
    d.start()
    h.check_eq(served_cert(d), pem_of(server_pem), 'the restarted daemon serves the new cert')
    nurse.new('note', 'add', pid, 'After the renewal')
    nurse.sync()
    h.check_eq(d.scalar("SELECT count(*) FROM field_state WHERE tbl='note' AND field='text'"
                        " AND value='After the renewal'"), 1, 'the note reached the server')

    # Failures say what to do.
    bare = os.path.join(w.root, 'never-initialised')
    r = h.run([h.CARESYNCD, 'cert', 'renew', '--data', bare], expect=1)
    h.check('caresyncd init' in r.stderr, 'renew in an empty place says to run init', r.stderr)
    os.rename(os.path.join(d.data, 'ca.key'), os.path.join(w.root, 'ca.key.away'))
    r = h.run([h.CARESYNCD, 'cert', 'renew', '--data', d.data], expect=1)
    h.check('ca.key' in r.stderr and len(r.stderr.strip().splitlines()) == 1,
            'renew without the CA key says so in one line', r.stderr)
    h.check_eq(pem_of(server_pem), served_cert(d), 'a failed renewal left server.pem alone')
    os.rename(os.path.join(w.root, 'ca.key.away'), os.path.join(d.data, 'ca.key'))
    h.run([h.CARESYNCD, 'cert', 'renew', '--data', d.data, '--san', 'bad name!'],
          expect=h.EXIT_USAGE)


if __name__ == '__main__':
    h.main(test)
