#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_referral.py - a person met in the field (docs/PROTOCOL.md, sync step 3): a device's
# change to a person row that does not exist yet creates the person as "referred" and puts them
# on the writer's caseload, so the worker keeps what they record; a coordinator sees them; other
# workers do not. Two devices recording About Me for the same person offline merge into one row
# (its id is the person's id).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def change(table, row, person, field, value, base=None):
    return {'change_id': h.uuid7(), 'table': table, 'row_id': row, 'person_id': person,
            'field': field, 'value': value, 'hlc': h.hlc_text(h.hlc_now(500)),
            'base_hlc': h.hlc_text(base['hlc']) if base else None,
            'base_device': base['device'] if base else None}


def test(w):
    d = w.daemon
    known = d.add_person('Rae Known')
    link = w.client('link', 'link_worker')
    nurse = w.client('nurse', 'nurse')
    coord = w.client('coord', 'coordinator')
    d.assign(known, 'link')
    d.assign(known, 'nurse')
    for c in (link, nurse, coord):
        c.sync()

    new = h.uuid7()
    body = {'cursor': '', 'pull': False,
            'changes': [change('person', new, new, 'name', 'Sam Met-In-Field'),
                        change('person', new, new, 'phone', '0131 246 8100')]}
    status, _, _, doc = d.request('POST', '/v1/sync', body, token=link.token)
    h.check_eq(status, 200, 'status')
    h.check_eq([o['outcome'] for o in doc['outcomes']], ['applied', 'applied'], 'outcomes')
    h.check_eq(d.field('person', new, 'status')['value'], 'referred', 'the person is referred')
    h.check_eq(d.scalar('SELECT count(*) FROM assignments a JOIN users u ON u.id = a.user_id'
                        ' WHERE a.person_id=? AND u.name=? AND a.end_seq IS NULL', (new, 'link')),
               1, 'on the writer\'s caseload')
    link.sync()
    coord.sync()
    nurse.sync()
    h.check(new in [p['id'] for p in link.caseload()], 'the writer has the person')
    h.check_eq(link.show(new)['phone'], '0131 246 8100', 'with what they recorded')
    h.check(new in [p['id'] for p in coord.caseload()], 'a coordinator sees the person')
    h.check(new not in [p['id'] for p in nurse.caseload()], 'other workers do not')

    # About Me, written offline on two devices for the known person: one row, merged by field.
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False, 'changes': [
        change('about_me', known, known, 'what_matters', 'My garden and my cat')]},
        token=link.token)
    h.check_eq(status, 200, 'about_me from link')
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False, 'changes': [
        change('about_me', known, known, 'please_do', 'Knock loudly')]}, token=nurse.token)
    h.check_eq(status, 200, 'about_me from nurse')
    h.check_eq(d.scalar("SELECT count(DISTINCT row_id) FROM field_state WHERE tbl='about_me'"),
               1, 'one About Me row')
    h.check_eq(d.scalar('SELECT count(*) FROM conflicts'), 0, 'no conflict')


if __name__ == '__main__':
    h.main(test)
