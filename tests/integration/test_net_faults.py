#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_net_faults.py - the convergence scenario through a TCP fault proxy (faultproxy.py, below
# TLS). Five clients of different roles share two people and, in rounds, record edits with
# unique values (contact details, notes) and sync through the proxy, which gives each connection
# a fault from a seeded schedule: the connection cut after N bytes either way (inside the TLS
# handshake, the request or the reply), slowed, or the reply dropped after the server committed.
# Checked:
#   - a sync whose connection was cut or whose reply was dropped exits 4 (network failure) and
#     keeps its changes; a delayed one succeeds;
#   - a dropped reply happened after the server had stored the changes (at least once a run), and
#     the retry stored nothing twice;
#   - once the faults stop, every client syncs until its outbox is empty; then every change any
#     client recorded is on the server exactly once, nothing else was stored, and every replica
#     holds the server's version of every field it holds and the server's contact details.
# First, the proxy's own boundary: a cut at or past the last byte the sync needed (the reply's
# last byte, the client's closing alert) is no cut; one byte short of the reply is.
# SEED=n replays a schedule (printed at the start).
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from faultproxy import Fault, FaultProxy

ROLES = [('nurse', 'nurse'), ('sw', 'social_worker'), ('ot', 'occupational_therapist'),
         ('physio', 'physiotherapist'), ('link', 'link_worker')]
PEOPLE = 2
ROUNDS = int(os.environ.get('ROUNDS', '6'))
PERSON_FIELDS = ['phone', 'address', 'preferred_name']


def schedule(rng):
    """The fault of the n-th faulted connection: every kind often, the cut points spread over
    the handshake (the first few hundred bytes), the request and the reply."""
    def plan(n):
        kind = rng.choice(['pass', 'cut_up', 'cut_down', 'delay', 'drop_reply', 'drop_reply'])
        if kind == 'cut_up':
            return Fault('cut', up=rng.choice([rng.randint(0, 300), rng.randint(300, 3000)]))
        if kind == 'cut_down':
            return Fault('cut', down=rng.choice([rng.randint(0, 200), rng.randint(200, 6000)]))
        if kind == 'delay':
            return Fault('delay', secs=rng.uniform(0.05, 0.4))
        return Fault(kind)
    return plan


def sync_through(c, proxy):
    """Sync @c once; returns (exit code, its connections' events)."""
    n_conn = proxy.count
    p = c.sync(expect=None, quiet=True)
    return p.returncode, proxy.settle(n_conn)


def cut_in(events):
    return any(e[4].startswith('cut') for e in events)


def check_boundaries(w, d):
    """An idle sync's traffic measured through a passing connection; then cuts at its very end
    and just inside it. Whatever an idle sync's size this time (it varies by a byte or two), the
    proxy must report a cut exactly when the sync failed."""
    fault = [Fault()]
    proxy = FaultProxy(d.port, plan=lambda n: fault[0])
    p = d.add_person('Boundary Person', phone='0131 000 2000')
    d.add_user('edge', 'nurse')
    d.assign(p, 'edge')
    c = h.Client(w, 'edge', 'edge', 'nurse')
    c.run('enrol', '--server', proxy.url, '--ca', d.ca, '--code', d.enrol_code('edge'))
    c.sync(quiet=True)
    for _ in range(4):
        fault[0] = Fault()
        rc, ev = sync_through(c, proxy)
        h.check_eq(rc, h.EXIT_OK, 'an idle sync through a passing connection', ev)
        up, down = ev[0][2], ev[0][3]
        for f in (Fault('cut', down=down), Fault('cut', up=up), Fault('cut', down=down - 1)):
            fault[0] = f
            rc, ev = sync_through(c, proxy)
            h.log('%s of an idle sync of %d/%d bytes: %s -> exit %d' % (f, up, down, ev, rc))
            h.check_eq(cut_in(ev), rc == h.EXIT_NETWORK,
                       '%s, %d bytes up and %d down before: the proxy reports a cut exactly when'
                       ' the sync failed (exit %d, %s)' % (f, up, down, rc, ev))
    proxy.close()


