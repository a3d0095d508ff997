#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_convergence.py - property test of the whole system. Six clients of different roles share
# three people; in several rounds each makes random offline edits (field edits, clears, new
# rows, deletes) and a random subset syncs in a random order; then everyone syncs until
# quiescent. The run and its checks are convergence.py's (test_several_daemons.py runs them on
# three daemons over one PostgreSQL). Checked against the server's store (store.db, or the
# PostgreSQL database when CARESYNC_TEST_STORE=postgresql), through the harness's query():
#   - convergence: every replica's view of every person equals the server's field_state;
#   - last writer wins: each field's value is that of its highest-version stored change;
#   - the conflict log is exact: its set of (loser_change_id, kind) equals what an independent
#     oracle computes from the change_log (recall and precision both 100%);
#   - replaying a sample of stored changes returns their stored outcomes and changes nothing;
#   - integrity_check is ok on every database, and every outbox is empty.
# Syncs run one after another or, in some rounds, all at once.
#   - nothing lost, nothing invented: every value an edit wrote is stored exactly once, and no
#     stored value of this run's form was not written by an edit; no stored clock is more than
#     5 minutes ahead of the server's wall clock.
# SEED=n replays one seed (add PARALLEL=0 for the same arrival order); by default a few seeds
# run (CONVERGENCE_SEEDS of them; 4). ROUNDS and OPS scale the work.
import os
import random
import shutil
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from convergence import DEFAULT_SEEDS, OPS, ROUNDS, Run


def one_seed(root, seed):
    w = h.World(os.path.join(root, 'seed-%d' % seed))
    os.makedirs(w.root)
    try:
        w.start()
        r = Run(w, seed)
        r.setup()
        r.rounds()
        r.quiesce()
        r.check_convergence()
        kinds = r.check_lww_and_conflicts()
        r.check_nothing_lost()
        r.check_replays()
        r.check_integrity()
        w.daemon.stop(expect_rc=0)
        return kinds
    except Exception:
        w.daemon.dump_log(40)
        raise
    finally:
        w.close()


def main():
    h.require_binaries()
    if os.environ.get('SEED'):
        seeds = [int(os.environ['SEED'])]
    else:
        base = random.SystemRandom().randrange(1, 1 << 30)
        seeds = [base + i for i in range(DEFAULT_SEEDS)]
    root = tempfile.mkdtemp(prefix='caresync-conv-')
    h.log('seeds %s; rounds %d; ops per client per round 1..%d; temporary directory %s' %
          (seeds, ROUNDS, OPS, root))
    passed = failed = 0
    total = {}
    for seed in seeds:
        h.log('==== seed %d (replay: SEED=%d) ====' % (seed, seed))
        try:
            for k, v in one_seed(root, seed).items():
                total[k] = total.get(k, 0) + v
            passed += 1
        except Exception:
            traceback.print_exc()
            h.log('FAILED seed %d; replay with SEED=%d' % (seed, seed))
            failed += 1
    h.log('conflicts checked across seeds: %s' % total)
    if failed == 0 and not os.environ.get('KEEP_TMP'):
        shutil.rmtree(root, ignore_errors=True)
    else:
        h.log('kept %s' % root)
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
