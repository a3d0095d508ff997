#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_bad_input.py - every kind of bad request gets the documented 4xx and a JSON error
# (naming the limit where one was exceeded), nothing is written (change_log, field_state and
# conflicts unchanged), and the daemon goes on serving good requests. Limits are probed at the
# limit and one past it.
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

BODY_LIMIT = 4194304
MAX_CHANGES = 1000


def good_change(pid, **over):
    c = {'change_id': h.uuid7(), 'table': 'person', 'row_id': pid, 'person_id': pid,
         'field': 'address', 'value': '5 Example Road', 'hlc': h.hlc_text(h.hlc_now(1000)),
         'base_hlc': None, 'base_device': None}
    c.update(over)
    return c


def goal_change(pid, i):
    return {'change_id': h.uuid7(), 'table': 'goal', 'row_id': h.uuid7(), 'person_id': pid,
            'field': 'description', 'value': 'goal %d' % i,
            'hlc': h.hlc_text(h.hlc_now(1000, i % 60000)), 'base_hlc': None, 'base_device': None}


def nest(depth):
    """A JSON body whose nesting is @depth levels in all (the top object is level 1)."""
    return '{"cursor":"","changes":' + '[' * (depth - 1) + ']' * (depth - 1) + '}'


def test(w):
    d = w.daemon
    pid = d.add_person('Ida Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    nurse.sync()
    token = nurse.token
    # A goal of the person, for the row-owner case.
    goal = nurse.add('goal', pid, {'description': 'Existing goal'})
    nurse.sync()
    other = d.add_person('Jon Other')
    d.assign(other, 'nurse')
    before = d.counts()
    h.log('counts before: %s' % before)

    def refused(what, body, status, code, limit=None, field=None, index=None, token=token,
                path='/v1/sync', method='POST'):
        h.log('-- ' + what)
        got, _, raw, doc = d.request(method, path, body, token=token)
        h.check_eq(got, status, what + ': status')
        h.check(isinstance(doc, dict) and isinstance(doc.get('error'), dict),
                what + ': the body is a JSON error', raw[:500])
        err = doc['error']
        if code is not None:
            h.check_eq(err.get('code'), code, what + ': code')
        h.check(isinstance(err.get('message'), str) and err['message'] and
                '\n' not in err['message'], what + ': a one-line message', err)
        if limit is not None:
            h.check_eq(err.get('limit'), limit, what + ': limit')
        if field is not None:
            h.check_eq(err.get('field'), field, what + ': field')
        if index is not None:
            h.check_eq(err.get('index'), index, what + ': index')
        h.check_eq(d.counts(), before, what + ': nothing written')

    refused('empty body', b'', 400, None)
    refused('malformed JSON', b'{"cursor": ', 400, 'malformed_json')
    refused('duplicate key', b'{"cursor":"","cursor":"","changes":[]}', 400, None)
    refused('top level is an array', b'[]', 400, None)
    refused('trailing data', b'{"cursor":"","changes":[]} {}', 400, 'malformed_json')
    refused('invalid UTF-8', b'{"cursor":"\xff\xfe","changes":[]}', 400, 'invalid_utf8')
    refused('invalid UTF-8 in a value',
            json.dumps({'cursor': '', 'changes': [good_change(pid, value='@@')]}).encode()
            .replace(b'@@', b'\xc0\xaf'), 400, 'invalid_utf8')
    refused('escaped NUL', b'{"cursor":"\\u0000","changes":[]}', 400, None)
    refused('unknown top-level field', {'cursor': '', 'changes': [], 'bogus': 1}, 400,
            'unknown_field', field='bogus')
    refused('unknown field in a change',
            {'cursor': '', 'changes': [dict(good_change(pid), author='bob')]}, 400,
            'unknown_field', field='author', index=0)
    refused('wrong type: cursor', {'cursor': 5, 'changes': []}, 400, 'wrong_type',
            field='cursor')
    refused('wrong type: changes', {'cursor': '', 'changes': {}}, 400, 'wrong_type',
            field='changes')
    refused('wrong type: pull', {'cursor': '', 'changes': [], 'pull': 'yes'}, 400, 'wrong_type',
            field='pull')
    refused('wrong type: value', {'cursor': '', 'changes': [good_change(pid, value=5)]}, 400,
            'wrong_type', field='value', index=0)
    c = good_change(pid)
    del c['hlc']
    refused('missing field in a change', {'cursor': '', 'changes': [c]}, 400, 'missing_field',
            field='hlc', index=0)
    refused('missing changes', {'cursor': ''}, 400, 'missing_field', field='changes')
    refused('JSON 17 levels deep', nest(17), 400, 'json_too_deep', limit=16)
    refused('JSON 1000 levels deep', nest(1000), 400, 'json_too_deep', limit=16)
    refused('unknown table', {'cursor': '', 'changes': [good_change(pid, table='patients')]},
            400, 'invalid_value', field='table', index=0)
    refused('unknown field of a table',
            {'cursor': '', 'changes': [good_change(pid, field='shoe_size')]}, 400,
            'invalid_value', field='field', index=0)
    refused('server-authoritative field',
            {'cursor': '', 'changes': [good_change(pid, field='nhs_number', value='9990001112')]},
            403, 'forbidden', index=0)
    refused('bad date', {'cursor': '', 'changes': [good_change(pid, field='birth_date',
                                                                 value='1990-02-30')]},
            400, 'invalid_value', field='value', index=0)
    refused('bad uuid', {'cursor': '', 'changes': [good_change(pid, change_id='X-1')]}, 400,
            'invalid_value', field='change_id', index=0)
    refused('bad clock', {'cursor': '', 'changes': [good_change(pid, hlc='1763925429000.65536')]},
            400, 'invalid_value', field='hlc', index=0)
    refused('value too long (phone: 64 bytes)',
            {'cursor': '', 'changes': [good_change(pid, field='phone', value='1' * 65)]}, 400,
            'value_too_long', limit=64, field='value', index=0)
    refused('person row naming another person',
            {'cursor': '', 'changes': [good_change(pid, person_id=other)]}, 400, None, index=0)
    refused('row moved to another person',
            {'cursor': '', 'changes': [good_change(pid),
                                       good_change(pid, table='goal', row_id=goal,
                                                   person_id=other, field='description')]},
            400, 'row_owner_mismatch', index=1)
    refused('a good change then a bad one',
            {'cursor': '', 'changes': [good_change(pid),
                                       good_change(pid, field='birth_date', value='tomorrow')]},
            400, 'invalid_value', index=1)
    refused('a server-authoritative field (nhs_number)',
            {'cursor': '', 'changes': [good_change(pid), good_change(pid, field='nhs_number',
                                                                     value='9434765919')]},
            403, 'forbidden')
    refused('about_me whose id is not the person\'s',
            {'cursor': '', 'changes': [good_change(pid, table='about_me', row_id=h.uuid7(),
                                                   field='what_matters', value='My garden')]},
            400, 'invalid_value', index=0)
    many = [goal_change(pid, i) for i in range(MAX_CHANGES + 1)]
    refused('1001 changes', {'cursor': '', 'changes': many}, 413, 'too_many_changes',
            limit=MAX_CHANGES)
    pad = BODY_LIMIT + 1 - len(json.dumps({'cursor': '', 'changes': [], 'client_version': ''}))
    big = json.dumps({'cursor': '', 'changes': [], 'client_version': 'x' * pad})
    h.check_eq(len(big), BODY_LIMIT + 1, 'size of the oversized body')
    refused('body one byte over 4 MiB', big, 413, 'body_too_large', limit=BODY_LIMIT)
    refused('no token', {'cursor': '', 'changes': []}, 401, 'missing_token', token=None)
    refused('GET on the sync endpoint', None, 405, 'method_not_allowed', method='GET')
    refused('unknown endpoint', {'cursor': '', 'changes': []}, 404, 'not_found',
            path='/v1/nothing')
    refused('conflict log for a nurse', None, 403, 'forbidden', method='GET',
            path='/v1/conflicts')
    refused('enrol with a number', {'code': 5}, 400, 'wrong_type', field='code',
            path='/v1/enrol', token=None)

    # A body over twice the limit is cut off by the HTTP layer: 413 or a closed connection.
    h.log('-- body of 9 MiB')
    try:
        got, _, _, _ = d.request('POST', '/v1/sync', b'{' + b' ' * (9 << 20) + b'}', token=token)
        h.check_eq(got, 413, 'status for a 9 MiB body')
    except (ConnectionError, OSError) as e:
        h.log('connection closed while sending 9 MiB: %r (allowed)' % e)
    h.check_eq(d.counts(), before, '9 MiB body: nothing written')

    # At the limits: accepted.
    h.log('-- exactly 1000 changes and a body just under 4 MiB')
    body = {'cursor': '', 'changes': [goal_change(pid, i) for i in range(MAX_CHANGES)],
            'pull': False}
    got, _, _, doc = d.request('POST', '/v1/sync', body, token=token)
    h.check_eq(got, 200, '1000 changes accepted')
    h.check_eq(len(doc['outcomes']), MAX_CHANGES, 'one outcome per change')
    h.check_eq(d.counts()['change_log'], before['change_log'] + MAX_CHANGES, 'journal rows')
    pad = BODY_LIMIT - len(json.dumps({'cursor': '', 'changes': [], 'client_version': ''}))
    ok = json.dumps({'cursor': '', 'changes': [], 'client_version': 'x' * pad})
    h.check_eq(len(ok), BODY_LIMIT, 'size of the body at the limit')
    got, _, raw, _ = d.request('POST', '/v1/sync', ok, token=token)
    h.check(got in (200, 400), 'a body of exactly 4 MiB is not refused for its size', got, raw)
    if got == 400:
        h.log('4 MiB body refused for another reason (client_version too long?): %r' % raw[:300])

    # And the daemon still serves the real client.
    nurse.edit('person', pid, 'phone', '0131 999 9999')
    nurse.sync()
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 999 9999', 'phone after all')


if __name__ == '__main__':
    h.main(test)
