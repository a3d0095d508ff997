#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_push_cost.py - what a push costs the PostgreSQL store in round trips (issue 12,
# "Cost"): pushes of 1, 30 and 300 changes, to fresh rows and then to the same rows again (a
# sequential edit of each, merged over its base, and one of them concurrent with another
# device's edit, so a conflict is logged), each measured by the statements the writer ran
# (caresyncd_store_statements_total on /metrics: on PostgreSQL one round trip each). The
# statements of a push must not grow with the batch: stmts(300) <= stmts(1) + a small constant.
# Likewise the other device's pull of the new rows (one page of 1, 30 or 300 rows), a first
# pull of a caseload of 30 people against one of 1, and a bulk push over 30 people against one
# over 1 (an audit event per person: queued, and written at commit in one statement).
# Always on a private PostgreSQL (whatever CARESYNC_TEST_STORE says).
import os
import re
import sys
import time

os.environ['CARESYNC_TEST_STORE'] = 'postgresql'
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_metrics import get, metrics_addr  # noqa: E402

SIZES = (1, 30, 300)
# What a push may cost more at 300 changes than at 1 (a constant, not per change).
SLACK = 10


def statements(addr):
    status, _, text = get(addr, '/metrics')
    h.check_eq(status, 200, 'GET /metrics')
    m = re.search(r'^caresyncd_store_statements_total (\d+)$', text, re.M)
    h.check(m, '/metrics has caresyncd_store_statements_total', text[:2000])
    return int(m.group(1))


def push(d, addr, token, changes, what):
    """Push @changes; returns (statements the writer ran for it, ms), checked 200."""
    before = statements(addr)
    t0 = time.monotonic()
    status, doc = d.push(token, changes)
    ms = (time.monotonic() - t0) * 1000
    h.check_eq(status, 200, what, doc)
    return statements(addr) - before, ms, doc


def test(w):
    d = w.daemon
    addr = metrics_addr(d)
    pid, nurse, ot = w.shared_person('Pat Example', phone='0131 000 0000')
    dev = nurse.device_id
    figures = {}
    # A first round of 1 prepares the statements on the writer's connection (counted apart).
    for rnd, n in enumerate((1,) + SIZES):
        rows = [h.uuid7() for _ in range(n)]
        fresh = []
        for i, row in enumerate(rows):
            c = h.make_change('goal', row, pid, 'description', 'goal %d of %d' % (i, n),
                              hlc=h.hlc_now(0, i))
            fresh.append(c)
        s_fresh, ms_fresh, doc = push(d, addr, nurse.token, fresh, 'fresh push of %d' % n)
        h.check(all(o['outcome'] == 'applied' for o in doc['outcomes']),
                'fresh push of %d: all applied' % n, doc['outcomes'][:3])
        # The other device pulls them: one page of n new rows.
        before = statements(addr)
        ot.sync()
        s_pull = statements(addr) - before
        h.check_eq(len(ot.show(pid)['goals']), sum((1,) + SIZES[:SIZES.index(n) + 1])
                   if rnd else 1, 'the ot pulled every goal so far')
        time.sleep(0.01)
        # Another device edits the first row from the same base, first: the nurse's edit of
        # it below is concurrent, a conflict.
        base0 = {'hlc': h.hlc_int(fresh[0]['hlc']), 'device': dev}
        st, doc = d.push(ot.token, [h.make_change('goal', rows[0], pid, 'description',
                                                  'the ot wrote this', base=base0)])
        h.check_eq(st, 200, 'the ot edits the first row', doc)
        conflicts = d.scalar('SELECT count(*) FROM conflicts')
        time.sleep(0.01)
        edits = [h.make_change('goal', row, pid, 'description', 'goal %d of %d, edited %d' % (i, n, rnd),
                               hlc=h.hlc_now(0, i),
                               base={'hlc': h.hlc_int(fresh[i]['hlc']), 'device': dev})
                 for i, row in enumerate(rows)]
        s_edit, ms_edit, doc = push(d, addr, nurse.token, edits, 'push of %d edits' % n)
        h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), conflicts + 1,
                   'the concurrent edit of the first row logged one conflict (%d)' % n)
        h.check_eq(d.scalar("SELECT count(*) FROM change_log WHERE device = ? AND"
                            " outcome = 'applied' AND value LIKE ?", (dev, '%% edited %d' % rnd)),
                   n, 'every edit of %d journaled as applied' % n)
        figures[n] = (s_fresh, s_edit, s_pull, ms_fresh, ms_edit)
        h.log('push of %3d changes: fresh rows %4d statements %6.1f ms; existing rows %4d'
              ' statements %6.1f ms; the pull of %3d rows %4d statements'
              % (n, s_fresh, ms_fresh, s_edit, ms_edit, n, s_pull))
    # A first pull of a caseload of 1 person against one of 30 (each sent whole: its deny,
    # expiry and state are the page's facts).
    people = [d.add_person('Caseload %d' % i, phone='0131 000 %04d' % i) for i in range(30)]
    for k, many in ((1, people[:1]), (30, people)):
        worker = w.client('physio%d' % k, 'physiotherapist')
        for person in many:
            d.assign(person, 'physio%d' % k)
        before = statements(addr)
        worker.sync()
        s_first = statements(addr) - before
        h.check_eq(len(worker.caseload()), k, 'physio%d pulled its caseload' % k)
        # A bulk push: ten new goals for each of the caseload's people.
        bulk = [h.make_change('goal', h.uuid7(), person, 'description', 'bulk %d' % i,
                              hlc=h.hlc_now(0, i))
                for person in many for i in range(10)]
        s_bulk, _, doc = push(d, addr, worker.token, bulk, 'bulk push over %d people' % k)
        h.check(all(o['outcome'] == 'applied' for o in doc['outcomes']),
                'bulk push over %d people: all applied' % k, doc['outcomes'][:3])
        h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind = 'change' AND"
                            " actor_device = ?", (worker.device_id,)), k,
                   'the bulk push over %d people audited one event per person' % k)
        figures[k] += (s_first, s_bulk)
        h.log('first pull of a caseload of %2d people: %4d statements; a bulk push of %3d'
              ' changes over them: %4d statements' % (k, s_first, len(bulk), s_bulk))
    for k, what in ((0, 'fresh rows'), (1, 'existing rows'), (2, 'a pull page of new rows')):
        one, most = figures[1][k], figures[SIZES[-1]][k]
        h.check(most <= one + SLACK, '%d changes, %s: %d statements, of 1: %d;'
                ' it must not grow with the batch (at most %d more)'
                % (SIZES[-1], what, most, one, SLACK), figures)
    # The page's facts are constant, and so is the pull's audit (one event per person sent,
    # queued and written at commit). (It was one statement per person: 51 against 22; before
    # that 4 per person: 138.) Likewise a push's audit events, one per person.
    for k, what in ((5, 'a first pull of 30 people'), (6, 'a bulk push over 30 people')):
        one, most = figures[1][k], figures[30][k]
        h.check(most <= one + SLACK, '%s: %d statements, of 1: %d; it must not grow with the'
                ' people (at most %d more)' % (what, most, one, SLACK), figures)


if __name__ == '__main__':
    h.main(test)
