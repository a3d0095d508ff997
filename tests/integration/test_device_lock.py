#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_device_lock.py - a device that has not synced for longer than the server's policy locks
# itself: `caresyncd serve --lock-after-days 1` is sent to every device in each sync response;
# a client run two days later (CARESYNC_CLOCK_OFFSET_MS = +2 days) refuses every command except
# sync, status and help with exit 8 and a message naming the days; status says it is locked;
# a sync unlocks it. With the default policy (14 days) two days change nothing.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

DAY_MS = 24 * 3600 * 1000


def test(w):
    d = w.daemon
    pid = d.add_person('Lou Lock', phone='0131 000 0000')
    nina = w.client('nina', 'nurse')
    cora = w.client('cora', 'coordinator')
    d.assign(pid, 'nina')
    nina.sync()
    cora.sync()
    s = nina.status()
    h.check_eq((s['lock_after_days'], s['locked'], s['days_since_sync']), (14, False, 0),
               'the default policy arrives with the first sync')

    # Two days later, under the default policy: still usable.
    nina.env['CARESYNC_CLOCK_OFFSET_MS'] = str(2 * DAY_MS)
    nina.caseload()
    del nina.env['CARESYNC_CLOCK_OFFSET_MS']

    # The service now locks devices after one day without a sync.
    d.stop()
    d.serve_args = ['--lock-after-days', '1']
    d.start()
    nina.sync()
    cora.sync()
    h.check_eq(nina.status()['lock_after_days'], 1, 'the new policy is kept')

    # Two days pass with no sync.
    nina.env['CARESYNC_CLOCK_OFFSET_MS'] = str(2 * DAY_MS + 60000)
    for args in (['caseload'], ['show', pid], ['today'], ['open', pid],
                 ['edit', 'person', pid, 'phone', '0131 111 1111'],
                 ['note', 'add', pid, 'Visited'], ['export', pid, '--fhir'],
                 ['conflicts', '--mine'], ['team', pid]):
        p = nina.run(*args, expect=h.EXIT_LOCKED, quiet=True)
        h.check('has not synced for 2 days and is locked' in p.stderr and
                "caresync sync" in p.stderr, '%s: the lock message' % args[0], p.stderr)
    s = nina.status()
    h.check_eq((s['locked'], s['days_since_sync'], s['lock_after_days']), (True, 2, 1),
               'status works on a locked device and says so')
    out = nina.run('status', quiet=True).stdout
    h.check('LOCKED' in out, 'human status says LOCKED', out)
    nina.run('help', quiet=True)
    nina.run('caseload', '--help', quiet=True)
    h.check('8 locked' in nina.run('help', quiet=True).stdout, 'help documents exit code 8')
    h.check_eq(d.field('person', pid, 'phone')['value'], '0131 000 0000', 'nothing was sent')

    # A sync unlocks it.
    nina.sync()
    h.check_eq(nina.status()['locked'], False, 'unlocked by the sync')
    h.check_eq([p['id'] for p in nina.caseload()], [pid], 'the caseload is readable again')
    nina.edit('person', pid, 'phone', '0131 222 2222')

    # A coordinator's device locks the same way; 0 days means never.
    cora.env['CARESYNC_CLOCK_OFFSET_MS'] = str(3 * DAY_MS)
    cora.run('conflicts', expect=h.EXIT_LOCKED, quiet=True)
    del cora.env['CARESYNC_CLOCK_OFFSET_MS']
    d.stop()
    d.serve_args = ['--lock-after-days', '0']
    d.start()
    cora.sync()
    cora.env['CARESYNC_CLOCK_OFFSET_MS'] = str(30 * DAY_MS)
    cora.caseload()
    h.check_eq(cora.status()['locked'], False, 'lock-after-days 0 never locks')
    p = h.run([h.CARESYNCD, 'serve', '--data', d.data, '--listen', '127.0.0.1:0',
               '--lock-after-days', 'soon'], expect=2)
    h.check('--lock-after-days' in p.stderr, 'a bad --lock-after-days is a usage error', p.stderr)


if __name__ == '__main__':
    h.main(test)
