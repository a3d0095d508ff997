#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_outage.py - PostgreSQL going away mid-sync (issue 12, docs/DEPLOYMENT.md "When the
# database goes away"). Two daemons on one private PostgreSQL 15; four clients keep editing
# and syncing with pushes, each sync through either daemon, while the test stops PostgreSQL
# (pg_ctl stop -m fast, then in a second outage -m immediate, as a crash would) and, some
# twenty seconds later, starts it again. Checked:
#   - while it is down: /readyz is 503 on both daemons (/healthz 200); a push is a clean 503
#     'busy' with Retry-After, saying the database is unavailable, and is not stored; a
#     client's sync, having waited out the Retry-After a few times, says so in one line
#     (HTTP 503) and exits 7, its changes still in its outbox;
#   - every sync the clients ran meanwhile exited 0 or 7 with that 503 line: never a 500, a
#     hang or a dropped connection;
#   - once it is back, with no daemon restarted: /readyz is 200, every client syncs, the
#     refused push goes through and is stored once;
#   - nothing half-written: every change a client recorded is in the change log exactly once
#     (those acknowledged before the outage included), every outbox empties, every replica
#     holds the server's version of every field; audit verify ok through both directories;
#   - neither daemon died, logged a 500, or fails to stop cleanly.
# SEED=n replays the clients' choices (the outage's timing is the clock's).
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

PEOPLE = 2
LOAD = [('nurse', 'nurse'), ('sw', 'social_worker'), ('ot', 'occupational_therapist'),
        ('link', 'link_worker')]
# Longer than the client's own waiting on 503 busy (Retry-After 1 s, five tries: about 15 s,
# client/caresync_int.h CS_BUSY_RETRIES), so that a sync started in the outage gives up.
DOWN_S = 22


class Load:
    """Clients editing and syncing in a loop, each sync through a random daemon, each result
    kept: (client, daemon index, exit code, stderr, started, ended)."""

    def __init__(self, clients, daemons, history, seed, tag):
        self.clients = clients
        self.daemons = daemons
        self.history = history
        self.seed = seed
        self.tag = tag  # one outage's values from another's
        self.results = []
        self.n = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = []
        self.failed = []
        self.inflight = 0  # syncs running now

    def unique(self, who):
        with self.lock:
            self.n += 1
            return 's%d-%s-%s%d' % (self.seed, who, self.tag, self.n)

    def loop(self, c, rng, people):
        try:
            self.run(c, rng, people)
        except BaseException as e:  # raised again by join()
            self.failed.append((c.name, e))

    def run(self, c, rng, people):
        while not self.stop.is_set():
            for _ in range(rng.randint(1, 3)):
                field = rng.choice(['phone', 'address', 'preferred_name'])
                c.edit('person', rng.choice(people), field, self.unique(c.name))
            before = self.history.note_outbox(c)
            i = rng.randrange(len(self.daemons))
            h.switch_server(c, self.daemons[i])
            t = time.monotonic()
            with self.lock:
                self.inflight += 1
            try:
                p = c.sync(expect=None, quiet=True)
            finally:
                with self.lock:
                    self.inflight -= 1
            if p.returncode == 0:
                self.history.note_synced(c, before)
            with self.lock:
                self.results.append((c.name, i, p.returncode, p.stderr.strip(), t,
                                     time.monotonic()))
            time.sleep(rng.uniform(0, 0.3))

    def start(self, people, rng):
        for c in self.clients:
            t = threading.Thread(target=self.loop, args=(c, random.Random(rng.random()), people),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
            h.check(not t.is_alive(), 'a client loop did not end within 120 s (a sync hung)')
        self.threads = []
        for name, e in self.failed:
            raise AssertionError('%s: %s' % (name, e))


def ready(d):
    status, _, _, _ = d.request('GET', '/readyz')
    return status


def check_alive(daemons, what):
    for i, d in enumerate(daemons):
        h.check(d.proc is not None and d.proc.poll() is None,
                'daemon %d died (%s): exit %s' % (i, what, d.proc and d.proc.poll()))


def outage(pg, mode, daemons, clients, people, history, seed, rng, refused):
    """One outage of @mode under the load of @clients; the refused push goes in @refused."""
    coord = clients[-1]
    load = Load(clients[:-1], daemons, history, seed, mode)
    load.start(people, rng)
    try:
        outage_under(load, pg, mode, daemons, coord, people, history, seed, rng, refused)
    finally:
        load.stop.set()  # a failure: the clients stop too


def outage_under(load, pg, mode, daemons, coord, people, history, seed, rng, refused):
    time.sleep(rng.uniform(1.5, 3))
    # Stop it while syncs are running (a few seconds at most to catch one).
    deadline = time.monotonic() + 5
    while load.inflight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    h.log('==== stopping PostgreSQL (pg_ctl stop -m %s) under %d syncing clients ====' %
          (mode, len(load.clients)))
    down_at = time.monotonic()
    pg.stop(mode)
    try:
        for i, d in enumerate(daemons):
            h.check_eq(ready(d), 503, 'daemon %d: /readyz with the database away' % i)
            st, _, _, _ = d.request('GET', '/healthz')
            h.check_eq(st, 200, 'daemon %d: /healthz with the database away (the process'
                       ' is fine)' % i)
        # A push through each daemon: a clean 503 'busy' with Retry-After, nothing stored.
        token = coord.token
        for i, d in enumerate(daemons):
            change = h.make_change('person', people[0], people[0], 'phone',
                                   'raw-%d-%s-%d' % (seed, mode, i))
            status, hdrs, raw, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': True,
                                                                   'changes': [change]},
                                               token=token)
            h.check_eq(status, 503, 'daemon %d: a push with the database away' % i, raw)
            err = (doc or {}).get('error') or {}
            h.check_eq(err.get('code'), 'busy', 'daemon %d: the 503 is busy' % i, raw)
            h.check('database is unavailable' in err.get('message', ''),
                    'daemon %d: the 503 says the database is away, not that it is busy' % i, raw)
            h.check(hdrs.get('retry-after', '').isdigit(), 'daemon %d: the 503 has a'
                    ' Retry-After' % i, hdrs)
            refused.append(change)
        # A client's sync in the outage: it waits out a few Retry-Afters, then gives up in
        # one line with exit 7; what it had to send stays in its outbox.
        coord.edit('person', people[1], 'phone', 's%d-coord-%s' % (seed, mode))
        before = history.note_outbox(coord)
        h.switch_server(coord, rng.choice(daemons))
        p = coord.sync(expect=None)
        h.check_eq(p.returncode, h.EXIT_SERVER, 'a sync with the database away exits 7',
                   p.stderr)
        h.check_eq(len(p.stderr.strip().splitlines()), 1, 'one line', p.stderr)
        h.check('HTTP 503' in p.stderr and 'database is unavailable' in p.stderr and
                'nothing was lost' in p.stderr, 'the line says the database is away and'
                ' nothing was lost', p.stderr)
        h.check_eq({r['change_id'] for r in coord.outbox()}, before,
                   'the refused changes are still in the outbox')
        check_alive(daemons, 'with the database away')
        rest = DOWN_S - (time.monotonic() - down_at)
        if rest > 0:
            time.sleep(rest)
    finally:
        pg.start()
    h.log('==== PostgreSQL back after %.1f s ====' % (time.monotonic() - down_at))
    up_at = time.monotonic()
    # Back: ready again with no daemon restarted (each connection reconnects at its next use).
    for i, d in enumerate(daemons):
        for _ in range(10):
            if ready(d) == 200:
                break
            time.sleep(0.5)
        h.check_eq(ready(d), 200, 'daemon %d: /readyz once the database is back' % i)
    time.sleep(rng.uniform(2, 4))
    load.join()
    check_alive(daemons, 'after the database came back')
    # Every sync meanwhile: 0, or 7 with the 503 line; none after the database was back
    # and the daemons ready, bar one that had started before.
    codes = {}
    for name, i, rc, err, t0, t1 in load.results:
        codes[rc] = codes.get(rc, 0) + 1
        if rc == 0:
            continue
        h.check(rc == h.EXIT_SERVER and 'HTTP 503' in err and len(err.splitlines()) == 1,
                '%s: a sync through daemon %d exited %d: %s' % (name, i, rc, err))
        h.check(t0 < up_at, '%s: a sync started after the database was back failed: %s' %
                (name, err))
    straddled = [r for r in load.results if r[4] < down_at < r[5]]
    h.log('%s outage: %d syncs under load, exit codes %s, %d in flight when it went away' %
          (mode, len(load.results), codes, len(straddled)))


