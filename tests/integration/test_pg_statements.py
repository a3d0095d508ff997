#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_pg_statements.py - every SQL text of the store files (daemon/store*.c) prepares on
# PostgreSQL 15 over schema/server-pg (pg.py starts a private one), so a text that leaves the
# portable subset of daemon/sql.h is caught when it is written, not when the PostgreSQL store
# first runs it:
#  * each store file is preprocessed with its own compiler flags (compile_commands.json), so
#    macros that build a text (JOURNAL_BOUNDED, HLC_SQL_AFTER, CAT_DELETED_FIELD) are expanded
#    as the compiler sees them; every string literal (adjacent ones joined) that starts with
#    SELECT, INSERT, UPDATE, DELETE or WITH is a statement;
#  * the texts of a dialect pair, `sql_dialect(..) == SQL_POSTGRESQL ? A : B`, are told apart:
#    A must prepare, B (the SQLite twin) is not sent;
#  * ? and ?N become $N as pg_sql.c numbers them, and each text is sent as PREPARE with no
#    parameter types: stricter than the driver, which types the integers it binds, so a
#    parameter with nothing around it to give it a type (a bare SELECT ?, a gap in the
#    numbers) fails here as the portable subset says it must be written: CAST(? AS ...).
# Also checks that it found the statements (at least MIN_TEXTS, and some in each file of the
# batch operations), so a change in how the files are written cannot make it pass on nothing.
# Skips (exit 77) only when the PostgreSQL server binaries are missing.
import glob
import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg as pgmod

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
PG_DIR = os.path.join(ROOT, 'schema', 'server-pg')
COMPILE_DB = os.environ.get('COMPILE_DB')
# 108 texts in the store files over sql.h before the batch operations joined them (issue 12).
MIN_TEXTS = 140
# Files whose statements must be found (the batch operations, ported from SQLite's own API).
MUST_HAVE = ('store_push.c', 'store_merge.c', 'store_pull.c')
SQL_START = re.compile(r'\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b')
TOKEN = re.compile(r'''"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[A-Za-z_][A-Za-z_0-9]*|\S''')
ESCAPES = {'n': '\n', 't': '\t', '\\': '\\', '"': '"', "'": "'"}


def preprocess(entry):
    """The store file of compile_commands.json @entry preprocessed, only its own lines (macros
    expanded in place are its own; headers' lines are not)."""
    argv = shlex.split(entry['command']) if 'command' in entry else list(entry['arguments'])
    out = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a in ('-o', '-MQ', '-MF', '-MT'):
            skip = True
        elif a not in ('-c', '-MD', '-MMD') and not a.startswith('-fdiagnostics-color'):
            out.append(a)
    out.insert(1, '-E')
    text = subprocess.run(out, cwd=entry['directory'], capture_output=True, text=True,
                          check=True).stdout
    src = os.path.basename(entry['file'])
    keep = []
    mine = False
    for line in text.split('\n'):
        m = re.match(r'#\s*\d+\s+"([^"]*)"', line)
        if m:
            mine = os.path.basename(m.group(1)) == src
            continue
        if mine:
            keep.append(line)
    return '\n'.join(keep)


def unescape(lit):
    body = lit[1:-1]
    return re.sub(r'\\(.)', lambda m: ESCAPES.get(m.group(1), m.group(0)), body)


def statements(code):
    """(text, role) for every SQL text in @code: role 'pg' for the PostgreSQL side of a
    dialect pair, 'sqlite' for its SQLite twin, 'both' otherwise."""
    toks = TOKEN.findall(code)
    # Join adjacent string literals, as the compiler does.
    joined = []
    for t in toks:
        if t.startswith('"') and joined and isinstance(joined[-1], list):
            joined[-1].append(t)
        elif t.startswith('"'):
            joined.append([t])
        else:
            joined.append(t)
    found = []
    for i, t in enumerate(joined):
        if not isinstance(t, list):
            continue
        text = ''.join(unescape(x) for x in t)
        if not SQL_START.match(text):
            continue
        role = 'both'
        # `SQL_POSTGRESQL ? A : B` / `SQL_SQLITE ? A : B`, A and B each a literal.
        if i >= 2 and joined[i - 1] == '?' and joined[i - 2] in ('SQL_POSTGRESQL', 'SQL_SQLITE'):
            role = 'pg' if joined[i - 2] == 'SQL_POSTGRESQL' else 'sqlite'
        elif (i >= 4 and joined[i - 1] == ':' and isinstance(joined[i - 2], list) and
              joined[i - 3] == '?' and joined[i - 4] in ('SQL_POSTGRESQL', 'SQL_SQLITE')):
            role = 'sqlite' if joined[i - 4] == 'SQL_POSTGRESQL' else 'pg'
        found.append((text, role))
    return found


def renumber(sql):
    """? and ?N outside quotes as $N, as pg_sql.c's translate() numbers them."""
    out = []
    top = 0
    i = 0
    while i < len(sql):
        c = sql[i]
        if c in '\'"':
            j = sql.index(c, i + 1) if c in sql[i + 1:] else len(sql) - 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif c == '?':
            m = re.match(r'\d+', sql[i + 1:])
            n = int(m.group(0)) if m else top + 1
            top = max(top, n)
            out.append('$%d' % n)
            i += 1 + (len(m.group(0)) if m else 0)
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def collect():
    if not COMPILE_DB or not os.path.exists(COMPILE_DB):
        raise SystemExit('COMPILE_DB: set it to the build directory\'s compile_commands.json')
    with open(COMPILE_DB) as f:
        db = json.load(f)
    want = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'daemon', 'store*.c'))}
    seen = {}
    texts = []
    for e in db:
        base = os.path.basename(e['file'])
        if base not in want or base in seen or '/daemon/' not in '/' + e['file'].replace('\\', '/'):
            continue
        seen[base] = 0
        for text, role in statements(preprocess(e)):
            seen[base] += 1
            texts.append((base, text, role))
    missing = want - set(seen)
    assert not missing, 'store files not in %s: %s' % (COMPILE_DB, sorted(missing))
    return texts, seen


def test(pg):
    texts, per_file = collect()
    print('[test] %d SQL texts in %d store files' % (len(texts), len(per_file)))
    for f in MUST_HAVE:
        assert per_file.get(f, 0) > 0, 'no SQL text found in daemon/%s' % f
    assert len(texts) >= MIN_TEXTS, 'only %d SQL texts found (at least %d expected)' % (
        len(texts), MIN_TEXTS)
    pg.migrate(PG_DIR)
    failed = []
    sent = 0
    for base, text, role in texts:
        if role == 'sqlite':
            continue
        sent += 1
        q = pg.psql('PREPARE q AS ' + renumber(text), expect=None)
        if q.returncode != 0:
            failed.append('daemon/%s: %s\n    %s' % (base, q.stderr.strip(), text))
    print('[test] %d of %d prepared on PostgreSQL; %d SQLite twins of dialect pairs not sent' % (
        sent - len(failed), sent, len(texts) - sent))
    assert not failed, '%d SQL texts do not prepare on PostgreSQL:\n%s' % (
        len(failed), '\n'.join(failed))

if __name__ == '__main__':
    pgmod.main(test)
