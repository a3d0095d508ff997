#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pull_pages.py - how the client applies pulled pages, against a scripted server that sends
# what the real one never does: a row's fields split into two runs of a page, the same field
# twice in one page (the newer wins, in either order), versions older than those held, and
# pages that fail to apply. The client fetches page n+1 while it applies page n: a page that
# fails must stop the sync with the cursor of the last page applied, nothing of it applied, and
# the page fetched after it (if it was) must never be applied, whatever it holds.
import http.server
import json
import os
import sqlite3
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

WRITER = h.uuid7()  # the device that wrote every pulled version
BASE = h.hlc_now(-60000)


def version(table, row, person, field, value, dt):
    """A pulled field state written by WRITER at BASE + dt ms."""
    return {'table': table, 'row_id': row, 'person_id': person, 'field': field, 'value': value,
            'hlc': h.hlc_text(BASE + (dt << 16)), 'device': WRITER}


def page(changes, cursor, more):
    return {'outcomes': [], 'changes': changes, 'cursor': cursor, 'more': more,
            'server_hlc': h.hlc_text(h.hlc_now())}


class Script:
    """The pages served, by the cursor of the request; and the cursors asked for."""

    def __init__(self):
        self.pages = {}
        self.asked = []
        self.lock = threading.Lock()


def serve(script, certfile, keyfile):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
            with script.lock:
                script.asked.append(body['cursor'])
                reply = script.pages.get(body['cursor'])
            if reply is None:
                reply = {'error': {'code': 'not_found', 'message': 'no such page'}}
            raw = json.dumps(reply).encode()
            self.send_response(200 if 'error' not in reply else 404)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, fmt, *args):
            h.log('scripted server: ' + (fmt % args))

    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def replica(c):
    db = sqlite3.connect('file:%s?mode=ro' % os.path.join(c.home, 'replica.db'), uri=True)
    try:
        visit = db.execute('SELECT planned_start, status, outcome, _deleted FROM visit').fetchall()
        person = db.execute('SELECT name, phone FROM person').fetchall()
        versions = {(t, f): v for t, f, v in db.execute('SELECT tbl, field, hlc FROM field_version')}
        cursor = db.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
    finally:
        db.close()
    return visit, person, versions, cursor[0] if cursor else ''


def test(w):
    d = w.daemon
    nurse = w.client('nurse', 'nurse')
    script = Script()
    srv = serve(script, os.path.join(d.data, 'server.pem'), os.path.join(d.data, 'server.key'))
    url = 'https://127.0.0.1:%d' % srv.server_address[1]
    db = sqlite3.connect(os.path.join(nurse.home, 'replica.db'))
    db.execute("UPDATE meta SET value = ? WHERE key = 'server_url'", (url,))
    db.execute("UPDATE meta SET value = '' WHERE key = 'cursor'")
    db.commit()
    db.close()

    p, v = h.uuid7(), h.uuid7()
    first = [
        version('visit', v, p, 'planned_start', '2026-11-23T09:00:00Z', 10),
        version('visit', v, p, 'status', 'planned', 10),
        version('person', p, p, 'name', 'Ada Example', 10),
        version('person', p, p, 'phone', '0131 000 0000', 10),
        # The visit again, in a second run of the same page: its versions are read back.
        version('visit', v, p, 'status', 'completed', 30),
        version('visit', v, p, 'status', 'missed', 20),     # older than the one just applied
        version('visit', v, p, 'outcome', 'first', 15),
        version('visit', v, p, 'outcome', 'second', 25),    # newer, same run
    ]
    second = [
        version('visit', v, p, 'status', 'cancelled', 25),  # older than the one held
        version('person', p, p, 'name', 'Ada E.', 5),        # older
        version('person', p, p, 'phone', '0131 999 9999', 40),
    ]
    # Many good changes, then a bad one: none of the page is applied, and applying it takes long
    # enough for the next page to be fetched meanwhile (not that the checks depend on it).
    broken = [version('visit', h.uuid7(), p, 'status', 'planned', 50) for _ in range(900)]
    broken.append(version('visit', v, p, 'status', 'completed', 50))
    broken[-1]['table'] = 'no_such_table'
    fetched_ahead = [version('person', p, p, 'phone', 'fetched ahead', 90)]

    # 1. Page 1 applies; page 2 (asked for while page 1 was applied) is malformed, and the page
    # after it, asked for as soon as page 2 arrived, is never applied.
    script.pages = {'': page(first, '1', True), '1': page(broken, '2', True),
                    '2': page(fetched_ahead, '3', False)}
    nurse.sync(expect=h.EXIT_SERVER)
    h.log('cursors asked for: %s' % script.asked)
    h.check_eq(script.asked[:2], ['', '1'], 'cursors asked for')
    h.check('3' not in script.asked, 'a page after the one fetched ahead was asked for',
            script.asked)
    visit, person, versions, cursor = replica(nurse)
    h.check_eq(cursor, '1', 'the cursor is that of the last page applied')
    h.check_eq(visit, [('2026-11-23T09:00:00Z', 'completed', 'second', 0)], 'the visit')
    h.check_eq(person, [('Ada Example', '0131 000 0000')], 'the person')
    h.check_eq(versions[('visit', 'status')], BASE + (30 << 16), 'the visit status version')
    h.check_eq(versions[('visit', 'outcome')], BASE + (25 << 16), 'the visit outcome version')

    # 2. Again, from the cursor kept: the same.
    script.pages = {'1': page(broken, '2', True), '2': page(fetched_ahead, '3', False)}
    script.asked.clear()
    nurse.sync(expect=h.EXIT_SERVER)
    h.check_eq(script.asked[:1], ['1'], 'cursors asked for')
    h.check('3' not in script.asked, 'a page after the one fetched ahead was asked for',
            script.asked)
    visit, person, versions, cursor = replica(nurse)
    h.check_eq(cursor, '1', 'still the cursor of the last page applied')
    h.check_eq(len(visit), 1, 'nothing of the page that failed')
    h.check_eq(person, [('Ada Example', '0131 000 0000')], 'nothing of the page fetched ahead')

    # 3. The server mends page 2: the sync picks up from the cursor it kept.
    script.pages = {'1': page(second, '2', False)}
    script.asked.clear()
    nurse.sync()
    h.check_eq(script.asked, ['1'], 'cursors asked for')
    visit, person, versions, cursor = replica(nurse)
    h.check_eq(cursor, '2', 'the cursor of the last page')
    h.check_eq(visit, [('2026-11-23T09:00:00Z', 'completed', 'second', 0)],
               'older versions do not win')
    h.check_eq(person, [('Ada Example', '0131 999 9999')], 'the person after page 2')
    h.check_eq(versions[('person', 'name')], BASE + (10 << 16), 'the name keeps its version')
    h.check_eq(versions[('person', 'phone')], BASE + (40 << 16), 'the phone version')
    srv.shutdown()


if __name__ == '__main__':
    h.main(test)