def test(root, pg, seed):
    rng = random.Random(seed)
    w, daemons = h.pg_daemons(root, pg, 2)
    a = daemons[0]
    people = [a.add_person('Outage person %d' % k, phone='0131 000 000%d' % k)
              for k in range(PEOPLE)]
    clients = [w.client(name, role) for name, role in LOAD + [('coord', 'coordinator')]]
    for p in people:
        for name, role in LOAD:
            a.assign(p, name)
    for c in clients:
        c.sync(quiet=True)
    history = h.History()
    refused = []
    for mode in ('fast', 'immediate'):
        outage(pg, mode, daemons, clients, people, history, seed, rng, refused)
    # Every refused push goes through now, once.
    token = clients[-1].token
    for change in refused:
        st, doc = rng.choice(daemons).push(token, [change])
        h.check_eq(st, 200, 'the push refused in the outage, sent again', doc)
        h.check_eq(doc['outcomes'][0]['change_id'], change['change_id'], 'its outcome')
    for change in refused:
        h.check_eq(a.scalar('SELECT count(*) FROM change_log WHERE change_id = ?',
                            (change['change_id'],)), 1, 'a refused push, sent again,'
                   ' stored once')
    # Everyone syncs; nothing half-written, nothing lost, nothing twice.
    for _ in range(2):
        for c in clients:
            before = history.note_outbox(c)
            h.switch_server(c, rng.choice(daemons))
            c.sync(quiet=True)
            history.note_synced(c, before)
    history.check(a, clients, 's%d-' % seed)
    head = a.query('SELECT seq, audit_id FROM store_head')[0]
    h.check(head['seq'] >= (a.scalar('SELECT max(seq) FROM field_state') or 0) and
            head['audit_id'] == a.scalar('SELECT max(id) FROM audit'),
            'the store head is the end of what is stored', head)
    for i, d in enumerate(daemons):
        out = d.admin(['audit', 'verify']).stdout
        h.check('verified' in out, 'audit verify through daemon %d' % i, out)
    check_alive(daemons, 'at the end')
    for i, d in enumerate(daemons):
        d.stop(expect_rc=0)
        with open(d.log_path, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
        # Access lines carry the status ('"POST /v1/sync" 500 ...').
        bad = [l for l in text.splitlines() if '" 500 ' in l or 'answering 500' in l or
               'internal_error' in l]
        h.check(not bad, 'daemon %d logged a 500' % i, bad[:10])


def main():
    h.pg_main(test)


if __name__ == '__main__':
    main()
