#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pull_reader.py - a sync's page is read on a reader thread once its push has committed
# (issue 11, item 4; docs/ARCHITECTURE.md "Threads"): the writer thread only writes. Each sync
# with a pull counts one read job in /metrics (caresyncd_store_read_jobs_total); before, the
# whole sync ran on the writer and a sync counted none. With --readers 0 the page runs on the
# writer, after the push's commit, and the devices still agree.
#
#   1. Three nurses sharing a person push and pull: every pull sync counted a read job, and
#      each device was given every note (its given cursor, recorded with the reply).
#   2. --readers 0: the same, with no read job counted.
#   3. The audit chain is whole (the page's audit is written by the writer after the page).
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from test_metrics import get

DEVICES = 3


def metrics_addr(d):
    """The metrics listener of the daemon running now: the log's last word on it (the log is
    kept across restarts)."""
    found = re.findall(r'metrics, health and readiness on http://([0-9.]+):(\d+)/metrics',
                       open(d.log_path, encoding='utf-8', errors='replace').read())
    h.check(found, 'the daemon said where its metrics are')
    return found[-1][0], int(found[-1][1])


def counter(d, name):
    status, _, text = get(metrics_addr(d), '/metrics')
    h.check_eq(status, 200, 'GET /metrics')
    for line in text.splitlines():
        if line.startswith(name + ' '):
            return int(float(line.split()[1]))
    raise AssertionError('no %s in /metrics' % name)


def round_of_syncs(d, pid, nurses, label):
    """Each device adds a note and syncs, then each syncs again to get the others' notes.
    Returns how many syncs were made."""
    for i, c in enumerate(nurses):
        c.new('note', 'add', pid, '%s note from device %d' % (label, i))
        c.sync()
    for c in nurses:
        c.sync()
    return 2 * len(nurses)


def notes_everywhere(d, nurses, label):
    """Every device was given a page past the last of the round's notes (its given cursor, which
    is recorded with the reply), and the store holds each note once."""
    seqs = []
    for k in range(len(nurses)):
        body = '%s note from device %d' % (label, k)
        rows = d.query("SELECT seq FROM field_state WHERE tbl='note' AND field='text'"
                       " AND value=?", (body,))
        h.check_eq(len(rows), 1, 'the store holds %r once' % body)
        seqs.append(rows[0]['seq'])
    for i, c in enumerate(nurses):
        given = d.scalar('SELECT given_cursor FROM devices WHERE id=?', (c.device_id,))
        h.check(given >= max(seqs), 'device %d was given every note of %s' % (i, label),
                given, seqs)


def test(w):
    d = w.daemon
    pid = d.add_person('Rhea Reader')
    nurses = []
    for i in range(DEVICES):
        c = w.client('n%d' % i, 'nurse', user='nurse%d' % i)
        d.assign(pid, 'nurse%d' % i)
        nurses.append(c)
    for c in nurses:
        c.sync()

    # 1. Pages on the readers (the default: --readers 2).
    before = counter(d, 'caresyncd_store_read_jobs_total')
    syncs = round_of_syncs(d, pid, nurses, 'Readers')
    after = counter(d, 'caresyncd_store_read_jobs_total')
    h.check(after - before >= syncs, 'every sync with a pull read its page on a reader',
            before, after, syncs)
    notes_everywhere(d, nurses, 'Readers')

    # 2. No readers: the page on the writer, after the push's commit.
    d.stop(expect_rc=0)
    d.serve_args = ['--readers', '0']
    d.start()
    before = counter(d, 'caresyncd_store_read_jobs_total')
    round_of_syncs(d, pid, nurses, 'Writer')
    after = counter(d, 'caresyncd_store_read_jobs_total')
    h.check_eq(after - before, 0, 'with --readers 0 no page counted as a reader job')
    notes_everywhere(d, nurses, 'Writer')

    # 3. The page's audit events, written after the page, keep the chain whole.
    d.stop(expect_rc=0)
    d.admin(['audit', 'verify'])
    d.serve_args = []
    d.start()


if __name__ == '__main__':
    h.main(test)
