#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_unassign_purge.py - when a person leaves a worker's caseload, the worker's next sync
# removes them from the device: gone from the caseload, and none of their unique values is
# left anywhere in the replica's files (replica.db, its WAL and shm, anything in the home),
# also while a long-lived libcaresync handle is still open (tests/integration/sync-probe.c).
# Assigned again later, the person comes back whole.
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def scan(client, canaries):
    hits = []
    for path, data in client.replica_bytes().items():
        for c in canaries:
            if c.encode() in data:
                hits.append('%s in %s' % (c, path))
    return hits


def test(w):
    d = w.daemon
    tag = '%08x' % random.getrandbits(32)
    phone = 'UNIQ-' + tag
    name = 'Dora Canary' + tag
    pid = d.add_person(name, phone=phone)
    keep = d.add_person('Eve Stays', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    d.assign(keep, 'nurse')
    nurse.sync()
    ids = [p['id'] for p in nurse.caseload()]
    h.check(pid in ids and keep in ids, 'both people on the caseload', ids)
    # More of the person's data on the device, some of it written here and pushed.
    addr = 'UNIQ-ADDR-' + tag
    goal_text = 'UNIQ-GOAL-' + tag
    nurse.edit('person', pid, 'address', addr)
    nurse.add('goal', pid, {'description': goal_text})
    nurse.sync()
    canaries = [phone, addr, goal_text, 'Canary' + tag]
    h.check(scan(nurse, canaries), 'the canaries are on the device before the purge')

    d.unassign(pid, 'nurse')
    probe = os.environ.get('SYNC_PROBE')
    if probe:
        # Sync through libcaresync in a process that keeps its handle open, as a field app
        # does, and scan the files before it closes: the purge must not rely on the checkpoint
        # and WAL removal that closing the last connection happens to do.
        p = h.run([probe, nurse.home] + canaries, expect=None)
        h.check_eq(p.returncode, 0, 'sync-probe: canaries in the files while the handle is open')
    else:
        h.log('SYNC_PROBE not set: purging with the CLI only')
    nurse.sync()
    ids = [p['id'] for p in nurse.caseload()]
    h.check(pid not in ids, 'the person is gone from the caseload', ids)
    h.check(keep in ids, 'the other person stays', ids)
    nurse.show(pid, expect=h.EXIT_NOTFOUND)
    hits = scan(nurse, canaries)
    h.check(not hits, 'purged values still in the replica files', hits)
    h.check_eq(nurse.status()['pending_purges'], 0, 'no purge left pending')
    # Logs carry ids, never values.
    with open(d.log_path, 'rb') as f:
        text = f.read()
    h.check(not [c for c in canaries if c.encode() in text], 'person data in the daemon log')
    # The server still has everything.
    h.check_eq(d.field('person', pid, 'phone')['value'], phone, 'server keeps the person')

    # Assigned again: the whole person comes back, although the device's cursor is past all
    # of their data.
    d.assign(pid, 'nurse')
    nurse.sync()
    p = nurse.show(pid)
    h.check_eq((p['name'], p['phone'], p['address']), (name, phone, addr),
               'the person is back in full')
    h.check_eq([g['description'] for g in p['goals']], [goal_text], 'their goal is back')


if __name__ == '__main__':
    h.main(test)
