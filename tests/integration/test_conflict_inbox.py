#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_conflict_inbox.py - the coordinator's conflict inbox, end to end with real clients:
# filters (status, person, worker, table, kind, priority) on the server and in `caresync
# conflicts`; safety-critical conflicts (alerts, consent, safeguarding notes) marked high
# priority and listed first; the human listing puts both values side by side; a resolution
# needs a reason (CLI exit 2, HTTP 400); resolving again supersedes the last resolution, every
# resolution is kept and every replica converges on the latest; the worker whose value lost is
# told at their next sync (sync --json and status --json "lost_values") and may list their own
# lost values (`conflicts --mine`) although the log itself is the coordinators' (once the person
# has left their caseload, only their own value is shown).
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def ids(rows):
    return [r['id'] for r in rows]


def sync_json(c):
    return c.json('sync', quiet=True)


def test(w):
    d = w.daemon
    ada = d.add_person('Ada Inbox', phone='0131 000 0000')
    bo = d.add_person('Bo Inbox')
    nina = w.client('nina', 'nurse')
    nina2 = w.client('nina2', 'nurse', user='nina')  # nina's second device
    liam = w.client('liam', 'link_worker')
    cora = w.client('cora', 'coordinator')
    for p in (ada, bo):
        d.assign(p, 'nina')
        d.assign(p, 'liam')
    everyone = (nina, nina2, liam, cora)
    for c in everyone:
        c.sync()

    # nina records an alert and a safeguarding concern about Bo.
    alert = nina.new('alert', 'raise', bo, 'Dog in the garden', '--category', 'animal')
    note = nina.new('note', 'add', bo, 'Bruise on the left arm', '--category',
                    'safeguarding-concern')
    nina.sync()
    for c in (nina2, liam, cora):
        c.sync()

    # Offline edits; the later writer wins each field and nina's values lose.
    nina.edit('person', ada, 'phone', '0131 111 1111')
    nina.edit('alert', alert, 'text', 'Dog: keep the gate shut')
    nina.run('entered-in-error', 'note', note, '--reason', 'written about the wrong person')
    nina2.run('entered-in-error', 'note', note, '--reason', 'duplicate of an earlier note')
    liam.edit('person', ada, 'phone', '0131 222 2222')
    liam.edit('alert', alert, 'text', 'Two dogs; ring first')
    nina.sync()
    liam.sync()
    nina2.sync()

    # ---- the listing: priority first, both sides, filters ----
    open_ = cora.conflicts()
    h.check_eq(len(open_), 3, 'open conflicts', open_)
    by_table = {c['table']: c for c in open_}
    h.check_eq(sorted(by_table), ['alert', 'note', 'person'], 'tables in conflict', open_)
    h.check_eq(by_table['alert']['priority'], 'high', 'an alert is high priority')
    h.check_eq(by_table['note']['priority'], 'high', 'a safeguarding note is high priority')
    h.check_eq(by_table['person']['priority'], 'normal', 'a phone number is normal priority')
    h.check_eq([c['priority'] for c in open_], ['high', 'high', 'normal'],
               'high priority listed first', open_)
    phone = by_table['person']
    h.check_eq((phone['winner_value'], phone['winner_user'], phone['loser_value'],
                phone['loser_user']), ('0131 222 2222', 'liam', '0131 111 1111', 'nina'),
               'both values with their authors')
    h.check(phone['winner_device'] == liam.device_id and phone['loser_device'] == nina.device_id,
            'both devices', phone)
    h.check(phone['winner_hlc'] > phone['loser_hlc'], 'both clocks, winner later', phone)
    h.check_eq(by_table['note']['loser_device'], nina.device_id, 'the note lost on nina\'s tablet')
    h.check_eq(by_table['note']['field'], 'error_reason', 'the note conflict is its reason')

    def listed(*filters):
        return ids(cora.conflicts(False, *filters))

    h.check_eq(listed('--person', ada), [phone['id']], '--person')
    h.check_eq(sorted(listed('--worker', 'liam')),
               sorted([phone['id'], by_table['alert']['id']]), '--worker (either side)')
    h.check_eq(len(listed('--worker', 'nina')), 3, '--worker nina')
    h.check_eq(listed('--table', 'note'), [by_table['note']['id']], '--table')
    h.check_eq(len(listed('--kind', 'concurrent_edit')), 3, '--kind concurrent_edit')
    h.check_eq(listed('--kind', 'append_only'), [], '--kind append_only')
    h.check_eq(sorted(listed('--priority', 'high')),
               sorted([by_table['alert']['id'], by_table['note']['id']]), '--priority high')
    h.check_eq(listed('--priority', 'normal'), [phone['id']], '--priority normal')
    h.check_eq(listed('--resolved'), [], '--resolved before any resolution')
    cora.run('conflicts', '--kind', 'sideways', expect=h.EXIT_USAGE)
    cora.run('conflicts', '--all', '--resolved', expect=h.EXIT_USAGE)

    # The same filters over HTTP; unknown or bad ones are refused.
    st, _, _, doc = d.request('GET', '/v1/conflicts?status=all&table=alert&priority=high',
                              token=cora.token)
    h.check_eq((st, ids(doc['conflicts'])), (200, [by_table['alert']['id']]), 'HTTP filters')
    for query, code in (('kind=nope', 'invalid_value'), ('colour=red', 'unknown_field'),
                        ('status=open&status=all', 'invalid_value'),
                        ('person=not-a-uuid', 'invalid_value'), ('table=nope', 'invalid_value'),
                        ('priority=urgent', 'invalid_value')):
        st, _, _, doc = d.request('GET', '/v1/conflicts?' + query, token=cora.token)
        h.check_eq((st, doc['error']['code']), (400, code), 'GET /v1/conflicts?' + query)

    # The human listing puts the two values side by side on one line.
    out = cora.run('conflicts', '--person', ada, quiet=True).stdout
    lines = out.splitlines()
    h.check(any('WINNER' in l and 'LOSER' in l for l in lines), 'a WINNER | LOSER header', out)
    h.check(any(l.strip().startswith('value') and '0131 222 2222' in l and '0131 111 1111' in l
                for l in lines), 'both values on the value line', out)
    h.check(any(l.strip().startswith('author') and 'liam' in l and 'nina' in l for l in lines),
            'both authors on one line', out)
    h.check('HIGH PRIORITY' in cora.run('conflicts', '--table', 'alert', quiet=True).stdout,
            'the human listing flags high priority')

    # ---- notices to the loser ----
    s = sync_json(nina)
    h.check_eq(s['lost_values'], 3, 'nina\'s sync says three of her values lost', s)
    h.check_eq(nina.status()['lost_values'], 3, 'status --json lost_values')
    h.check('your values in the conflict log: 3' in nina.run('status', quiet=True).stdout,
            'status says how many of your values are in the conflict log')
    h.check_eq(sync_json(nina)['lost_values'], 0, 'told once per event')
    h.check_eq(sync_json(liam)['lost_values'], 0, 'the winner is not told')
    h.check_eq(liam.status()['lost_values'], 0, 'liam has nothing in the log')

    # The log is the coordinators'; each worker may list the conflicts their values lost.
    nina.run('conflicts', '--json', expect=h.EXIT_FORBIDDEN)
    st, _, _, doc = d.request('GET', '/v1/conflicts', token=nina.token)
    h.check_eq((st, doc['error']['code']), (403, 'forbidden'), 'the whole log for a nurse')
    mine = nina.conflicts(False, '--mine')
    h.check_eq(sorted(ids(mine)), sorted(ids(open_)), 'nina\'s own lost values', mine)
    h.check(all(c['loser_user'] == 'nina' for c in mine), 'only conflicts nina lost', mine)
    h.check_eq(nina.conflicts(False, '--mine', '--priority', 'high').__len__(), 2,
               '--mine combines with other filters')
    h.check_eq(nina.status()['lost_values'], 0, 'listing --mine clears the count')
    h.check_eq(liam.conflicts(False, '--mine'), [], 'liam lost nothing')
    h.check_eq(cora.conflicts(False, '--mine'), [], 'the coordinator lost nothing')
    st, _, _, doc = d.request('GET', '/v1/conflicts?mine=1', token=liam.token)
    h.check_eq((st, doc['conflicts']), (200, []), 'GET ?mine=1 for a link worker')

    # ---- a resolution needs a reason ----
    p = cora.resolve(phone['id'], 'restore', reason=None, expect=h.EXIT_USAGE)
    h.check('reason' in p.stderr, 'the CLI asks for a reason', p.stderr)
    cora.resolve(phone['id'], 'restore', reason='   ', expect=h.EXIT_USAGE)
    cora.resolve(phone['id'], 'restore', reason='x' * 501, expect=h.EXIT_USAGE)
    path = '/v1/conflicts/%d/resolve' % phone['id']
    for body, code in (({'action': 'restore'}, 'missing_field'),
                       ({'action': 'restore', 'reason': ''}, 'invalid_value'),
                       ({'action': 'restore', 'reason': 'y' * 501}, 'value_too_long'),
                       ({'action': 'restore', 'reason': 7}, 'wrong_type')):
        st, _, _, doc = d.request('POST', path, body, token=cora.token)
        h.check_eq((st, doc['error']['code']), (400, code), 'resolve %s' % json.dumps(body)[:60])
    h.check_eq(d.scalar('SELECT count(*) FROM conflict_resolutions'), 0, 'nothing was resolved')

    # ---- reversible: each resolution supersedes the last; every replica follows ----
    def converge(value, what):
        for c in everyone:
            c.sync()
        for c in (nina, nina2, liam, cora):
            h.check_eq(c.show(ada)['phone'], value, '%s: %s' % (c.name, what))
        h.check_eq(d.field('person', ada, 'phone')['value'], value, 'server: ' + what)

    cora.resolve(phone['id'], 'restore', reason='Rang Ada: her new number is 1111')
    converge('0131 111 1111', 'restored')
    cora.resolve(phone['id'], 'keep', reason='Ada\'s daughter says 2222 is right')
    converge('0131 222 2222', 'kept after all')
    cora.resolve(phone['id'], 'value', '0131 333 3333', reason='Ada gave a new number today')
    converge('0131 333 3333', 'a new value')
    res = [c for c in cora.conflicts(False, '--resolved') if c['id'] == phone['id']]
    h.check_eq(len(res), 1, 'the conflict is listed as resolved', res)
    c = res[0]
    h.check_eq((c['status'], c['resolution'], c['resolved_value'], c['resolved_by'],
                c['reason']),
               ('resolved', 'value', '0131 333 3333', 'cora', 'Ada gave a new number today'),
               'the conflict shows the latest resolution')
    h.check_eq([(r['action'], r['reason']) for r in c['resolutions']],
               [('restore', 'Rang Ada: her new number is 1111'),
                ('keep', 'Ada\'s daughter says 2222 is right'),
                ('value', 'Ada gave a new number today')], 'every resolution is kept')
    h.check_eq(d.scalar('SELECT count(*) FROM conflict_resolutions WHERE conflict_id=?',
                        (phone['id'],)), 3, 'history rows')
    h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind='resolve'"), 3,
               'every resolution is audited')
    out = cora.run('conflicts', '--resolved', '--person', ada, quiet=True).stdout
    h.check('Ada gave a new number today' in out and 'supersedes 2 earlier' in out,
            'the human listing shows the reason and the superseded resolutions', out)
    h.check_eq(listed(), sorted([by_table['alert']['id'], by_table['note']['id']]),
               'the open list no longer has the phone')

    # Each resolution was news for nina, whose value lost: three resolved events, one conflict.
    h.check_eq(nina.status()['lost_values'], 1, 'nina is told her conflict was resolved')
    h.check_eq(liam.status()['lost_values'], 0, 'liam is told nothing')

    # Resolving an edit-after-delete kind again restores then re-deletes: covered by the
    # store's unit tests; here the safeguarding note's reason, restored then kept.
    nid = by_table['note']['id']
    cora.resolve(nid, 'restore', reason='nina\'s reason is the accurate one')
    for c in everyone:
        c.sync()
    h.check_eq(nina2.row(bo, 'notes', note)['error_reason'], 'written about the wrong person',
               'the restored reason on the other device')
    cora.resolve(nid, 'keep', reason='on reflection the duplicate reason stands')
    for c in everyone:
        c.sync()
    for c in (nina, nina2):
        h.check_eq(c.row(bo, 'notes', note)['error_reason'], 'duplicate of an earlier note',
                   c.name + ': the kept reason again')

    # Once Ada leaves nina's caseload, nina still sees her own lost value, not the others'.
    d.unassign(ada, 'nina')
    mine = {c['id']: c for c in nina.conflicts(False, '--mine')}
    gone = mine[phone['id']]
    h.check_eq((gone['loser_value'], gone['winner_value'], gone['current_value'],
                gone['resolved_value'], gone.get('redacted')),
               ('0131 111 1111', None, None, None, True), 'out of scope: only her own value')
    h.check(all(r['value'] is None for r in gone['resolutions']), 'history values hidden too')
    h.check_eq((gone['description'], gone['row_deleted']), ('person', None),
               'out of scope: the row is named by its table only')
    h.check('redacted' not in mine[by_table['alert']['id']], 'Bo is still on her caseload')
    full = [c for c in cora.conflicts(True) if c['id'] == phone['id']][0]
    h.check_eq(full['winner_value'], '0131 222 2222', 'the coordinator sees everything')
    h.check_eq(full['description'], 'person record of ' + full['person_name'],
               'the coordinator sees the row described')


if __name__ == '__main__':
    h.main(test)
