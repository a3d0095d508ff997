#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_metrics.py - health and metrics (issue 14, "Health and metrics"): /healthz and /readyz
# answer without authentication on the HTTPS port and on metrics_listen; /metrics is read by
# Prometheus's own parser (promtool check metrics) and its counters move as real clients
# enrol, sync, push changes (applied, lost, out of scope) and a coordinator resolves a
# conflict, and as a TLS handshake fails; /readyz says 503 store_unwritable while the store's
# disk is full (and /healthz still 200), 200 again once space is freed.
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def metrics_addr(d):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r'metrics, health and readiness on http://([0-9.]+):(\d+)/metrics',
                      open(d.log_path, encoding='utf-8', errors='replace').read())
        if m:
            return m.group(1), int(m.group(2))
        time.sleep(0.05)
    raise AssertionError('the daemon never said where its metrics are')


def get(addr, path):
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=30)
    try:
        conn.request('GET', path)
        r = conn.getresponse()
        return r.status, r.getheader('Content-Type'), r.read().decode()
    finally:
        conn.close()


def scrape(addr):
    """/metrics, checked by promtool; a dict of 'name{labels}' -> value."""
    status, ctype, text = get(addr, '/metrics')
    h.check_eq(status, 200, 'GET /metrics')
    h.check(ctype.startswith('text/plain; version=0.0.4'), 'the exposition content type', ctype)
    p = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True,
                       text=True, timeout=60)
    h.check_eq(p.returncode, 0, 'promtool check metrics accepts /metrics', p.stdout + p.stderr,
               text[:3000])
    out = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            key, value = line.rsplit(' ', 1)
            out[key] = float(value)
    return out


def value(m, key):
    return m.get(key, 0.0)


