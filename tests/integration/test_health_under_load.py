#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_health_under_load.py - /readyz and /metrics while devices sync (issue 11, item 4): their
# store reads and the /readyz probe write run on the store's worker threads like any request,
# never on the event loop with the writer thread's handle (which raced with the writer: a probe
# write inside a group's transaction, the handle's statement cache used from two threads).
#
# Several devices sync round after round, all at once, while two threads ask /readyz on the
# HTTPS port and /readyz and /metrics on the metrics listener as fast as they are answered.
# Every answer must be 200 (ready; figures that parse and whose write-job count never goes
# back), every sync must succeed and store its note exactly once, the audit chain verifies,
# and the daemon stops cleanly (exit 0: under ASan or TSan, no report).
#
# Under ThreadSanitizer (not part of tools/test.sh): `CC=clang meson setup B -Db_sanitize=thread
# -Db_lundef=false && ninja -C B daemon/caresyncd`, then run this file with CARESYNCD=B/daemon/
# caresyncd, CARESYNC=any build's client and TSAN_OPTIONS=halt_on_error=1. On the code before
# the fix (the /readyz probe on the loop with the writer's handle) TSan reports the race between
# the loop's probe commit and the writer thread, and the gcc build's daemon dies mid-test.
import http.client
import os
import re
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from test_metrics import metrics_addr

DEVICES = 6
ROUNDS = 4


class Hammer(threading.Thread):
    """Ask @paths over and over on one connection (reopened when the server closes it) until
    stopped; keep every status and every /metrics body."""

    def __init__(self, connect, paths):
        super().__init__(daemon=True)
        self.connect = connect
        self.paths = paths
        self.stop = threading.Event()
        self.statuses = {p: [] for p in paths}
        self.bodies = []
        self.errors = []

    def run(self):
        conn = None
        while not self.stop.is_set():
            for p in self.paths:
                try:
                    if conn is None:
                        conn = self.connect()
                    conn.request('GET', p)
                    r = conn.getresponse()
                    body = r.read().decode('utf-8', 'replace')
                except (OSError, http.client.HTTPException) as e:
                    self.errors.append('%s: %r' % (p, e))
                    if conn:
                        conn.close()
                    conn = None
                    continue
                self.statuses[p].append(r.status)
                if p == '/metrics' and r.status == 200:
                    self.bodies.append(body)
                elif r.status != 200:
                    self.bodies.append('%s %d %s' % (p, r.status, body))
        if conn:
            conn.close()


def write_jobs(text):
    m = re.search(r'^caresyncd_store_write_jobs_total (\S+)$', text, re.M)
    h.check(m, 'a /metrics answer without caresyncd_store_write_jobs_total', text[:2000])
    return float(m.group(1))


def test(w):
    d = w.daemon
    pid = d.add_person('Hana Busy')
    nurses = []
    for i in range(DEVICES):
        c = w.client('n%d' % i, 'nurse', user='nurse%d' % i)
        d.assign(pid, 'nurse%d' % i)
        c.sync()
        nurses.append(c)

    maddr = metrics_addr(d)
    ctx = ssl.create_default_context(cafile=d.ca)
    https = Hammer(lambda: http.client.HTTPSConnection('127.0.0.1', d.port, context=ctx,
                                                       timeout=60), ['/readyz'])
    plain = Hammer(lambda: http.client.HTTPConnection(maddr[0], maddr[1], timeout=60),
                   ['/readyz', '/metrics'])
    https.start()
    plain.start()
    try:
        for r in range(ROUNDS):
            for i, c in enumerate(nurses):
                c.new('note', 'add', pid, 'Round %d note from device %d' % (r, i))
            procs = [subprocess.Popen([h.CARESYNC, '--home', c.home, 'sync'],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for c in nurses]
            for i, p in enumerate(procs):
                out, err = p.communicate(timeout=120)
                h.check_eq(p.returncode, 0, 'round %d: sync of device %d' % (r, i), out, err)
    finally:
        for t in (https, plain):
            t.stop.set()
        for t in (https, plain):
            t.join(60)

    h.log('answered while syncing: HTTPS /readyz %d, metrics /readyz %d, /metrics %d' %
          (len(https.statuses['/readyz']), len(plain.statuses['/readyz']),
           len(plain.statuses['/metrics'])))
    for t in (https, plain):
        h.check_eq(t.errors, [], 'no health request failed at the connection')
        for p, got in t.statuses.items():
            h.check(len(got) >= ROUNDS, '%s was asked while devices synced' % p, got)
            h.check_eq(sorted(set(got)), [200], 'every %s answer was 200' % p,
                       [b for b in t.bodies if not b.startswith('#')][:5])
    last = 0
    for body in plain.bodies:
        n = write_jobs(body)
        h.check(n >= last, 'the write-job count never goes back', n, last)
        last = n
    h.check(last > 0, 'the figures saw the writes')

    for r in range(ROUNDS):
        for i in range(DEVICES):
            h.check_eq(d.scalar("SELECT count(*) FROM field_state WHERE tbl='note'"
                                " AND field='text' AND value=?",
                                ('Round %d note from device %d' % (r, i),)), 1,
                       'round %d, device %d: the note is stored once' % (r, i))
    d.admin(['audit', 'verify'])


if __name__ == '__main__':
    h.main(test)
