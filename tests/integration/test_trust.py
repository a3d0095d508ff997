#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_trust.py - the server believes no device (issue "The server believes no device", items
# 1-3; docs/internals/access.md "Who writes what", "Windows that depend on time"; merge.md
# "Bases the server never issued"). Every reproduction is pushed raw, with a worker's own device
# token, as an attacker with that token would:
#  - a change that will be applied passes the role, data-class and authorship checks whatever
#    rule lets it in (handover grace, consent deny window, a person registered in the batch);
#  - time windows are decided by the server's receipt time and the cursors the device has
#    acknowledged, never by the clock the device sends;
#  - an outcome never carries a value the device may not read now;
#  - authorship is the writer's own name, fixed when a record is created, and required;
#  - a record's time far ahead of the server is corrected, the device's value kept in the
#    conflict log (clock_corrected);
#  - a base the server never issued proves nothing (treated as concurrent, conflict logged);
#  - one row id for two people, one change id twice in a batch: 400, nothing written;
#  - changes for people that do not exist or were never on the writer's caseload: refused;
#  - a device may put only so many unresolved values into the conflict log: 429 Retry-After.
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

FAILURES = []


def soft(cond, msg, *details):
    if not cond:
        h.log('FAILED: ' + msg)
        for d in details:
            print('  detail: ' + h.clip(repr(d), 3000))
        FAILURES.append(msg)
    return cond


def iso_utc(offset_s=0):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + offset_s))


def note(person, author, text, category='visit', hlc=None, recorded_at=None):
    row = h.uuid7()
    fields = [('text', text), ('category', category), ('author', author),
              ('occurred_at', iso_utc()), ('recorded_at', recorded_at or iso_utc()),
              ('status', 'final')]
    return row, [h.make_change('note', row, person, f, v, hlc=hlc) for f, v in fields]


def refused(d, token, changes, status, code, what, index=None):
    """A raw push is refused with @status/@code (at @index when given); nothing is written."""
    before = d.counts()
    got, doc = d.push(token, changes)
    err = (doc or {}).get('error') or {}
    ok = soft(got == status and err.get('code') == code,
              '%s: want %d %s, got %s %s' % (what, status, code, got, doc))
    if index is not None:
        soft(err.get('index') == index, '%s: the error names change %s, want %d' %
             (what, err.get('index'), index), doc)
    after = d.counts()
    soft(after == before, '%s: the store changed after a refused push' % what, before, after)
    return ok, doc


def outcomes(doc):
    return {o['change_id']: o for o in (doc or {}).get('outcomes', [])}


