#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_crash_kill.py - SIGKILL the daemon at random moments under load. On the demo data set
# (`caresyncd demo`), six real clients of different workers loop: record edits with unique
# values (contact details of people on their caseload, notes) and sync. Meanwhile the daemon is
# killed with SIGKILL after a random 0.3-2.5 s and restarted on the same data directory, again and
# again. Then every client syncs until its outbox is empty, and a history checker verifies:
#   - every change a client recorded is on the server exactly once (change_log, by change_id and
#     by its unique value), and nothing of this run's form that no client recorded;
#   - every change a successful sync acknowledged (it left the outbox) is on the server;
#   - every replica holds the server's version of every field it holds, and the server's contact
#     details of each person on its caseload;
#   - integrity_check is ok on the store after all the kills.
# A sync while the daemon is down or dying must fail as a network failure (exit 4), keeping its
# changes. SEED=n replays the kill schedule and the edits (thread timing still varies); the seed
# is printed first.
import os
import random
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

# Demo workers with people in common (Doreen Ashworth is on amira's, ella's and grace's).
WORKERS = ['nurse.amira', 'nurse.ben', 'ot.chloe', 'physio.dev', 'sw.ella', 'lw.grace']
WRITES_NOTES = {'nurse.amira', 'nurse.ben', 'ot.chloe', 'physio.dev', 'sw.ella'}
PERSON_FIELDS = ['phone', 'address', 'preferred_name']
KILL_PHASE_S = float(os.environ.get('KILL_PHASE_S', '25'))
MIN_KILLS = 5


def test(w):
    seed = int(os.environ.get('SEED') or random.SystemRandom().randrange(1, 1 << 30))
    h.log('seed %d (replay: SEED=%d)' % (seed, seed))
    rng = random.Random(seed)
    d = w.daemon
    d.admin(['demo'])
    prefix = 'ck%d-' % seed
    hist = h.History()
    lock = threading.Lock()
    clients, caseloads = [], {}
    for name in WORKERS:
        c = h.Client(w, name.split('.')[0] + '-' + name.split('.')[1], name, None)
        c.enrol(d.enrol_code(name))
        c.sync(quiet=True)
        caseloads[c.name] = sorted(p['id'] for p in c.caseload())
        h.check(caseloads[c.name], '%s has no one on the demo caseload' % name)
        clients.append(c)
    shared = set.intersection(*[set(v) for v in caseloads.values()][:3])
    h.log('caseloads: %s' % {k: len(v) for k, v in caseloads.items()})

    stop = threading.Event()
    failures = []
    stats = {'syncs': 0, 'ok': 0, 'network': 0}

    def worker(c, crng):
        n = 0
        try:
            while not stop.is_set():
                for _ in range(crng.randint(1, 3)):
                    n += 1
                    value = '%s%s-%d' % (prefix, c.name, n)
                    p = crng.choice(caseloads[c.name])
                    if c.user in WRITES_NOTES and crng.random() < 0.4:
                        c.new('note', 'add', p, value)
                    else:
                        c.edit('person', p, crng.choice(PERSON_FIELDS), value)
                with lock:
                    before = hist.note_outbox(c)
                r = c.sync(expect=None, quiet=True)
                with lock:
                    stats['syncs'] += 1
                    if r.returncode == h.EXIT_OK:
                        stats['ok'] += 1
                        hist.note_synced(c, before)
                        continue
                    stats['network'] += 1
                h.check_eq(r.returncode, h.EXIT_NETWORK, '%s: sync while the daemon was killed'
                           % c.name, r.stderr)
                still = {x['change_id'] for x in c.outbox()}
                h.check(before <= still, '%s: a failed sync dropped changes from the outbox'
                        % c.name, sorted(before - still))
        except Exception as e:  # reported by the main thread
            failures.append((c.name, e))
            stop.set()

    threads = [threading.Thread(target=worker, args=(c, random.Random('%d-%s' % (seed, c.name))))
               for c in clients]
    for t in threads:
        t.start()
    kills = 0
    t_end = time.monotonic() + KILL_PHASE_S
    try:
        while time.monotonic() < t_end and not stop.is_set():
            time.sleep(rng.uniform(0.3, 2.5))
            pid = d.proc.pid
            d.kill()  # SIGKILL
            kills += 1
            h.log('kill %d: SIGKILL caresyncd pid %d (%d syncs so far, %d failed)' %
                  (kills, pid, stats['syncs'], stats['network']))
            time.sleep(rng.uniform(0, 0.5))
            d.start()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=180)
    for name, e in failures:
        h.log('worker %s failed: %s' % (name, e))
    h.check(not failures, 'a client worker failed: %s' % failures[:1])
    h.log('%d kills; %d syncs: %d acknowledged, %d network failures' %
          (kills, stats['syncs'], stats['ok'], stats['network']))
    h.check(kills >= MIN_KILLS, 'only %d kills (want %d)' % (kills, MIN_KILLS))
    h.check(stats['network'] > 0, 'no sync ever met a dead daemon: the kills did not bite')
    h.check(stats['ok'] > 0, 'no sync ever succeeded between kills')

    # Quiesce: the daemon stays up; every client syncs until nothing is left to send.
    for i in range(8):
        for c in clients:
            c.sync(quiet=True)
        if i >= 1 and all(not c.outbox() for c in clients):
            break
    hist.check(d, clients, prefix)
    for c in clients:
        for p in caseloads[c.name]:
            if p not in shared and c is not clients[0]:
                continue
            want = {f: (d.field('person', p, f) or {}).get('value') for f in PERSON_FIELDS}
            got = c.show(p)
            h.check_eq({f: got.get(f) for f in PERSON_FIELDS}, want,
                       '%s: contact details of %s' % (c.name, p))
    if d.pg:  # no file: PostgreSQL's own recovery stands for it; the chain is checked whole
        out = d.admin(['audit', 'verify']).stdout
        h.check('verified' in out, 'audit verify after %d kills' % kills, out)
        return
    con = sqlite3.connect('file:%s?mode=ro' % d.store_path, uri=True)
    try:
        h.check_eq(con.execute('PRAGMA integrity_check').fetchall(), [('ok',)],
                   'integrity_check of the store after %d kills' % kills)
    finally:
        con.close()


if __name__ == '__main__':
    h.main(test)
