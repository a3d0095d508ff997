#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_several_daemons.py - three `caresyncd serve` on one private PostgreSQL 15 (issue 12,
# docs/internals/scale-out.md "What the tests check"). Ten clients of six roles share three
# people and run convergence.py's property test: rounds of random offline edits of shared
# fields (clears and deletes included), then syncs one after another or all at once. Every
# sync goes through a daemon picked at random (the replica's server URL switched, as a load
# balancer would), and at random moments one daemon is killed with SIGKILL, mid-sync when the
# syncs run at once, and started again. A sync through a daemon that died under it, or that
# was down when it started, may fail with exit 4 (network) and one line; every other sync
# must succeed. At the end everyone syncs until quiescent through random daemons, and:
#   - every replica equals the server for its caseload, every outbox is empty;
#   - the conflict log equals the oracle computed from the change log (recall and precision
#     100%), and each field's value is its highest version's;
#   - no acknowledged change lost: every change that left an outbox after a sync is in the
#     change log exactly once, every edit's value stored once, nothing invented;
#   - stored changes replayed through random daemons get their stored outcomes and write
#     nothing, and one new change pushed through all three daemons at once is stored once,
#     with one outcome for all three;
#   - `caresyncd audit verify` is ok through every daemon's data directory, and no daemon
#     died other than by the test's SIGKILL (each exits 0 on SIGTERM at the end).
# Prints its seed; SEED=n replays the same choices (PARALLEL=0 also the arrival order, bar the
# kills' timing). ROUNDS (default 4) and OPS (default 3) scale the work; KILLS=0 kills nothing.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convergence as cv
import harness as h

ROLES = [('nurse', 'nurse'), ('nurse2', 'nurse'), ('sw', 'social_worker'),
         ('sw2', 'social_worker'), ('ot', 'occupational_therapist'),
         ('physio', 'physiotherapist'), ('link', 'link_worker'), ('link2', 'link_worker'),
         ('coord', 'coordinator'), ('coord2', 'coordinator')]
DAEMONS = 3
ROUNDS = int(os.environ.get('ROUNDS', '4'))
OPS = int(os.environ.get('OPS', '3'))
# The chance, at each moment the test may kill, that it kills a daemon (0: never).
KILL_CHANCE = float(os.environ.get('KILLS', '0.4'))


