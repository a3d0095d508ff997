#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_clock_skew.py - wrong clocks. A device an hour ahead has its changes clamped by the
# server (stored with a fresh server clock, never adopted); a device an hour behind that has
# pulled a newer value still wins with its causally later edit (its clock moves past what it
# received), with no conflict logged. The daemon restarted with its clock an hour behind still
# stamps later versions than before (the clock is persisted).
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

HOUR = 3600000
MAX_FORWARD = 300000


def wall_ms():
    return int(time.time() * 1000)


def test(w):
    d = w.daemon
    pid = d.add_person('Lou Example', phone='0131 000 0000')
    behind = w.client('behind', 'nurse')
    ahead = w.client('ahead', 'link_worker')
    behind.env['CARESYNC_CLOCK_OFFSET_MS'] = str(-HOUR)
    ahead.env['CARESYNC_CLOCK_OFFSET_MS'] = str(HOUR)
    d.assign(pid, 'behind')
    d.assign(pid, 'ahead')
    behind.sync()
    ahead.sync()

    # An hour ahead: clamped.
    ahead.edit('person', pid, 'phone', 'from the future')
    ahead.sync()
    row = d.query("SELECT hlc, sent_hlc, outcome FROM change_log WHERE device=? AND"
                  " field='phone'", (ahead.device_id,))[0]
    h.log('ahead: sent %s stored %s' % (h.hlc_text(row['sent_hlc']), h.hlc_text(row['hlc'])))
    h.check((row['sent_hlc'] >> 16) > wall_ms() + HOUR - 60000, 'the device clock was ahead', row)
    h.check((row['hlc'] >> 16) <= wall_ms() + MAX_FORWARD, 'the stored clock is clamped', row)
    h.check_eq(row['outcome'], 'applied', 'outcome')
    top = d.scalar('SELECT max(hlc) FROM field_state')
    h.check((top >> 16) <= wall_ms() + MAX_FORWARD, 'no stored version in the far future')

    # An hour behind, but it saw that value: its edit is later and wins, without a conflict.
    behind.sync()
    h.check_eq(behind.show(pid)['phone'], 'from the future', 'behind pulled the value')
    behind.edit('person', pid, 'phone', 'from the past')
    behind.sync()
    ahead.sync()
    for c in (behind, ahead):
        h.check_eq(c.show(pid)['phone'], 'from the past', c.name + ': causally later edit wins')
    h.check_eq(d.field('person', pid, 'phone')['value'], 'from the past', 'server value')
    h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), 0, 'no conflict for sequential edits')

    # The ahead device edits again on top of that: sequential again.
    ahead.edit('person', pid, 'phone', 'future again')
    ahead.sync()
    behind.sync()
    for c in (behind, ahead):
        h.check_eq(c.show(pid)['phone'], 'future again', c.name + ': second edit')
    h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), 0, 'still no conflict')

    # Restart the daemon with its clock an hour behind: new versions still sort later.
    before = d.scalar('SELECT max(hlc) FROM field_state')
    d.stop(expect_rc=0)
    d.env['CARESYNC_CLOCK_OFFSET_MS'] = str(-HOUR)
    d.start()
    other = d.add_person('Max Later', phone='0131 111 1111')
    v = d.field('person', other, 'phone')
    h.check(v['hlc'] > before, 'a server write after a restart with the clock behind sorts'
            ' later (%s > %s)' % (h.hlc_text(v['hlc']), h.hlc_text(before)))
    behind.edit('person', pid, 'phone', 'after the restart')
    behind.sync()
    v = d.field('person', pid, 'phone')
    h.check_eq(v['value'], 'after the restart', 'the edit after the restart applies')
    h.check(v['hlc'] > before, 'and has a later version')
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'changes': [],
                                                      'pull': False}, token=behind.token)
    h.check(h.hlc_int(doc['server_hlc']) > before, 'the server clock is past every stored one')


if __name__ == '__main__':
    h.main(test)