def test(w):
    seed = int(os.environ.get('SEED') or random.SystemRandom().randrange(1, 1 << 30))
    h.log('seed %d (replay: SEED=%d)' % (seed, seed))
    rng = random.Random(seed)
    d = w.daemon
    check_boundaries(w, d)
    faults = schedule(rng)
    active = [False]
    proxy = FaultProxy(d.port, plan=lambda n: faults(n) if active[0] else Fault())
    hist = h.History()
    prefix = 'nf%d-' % seed
    counter = [0]

    def unique(who):
        counter[0] += 1
        return '%s%s-%d' % (prefix, who, counter[0])

    people = [d.add_person('Net Person %d' % i, phone='0131 000 100%d' % i) for i in range(PEOPLE)]
    clients = []
    for name, role in ROLES:
        d.add_user(name, role)
        for p in people:
            d.assign(p, name)
        c = h.Client(w, name, name, role)
        c.run('enrol', '--server', proxy.url, '--ca', d.ca, '--code', d.enrol_code(name))
        c.sync(quiet=True)
        clients.append(c)

    outcomes = {}  # fault kind -> exit codes seen
    committed_before_ack = 0
    try:
        active[0] = True
        for r in range(ROUNDS):
            for c in rng.sample(clients, len(clients)):
                for _ in range(rng.randint(1, 3)):
                    p = rng.choice(people)
                    if rng.random() < 0.6:
                        c.edit('person', p, rng.choice(PERSON_FIELDS), unique(c.name))
                    else:
                        c.new('note', 'add', p, unique(c.name))
                before = hist.note_outbox(c)
                n_conn = proxy.count
                p = c.sync(expect=None, quiet=True)
                hit = proxy.settle(n_conn)
                # What actually happened (a cut beyond the last byte is no cut).
                kind = ('drop_reply' if any('dropped' in e[4] for e in hit) else
                        'cut' if any(e[4].startswith('cut') for e in hit) else
                        'delay' if any(e[1].kind == 'delay' for e in hit) else 'pass')
                outcomes.setdefault(kind, []).append(p.returncode)
                h.log('round %d %s: %d pending, connections %s -> exit %d' %
                      (r, c.name, len(before), [(e[1], e[2], e[3], e[4]) for e in hit],
                       p.returncode))
                if p.returncode == h.EXIT_OK:
                    hist.note_synced(c, before)
                    continue
                h.check_eq(p.returncode, h.EXIT_NETWORK, '%s: sync through %s' % (c.name, kind),
                           p.stderr)
                h.check('nothing was lost' in p.stderr or 'again' in p.stderr,
                        'the network failure says what to do', p.stderr)
                still = {x['change_id'] for x in c.outbox()}
                h.check(before <= still, '%s: a failed sync dropped changes from the outbox' %
                        c.name, sorted(before - still))
                if kind == 'drop_reply' and before:
                    stored = d.scalar('SELECT count(*) FROM change_log WHERE change_id IN (%s)' %
                                      ','.join('?' * len(before)), tuple(before))
                    committed_before_ack += stored > 0
    finally:
        active[0] = False
    for kind, rcs in sorted(outcomes.items()):
        h.log('fault %s: %d syncs, exits %s' % (kind, len(rcs), sorted(set(rcs))))
    for kind in ('cut', 'drop_reply'):
        rcs = outcomes.get(kind, [])
        h.check(rcs and all(rc == h.EXIT_NETWORK for rc in rcs),
                'syncs through %s faults must happen and fail as network failures: %s' %
                (kind, rcs))
    h.check(all(rc == h.EXIT_OK for rc in outcomes.get('delay', [])),
            'a slow connection is not a failure', outcomes.get('delay'))
    h.check(committed_before_ack > 0, 'no dropped reply came after the server had committed'
            ' (the schedule must exercise it)')
    h.log('%d dropped replies came after the server had stored the changes' %
          committed_before_ack)

    # Faults off: everyone syncs until nothing moves.
    for i in range(6):
        for c in clients:
            c.sync(quiet=True)
        if all(not c.outbox() for c in clients) and i >= 1:
            break
    for c in clients:
        hist.note_synced(c, set(hist.recorded))
    hist.check(d, clients, prefix)
    for p in people:
        want = {f: (d.field('person', p, f) or {}).get('value') for f in PERSON_FIELDS}
        for c in clients:
            got = c.show(p)
            h.check_eq({f: got.get(f) for f in PERSON_FIELDS}, want,
                       '%s: contact details of %s' % (c.name, p))
    proxy.close()


if __name__ == '__main__':
    h.main(test)
