#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_lifecycle.py - who may still work and the record's lifecycle (issue 10, item 3):
# - `caresyncd user disable` revokes every device of the user at once (each wipes itself at its
#   next request) and voids their unused enrolment codes; `caresyncd enrol` refuses them.
# - `caresyncd user role` takes effect at the next request, and each device of the user re-decides
#   what it holds: a nurse made a volunteer keeps none of her clinical notes.
# - a coordinator accepts a referral, closes a record with a reason and reopens it, and sets the
#   server-authoritative NHS number (modulus 11 checked) and GP practice, online, audited; every
#   device converges and marks a closed person "CLOSED (reason)".
# - `caresyncd person list` lists and searches people by name and NHS number.
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

NHS_OK = '9434765919'     # a valid NHS number (check digit 9)
NHS_BAD = '9434765918'    # the same with a wrong check digit


def replica_count(c, sql):
    db = sqlite3.connect(os.path.join(c.home, 'replica.db'))
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def change(person, field, value):
    return {'change_id': h.uuid7(), 'table': 'person', 'row_id': person, 'person_id': person,
            'field': field, 'value': value, 'hlc': h.hlc_text(h.hlc_now(500)),
            'base_hlc': None, 'base_device': None}


def test_disable(w):
    d = w.daemon
    pid = d.add_person('Lee Leaver-Client')
    leaver = w.client('leaver', 'nurse')
    second = w.client('leaver2', 'nurse', user='leaver')
    d.assign(pid, 'leaver')
    leaver.sync()
    second.sync()
    unused = d.enrol_code('leaver')  # a code never redeemed

    p = d.admin(['user', 'disable'], 'leaver')
    h.check('2 device' in p.stdout, 'the command says two devices were revoked', p.stdout)
    h.check('1 unused enrolment code' in p.stdout, 'the command says one code was voided',
            p.stdout)
    h.check_eq(d.scalar("SELECT count(*) FROM devices d JOIN users u ON u.id = d.user_id"
                        " WHERE u.name = 'leaver' AND d.revoked_at IS NULL"), 0,
               'every device of the leaver is revoked')
    for c in (leaver, second):
        p = c.sync(expect=h.EXIT_AUTH)
        h.check('revoked' in p.stderr.lower(), 'the client says it was revoked', p.stderr)
        h.check(not os.path.exists(os.path.join(c.home, 'token')), 'the device wiped its token')
    late = h.Client(w, 'late', 'leaver', 'nurse')
    late.enrol(unused, expect=h.EXIT_AUTH)
    h.check(not os.path.exists(os.path.join(late.home, 'token')),
            "the leaver's old unused code enrols nothing")
    p = d.admin(['enrol'], 'leaver', expect=4)
    h.check('disabled' in p.stderr, 'enrol says the user is disabled', p.stderr)
    # A leaver takes on nobody new: assigning or transferring to them is refused.
    other = d.add_person('Nia New-Referral')
    p = d.admin(['assign'], other, 'leaver', expect=4)
    h.check('disabled' in p.stderr, 'caresyncd assign says the user is disabled', p.stderr)
    coord = w.client('coord-l', 'coordinator')
    st, _, _, doc = d.request('POST', '/v1/assignments', {'person_id': other, 'user': 'leaver',
                                                          'action': 'assign'}, token=coord.token)
    h.check_eq((st, (doc or {}).get('error', {}).get('code')), (409, 'user_disabled'),
               'the API refuses to assign a disabled user', doc)
    h.check_eq(d.scalar("SELECT count(*) FROM assignments a JOIN users u ON u.id = a.user_id"
                        " WHERE u.name = 'leaver' AND a.person_id = ?", (other,)), 0,
               'nothing was assigned')
    d.admin(['user', 'disable'], 'nobody', expect=3)
    h.check(d.scalar("SELECT count(*) FROM audit WHERE kind = 'user_disable'") >= 1,
            'the disable is audited')


