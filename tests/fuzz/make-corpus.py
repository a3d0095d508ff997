#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# make-corpus.py - writes the hand-made seed inputs of tests/fuzz/corpus/<target>/ (run from
# anywhere; rewrites only the files it names). Inputs the fuzzers found are added beside these
# by tools/fuzz.sh --merge and are not made here. Placeholders the HTTP targets replace: @C@ and
# @N@ (the coordinator's and the nurse's device token, 68 bytes), @P@ (a person's id, 36 bytes),
# @E@ (a fresh enrolment code, 14 bytes); Content-Length counts the replaced text.
import gzip
import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
P = '@P@'
RP = '0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a30'
U2 = '0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c'
D = '0193a1b2-c3d4-7e5f-9a6b-7c8d9e0f1a2d'
SIZES = {b'@C@': 68, b'@N@': 68, b'@P@': 36, b'@E@': 14}
n_ids = [0]


def cid():
    n_ids[0] += 1
    return '0193a1b2-c3d4-7e5f-8a6b-%012x' % (0x7c8d9e0f0000 + n_ids[0])


def ch(table, row, person, field, value, hlc='1763925429000.00003', base=None, bdev=None):
    return {'change_id': cid(), 'table': table, 'row_id': row, 'person_id': person,
            'field': field, 'value': value, 'hlc': hlc, 'base_hlc': base, 'base_device': bdev}


def w(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), 'wb') as f:
        f.write(data)


def length(body):
    return len(body) + sum(body.count(k) * (v - 3) for k, v in SIZES.items())


def req(line, headers, body=b''):
    if isinstance(body, str):
        body = body.encode()
    h = ''.join('%s: %s\r\n' % kv for kv in headers)
    return ('%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %d\r\n\r\n' %
            (line, h, length(body))).encode() + body


# wire: push changes, pull field states, a batch, and malformed forms
w('wire', 'push-person-phone.json', json.dumps(ch('person', RP, RP, 'phone', '0131 496 0000')))
w('wire', 'push-with-base.json', json.dumps(ch('goal', U2, RP, 'lifecycle_status', 'active',
                                               base='1763925428000.00001', bdev=D)))
w('wire', 'push-null-value.json', json.dumps(ch('person', RP, RP, 'preferred_name', None)))
w('wire', 'push-batch.json', json.dumps({'cursor': '', 'pull': True, 'pending': 3, 'changes': [
    ch('note', U2, RP, 'text', 'Visited; \u00e9t\u00e9 \u2603 ok\nline 2'),
    ch('visit', U2, RP, 'planned_start', '2026-11-23T09:30:00.000Z'),
    ch('goal', U2, RP, 'importance', '7')]}))
w('wire', 'pull-field-state.json', json.dumps({
    'table': 'goal', 'row_id': U2, 'person_id': RP, 'field': 'description',
    'value': 'Walk to the shop', 'hlc': '1763925429000.00003', 'device': D}))
w('wire', 'deleted.json', json.dumps(ch('plan_action', U2, RP, '_deleted', '1')))
w('wire', 'bad-deep.json', '{"a":' * 20 + '1' + '}' * 20)
w('wire', 'bad-escape.json', '{"value":"\\u0000x","hlc":"1763925429000.99999"}')


# gzip members, and an Accept-Encoding value
sync_body = json.dumps({'cursor': '', 'changes': [ch('person', RP, RP, 'phone', '0131')]})
w('gzip', 'sync-body.gz', gzip.compress(sync_body.encode(), mtime=0))
w('gzip', 'empty.gz', gzip.compress(b'', mtime=0))
w('gzip', 'repeat.gz', gzip.compress(b'a' * 5000, mtime=0))
w('gzip', 'truncated.gz', gzip.compress(b'hello hello hello', mtime=0)[:-5])
w('gzip', 'accept-encoding.txt', 'gzip;q=0.5, x-gzip;q=0, *;q=1')

# sync bodies; the first byte: bit 0 the coordinator's token, bit 1 gzip
for name, (b, doc) in {
        'nurse-phone': (0, {'cursor': '', 'pull': True,
                            'changes': [ch('person', P, P, 'phone', '0131 496 0101')]}),
        'coord-address-gzip': (3, {'cursor': '', 'pull': False, 'pending': 0, 'changes': [
            ch('person', P, P, 'address', '1 Fuzz Street')]}),
        'nurse-new-goal': (0, {'cursor': '', 'pull': True, 'changes': [
            ch('goal', U2, P, 'description', 'Get to the garden'),
            ch('goal', U2, P, 'lifecycle_status', 'proposed')]}),
        'report': (0, {'cursor': '', 'changes': [], 'oldest_pending_ms': 1000,
                       'last_error': 'timeout', 'device_time': '2026-11-23T19:40:00.000Z',
                       'client_version': '0.1.0'}),
        'pull-only': (1, {'cursor': '', 'changes': []}),
        'unknown-person': (0, {'cursor': '', 'changes': [ch('note', U2, RP, 'text', 'nobody')]}),
}.items():
    w('sync', name, bytes([b]) + json.dumps(doc).encode())

