#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_conflict_display.py - the conflict log as a coordinator reads it, and nobody conflicting
# with themselves. On the demo's five conflicts: an alert edited after the coordinator deleted
# it shows its winner as a deletion (not the tombstone's "1") and "now" as deleted; every
# conflict describes its row for a human (the visit's date and type, the note's or alert's
# category and first words, the person's name) in the CLI and as "description" in the API;
# `conflicts show ID` prints both values whole. A coordinator restoring and then keeping the
# same conflict adds no conflict of their own, and one nurse marking a visit missed and then
# starting it on the same device (offline or across syncs) adds none either.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def demo_conflicts(w, coord):
    cs = coord.conflicts()
    h.check_eq(len(cs), 5, 'the demo seeds five conflicts', cs)
    by_kind = {}
    for c in cs:
        by_kind.setdefault(c['kind'], []).append(c)
    ead = by_kind['edit_after_delete'][0]
    mvc = by_kind['missed_vs_completed'][0]
    about = [c for c in cs if c['table'] == 'about_me'][0]

    # The API: a deletion is a deletion, the row's true state, and a description.
    h.check_eq((ead['table'], ead['winner_deleted'], ead['winner_value'], ead['row_deleted']),
               ('alert', True, None, True), 'edit_after_delete: winner is the deletion', ead)
    for c in cs:
        h.check(isinstance(c.get('description'), str) and c['description'],
                'conflict %d has a description' % c['id'], c)
        h.check(c['person_name'] in c['description'],
                'conflict %d: the description names the person' % c['id'], c)
        if c is not ead:
            h.check_eq((c['winner_deleted'], c['row_deleted']), (False, False),
                       'conflict %d: nothing deleted' % c['id'], c)
    alert = w.daemon.query("SELECT field, value FROM field_state WHERE tbl = 'alert'"
                           " AND row_id = ?", (ead['row_id'],))
    alert = {r['field']: r['value'] for r in alert}
    h.check(alert['category'] in ead['description'], 'the alert description has its category',
            ead)
    h.check(' '.join(alert['text'].split()[:3]) in ead['description'],
            'the alert description has its first words', ead)
    visit = {r['field']: r['value'] for r in w.daemon.query(
        "SELECT field, value FROM field_state WHERE tbl = 'visit' AND row_id = ?",
        (mvc['row_id'],))}
    h.check(visit['visit_type'] in mvc['description'] and
            visit['planned_start'][:10] in mvc['description'],
            'the visit description has its type and date', mvc, visit)

    # The CLI's list.
    text = coord.run('conflicts').stdout
    block = [b for b in text.split('\n\n') if b.startswith('#%d ' % ead['id'])][0]
    value_line = [l for l in block.splitlines() if l.strip().startswith('value ')][0]
    now_line = [l for l in block.splitlines() if l.strip().startswith('now ')][0]
    h.check(value_line.split()[1] == 'deleted', 'the winner shows as deleted, not "1"', block)
    h.check('deleted' in now_line and alert['text'][:20] not in now_line,
            '"now" shows the row as deleted, not its hidden text', block)
    h.check(ead['description'] in block, 'the list describes the row', block)
    mblock = [b for b in text.split('\n\n') if b.startswith('#%d ' % mvc['id'])][0]
    h.check(visit['visit_type'] in mblock and visit['planned_start'][:10] in mblock,
            'the list describes the visit', mblock)

    # `conflicts show ID`: both values whole.
    for c in (ead, about):
        out = coord.run('conflicts', 'show', str(c['id'])).stdout
        h.check(c['loser_value'] in out, 'show %d prints the losing value whole' % c['id'], out)
        if c['winner_value']:
            h.check(c['winner_value'] in out, 'show %d prints the winning value whole' % c['id'],
                    out)
        h.check(c['description'] in out, 'show %d describes the row' % c['id'], out)
    out = coord.run('conflicts', 'show', str(ead['id'])).stdout
    h.check('deleted' in out and alert['text'] not in
            [l.split(None, 1)[-1] for l in out.splitlines() if l.strip().startswith('now')],
            'show: now is deleted', out)
    doc = coord.json('conflicts', 'show', str(ead['id']))
    h.check_eq(doc['id'], ead['id'], 'conflicts show --json')
    coord.run('conflicts', 'show', '9999', expect=3)
    coord.run('conflicts', 'show', 'x', expect=2)
    return cs, ead


def coordinator_resolutions(coord, cs, ead):
    # Restore, then keep: the coordinator's own successive writes are not a conflict.
    coord.resolve(ead['id'], 'restore')
    coord.resolve(ead['id'], 'keep', reason='The road works are over')
    left = coord.conflicts()
    h.check_eq(sorted(c['id'] for c in left), sorted(c['id'] for c in cs if c is not ead),
               'open conflicts after restore then keep', left)
    everything = coord.conflicts(True)
    h.check_eq([c for c in everything if c['winner_device'] == c['loser_device']], [],
               'no conflict has one device on both sides', everything)
    got = [c for c in everything if c['id'] == ead['id']][0]
    h.check_eq((got['status'], got['resolution'], got['row_deleted']),
               ('resolved', 'keep', True), 'the alert is deleted again after keep', got)


def one_nurse(w, coord):
    d = w.daemon
    nurse = w.client('nina', 'nurse')
    day = h.today_local()
    pid = d.add_person('Mary Sameside')
    d.assign(pid, 'nina')
    nurse.sync()
    offline = nurse.new('visit', 'add', pid, '--at', day + 'T09:00', '--type', 'assessment')
    synced = nurse.new('visit', 'add', pid, '--at', day + 'T11:00', '--type', 'review')
    nurse.sync()
    # Offline: missed, then (the person opens the door after all) started.
    nurse.run('visit', 'miss', offline, '--reason', 'no-answer')
    nurse.run('visit', 'start', offline, '--at', day + 'T09:10')
    # Across syncs: missed and synced, then started.
    nurse.run('visit', 'miss', synced, '--reason', 'no-answer')
    nurse.sync()
    nurse.run('visit', 'start', synced, '--at', day + 'T11:20')
    nurse.sync()
    nurse.run('visit', 'complete', synced, '--outcome', 'Seen', '--at', day + 'T11:50')
    nurse.sync()
    coord.sync()
    for vid, want in ((offline, 'in-progress'), (synced, 'completed')):
        h.check_eq(d.field('visit', vid, 'status')['value'], want, 'server status of ' + vid)
        h.check_eq(nurse.row(pid, 'visits', vid)['status'], want, 'nurse status of ' + vid)
    mine = [c for c in coord.conflicts(True) if c['person_id'] == pid]
    h.check_eq(mine, [], 'one nurse on one device makes no conflict with herself')


def test(w):
    d = w.daemon
    d.admin(['demo'], '--seed', '7')
    coord = w.client('iona', 'coordinator', user='coord.iona')
    coord.sync()
    cs, ead = demo_conflicts(w, coord)
    coordinator_resolutions(coord, cs, ead)
    one_nurse(w, coord)


if __name__ == '__main__':
    h.main(test)