class Several(cv.Run):
    def __init__(self, world, seed, daemons):
        super().__init__(world, seed, roles=ROLES, rounds=ROUNDS, ops=OPS)
        self.daemons = daemons
        self.history = h.History()
        self.killed = [0] * len(daemons)  # SIGKILLs so far, per daemon
        self.down = [False] * len(daemons)
        self.served = [0] * len(daemons)  # syncs that succeeded, per daemon
        self.cut = 0  # syncs that failed because their daemon died under them
        self.killed_mid_sync = 0  # kills while parallel syncs ran
        self.killing = False  # not before the rounds: setup's syncs must all bring the people

    def setup(self):
        super().setup()
        self.killing = True

    # -- each sync through a random daemon --
    def before_sync(self, c):
        i = self.rng.randrange(len(self.daemons))
        h.switch_server(c, self.daemons[i])
        return i, self.killed[i], self.down[i], self.history.note_outbox(c)

    def after_sync(self, c, ticket, rc, err):
        i, killed, down, before = ticket
        if rc == 0:
            self.history.note_synced(c, before)
            self.served[i] += 1
            return
        died = down or self.killed[i] != killed
        h.check(died and rc == h.EXIT_NETWORK, '%s: sync through daemon %d exited %d (the'
                ' daemon %s): %s' % (c.name, i, rc, 'died under it' if died else 'was up',
                                     err.strip()))
        h.check_eq(len(err.strip().splitlines()), 1, '%s: one line when the daemon died'
                   % c.name, err)
        self.cut += 1

    # -- SIGKILL at random moments --
    def kill(self, i):
        d = self.daemons[i]
        h.log('SIGKILL daemon %d (pid %d)' % (i, d.proc.pid))
        h.check(d.proc.poll() is None, 'daemon %d died by itself' % i)
        d.kill()
        self.killed[i] += 1
        self.down[i] = True

    def restart(self, i):
        self.daemons[i].start()
        self.down[i] = False

    def parallel_round(self, r):
        """Every other round's syncs run at once, so that some always do."""
        return cv.PARALLEL and (r % 2 == 1 or self.rng.random() < 0.5)

    def during_syncs(self):
        """Kill a daemon while the syncs run (always the first time, when kills are on), then
        start it again."""
        if not self.killing or KILL_CHANCE <= 0:
            return
        first = self.killed_mid_sync == 0
        if not first and self.rng.random() >= KILL_CHANCE:
            return
        self.killed_mid_sync += 1
        i = self.rng.randrange(len(self.daemons))
        time.sleep(self.rng.uniform(0.02, 0.3))  # syncs take a few tenths of a second
        self.kill(i)
        time.sleep(self.rng.uniform(0, 0.5))
        self.restart(i)

    def sync_one(self, c):
        """Between sequential syncs, now and then a daemon is killed; it comes back a sync or
        two later (syncs sent to it meanwhile find it down)."""
        if self.killing and not any(self.down) and self.rng.random() < KILL_CHANCE / 4:
            self.kill(self.rng.randrange(len(self.daemons)))
        super().sync_one(c)
        for i, down in enumerate(self.down):
            if down and self.rng.random() < 0.5:
                self.restart(i)

    def settle(self):
        """Every daemon up, no more kills: the final syncs and the checks."""
        self.killing = False
        for i, down in enumerate(self.down):
            if down:
                self.restart(i)

    def replay_daemon(self):
        return self.rng.choice(self.daemons)

    # -- the checks of several daemons --
    def check_retry_across_daemons(self):
        """One new change pushed through all three daemons at once, as a device whose reply
        was lost retries through another: stored once, the same outcome from each."""
        c = self.clients[0]
        p = self.people[0]
        value = self.unique(c.name)
        base = self.d.field('person', p, 'phone')
        change = h.make_change('person', p, p, 'phone', value, base=base)
        token = c.token
        before = self.d.counts()
        results = [None] * len(self.daemons)

        def push(k):
            try:
                results[k] = self.daemons[k].push(token, [change])
            except Exception as e:  # reported below
                results[k] = (None, repr(e))
        threads = [threading.Thread(target=push, args=(k,)) for k in range(len(self.daemons))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for k, (status, doc) in enumerate(results):
            h.check_eq(status, 200, 'the same push through daemon %d' % k, doc)
        outcomes = {doc['outcomes'][0]['outcome'] for _, doc in results}
        h.check_eq(len(outcomes), 1, 'one outcome for the same change from every daemon')
        h.check_eq(self.d.scalar('SELECT count(*) FROM change_log WHERE change_id = ?',
                                 (change['change_id'],)), 1, 'the change stored once')
        after = self.d.counts()
        h.check_eq(after['change_log'], before['change_log'] + 1, 'one change_log row added')
        h.check_eq(after['conflicts'], before['conflicts'], 'no conflict from a retry')
        h.check_eq(self.d.field('person', p, 'phone')['value'], value, 'the change applied')
        h.log('seed %d: one change pushed through %d daemons at once: stored once (%s)' %
              (self.seed, len(self.daemons), outcomes.pop()))

    def check_daemons(self):
        for i, d in enumerate(self.daemons):
            out = d.admin(['audit', 'verify']).stdout
            h.check('verified' in out, 'audit verify through daemon %d' % i, out)
        for i, d in enumerate(self.daemons):
            h.check(d.proc and d.proc.poll() is None, 'daemon %d died by itself' % i)
            d.stop(expect_rc=0)
        h.log('seed %d: %d SIGKILLs (%s per daemon, %d while syncs ran at once), %d syncs cut'
              ' by one, syncs served per daemon %s; audit verified through every daemon' %
              (self.seed, sum(self.killed), self.killed, self.killed_mid_sync, self.cut,
               self.served))


def test(root, pg, seed):
    w, daemons = h.pg_daemons(root, pg, DAEMONS)
    r = Several(w, seed, daemons)
    r.setup()
    r.rounds()
    r.settle()
    r.quiesce()
    r.check_convergence()
    r.check_lww_and_conflicts()
    r.check_nothing_lost()
    r.history.check(r.d, r.clients, 's%d-' % seed)
    r.check_replays()
    r.check_retry_across_daemons()
    r.check_daemons()


def main():
    h.pg_main(test, '; %d daemons; rounds %d; ops per client per round 1..%d' %
              (DAEMONS, ROUNDS, OPS))


if __name__ == '__main__':
    main()
