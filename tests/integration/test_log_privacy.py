#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_log_privacy.py - logs (issue 14, "Logs"): at log_level = debug, a whole session (three
# enrolments, a wrong code, syncs pushing a note, a phone number, an address and an NHS number,
# a conflict and its resolution with a reason, a FHIR export, a token in a query string and in a
# bad header, a failed TLS handshake) writes not one token, enrolment code or piece of a
# person's data (name, NHS number, phone, address, note text, resolution reason) to the log.
# With log_format = json every line is one JSON object with time, level, program and msg; with
# log_level = warn no info line is written; under the systemd journal (JOURNAL_STREAM naming
# the log's stream) each line starts with its syslog priority and has no time of its own.
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

NAME = 'Zebedee Quartermaine'
NHS = '9434765919'
NHS_SPACED = '943 476 5919'
PHONE = '0131 496 7788'
PHONE2 = '0131 496 9900'
ADDRESS = '17 Xylophone Wynd, Leith'
NOTE = 'Complained of vertigo after the marmalade'
REASON = 'Rang Zebedee to confirm the number'


def log_lines(d):
    with open(d.log_path, encoding='utf-8', errors='replace') as f:
        return f.read().splitlines()


def restart(d, args, env=None):
    d.stop()
    open(d.log_path, 'w').close()
    d.serve_args = args
    d.env = env or {}
    d.start()


def test(w):
    d = w.daemon
    restart(d, ['--log-level', 'debug', '--log-format', 'json', '--metrics-listen', 'off'])

    secrets = [NAME, 'Zebedee', 'Quartermaine', NHS, NHS_SPACED, PHONE, PHONE2, '496 7788',
               ADDRESS, 'Xylophone', NOTE, 'marmalade', REASON]
    h.log('-- a whole session at debug level')
    codes = []
    for name, role in (('coord', 'coordinator'), ('nurse', 'nurse'), ('nurse2', 'nurse')):
        d.add_user(name, role)
        code = d.enrol_code(name)
        codes.append(code)
        c = h.Client(w, name, name, role)
        c.enrol(code)
        w.clients[name] = c
    coord, nurse, nurse2 = w.clients['coord'], w.clients['nurse'], w.clients['nurse2']
    secrets += codes + [c.token for c in (coord, nurse, nurse2)]
    status, _, _, _ = d.request('POST', '/v1/enrol', {'code': 'WRONG-CODE-7Q4Z',
                                                      'device_name': 'x'})
    h.check(status in (400, 401, 403, 404), 'a wrong code is refused', status)
    secrets.append('WRONG-CODE-7Q4Z')
    pid = d.add_person(NAME, phone=PHONE, address=ADDRESS)
    for u in ('nurse', 'nurse2'):
        d.assign(pid, u)
    coord.sync()
    coord.run('person', 'set-nhs', pid, NHS_SPACED)
    nurse.sync()
    nurse2.sync()
    nurse.new('note', 'add', pid, NOTE)
    nurse.edit('person', pid, 'phone', PHONE2)
    nurse2.edit('person', pid, 'phone', '0131 496 0001')
    nurse2.sync()
    nurse.sync()
    coord.sync()
    conflicts = coord.conflicts()
    h.check(conflicts, 'the two phone numbers made a conflict')
    coord.resolve(conflicts[0]['id'], 'keep', reason=REASON)
    coord.run('export', pid, '--fhir')
    status, _, _, _ = d.request('GET', '/v1/people/%s/fhir' % pid, token=coord.token)
    h.check_eq(status, 200, 'a FHIR export over the API')
    d.request('POST', '/v1/sync?token=' + nurse.token, {'cursor': '', 'changes': []})
    d.request('POST', '/v1/sync', {'cursor': '', 'changes': []},
              headers={'Authorization': 'Basic ' + nurse.token})
    d.request('POST', '/v1/sync', {'cursor': '', 'changes': []},
              token=nurse.token + 'x')
    with socket.create_connection(('127.0.0.1', d.port), timeout=10) as s:
        s.sendall(('POST /v1/sync?token=%s HTTP/1.1\r\n\r\n' % nurse.token).encode())
        try:
            s.recv(100)
        except OSError:
            pass
    nurse.sync()
    d.stop()

    lines = log_lines(d)
    h.check(len(lines) > 20, 'the session was logged', lines)
    h.check(any('access' in l for l in lines), 'access lines are there', lines[:5])
    for line in lines:
        doc = json.loads(line)  # raises on a line that is not one JSON object
        h.check(set(doc) >= {'time', 'level', 'program', 'msg'} and
                doc['level'] in ('debug', 'info', 'warn', 'error'),
                'a JSON log line has time, level, program and msg', line)
    text = '\n'.join(lines)
    for s in secrets:
        h.check(s.lower() not in text.lower(), 'the log holds no %r' % s,
                [l for l in lines if s.lower() in l.lower()][:5])
    h.log('%d JSON lines, none with a token, a code or a person\'s data' % len(lines))

    h.log('-- log_level = warn: no info lines')
    restart(d, ['--log-level', 'warn', '--metrics-listen', 'off'])
    nurse.sync()
    d.stop()
    lines = log_lines(d)
    h.check(not any('access' in l or 'listening on' in l for l in lines),
            'info lines are dropped at warn', lines)

    h.log('-- under the journal: a priority on each line, no time')
    st = os.stat(d.log_path)
    restart(d, ['--metrics-listen', 'off'], env={'JOURNAL_STREAM': '%d:%d' % (st.st_dev,
                                                                             st.st_ino)})
    nurse.sync()
    d.stop()
    lines = log_lines(d)
    h.check(lines and all(l[:3] in ('<3>', '<4>', '<6>', '<7>') for l in lines),
            'every line starts with its priority', lines)
    h.check(any(l.startswith('<6>caresyncd: ') and 'listening on' in l for l in lines),
            'an info line is <6>, with no time before the program', lines)
    d.env = {}
    d.serve_args = []
    d.start()


if __name__ == '__main__':
    h.main(test)
