#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_append_point.py - no pull misses a change, with several writers on one PostgreSQL
# (schema/server-pg, docs/internals/scale-out.md "The append point" and "A pull"), on a private
# PostgreSQL 15:
#  * four writers (psql sessions, as four daemons would be) commit concurrently, each numbering
#    its rows under store_head, some re-writing fields written before, some rolling back, with
#    random pauses before taking the head and while holding it; a reader pulls all the while as
#    a device does (read the head, then rows with cursor < seq <= head, in pages; the next
#    cursor is the page's last number or the head). At the end the reader's replica equals the
#    server's field_state, every number it was sent it was sent once, and every committed
#    number is at most the final cursor;
#  * the same reader over rows numbered by nextval (no append point), with two commits out of
#    order as concurrent daemons make them, misses one: the check above catches a skip.
# Prints its seed; SEED=n replays the same choices (the interleaving is the machine's).
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
import pg as pgmod

HERE = os.path.dirname(os.path.abspath(__file__))
PG_DIR = os.path.join(HERE, '..', '..', 'schema', 'server-pg')
WRITERS, TXNS, PAGE = 4, 12, 7


def pull_head(pg, cursor):
    """One pull page bounded by the head: ([(key, seq, value)], next cursor)."""
    rows = pg.query("SELECT h.seq, f.tbl || '/' || f.row_id || '/' || f.field, f.seq,"
                    " coalesce(f.value, '') FROM store_head h LEFT JOIN LATERAL"
                    " (SELECT * FROM field_state WHERE seq > %d AND seq <= h.seq ORDER BY seq"
                    " LIMIT %d) f ON true ORDER BY f.seq" % (cursor, PAGE))
    head = int(rows[0][0])
    page = [(r[1], int(r[2]), r[3]) for r in rows if r[1]]
    return page, (page[-1][1] if len(page) == PAGE else head)


def pull_naive(pg, table, cursor):
    """A pull with no head: rows past the cursor, the cursor moved to the last one seen."""
    rows = pg.query("SELECT k, seq, v FROM %s WHERE seq > %d ORDER BY seq" % (table, cursor))
    page = [(r[0], int(r[1]), r[2]) for r in rows]
    return page, (page[-1][1] if page else cursor)


class Replica:
    def __init__(self):
        self.fields = {}
        self.sent = set()
        self.cursor = 0
        self.twice = []

    def apply(self, page, cursor):
        for key, seq, value in page:
            if seq in self.sent:
                self.twice.append(seq)
            self.sent.add(seq)
            if key not in self.fields or self.fields[key][0] < seq:
                self.fields[key] = (seq, value)
        self.cursor = cursor


def server_fields(pg):
    return {r[0]: (int(r[1]), r[2]) for r in pg.query(
        "SELECT tbl || '/' || row_id || '/' || field, seq, coalesce(value, '') FROM field_state")}


def writer(pg, w, rng, keys, lock, errors):
    try:
        for i in range(TXNS):
            n = rng.randint(1, 5)
            with lock:
                old = rng.sample(sorted(keys), min(len(keys), rng.randint(0, 2)))
            new = ['visit/w%d-t%d-%d/f' % (w, i, g) for g in range(n)]
            rows = new + old
            vals = ', '.join("('%s', '%s', 'w%d-t%d', %d)" % (k.split('/')[1], k.split('/')[2],
                                                             w, i, o + 1)
                             for o, k in enumerate(rows))
            commit = rng.random() > 0.2
            # Work before the head (a batch's reads), the head, the rows numbered under it,
            # work while holding it (the commit's round trips), then commit or roll back.
            sql = ("BEGIN; SELECT pg_sleep(%.3f);"
                   " UPDATE store_head SET seq = seq + %d;"
                   " INSERT INTO field_state(tbl, row_id, field, person_id, value, hlc, device,"
                   "  change_id, seq)"
                   " SELECT 'visit', r, f, 'p1', v, 1, 'dev%d', v || '-' || o,"
                   "  (SELECT seq FROM store_head) - %d + o FROM (VALUES %s) AS x(r, f, v, o)"
                   " ON CONFLICT (tbl, row_id, field) DO UPDATE SET value = excluded.value,"
                   "  seq = excluded.seq, change_id = excluded.change_id;"
                   " SELECT pg_sleep(%.3f); %s"
                   % (rng.random() * 0.03, len(rows), w, len(rows), vals, rng.random() * 0.03,
                      'COMMIT' if commit else 'ROLLBACK'))
            pg.psql(sql)
            if commit:
                with lock:
                    keys.update(new)
    except Exception as e:  # reported by the main thread
        errors.append('writer %d: %s' % (w, e))


def check_append_point(pg, rng):
    keys, lock, errors = set(), threading.Lock(), []
    threads = [threading.Thread(target=writer,
                                args=(pg, w, random.Random(rng.random()), keys, lock, errors))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    replica, pulls = Replica(), 0
    while any(t.is_alive() for t in threads):
        replica.apply(*pull_head(pg, replica.cursor))
        pulls += 1
    for t in threads:
        t.join()
    h.check(not errors, 'a writer failed', *errors)
    while True:
        page, cursor = pull_head(pg, replica.cursor)
        replica.apply(page, cursor)
        pulls += 1
        if not page:
            break
    server = server_fields(pg)
    missing = sorted(k for k in server if replica.fields.get(k) != server[k])
    h.check(not missing, 'the replica differs from the server on %d fields' % len(missing),
            [(k, replica.fields.get(k), server[k]) for k in missing[:20]])
    h.check_eq(sorted(set(replica.fields) - set(server)), [], 'fields the server does not have')
    h.check_eq(replica.twice, [], 'numbers sent twice')
    top = max(s for s, _ in server.values())
    h.check(top <= replica.cursor, 'the final cursor %d is below a committed number %d'
            % (replica.cursor, top))
    h.log('%d writers x %d transactions, %d fields, %d pulls: the replica equals the server, '
          'nothing skipped or sent twice' % (WRITERS, TXNS, len(server), pulls))


def check_nextval_skips(pg):
    """The control: numbers from nextval, committed out of order, are skipped by a pull."""
    pg.psql('CREATE TABLE nextval_rows (k text PRIMARY KEY, seq bigint NOT NULL, v text);'
            ' CREATE SEQUENCE nextval_seq')
    a, b = pg.session('A'), pg.session('B')
    try:
        replica = Replica()
        a.run("BEGIN; INSERT INTO nextval_rows VALUES ('a', nextval('nextval_seq'), 'A')")
        b.run("BEGIN; INSERT INTO nextval_rows VALUES ('b', nextval('nextval_seq'), 'B')")
        b.run('COMMIT')
        replica.apply(*pull_naive(pg, 'nextval_rows', replica.cursor))
        a.run('COMMIT')
        replica.apply(*pull_naive(pg, 'nextval_rows', replica.cursor))
    finally:
        a.close()
        b.close()
    server = {r[0]: (int(r[1]), r[2]) for r in pg.query('SELECT k, seq, v FROM nextval_rows')}
    missing = sorted(k for k in server if replica.fields.get(k) != server[k])
    h.check_eq(missing, ['a'], 'the control: what a pull over nextval numbers missed')
    h.log('control: numbered by nextval, committed out of order, a pull skips %s' % missing)


def test(pg):
    seed = int(os.environ.get('SEED', random.SystemRandom().randrange(1 << 30)))
    h.log('seed %d (SEED=%d replays it)' % (seed, seed))
    pg.migrate(PG_DIR)
    check_append_point(pg, random.Random(seed))
    check_nextval_skips(pg)


pgmod.main(test)