def test_role_change(w):
    d = w.daemon
    pid = d.add_person('Rowan Role-Change', dob='1941-02-03')
    nurse = w.client('rolly', 'nurse')
    other = w.client('nina', 'nurse')  # her colleague writes the clinical notes
    d.assign(pid, 'rolly')
    d.assign(pid, 'nina')
    other.sync()
    for i in range(12):
        other.run('note', 'add', pid, 'clinical note %d' % i, '--category', 'clinical')
    other.sync()
    nurse.sync()
    nurse.run('note', 'add', pid, 'my visit note', '--category', 'visit')
    nurse.sync()
    h.check_eq(replica_count(nurse, "SELECT count(*) FROM note WHERE category = 'clinical'"), 12,
               'the nurse holds the clinical notes')

    d.admin(['user', 'role'], 'rolly', 'volunteer')
    h.check_eq(d.scalar("SELECT role FROM users WHERE name = 'rolly'"), 'volunteer', 'new role')
    # Takes effect at the next request: a volunteer may not add a clinical note.
    nurse.sync()
    h.check_eq(replica_count(nurse, "SELECT count(*) FROM note WHERE category = 'clinical'"), 0,
               'after the role change no clinical note is left on the device')
    h.check(pid in [p['id'] for p in nurse.caseload()], 'the person stays on the caseload')
    h.check_eq(replica_count(nurse, "SELECT count(*) FROM person WHERE birth_date IS NOT NULL"),
               0, 'nor any field a volunteer may not see (the date of birth)')
    nurse.sync()  # the re-decision ends; a further sync changes nothing
    h.check_eq(d.scalar("SELECT redecide FROM devices WHERE id = ?", (nurse.device_id,)), 0,
               'the re-decision is over once the device has the last page')
    h.check_eq(replica_count(nurse, "SELECT count(*) FROM note"), 1,
               'the device holds exactly what a volunteer may see: her own note')
    # And back: a nurse again gets her clinical notes back.
    d.admin(['user', 'role'], 'rolly', 'nurse')
    nurse.sync()
    h.check_eq(replica_count(nurse, "SELECT count(*) FROM note WHERE category = 'clinical'"), 12,
               'a nurse again: the clinical notes come back')
    p = d.admin(['user', 'role'], 'rolly', 'nurse')
    h.check('nothing changed' in p.stdout, 'the same role changes nothing', p.stdout)
    d.admin(['user', 'role'], 'rolly', 'wizard', expect=2)


