#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_replay.py - a push sent twice (a lost reply, a retry) gets identical outcomes and writes
# nothing twice. Two pushes are replayed over raw HTTPS with the device's own token: one built
# here per docs/PROTOCOL.md, and the client's real push, rebuilt from the server's change_log.
# The same change id with different content is refused with 409 and nothing written.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def change_from_log(row):
    return {'change_id': row['change_id'], 'table': row['tbl'], 'row_id': row['row_id'],
            'person_id': row['person_id'], 'field': row['field'], 'value': row['value'],
            'hlc': h.hlc_text(row['sent_hlc']),
            'base_hlc': h.hlc_text(row['base_hlc']) if row['base_device'] else None,
            'base_device': row['base_device'] or None}


def post_sync(d, token, changes, pull=False, cursor=''):
    body = {'cursor': cursor, 'changes': changes, 'pull': pull, 'client_version': 'test'}
    status, _, raw, doc = d.request('POST', '/v1/sync', body, token=token)
    h.check_eq(status, 200, 'POST /v1/sync status')
    return doc


def test(w):
    d = w.daemon
    pid = d.add_person('Cal Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    nurse.sync()
    token = nurse.token
    h.check(token.startswith('cs1_'), 'token file holds the device token', token)

    # 1. A push built by hand: phone edit on top of the version the device holds.
    cur = d.field('person', pid, 'phone')
    change = {'change_id': h.uuid7(), 'table': 'person', 'row_id': pid, 'person_id': pid,
              'field': 'phone', 'value': '0131 444 4444', 'hlc': h.hlc_text(h.hlc_now(1000)),
              'base_hlc': h.hlc_text(cur['hlc']), 'base_device': cur['device']}
    first = post_sync(d, token, [change])
    counts = d.counts()
    h.check_eq(first['outcomes'][0]['outcome'], 'applied', 'first outcome')
    again = post_sync(d, token, [change])
    h.check_eq(again['outcomes'], first['outcomes'], 'replayed outcomes')
    h.check_eq(d.counts(), counts, 'row counts after the replay')
    h.check_eq(d.scalar('SELECT count(*) FROM change_log WHERE change_id=?',
                        (change['change_id'],)), 1, 'journal rows for the change')
    # and with a pull in the same request
    third = post_sync(d, token, [change], pull=True)
    h.check_eq(third['outcomes'], first['outcomes'], 'replayed outcomes with pull')
    h.check_eq(d.counts(), counts, 'row counts after the replay with pull')

    # 2. The client's own push, replayed: edit, sync, then send what it sent again.
    nurse.edit('person', pid, 'address', '2 Example Road')
    nurse.add('goal', pid, {'description': 'Sleep through the night'})
    nurse.sync()
    dev = nurse.device_id
    rows = d.query('SELECT * FROM change_log WHERE device=? ORDER BY id', (dev,))
    real = [change_from_log(r) for r in rows if r['change_id'] != change['change_id']]
    h.check(len(real) >= 2, 'the client pushed its changes', rows)
    counts = d.counts()
    stored = {r['change_id']: r['outcome'] for r in rows}
    replay = post_sync(d, token, real)
    for o in replay['outcomes']:
        h.check_eq(o['outcome'], stored[o['change_id']], 'replayed outcome of ' + o['change_id'])
    replay2 = post_sync(d, token, real)
    h.check_eq(replay2['outcomes'], replay['outcomes'], 'second replay of the real push')
    h.check_eq(d.counts(), counts, 'row counts after replaying the real push')

    # 3. The same id with different content: 409, the whole batch refused.
    other = dict(change, change_id=h.uuid7(), field='address', value='3 Example Road',
                 base_hlc=None, base_device=None)
    bad = dict(change, value='0131 555 5555')
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'changes': [other, bad],
                                                      'pull': False}, token=token)
    h.check_eq(status, 409, 'status for a reused change id')
    h.check_eq(doc['error']['code'], 'change_id_reused', 'error code')
    h.check_eq(d.counts(), counts, 'row counts after the refused batch')
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 444 4444', 'phone unchanged')

    # The client is unaffected and still in step.
    nurse.sync()
    h.check_eq(nurse.show(pid)['phone'], '0131 444 4444', 'client phone')
    h.check_eq(nurse.status()['pending'], 0, 'client outbox')

    # 4. A push and pull in one request: the pull does not send back what that push wrote (the
    # outcomes already say it), but sends everything else new; a later pull from an older
    # cursor still sends it, so a device whose replica went back to an older copy catches up.
    start = post_sync(d, token, [], pull=True)
    while start['more']:
        start = post_sync(d, token, [], pull=True, cursor=start['cursor'])
    cursor = start['cursor']
    cur = d.field('person', pid, 'phone')
    mine = {'change_id': h.uuid7(), 'table': 'person', 'row_id': pid, 'person_id': pid,
            'field': 'phone', 'value': '0131 666 6666', 'hlc': h.hlc_text(h.hlc_now(2000)),
            'base_hlc': h.hlc_text(cur['hlc']), 'base_device': cur['device']}
    coord = w.client('coord', 'coordinator')
    coord.sync()
    coord.edit('person', pid, 'address', '5 Other Road')
    coord.sync()
    # and a new contact: is_emergency_contact decides who sees the row, so a change to it sends
    # the whole row, except to the device that wrote it
    contact = h.uuid7()
    rows = [dict(change_id=h.uuid7(), table='related_person', row_id=contact, person_id=pid,
                 field=f, value=v, hlc=h.hlc_text(h.hlc_now(2000 + i)), base_hlc=None,
                 base_device=None)
            for i, (f, v) in enumerate([('name', 'Dee Example'), ('is_emergency_contact', '1')])]
    both = post_sync(d, token, [mine] + rows, pull=True, cursor=cursor)
    h.check_eq([o['outcome'] for o in both['outcomes']], ['applied'] * 3, 'outcomes of the push')
    got = {(c['field'], c['value']) for c in both['changes']}
    h.check(('phone', '0131 666 6666') not in got, 'the pushed field is not sent back', got)
    h.check(not any(c['row_id'] == contact for c in both['changes']),
            'the new contact row is not sent back', both['changes'])
    h.check(('address', '5 Other Road') in got, "another device's change is sent", got)
    later = post_sync(d, token, [], pull=True, cursor=cursor)
    got = {(c['field'], c['value']) for c in later['changes']}
    h.check(('phone', '0131 666 6666') in got, 'a later pull from the old cursor sends it', got)
    h.check(('name', 'Dee Example') in got, 'and the contact', got)
    nurse.sync()
    h.check_eq(nurse.show(pid)['phone'], '0131 666 6666', 'client phone after the raw push')


if __name__ == '__main__':
    h.main(test)