def test(w):
    if not shutil.which('promtool'):
        raise AssertionError('promtool is missing: tools/deps.sh installs Debian\'s prometheus')
    d = w.daemon
    d.stop()
    d.serve_args = ['--metrics-listen', '127.0.0.1:0']
    open(d.log_path, 'w').close()
    d.start()
    maddr = metrics_addr(d)

    h.log('-- /healthz and /readyz: no token needed, on both listeners')
    for path in ('/healthz', '/readyz'):
        status, ctype, body = get(maddr, path)
        h.check_eq((status, json.loads(body)['status']), (200, 'ok'), path + ' on metrics_listen')
        status, _, _, doc = d.request('GET', path)
        h.check_eq((status, doc['status']), (200, 'ok'), path + ' on the HTTPS port')
    status, _, _ = get(maddr, '/v1/sync')
    h.check_eq(status, 404, 'the metrics listener serves no API')

    h.log('-- counters move as clients enrol and sync')
    m0 = scrape(maddr)
    coord = w.client('coord', 'coordinator')
    nurse = w.client('nurse', 'nurse')
    nurse2 = w.client('nurse2', 'nurse')
    pid = d.add_person('Mina Metric', phone='0131 496 0000')
    d.assign(pid, 'nurse')
    d.assign(pid, 'nurse2')
    nurse.sync()
    nurse2.sync()
    m1 = scrape(maddr)
    sync_200 = 'caresyncd_http_requests_total{route="/v1/sync",status="200"}'
    enrol_ok = [k for k in m1 if k.startswith('caresyncd_http_requests_total{route="/v1/enrol"')]
    h.check(enrol_ok and sum(m1[k] for k in enrol_ok) - sum(value(m0, k) for k in enrol_ok) >= 3,
            'three enrolments counted', enrol_ok)
    h.check(value(m1, sync_200) >= value(m0, sync_200) + 2, 'two syncs counted by route/status',
            m1.get(sync_200))
    h.check(value(m1, 'caresyncd_syncs_total') >= value(m0, 'caresyncd_syncs_total') + 2,
            'caresyncd_syncs_total')
    h.check(value(m1, 'caresyncd_pull_bytes_total') > value(m0, 'caresyncd_pull_bytes_total'),
            'pull bytes grow')
    h.check(value(m1, 'caresyncd_changes_pulled_total') > 0, 'the person\'s fields were pulled')
    h.check_eq(value(m1, 'caresyncd_devices{state="active"}'), 3.0, 'three active devices')
    if not d.pg:  # a PostgreSQL store has no file (docs/OPERATIONS.md)
        h.check(value(m1, 'caresyncd_store_bytes') > 0, 'store size')
    h.check(value(m1, 'caresyncd_http_request_duration_seconds_count{route="/v1/sync"}') >= 2,
            'latency histogram of syncs')

    h.log('-- applied, lost and a conflict resolved')
    nurse.edit('person', pid, 'phone', '0131 496 1111')
    nurse2.edit('person', pid, 'phone', '0131 496 2222')
    nurse2.sync()
    nurse.sync()  # pushed after nurse2's, with an older version: one of the two loses
    m2 = scrape(maddr)
    applied = 'caresyncd_changes_pushed_total{outcome="applied"}'
    lost = 'caresyncd_changes_pushed_total{outcome="lost"}'
    h.check(value(m2, applied) >= value(m1, applied) + 1, 'an applied change counted')
    h.check_eq(value(m2, applied) + value(m2, lost) - value(m1, applied) - value(m1, lost), 2.0,
               'both pushed changes counted, applied or lost')
    opened = value(m2, 'caresyncd_conflicts_opened_total') - value(m1, 'caresyncd_conflicts_opened_total')
    conflicts = coord.conflicts()
    h.check_eq(opened, float(len(conflicts)), 'conflicts opened = what the coordinator sees',
               conflicts)
    h.check(conflicts, 'two nurses overwriting one phone number opened a conflict')
    coord.resolve(conflicts[0]['id'], 'keep')
    m3 = scrape(maddr)
    h.check_eq(value(m3, 'caresyncd_conflicts_resolved_total') -
               value(m2, 'caresyncd_conflicts_resolved_total'), 1.0, 'a resolution counted')

    h.log('-- routes fold their ids; unknown paths are "other"')
    h.check_eq(d.request('GET', '/v1/people/%s/fhir' % pid, token=coord.token)[0], 200, 'FHIR')
    d.request('GET', '/v1/people/%s/team' % pid, token=coord.token)
    d.request('GET', '/no/such/%s' % pid)
    m4 = scrape(maddr)
    for key in ('caresyncd_http_requests_total{route="/v1/people/{id}/fhir",status="200"}',
                'caresyncd_http_requests_total{route="/v1/people/{id}/team",status="200"}',
                'caresyncd_http_requests_total{route="other",status="404"}'):
        h.check(value(m4, key) >= 1, key, sorted(k for k in m4 if 'route=' in k))
    h.check(not any(pid in k for k in m4), 'no person id in a label')

    h.log('-- a failed TLS handshake')
    before = value(scrape(maddr), 'caresyncd_tls_handshake_failures_total')
    with socket.create_connection(('127.0.0.1', d.port), timeout=10) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        try:
            s.recv(100)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while value(scrape(maddr), 'caresyncd_tls_handshake_failures_total') <= before:
        h.check(time.monotonic() < deadline, 'plain HTTP to the TLS port is counted')
        time.sleep(0.1)

    if d.pg:  # a full disk under PostgreSQL is the database's (test_pg_store stops it instead)
        return
    h.log('-- /readyz fails while the store cannot be written (a full disk)')
    mnt = os.path.join(w.root, 'mnt')
    why = h.mount_tmpfs(mnt, 8 << 20)
    if why:
        h.log('SKIP the full-disk part: ' + why)
        return
    try:
        w2 = h.World(os.path.join(w.root, 'full'))
        os.makedirs(w2.root)
        d2 = w2.daemon
        d2.data = os.path.join(mnt, 'server')
        d2.serve_args = ['--metrics-listen', '127.0.0.1:0']
        w2.start()
        m2addr = metrics_addr(d2)
        h.check_eq(get(m2addr, '/readyz')[0], 200, 'ready on an empty disk')
        filler = h.fill_disk(mnt)
        status, _, body = get(m2addr, '/readyz')
        h.check_eq(status, 503, '/readyz on a full disk', body)
        doc = json.loads(body)
        h.check_eq(doc['error'], 'store_unwritable', 'the reason', doc)
        h.check('free space' in doc['message'], 'it says what to do', doc)
        status, _, _, doc = d2.request('GET', '/readyz')
        h.check_eq(status, 503, '/readyz on the HTTPS port on a full disk', doc)
        h.check_eq(get(m2addr, '/healthz')[0], 200, 'still alive')
        os.remove(filler)
        h.check_eq(get(m2addr, '/readyz')[0], 200, 'ready again once space is freed')
        w2.close()
    finally:
        h.umount(mnt)


if __name__ == '__main__':
    h.main(test)
