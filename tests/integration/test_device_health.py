#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_device_health.py - devices and sync health, with real clients: every sync reports the
# device's pending changes, the age of its oldest, its last error and its clock; GET
# /v1/devices (`caresync devices`, coordinators only) shows them per worker and device with the
# clock skew seen (one client runs 90 s slow through CARESYNC_CLOCK_OFFSET_MS) and the last
# successful sync. A batch the server refuses is still recorded (a device stuck on a poisoned
# outbox shows up). A coordinator revokes a device from their own client; its next sync exits 5
# and its replica (with -wal and -shm) and token are gone; it may enrol again.
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

FIELDS = ('user', 'role', 'device_id', 'name', 'enrolled_at', 'last_sync_at', 'since_sync_ms',
          'pending', 'oldest_pending_ms', 'last_error', 'client_version', 'device_time',
          'clock_skew_ms', 'revoked', 'revoked_at')


def devices(c):
    return {d['device_id']: d for d in c.json('devices', quiet=True)}


def test(w):
    d = w.daemon
    pid = d.add_person('Hal Health', phone='0131 000 0000')
    nina = w.client('nina', 'nurse')
    ben = w.client('ben', 'nurse')
    ben.env['CARESYNC_CLOCK_OFFSET_MS'] = str(-90000)  # ben's tablet runs 90 s slow
    cora = w.client('cora', 'coordinator')
    vic = w.client('vic', 'volunteer')
    for u in ('nina', 'ben', 'vic'):
        d.assign(pid, u)
    for c in (nina, ben, cora, vic):
        c.sync()

    # ---- the coordinators' view ----
    vic.run('devices', expect=h.EXIT_FORBIDDEN)
    st, _, _, doc = d.request('GET', '/v1/devices', token=nina.token)
    h.check_eq((st, doc['error']['code']), (403, 'forbidden'), 'GET /v1/devices for a nurse')
    devs = devices(cora)
    h.check_eq(len(devs), 4, 'one row per device', devs)
    version = h.run([h.CARESYNC, '--version'], quiet=True).stdout.split()[-1]
    for c in (nina, ben, cora, vic):
        row = devs[c.device_id]
        for k in FIELDS:
            h.check(k in row, 'device row has %s' % k, row)
        h.check_eq((row['user'], row['role']), (c.user, c.role), 'user and role')
        h.check(row['last_sync_at'], c.name + ': last successful sync recorded', row)
        h.check(0 <= row['since_sync_ms'] < 120000, c.name + ': synced just now', row)
        h.check_eq((row['pending'], row['oldest_pending_ms'], row['last_error']), (0, 0, None),
                   c.name + ': nothing pending, no error')
        h.check_eq(row['client_version'], version, c.name + ': client version')
        h.check_eq((row['revoked'], row['revoked_at']), (False, None), c.name + ': not revoked')
        h.check(row['device_time'] and row['device_time'].endswith('Z'), 'device time', row)
    skew = devs[ben.device_id]['clock_skew_ms']
    h.check(80000 <= skew <= 100000, 'ben\'s clock is seen 90 s slow (skew %s ms)' % skew)
    h.check(abs(devs[nina.device_id]['clock_skew_ms']) < 10000, 'nina\'s clock is right',
            devs[nina.device_id])
    out = cora.run('devices', quiet=True).stdout
    h.check('SKEW' in out and 'ben' in out and ('+2 min' in out or '+1 min' in out),
            'the human listing shows ben\'s skew', out)

    # ---- the last error: a failed sync is reported by the next one ----
    d.stop()
    p = nina.sync(expect=h.EXIT_NETWORK)
    d.start()
    nina.sync()
    err = devices(cora)[nina.device_id]['last_error']
    h.check(err and 'reach' in err, 'the previous failure is reported', err, p.stderr)
    nina.sync()
    h.check_eq(devices(cora)[nina.device_id]['last_error'], None, 'cleared by a good sync')

    # ---- a poisoned outbox: the refused batch is still recorded ----
    nina.edit('person', pid, 'phone', '0131 555 5555')
    con = sqlite3.connect(os.path.join(nina.home, 'replica.db'))
    con.execute("UPDATE outbox SET field = 'nhs_number', value = '9990000018'")
    con.commit()
    con.close()
    time.sleep(1.2)
    p = nina.sync(expect=None)
    h.check(p.returncode in (h.EXIT_FORBIDDEN, h.EXIT_SERVER), 'the server refuses the batch',
            p.stderr)
    row = devices(cora)[nina.device_id]
    h.check_eq(row['pending'], 1, 'the refused change is counted as pending', row)
    h.check(row['oldest_pending_ms'] >= 1000, 'the age of the oldest unsent change', row)
    p2 = nina.sync(expect=p.returncode)
    row = devices(cora)[nina.device_id]
    h.check(row['last_error'] and 'nhs_number' in row['last_error'],
            'the refusal is the device\'s last error', row)
    out = cora.run('devices', quiet=True).stdout
    h.check('last error:' in out, 'the human listing shows the last error', out)
    con = sqlite3.connect(os.path.join(nina.home, 'replica.db'))
    con.execute('DELETE FROM outbox')
    con.commit()
    con.close()
    nina.sync()

    # ---- the report keys are checked strictly ----
    raw = w.client('raw', 'nurse', user='nina')
    for body, field, code in (
            ({'oldest_pending_ms': -1}, 'oldest_pending_ms', 'invalid_value'),
            ({'oldest_pending_ms': 'x'}, 'oldest_pending_ms', 'wrong_type'),
            ({'last_error': 5}, 'last_error', 'wrong_type'),
            ({'last_error': 'e' * 1001}, 'last_error', 'value_too_long'),
            ({'device_time': '2026-11-23T10:00:00'}, 'device_time', 'invalid_value'),
            ({'device_time': 'yesterday'}, 'device_time', 'invalid_value'),
            ({'battery': 80}, 'battery', 'unknown_field')):
        body = dict(body, cursor='', changes=[])
        st, _, _, doc = d.request('POST', '/v1/sync', body, token=raw.token)
        h.check_eq((st, doc['error']['code'], doc['error'].get('field')), (400, code, field),
                   'sync with %r' % body)
    # A device an hour slow with a time zone offset, reporting a backlog.
    when = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(time.time() - 3600 + 2 * 3600))
    st, _, _, doc = d.request('POST', '/v1/sync', {
        'cursor': '', 'changes': [], 'pull': False, 'pending': 7, 'oldest_pending_ms': 7200000,
        'last_error': 'sync failed: timeout', 'device_time': when + '.250+02:00'},
        token=raw.token)
    h.check_eq(st, 200, 'a sync with a report')
    h.check_eq(sorted(doc['notices']), ['conflicts', 'lost_values'], 'notices in the response')
    h.check_eq(doc['policy'], {'lock_after_days': 14}, 'the default lock policy')
    row = devices(cora)[raw.device_id]
    h.check_eq((row['pending'], row['oldest_pending_ms'], row['last_error']),
               (7, 7200000, 'sync failed: timeout'), 'the reported backlog', row)
    h.check(3590000 <= row['clock_skew_ms'] <= 3620000, 'an hour of skew', row)

    # ---- revocation from the coordinator's client ----
    ben.edit('person', pid, 'phone', '0131 999 9999')  # never sent: lost with the device
    vic.run('device', 'revoke', ben.device_id, expect=h.EXIT_FORBIDDEN)
    cora.run('device', 'revoke', '01a20a20-0000-7000-8000-000000000000', expect=h.EXIT_NOTFOUND)
    ben_device = ben.device_id
    cora.run('device', 'revoke', ben_device)
    cora.run('device', 'revoke', ben_device)  # again: already revoked, still fine
    row = devices(cora)[ben_device]
    h.check(row['revoked'] is True and row['revoked_at'], 'listed as revoked', row)
    h.check_eq(d.scalar("SELECT count(*) FROM audit WHERE kind='revoke'"), 1, 'audited once')
    actor = d.scalar("SELECT actor_user FROM audit WHERE kind='revoke'")
    h.check_eq(actor, 'cora', 'the audit names the coordinator')
    p = ben.sync(expect=h.EXIT_AUTH)
    h.check('revoked by the service' in p.stderr and 'wiped' in p.stderr and
            'enrol again' in p.stderr, 'the client says it was revoked and wiped', p.stderr)
    for fn in ('replica.db', 'replica.db-wal', 'replica.db-shm', 'token'):
        h.check(not os.path.exists(os.path.join(ben.home, fn)), '%s is gone' % fn,
                os.listdir(ben.home))
    ben.run('status', expect=h.EXIT_USAGE)  # not enrolled any more
    ben.run('caseload', expect=h.EXIT_USAGE)
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 000 0000',
               'the revoked device\'s unsent edit never arrived')
    # Enrolling the same home again works, as a new device.
    ben.enrol(d.enrol_code('ben'))
    ben.sync()
    h.check(ben.device_id != ben_device, 'a new device id')
    h.check_eq([x['id'] for x in ben.caseload()], [pid], 'the caseload again')
    # Other devices go on working.
    nina.sync()
    vic.sync()


if __name__ == '__main__':
    h.main(test)