# enrolment bodies (first byte unused)
w('enrol', 'valid', b'\0' + json.dumps({'code': '@E@', 'device_name': 'Fuzz phone',
                                        'client_version': '0.1.0'}).encode())
w('enrol', 'unknown-code', b'\0' + json.dumps({'code': 'ABCD-EFGH-JKLM'}).encode())
w('enrol', 'extra-field', b'\0' + json.dumps({'code': '@E@', 'x': 1}).encode())
w('enrol', 'wrong-type', b'\0' + json.dumps({'code': 12}).encode())

# resolution bodies; the first byte picks the conflict
w('resolve', 'keep', b'\0' + json.dumps({'action': 'keep', 'reason': 'checked'}).encode())
w('resolve', 'restore', b'\1' + json.dumps({'action': 'restore', 'reason': 'right'}).encode())
w('resolve', 'value', b'\2' + json.dumps({'action': 'value', 'value': '0131 496 0999',
                                          'reason': 'phoned the family'}).encode())
w('resolve', 'value-null', b'\3' + json.dumps({'action': 'value', 'value': None,
                                               'reason': 'cleared'}).encode())
w('resolve', 'bad-action', b'\4' + json.dumps({'action': 'drop', 'reason': 'x'}).encode())

# whole requests
sb = json.dumps({'cursor': '', 'changes': [ch('person', P, P, 'phone', '0131 496 0202')]})
nurse, coord = ('Authorization', 'Bearer @N@'), ('Authorization', 'Bearer @C@')
w('http', 'sync', req('POST /v1/sync', [nurse, ('Content-Type', 'application/json')], sb))
w('http', 'sync-gzip', req('POST /v1/sync', [nurse, ('Content-Encoding', 'gzip'),
                                             ('Accept-Encoding', 'gzip')],
                           gzip.compress(json.dumps({'cursor': '', 'changes': [
                               ch('person', RP, RP, 'phone', '0131 496 0303')]}).encode(),
                                         mtime=0)))
w('http', 'conflicts', req('GET /v1/conflicts?status=all&kind=concurrent_edit', [coord]))
w('http', 'conflicts-mine', req('GET /v1/conflicts?mine=1', [nurse]))
w('http', 'fhir', req('GET /v1/people/@P@/fhir', [coord]))
w('http', 'team', req('GET /v1/people/@P@/team', [coord]))
w('http', 'devices', req('GET /v1/devices', [coord]))
w('http', 'assign', req('POST /v1/assignments', [coord], json.dumps(
    {'person_id': P, 'user': 'coord.fuzz', 'action': 'assign'})))
w('http', 'enrol-pipelined', req('POST /v1/enrol', [], json.dumps({'code': '@E@'})) +
  req('GET /v1/conflicts', [coord]))
w('http', 'two-lengths', b'POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer @N@\r\n'
  b'Content-Length: 2\r\nContent-Length: 44\r\n\r\n{}')
w('http', 'chunked', b'POST /v1/enrol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
  b'b\r\n{"code":"x"\r\n1\r\n}\r\n0\r\n\r\n')
w('http', 'method', req('DELETE /v1/sync', [nurse]))

# proto: every /v1 body of docs/PROTOCOL.md, requests and replies (fuzz-proto.c tries each
# decoder on each input)
w('proto', 'enrol.json', json.dumps({'code': 'K7QD-2MXR-9HCE', 'device_name': 'nurse-tablet-3',
                                     'client_version': '0.1.0'}))
w('proto', 'enrol-reply.json', json.dumps({'device_id': D, 'token': 'cs1_' + '0' * 64,
                                           'user': 'alice', 'role': 'nurse',
                                           'server_hlc': '1763925429000.00000'}))
w('proto', 'sync.json', json.dumps({
    'cursor': '1042', 'changes': [ch('person', RP, RP, 'phone', '0131 496 0000',
                                     base='1763920000000.00000', bdev=D)],
    'pull': True, 'pending': 0, 'client_version': '0.1.0', 'oldest_pending_ms': 5400000,
    'last_error': 'sync failed: cannot reach the server; nothing was lost',
    'device_time': '2026-11-23T19:40:00.000Z',
    'exports': [{'person_id': RP, 'at': '2026-11-23T19:38:00Z'}]}))