def test_lifecycle(w):
    d = w.daemon
    link = w.client('link', 'link_worker')
    coord = w.client('coord', 'coordinator')
    nurse = w.client('nurse', 'nurse')
    link.sync()

    # A person met in the field is referred.
    new = h.uuid7()
    status, _, _, doc = d.request('POST', '/v1/sync', {'cursor': '', 'pull': False, 'changes': [
        change(new, 'name', 'Sam Referred')]}, token=link.token)
    h.check_eq(status, 200, 'registered in the field')
    h.check_eq(d.field('person', new, 'status')['value'], 'referred', 'referred')

    # Only coordinators; a worker is refused.
    link.run('person', 'accept', new, expect=h.EXIT_FORBIDDEN)
    coord.run('person', 'accept', new)
    h.check_eq(d.field('person', new, 'status')['value'], 'active', 'accepted: active')
    coord.run('person', 'accept', new, expect=h.EXIT_SERVER)  # not a referral any more

    # NHS number (modulus 11) and GP practice: server writes.
    p = coord.run('person', 'set-nhs', new, NHS_BAD, expect=h.EXIT_USAGE)
    h.check('check digit' in p.stderr, 'the bad NHS number is refused with why', p.stderr)
    coord.run('person', 'set-nhs', new, '943 476 5919')
    h.check_eq(d.field('person', new, 'nhs_number')['value'], NHS_OK, 'NHS number set')
    coord.run('person', 'set-gp', new, 'a81001', expect=h.EXIT_USAGE)
    coord.run('person', 'set-gp', new, 'A81001')
    h.check_eq(d.field('person', new, 'gp_practice')['value'], 'A81001', 'GP set')
    link.sync()
    shown = link.show(new)
    h.check_eq((shown.get('status'), shown.get('nhs_number'), shown.get('gp_practice')),
               ('active', NHS_OK, 'A81001'), "the worker's device has the server's writes")

    # Close with a reason: marked on every device.
    coord.run('person', 'close', new, expect=h.EXIT_USAGE)  # the reason is required
    coord.run('person', 'close', new, '--reason', 'lost', expect=h.EXIT_USAGE)
    coord.run('person', 'close', new, '--reason', 'moved-away')
    h.check_eq(d.field('person', new, 'status')['value'], 'closed', 'closed')
    h.check_eq(d.field('person', new, 'closed_reason')['value'], 'moved-away', 'the reason')
    for c in (link, coord):
        c.sync()
        h.check('CLOSED (moved-away)' in c.run('caseload').stdout,
                '%s: the caseload marks the closed person' % c.name)
        h.check('CLOSED (moved-away)' in c.run('show', new).stdout,
                '%s: show marks the closed person' % c.name)
    coord.run('person', 'close', new, '--reason', 'deceased', expect=h.EXIT_SERVER)
    coord.run('person', 'reopen', new)
    link.sync()
    h.check_eq(link.show(new).get('status'), 'active', 'reopened on the device')
    h.check('CLOSED' not in link.run('caseload').stdout, 'no marker once reopened')

    # Raw API: a worker cannot, a bad id is 404, a bad reason 400.
    status, _, _, doc = d.request('POST', '/v1/people/%s/close' % new, {'reason': 'discharged'},
                                  token=nurse.token)
    h.check_eq(status, 403, 'a nurse may not close a record')
    status, _, _, doc = d.request('POST', '/v1/people/%s/close' % h.uuid7(),
                                  {'reason': 'discharged'}, token=coord.token)
    h.check_eq(status, 404, 'unknown person')
    status, _, _, doc = d.request('POST', '/v1/people/%s/close' % new, {'reason': 'bored'},
                                  token=coord.token)
    h.check_eq(status, 400, 'bad reason')
    status, _, _, doc = d.request('POST', '/v1/people/%s/close' % new, {'reason': 'deceased'},
                                  token=coord.token)
    h.check_eq(status, 200, 'closed as deceased')
    h.check_eq((doc['person']['status'], doc['person']['closed_reason']),
               ('deceased', 'deceased'), 'the reply is the person')
    h.check(d.scalar("SELECT count(*) FROM audit WHERE kind = 'person_lifecycle'"
                     " AND person_id = ?", (new,)) >= 6, 'every step is audited')

    # 30 days after closing, the person leaves field workers' devices; coordinators keep them.
    link.sync()
    coord.sync()
    h.check(new in [p['id'] for p in link.caseload()], 'a fresh closure stays on the device')
    if d.pg:  # a write to field_state holds the append point, as the daemon's do
        d.pg.psql("BEGIN; UPDATE store_head SET seq = seq; UPDATE field_state SET value ="
                  " to_char(current_date - 31, 'YYYY-MM-DD') WHERE tbl = 'person' AND"
                  " row_id = '%s' AND field = 'closed_on'; COMMIT" % new, db=d.pg_db)
    else:
        db = sqlite3.connect(d.store_path, timeout=10)
        db.execute("UPDATE field_state SET value = date('now', '-31 days') WHERE tbl = 'person'"
                   " AND row_id = ? AND field = 'closed_on'", (new,))
        db.commit()
        db.close()
    link.sync()
    coord.sync()
    h.check(new not in [p['id'] for p in link.caseload()],
            'closed 31 days ago: gone from the field device')
    h.check_eq(replica_count(link, "SELECT count(*) FROM person WHERE id = '%s'" % new), 0,
               'nothing of the person left in the replica')
    h.check(new in [p['id'] for p in coord.caseload()], 'the coordinator keeps the person')
    link.sync()
    h.check(new not in [p['id'] for p in link.caseload()], 'and stays gone')
    coord.run('person', 'reopen', new)
    link.sync()
    back = link.show(new)
    h.check_eq((back.get('status'), back.get('name'), back.get('nhs_number')),
               ('active', 'Sam Referred', NHS_OK), 'reopened: back whole on the field device')
    coord.run('person', 'close', new, '--reason', 'deceased')

    # person list / search.
    doc = json.loads(d.admin(['person', 'list'], '--json').stdout)
    h.check(new in [p['person_id'] for p in doc], 'person list lists the person')
    doc = json.loads(d.admin(['person', 'list'], '--name', 'referRED', '--json').stdout)
    h.check_eq([p['person_id'] for p in doc], [new], 'search by name, any case')
    doc = json.loads(d.admin(['person', 'list'], '--nhs', '943 476 5919', '--json').stdout)
    h.check_eq([(p['person_id'], p['status'], p['closed_reason']) for p in doc],
               [(new, 'deceased', 'deceased')], 'search by NHS number')
    d.admin(['person', 'list'], '--nhs', NHS_BAD, expect=2)
    p = d.admin(['person', 'list'])
    h.check('Sam Referred' in p.stdout and 'deceased' in p.stdout, 'the table', p.stdout)


def test(w):
    test_disable(w)
    test_role_change(w)
    test_lifecycle(w)


if __name__ == '__main__':
    h.main(test)