def test(w):
    d = w.daemon
    coord = w.client('coord', 'coordinator', user='coord.iona')
    amira = w.client('amira', 'nurse', user='nurse.amira')
    ben = w.client('ben', 'nurse', user='nurse.ben')
    vol = w.client('vol', 'volunteer', user='vol.hari')
    lw = w.client('lw', 'link_worker', user='lw.grace')

    p = d.add_person('Pat Trustworthy', phone='01632 960001', address='1 Old Road, NB1 1AA')
    for who in ('nurse.amira', 'nurse.ben', 'vol.hari', 'lw.grace'):
        d.assign(p, who)
    for c in (coord, amira, ben, vol, lw):
        c.sync()
    goal = amira.new('goal', 'add', p, 'Keep my garden going')
    plan = amira.row(p, 'goals', goal)['care_plan_id']
    amira.sync()
    for c in (ben, vol):
        c.sync()

    h.log('-- 1. an unassigned volunteer, inside the handover grace window')
    d.unassign(p, 'vol.hari')
    _, ch = note(p, 'nurse.amira', 'UNIQ-FORGED-CLINICAL', category='clinical')
    refused(d, vol.token, ch, 403, 'forbidden', 'unassigned volunteer: clinical note by amira')
    _, ch = note(p, 'vol.hari', 'UNIQ-VOL-CLINICAL', category='clinical')
    refused(d, vol.token, ch, 403, 'forbidden', 'unassigned volunteer: clinical note')
    refused(d, vol.token, [h.make_change('care_plan', plan, p, '_deleted', '1')], 403,
            'forbidden', 'unassigned volunteer: deletes the care plan')
    soft(d.field('care_plan', plan, '_deleted') is None or
         d.field('care_plan', plan, '_deleted')['value'] != '1', 'the plan is not deleted')

    h.log('-- 1. reading back: a lost write from a worker no longer in scope carries no current')
    d.unassign(p, 'nurse.ben')
    coord.edit('person', p, 'address', 'UNIQ-NEW-ADDRESS 9 New Road')
    coord.sync()
    st, doc = d.push(ben.token, [h.make_change('person', p, p, 'address', 'x',
                                               hlc=h.hlc_int('0000000000001.00000'))])
    soft(st == 200, 'backdated push by an unassigned nurse: 200', st, doc)
    for o in (doc or {}).get('outcomes', []):
        soft('current' not in o, 'an out-of-scope worker reads no current value', o)
        soft('UNIQ-NEW-ADDRESS' not in repr(o), 'the new address is not in the reply', o)
    soft(d.field('person', p, 'address')['value'].startswith('UNIQ-NEW-ADDRESS'),
         'the address is unchanged')

    h.log('-- 1. a replay after leaving the caseload carries no current either')
    q = d.add_person('Quinn Replay', phone='01632 960002')
    d.assign(q, 'nurse.ben')
    ben.sync()
    ch = h.make_change('person', q, q, 'phone', 'UNIQ-BEN-PHONE')
    st, doc = d.push(ben.token, [ch])
    soft(st == 200 and outcomes(doc).get(ch['change_id'], {}).get('outcome') == 'applied',
         'ben edits Quinn\'s phone', doc)
    coord.sync()
    coord.edit('person', q, 'phone', 'UNIQ-COORD-PHONE')
    coord.sync()
    d.unassign(q, 'nurse.ben')
    st, doc = d.push(ben.token, [ch])
    o = outcomes(doc).get(ch['change_id'], {})
    soft(st == 200 and o.get('outcome') == 'applied', 'the replay gets the stored outcome', doc)
    soft('current' not in o and 'UNIQ-COORD-PHONE' not in repr(doc),
         'the replay reveals nothing of the field now', doc)

    h.log('-- 1. authorship is the writer\'s, required and fixed')
    _, ch = note(p, 'nurse.ben', 'UNIQ-NOT-BEN')
    refused(d, amira.token, ch, 403, 'forbidden', 'amira writes a note by ben', index=2)
    _, ch = note(p, 'nurse.amira', 'UNIQ-NO-AUTHOR')
    ch = [c for c in ch if c['field'] != 'author']
    refused(d, amira.token, ch, 403, 'forbidden', 'a new note with no author')
    row, ch = note(p, 'nurse.amira', 'UNIQ-AMIRA-OWN')
    st, doc = d.push(amira.token, ch)
    soft(st == 200, 'amira writes her own note', doc)
    refused(d, lw.token, [h.make_change('note', row, p, 'author', 'lw.grace')], 403, 'forbidden',
            'a link worker takes over the author of amira\'s note')
    # A row whose fields come in two batches (an outbox split at a batch's limit) is fine.
    row2, ch = note(p, 'nurse.amira', 'UNIQ-SPLIT')
    st, doc = d.push(amira.token, [c for c in ch if c['field'] != 'status'])
    soft(st == 200, 'first half of a split note', doc)
    st, doc = d.push(amira.token, [c for c in ch if c['field'] == 'status'])
    soft(st == 200, 'second half of a split note', doc)

    h.log('-- 1. a record written a year ahead of the server is corrected and kept for review')
    row, ch = note(p, 'nurse.amira', 'UNIQ-NEXT-YEAR', recorded_at=iso_utc(366 * 86400))
    st, doc = d.push(amira.token, ch)
    soft(st == 200, 'a note stamped next year is accepted', doc)
    got = d.field('note', row, 'recorded_at')
    soft(got and got['value'][:4] == iso_utc()[:4], 'recorded_at is the server\'s time now', got)
    n = d.scalar("SELECT count(*) FROM conflicts WHERE kind = 'clock_corrected' AND row_id = ?",
                 (row,))
    soft(n == 1, 'the device\'s time is kept in the conflict log (clock_corrected)', n)
    amira.sync()
    shown = [x for x in amira.show(p)['notes'] if x['id'] == row]
    soft(shown and shown[0].get('recorded_at', '')[:4] == iso_utc()[:4],
         'the device converges on the corrected time', shown)

    h.log('-- 2. rows of a person registered in the same batch are authorised like any other')
    for who, changes, what in (
            (amira, 'note-by-ben', 'a nurse registers a person and writes a note by ben'),
            (lw, 'clinical-obs', 'a link worker registers a person with a clinical observation'),
            (coord, 'goal', 'a coordinator registers a person and writes a goal')):
        r = h.uuid7()
        batch = [h.make_change('person', r, r, 'name', 'UNIQ-REGISTERED')]
        if changes == 'note-by-ben':
            batch += note(r, 'nurse.ben', 'UNIQ-REG-NOTE')[1]
            idx = 3
        elif changes == 'clinical-obs':
            o = h.uuid7()
            batch += [h.make_change('observation', o, r, f, v) for f, v in (
                ('kind', 'blood-pressure'), ('value', '120/80'), ('author', 'lw.grace'),
                ('occurred_at', iso_utc()), ('recorded_at', iso_utc()))]
            idx = None
        else:
            g = h.uuid7()
            batch += [h.make_change('goal', g, r, 'description', 'UNIQ-COORD-GOAL')]
            idx = 1
        refused(d, who.token, batch, 403, 'forbidden', what, index=idx)
        soft(d.field('person', r, 'name') is None, '%s: no person was registered' % what)

    h.log('-- 3. a base the server never issued does not hide a concurrent overwrite')
    amira.sync()
    cur = d.field('person', p, 'phone')
    forged = dict(cur, hlc=cur['hlc'] + (10 ** 6 << 16))
    before = d.scalar("SELECT count(*) FROM conflicts WHERE kind = 'concurrent_edit'")
    ch = h.make_change('person', p, p, 'phone', 'UNIQ-FORGED-BASE', base=forged)
    st, doc = d.push(amira.token, [ch])
    soft(st == 200 and outcomes(doc)[ch['change_id']]['outcome'] == 'applied',
         'the overwrite is applied', doc)
    after = d.scalar("SELECT count(*) FROM conflicts WHERE kind = 'concurrent_edit'")
    soft(after == before + 1, 'the overwritten value is in the conflict log', before, after)
    # A real base proves the write sequential: no conflict.
    cur = d.field('person', p, 'phone')
    ch = h.make_change('person', p, p, 'phone', 'UNIQ-REAL-BASE', base=cur)
    st, doc = d.push(amira.token, [ch])
    soft(d.scalar("SELECT count(*) FROM conflicts WHERE kind = 'concurrent_edit'") == after,
         'a base the server issued is trusted', doc)

    h.log('-- 3. one new row id for two people, one change id twice')
    r2 = d.add_person('Rory Second', phone='01632 960003')
    d.assign(r2, 'nurse.amira')
    row = h.uuid7()
    refused(d, amira.token, [h.make_change('goal', row, p, 'description', 'UNIQ-TWO-A'),
                             h.make_change('goal', row, r2, 'description', 'UNIQ-TWO-B')],
            400, 'row_owner_mismatch', 'one row id claimed for two people', index=1)
    c1 = h.make_change('person', p, p, 'phone', 'UNIQ-DUP')
    refused(d, amira.token, [c1, dict(c1)], 400, 'duplicate_change_id',
            'the same change id twice in one batch', index=1)

    h.log('-- a cursor no server of ours could have given does not move the sequence')
    seq_before = d.store_seq()
    for forged in ('18446744073709551615', '9223372036854775000:%s:1:%s' % (h.uuid7(), '0' * 16)):
        st, doc = d.push(amira.token, [], cursor=forged, pull=True)
        soft(st == 400 and (doc or {}).get('error', {}).get('code') == 'invalid_value',
             'a forged cursor %s...: 400' % forged[:12], st, doc)
    seq_after = d.store_seq()
    soft(seq_after < seq_before + 10 ** 6, 'the sequence did not jump', seq_before, seq_after)

    h.log('-- 4. people that do not exist or were never on the caseload')
    ghost = h.uuid7()
    refused(d, amira.token, [h.make_change('goal', h.uuid7(), ghost, 'description', 'x')], 403,
            'not_on_caseload', 'a change for a person that does not exist')
    stranger = d.add_person('Sam Stranger', phone='01632 960004')
    refused(d, amira.token, [h.make_change('person', stranger, stranger, 'phone', 'x')], 403,
            'not_on_caseload', 'a change for a person never on the caseload')

    h.log('-- 1. windows: grace 0 and a consent deny are decided by the server, not the clock')
    d.stop()
    d.serve_args = ['--handover-grace-hours', '0', '--max-device-conflicts', '10']
    d.start()
    cara = w.client('cara', 'nurse', user='nurse.cara')
    dan = w.client('dan', 'nurse', user='nurse.dan')
    t = d.add_person('Tess Backdate', phone='01632 960005')
    d.assign(t, 'nurse.cara')
    cara.sync()
    d.unassign(t, 'nurse.cara')
    ch = h.make_change('person', t, t, 'phone', 'UNIQ-BACKDATED', hlc=h.hlc_now(-60000))
    st, doc = d.push(cara.token, [ch])
    soft(st == 200 and outcomes(doc).get(ch['change_id'], {}).get('outcome') == 'out_of_scope',
         'grace 0: an edit backdated by a minute is out of scope', doc)
    soft(d.field('person', t, 'phone')['value'] == '01632 960005', 'the phone is unchanged')

    u = d.add_person('Uma Consent', phone='01632 960006')
    d.assign(u, 'nurse.cara')
    d.assign(u, 'nurse.amira')
    cara.sync()
    amira.sync()
    amira.new('consent', 'record', u, '--sector', 'health', '--decision', 'deny', '--basis',
              'explicit')
    amira.sync()
    cara.sync()  # ben's device learns: Uma is purged
    row, ch = note(u, 'nurse.cara', 'UNIQ-2001-NOTE', hlc=h.hlc_int('0978307200000.00000'))
    st, doc = d.push(cara.token, ch)
    soft(st == 200 and all(o['outcome'] == 'out_of_scope' for o in doc.get('outcomes', [])),
         'a note stamped 2001 after the deny reached the device is out of scope', doc)
    soft(d.field('note', row, 'text') is None, 'the 2001 note is not applied')

    h.log('-- 4. the conflict log quota of a device')
    v = d.add_person('Vera Quota', phone='01632 960007')
    d.assign(v, 'nurse.dan')
    dan.sync()
    d.unassign(v, 'nurse.dan')
    open_now = d.scalar("SELECT count(*) FROM conflicts c JOIN change_log l ON"
                        " l.change_id = c.loser_change_id WHERE c.status = 'open'"
                        " AND l.device = ?", (dan.device_id,))
    batch = [h.make_change('person', v, v, 'phone', 'UNIQ-Q%d' % i) for i in range(11)]
    before = d.counts()
    st, rh, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False,
                                                   'changes': batch}, token=dan.token)
    soft(st == 429 and (doc or {}).get('error', {}).get('code') == 'too_many_conflicts',
         'a batch past the quota is refused 429', st, doc, open_now)
    soft('retry-after' in rh, '429 carries Retry-After', rh)
    soft(d.counts() == before, 'nothing of the refused batch is written')
    # Within the quota it goes through (the quota counts unresolved values only).
    st, doc = d.push(dan.token, batch[:2])
    soft(st == 200, 'a batch within the quota is taken', doc)

    h.log('-- 5. a conflict about a person never on the caseload does not name them')
    # One stored before this version refused such changes: written here as it would have been.
    con = h.store_writer(d)
    try:
        con.execute("INSERT INTO change_log(change_id, device, user_id, tbl, row_id, field,"
                    " person_id, value, hlc, sent_hlc, outcome, received_ms) SELECT ?, ?, id,"
                    " 'person', ?, 'phone', ?, 'x', 1, 1, 'out_of_scope', 1 FROM users"
                    " WHERE name = 'nurse.ben'", (h.uuid7(), ben.device_id, stranger, stranger))
        con.execute("INSERT INTO conflicts(kind, tbl, row_id, field, person_id, loser_change_id,"
                    " created_ms) SELECT 'out_of_scope', 'person', ?, 'phone', ?, change_id, 1"
                    " FROM change_log WHERE row_id = ?", (stranger, stranger, stranger))
        con.commit()
    finally:
        con.close()
    st, _, _, doc = d.request('GET', '/v1/conflicts?mine=1', token=ben.token)
    mine = [c for c in (doc or {}).get('conflicts', []) if c.get('person_id') == stranger]
    soft(st == 200 and len(mine) == 1, 'ben lists his lost value about the stranger', doc)
    soft('Sam Stranger' not in repr(doc), 'the stranger is not named', mine)

    for c in (coord, amira, ben, lw, cara, dan):
        c.sync()
    if FAILURES:
        raise AssertionError('%d failures:\n  %s' % (len(FAILURES), '\n  '.join(FAILURES)))


if __name__ == '__main__':
    h.main(test)