w('proto', 'sync-reply.json', json.dumps({
    'outcomes': [{'change_id': cid(), 'outcome': 'applied', 'hlc': '1763925429000.00003'},
                 {'change_id': cid(), 'outcome': 'lost', 'hlc': '1763925429000.00004',
                  'clamped': True, 'conflict': True,
                  'current': {'value': '0131 496 1111', 'hlc': '1763925430000.00000',
                              'device': D}}],
    'rewound': True,
    'changes': [{'table': 'goal', 'row_id': U2, 'person_id': RP, 'field': 'description',
                 'value': 'Walk to the post office', 'hlc': '1763925431000.00000',
                 'device': D}],
    'purge': [RP], 'drop': [{'table': 'plan_action', 'row_id': U2}],
    'cursor': '1107:0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a30:9:00112233aabbccdd', 'more': False,
    'reread': True, 'server_hlc': '1763925432000.00001',
    'notices': {'lost_values': 1, 'conflicts': [7]}, 'policy': {'lock_after_days': 14}}))
w('proto', 'resolve.json', json.dumps({'action': 'value', 'value': None, 'reason': 'cleared'}))
w('proto', 'restore.json', json.dumps({'table': 'plan_action', 'row_id': U2,
                                       'reason': 'deleted by mistake'}))
w('proto', 'assign.json', json.dumps({'person_id': RP, 'user': 'nurse.ben',
                                      'action': 'assign'}))
w('proto', 'transfer.json', json.dumps({'from': 'nurse.ben', 'to': 'nurse.amira',
                                        'person_id': RP}))
w('proto', 'named-coordinator.json', json.dumps({'user': 'sw.ella'}))
w('proto', 'close.json', json.dumps({'reason': 'moved-away'}))
w('proto', 'nhs-number.json', json.dumps({'nhs_number': '9434765919'}))
w('proto', 'error.json', json.dumps({'error': {
    'code': 'value_too_long', 'message': 'changes[0].value: too long; nothing was written',
    'limit': 16384, 'field': 'value', 'index': 0}}))
w('proto', 'devices-reply.json', json.dumps({'devices': [
    {'user': 'nurse.ben', 'role': 'nurse', 'device_id': D, 'name': 'tablet 3',
     'enrolled_at': '2026-11-20T10:00:00.000Z', 'last_sync_at': '2026-11-23T19:40:00.000Z',
     'since_sync_ms': 5400000, 'pending': 2, 'oldest_pending_ms': 1763925429000,
     'last_error': None, 'client_version': '0.1.0', 'device_time': '2026-11-23T19:39:58.000Z',
     'clock_skew_ms': -2000, 'revoked_at': None, 'revoked': False}]}))
CONFLICT = {'id': 7, 'kind': 'concurrent_edit', 'priority': 'normal', 'review': False,
            'status': 'resolved', 'table': 'person', 'row_id': RP, 'person_id': RP,
            'person_name': 'Doreen Ashworth', 'field': 'phone', 'winner_value': '0131 496 1111',
            'winner_deleted': False, 'winner_hlc': '1763925430000.00000', 'winner_device': D,
            'winner_user': 'nurse.ben', 'loser_value': '0131 496 0000',
            'loser_hlc': '1763925429000.00003', 'loser_device': D, 'loser_user': 'nurse.amira',
            'loser_change_id': U2, 'current_value': '0131 496 0000', 'row_deleted': False,
            'description': 'person record of Doreen Ashworth',
            'created_at': '2026-11-23T19:40:00.000Z', 'resolution': 'restore',
            'resolved_value': '0131 496 0000', 'resolved_by': 'coord.iona',
            'resolved_at': '2026-11-24T09:00:00.000Z', 'reason': 'rang the daughter',
            'resolutions': [{'action': 'restore', 'value': '0131 496 0000', 'wrote': True,
                             'reason': 'rang the daughter', 'by': 'coord.iona',
                             'at': '2026-11-24T09:00:00.000Z'}]}
REDACTED = dict(CONFLICT, status='open', person_name=None, winner_value=None,
                current_value=None, row_deleted=None, description='person', redacted=True)
for k in ('resolution', 'resolved_value', 'resolved_by', 'resolved_at', 'reason', 'resolutions'):
    del REDACTED[k]
w('proto', 'conflicts-reply.json', json.dumps({'conflicts': [CONFLICT, REDACTED]}))
w('proto', 'resolve-reply.json', json.dumps({'conflict': CONFLICT}))
PERSON = {'person_id': RP, 'name': 'Doreen Ashworth', 'birth_date': '1941-03-02',
          'status': 'closed', 'closed_reason': 'moved-away', 'closed_on': '2026-11-24',
          'nhs_number': '9434765919', 'gp_practice': 'A81001', 'assigned': 'nurse.amira,sw.ella'}
w('proto', 'person-reply.json', json.dumps({'person': PERSON}))
w('proto', 'people.json', json.dumps({'people': [PERSON, dict(PERSON, person_id=U2, name=None,
                                                             assigned=None)]}))
w('proto', 'bad-control.json', '{"code": "K7QD\\u0007", "user": "a b"}')
