#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_large_values.py - values at the 16 KiB limit, including ones whose JSON escaping is
# twice their size (quotes, backslashes, tabs and newlines; other control characters are
# refused, docs/PROTOCOL.md "Text"), add up to an outbox far larger than
# the 4 MiB request limit: the client splits it into requests the server accepts, and every
# value arrives byte for byte on another device. One byte over the limit is refused locally.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

LIMIT = 16384


def text(kind, i):
    head = '%s-%04d:' % (kind, i)
    if kind == 'plain':
        body = 'x'
    elif kind == 'quotes':
        body = '"\\'
    else:
        body = '\t\n'

    n = LIMIT - len(head)
    return head + (body * (n // len(body) + 1))[:n]


def test(w):
    d = w.daemon
    pid, nurse, ot = w.shared_person('Ola Example')

    written = []
    for kind, count in (('plain', 110), ('quotes', 90), ('whitespace', 80)):
        for i in range(count):
            t = text(kind, i)
            h.check_eq(len(t.encode()), LIMIT, 'value size')
            nurse.add('note', pid, {'text': t})
            written.append(t)
    escaped = sum(len(h.json.dumps(t)) for t in written)
    h.log('%d notes, %d bytes as JSON strings' % (len(written), escaped))
    h.check(escaped > 6 * 1024 * 1024, 'the outbox is well over the 4 MiB request limit')
    nurse.add('note', pid, {'text': 'y' * (LIMIT + 1)}, expect=h.EXIT_USAGE)

    nurse.sync()
    h.check_eq(nurse.status()['pending'], 0, 'outbox sent')
    pushes = [l for l in open(d.log_path, encoding='utf-8', errors='replace')
              if '"POST /v1/sync"' in l and ' 413 ' in l]
    h.log('requests refused as too large on the way: %d' % len(pushes))
    stored = d.scalar("SELECT count(*) FROM change_log WHERE tbl='note' AND field='text'"
                      " AND outcome='applied'")
    h.check_eq(stored, len(written), 'notes stored')

    ot.sync()
    got = sorted(n['text'] for n in ot.show(pid)['notes'])
    h.check_eq(len(got), len(written), 'notes on the other device')
    h.check(got == sorted(written), 'note texts differ after the round trip')


if __name__ == '__main__':
    h.main(test)
