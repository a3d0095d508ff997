# SPDX-License-Identifier: MIT
# harness.py - shared helpers for the integration tests: a temporary world with a real
# caresyncd (init, serve on a free loopback port, admin subcommands, read-only access to its
# store.db) and real caresync clients (enrol, sync, read and edit, --json output), plus raw
# HTTPS requests for the protocol-level tests. Python 3 standard library only.
#
# The binaries come from the environment: CARESYNCD and CARESYNC (meson passes the paths).
# KEEP_TMP=1 keeps the temporary directory of a passing test too (a failing one is always
# kept and its path printed). PostgreSQL (a private server for the tests): pg.py.
#
# CARESYNC_TEST_STORE=postgresql runs a test on the PostgreSQL store: main() starts a private
# PostgreSQL for it (pg.py), every Daemon is initialised with --store on it, and
# Daemon.query()/scalar() read that database instead of store.db. A test that only makes sense
# on the embedded store calls sqlite_only('why') first (it exits 77, skipped).

import errno
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

# A private PostgreSQL server (initdb, pg_ctl) for the tests of the PostgreSQL store.
from pg import PostgreSQL, pg_bindir  # noqa: F401 (used by tests through harness)

CARESYNCD = os.environ.get('CARESYNCD')
# Which store the daemons of a test use: 'sqlite' (the embedded default) or 'postgresql'.
TEST_STORE = os.environ.get('CARESYNC_TEST_STORE', 'sqlite')
# The private PostgreSQL of this test (main() starts it when TEST_STORE is postgresql), and the
# databases made on it so far (one per Daemon).
TEST_PG = None
_PG_DBS = 0


def sqlite_only(why):
    """Skip (exit 77) when the test runs on PostgreSQL: it checks what only the embedded store
    has (@why: a file, a checkpoint, a backup of store.db ...)."""
    if TEST_STORE == 'postgresql':
        print('SKIP: embedded store only: %s' % why)
        sys.exit(77)


def test_pg():
    """The private PostgreSQL of a test on the PostgreSQL store, started on first use."""
    global TEST_PG
    if TEST_PG is None:
        TEST_PG = PostgreSQL()
        if TEST_PG.missing:
            print('SKIP: %s' % TEST_PG.missing)
            sys.exit(77)
        TEST_PG.start()
    return TEST_PG


def _pg_literal(v):
    if v is None:
        return 'NULL'
    if isinstance(v, bool):
        return '1' if v else '0'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        v = v.decode('utf-8')
    return "'" + str(v).replace("'", "''") + "'"


def _pg_bind(sql, params):
    """@sql with SQLite's ? placeholders replaced by @params as literals (quoted text left)."""
    out, i, quote = [], 0, None
    for ch in sql:
        if quote:
            out.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == '?':
            out.append(_pg_literal(params[i]))
            i += 1
        else:
            out.append(ch)
    return ''.join(out)


def _pg_json(sql):
    """SQLite's json_extract(col, '$.key') in the tests' queries as PostgreSQL's ->>, a number
    where sum() adds it up."""
    import re
    sql = re.sub(r"sum\(json_extract\((\w+), '\$\.(\w+)'\)\)",
                 r"sum((\1::jsonb ->> '\2')::bigint)", sql)
    return re.sub(r"json_extract\((\w+), '\$\.(\w+)'\)", r"(\1::jsonb ->> '\2')", sql)


def pg_rows(pg, sql, params=(), db='caresync'):
    """Rows of @sql (SQLite-style ? placeholders) on @pg as dicts, values as sqlite3 gives
    them: the database's own types through json_agg (integers as int, text as str, NULL as
    None), timestamps in the form the daemon writes (2026-12-02T07:18:48.123Z)."""
    text = _pg_json(_pg_bind(sql, params).strip().rstrip(';'))
    out = pg.psql("SET TimeZone = 'UTC'; SELECT coalesce(json_agg(t), '[]') FROM (%s) t"
                  % text, db=db).stdout.strip()
    return [{k: _pg_time(v) for k, v in row.items()} for row in json.loads(out or '[]')]


class _PgWriter:
    """store_writer() on PostgreSQL: statements collected, run at commit() in one transaction
    that holds store_head, as the daemon's writes do."""

    def __init__(self, d):
        self.d, self.sql = d, []

    def execute(self, sql, params=()):
        self.sql.append(_pg_bind(sql, params))

    def commit(self):
        self.d.pg.psql('BEGIN; UPDATE store_head SET seq = seq; %s; COMMIT' % '; '.join(self.sql),
                       db=self.d.pg_db)
        self.sql = []

    def close(self):
        pass


def store_writer(d):
    """A connection that writes into @d's store behind the daemon's back (a test setting up what
    an older version would have stored): sqlite3 on store.db, or psql on PostgreSQL."""
    if d.pg:
        return _PgWriter(d)
    return sqlite3.connect(d.store_path, timeout=10)


class _PgRow(tuple):
    """A row as sqlite3.Row gives it: by position or by column name."""

    def __new__(cls, d):
        row = super().__new__(cls, d.values())
        row._keys = list(d)
        return row

    def keys(self):
        return self._keys

    def __getitem__(self, k):
        return tuple.__getitem__(self, self._keys.index(k) if isinstance(k, str) else k)


class _PgCursor:
    def __init__(self, rows):
        self.rows = [_PgRow(r) for r in rows]

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def __iter__(self):
        return iter(self.rows)


class _PgConnection:
    """Daemon.db() on a PostgreSQL store: read-only queries, as the tests make of store.db."""

    def __init__(self, pg, db):
        self.pg, self.dbname = pg, db
        self.row_factory = None

    def execute(self, sql, params=()):
        return _PgCursor(pg_rows(self.pg, sql, params, self.dbname))

    def close(self):
        pass


def _pg_time(v):
    """A timestamptz as json_agg writes it in UTC (2026-12-02T07:18:48.123+00:00) in the form
    the daemon writes (2026-12-02T07:18:48.123Z); a boolean as SQLite's 0 or 1."""
    if (isinstance(v, str) and len(v) >= 25 and v[4] == '-' and v[10] == 'T'
            and v.endswith('+00:00') and v[13] == ':'):
        whole, _, frac = v[11:-6].partition('.')
        return '%sT%s.%sZ' % (v[:10], whole, (frac + '000')[:3])
    if isinstance(v, bool):
        return 1 if v else 0
    return v


CARESYNC = os.environ.get('CARESYNC')

# Exit codes of the caresync CLI (client/caresync.h).
EXIT_OK, EXIT_LOCAL, EXIT_USAGE, EXIT_NOTFOUND = 0, 1, 2, 3
EXIT_NETWORK, EXIT_AUTH, EXIT_FORBIDDEN, EXIT_SERVER = 4, 5, 6, 7
EXIT_LOCKED = 8

T0 = time.monotonic()


def log(msg):
    print('[%7.2fs] %s' % (time.monotonic() - T0, msg), flush=True)


def clip(text, n=2000):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= n else text[:n] + '... (%d more)' % (len(text) - n)


class CommandFailed(AssertionError):
    pass


def run(argv, expect=0, env=None, timeout=120, quiet=False):
    """Run a command; check its exit code unless expect is None. Returns CompletedProcess."""
    argv = [str(a) for a in argv]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout)
    took = time.monotonic() - t
    shown = ' '.join(a if a and ' ' not in a else repr(a) for a in argv)
    if not quiet or (expect is not None and p.returncode != expect):
        log('$ %s -> %d (%.2fs)' % (shown, p.returncode, took))
        if p.stdout.strip():
            print('  stdout: ' + clip(p.stdout.strip()).replace('\n', '\n          '))
        if p.stderr.strip():
            print('  stderr: ' + clip(p.stderr.strip()).replace('\n', '\n          '))
    if expect is not None and p.returncode != expect:
        raise CommandFailed('%s: exit %d, expected %d\nstderr: %s' %
                            (shown, p.returncode, expect, p.stderr.strip()))
    return p


def check(cond, msg, *details):
    """assert with a message and any details printed on failure."""
    if not cond:
        for d in details:
            print('  detail: ' + clip(d if isinstance(d, str) else json.dumps(d, indent=1,
                                                                             default=str), 6000))
        raise AssertionError(msg)


def check_eq(got, want, msg, *details):
    if got != want:
        check(False, '%s: got %s, want %s' % (msg, clip(repr(got), 3000), clip(repr(want), 3000)),
              *details)


# ---- clocks and ids, as the protocol writes them ----

def hlc_text(h):
    """The text form of an integer clock: 13 digits of ms, '.', 5 digits of counter."""
    return '%013d.%05d' % (h >> 16, h & 0xffff)


def hlc_int(text):
    ms, c = text.split('.')
    return (int(ms) << 16) | int(c)


def hlc_now(offset_ms=0, counter=0):
    return ((int(time.time() * 1000) + offset_ms) << 16) | counter


def uuid7():
    """A lower-case UUIDv7 string."""
    ms = int(time.time() * 1000)
    rnd = random.SystemRandom().getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rnd >> 62) << 64) | (0b10 << 62) | (rnd & ((1 << 62) - 1))
    h = '%032x' % value
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---- the daemon ----

class Daemon:
    def __init__(self, root, name='server'):
        self.root = root
        self.data = os.path.join(root, name)
        self.log_path = os.path.join(root, name + '.log')
        self.proc = None
        self.port = None
        self.log_file = None
        self.env = {}

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    @property
    def ca(self):
        return os.path.join(self.data, 'ca.pem')

    @property
    def store_path(self):
        return os.path.join(self.data, 'store.db')

    @property
    def pg(self):
        """The PostgreSQL this daemon's store is on (None: the embedded store.db)."""
        return test_pg() if TEST_STORE == 'postgresql' else None

    @property
    def pg_db(self):
        """This daemon's own database on self.pg: every data directory its own store, as each
        has its own store.db on SQLite (a test that means two daemons to share one, such as
        test_pg_store, inits them itself)."""
        name = getattr(self, '_pg_db', None)
        if name is None:
            global _PG_DBS
            _PG_DBS += 1
            name = self._pg_db = 'caresync_%d' % _PG_DBS
            self.pg.psql('CREATE DATABASE %s OWNER caresync' % name, user='postgres',
                         db='postgres')
        return name

    @property
    def pg_url(self):
        url = self.pg.url
        return url[:url.rindex('/') + 1] + self.pg_db

    def init(self):
        argv = [CARESYNCD, 'init', '--data', self.data]
        if self.pg:
            argv += ['--store', self.pg_url]
        run(argv)
        check(os.path.exists(self.ca), 'caresyncd init made no ca.pem in ' + self.data)

    def start(self, timeout=20):
        """Start serving (on the same port as before when restarting) and wait for TLS. A
        first start retries on another port if the one picked was taken meanwhile."""
        if self.port is not None:
            return self._start(timeout)
        for attempt in range(3):
            self.port = free_port()
            try:
                return self._start(timeout)
            except AssertionError:
                if attempt == 2 or self.proc is None or self.proc.poll() is None:
                    raise
                log('retrying on another port')
                self.proc = None

    def _start(self, timeout):
        self.log_file = open(self.log_path, 'ab')
        env = dict(os.environ)
        env.update(self.env)
        argv = [CARESYNCD, 'serve', '--data', self.data, '--listen', '127.0.0.1:%d' % self.port]
        argv += getattr(self, 'serve_args', [])
        # Each daemon its own metrics port: tests run in parallel, and the default
        # (127.0.0.1:9469) would go to whichever started first.
        if '--metrics-listen' not in argv:
            argv += ['--metrics-listen', '127.0.0.1:0']
        log('$ ' + ' '.join(argv) + ' &')
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        ctx = self.ssl_context()
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.dump_log()
                raise AssertionError('caresyncd serve exited with %d before accepting' % rc)
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=2) as s:
                    with ctx.wrap_socket(s, server_hostname='127.0.0.1'):
                        break
            except (OSError, ssl.SSLError) as e:
                if time.monotonic() > deadline:
                    self.dump_log()
                    raise AssertionError('caresyncd did not accept TLS on port %d: %s' %
                                         (self.port, e))
                time.sleep(0.05)
        log('caresyncd serving on %s (pid %d)' % (self.url, self.proc.pid))

    def stop(self, expect_rc=0):
        """SIGTERM and wait; the daemon must exit with @expect_rc (None: don't check)."""
        if not self.proc:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            self.log_file.close()
            self.dump_log()
            raise AssertionError('caresyncd did not exit within 20 s of SIGTERM')
        self.log_file.close()
        log('caresyncd stopped, exit %d' % rc)
        if expect_rc is not None and rc != expect_rc:
            self.dump_log()
            raise AssertionError('caresyncd exited with %d after SIGTERM, expected %d' %
                                 (rc, expect_rc))
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def dump_log(self, lines=80):
        try:
            with open(self.log_path, 'rb') as f:
                text = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return
        print('---- last %d lines of %s ----' % (lines, self.log_path))
        for line in text[-lines:]:
            print('  | ' + line)
        print('----')

    # -- admin subcommands (run against the data directory, also while serving) --

    def admin(self, words, *rest, expect=0):
        return run([CARESYNCD] + list(words) + ['--data', self.data] + list(rest), expect=expect,
                   env=self.env)

    def add_user(self, name, role):
        self.admin(['user', 'add'], name, '--role', role)

    def enrol_code(self, name):
        code = self.admin(['enrol'], name).stdout.strip().splitlines()[-1].strip()
        check(len(code) >= 12, 'caresyncd enrol printed no code: %r' % code)
        return code

    def add_person(self, name, phone=None, dob=None, address=None):
        args = ['--name', name]
        if phone is not None:
            args += ['--phone', phone]
        if dob is not None:
            args += ['--dob', dob]
        if address is not None:
            args += ['--address', address]
        pid = self.admin(['person', 'add'], *args).stdout.strip().splitlines()[-1].strip()
        check(len(pid) == 36, 'caresyncd person add printed no id: %r' % pid)
        return pid

    def assign(self, person, user):
        self.admin(['assign'], person, user)

    def unassign(self, person, user):
        self.admin(['unassign'], person, user)

    def revoke(self, device_id):
        self.admin(['device', 'revoke'], device_id)

    # -- the store, read-only --

    def db(self):
        if self.pg:
            return _PgConnection(self.pg, self.pg_db)
        con = sqlite3.connect('file:%s?mode=ro' % self.store_path, uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        return con

    def query(self, sql, params=()):
        if self.pg:
            return pg_rows(self.pg, sql, params, self.pg_db)
        con = self.db()
        try:
            return [dict(r) for r in con.execute(sql, params).fetchall()]
        finally:
            con.close()

    def scalar(self, sql, params=()):
        if self.pg:
            rows = pg_rows(self.pg, sql, params, self.pg_db)
            return list(rows[0].values())[0] if rows else None
        con = self.db()
        try:
            return con.execute(sql, params).fetchone()[0]
        finally:
            con.close()

    def store_seq(self):
        """The store's sequence counter: meta 'seq' on SQLite, store_head's on PostgreSQL."""
        if self.pg:
            return int(self.scalar('SELECT seq FROM store_head'))
        return int(self.scalar("SELECT value FROM meta WHERE key = 'seq'"))

    def counts(self):
        """Row counts of the tables a refused request must not touch."""
        return {t: self.scalar('SELECT count(*) FROM %s' % t)
                for t in ('change_log', 'field_state', 'conflicts')}

    def field(self, tbl, row_id, field):
        rows = self.query('SELECT value, hlc, device FROM field_state WHERE tbl=? AND row_id=?'
                          ' AND field=?', (tbl, row_id, field))
        return rows[0] if rows else None

    # -- raw HTTPS --

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca)

    def request(self, method, path, body=None, token=None, headers=None, timeout=30):
        """One HTTPS request. Returns (status, headers dict, raw bytes, parsed JSON or None)."""
        conn = http.client.HTTPSConnection('127.0.0.1', self.port, context=self.ssl_context(),
                                           timeout=timeout)
        hdrs = {'Content-Type': 'application/json'}
        if token is not None:
            hdrs['Authorization'] = 'Bearer ' + token
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status, rh = resp.status, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        log('%s %s (%d bytes) -> %d %s' % (method, path, len(body or b''), status,
                                          clip(raw.decode('utf-8', 'replace'), 300)))
        return status, rh, raw, doc


# ---- clients ----

class Client:
    def __init__(self, world, name, user, role):
        self.world = world
        self.name = name
        self.user = user
        self.role = role
        self.home = os.path.join(world.root, 'home-' + name)
        self.env = {}

    def run(self, *args, expect=0, quiet=False):
        return run([CARESYNC, '--home', self.home] + list(args), expect=expect, env=self.env,
                   quiet=quiet)

    def json(self, *args, expect=0, quiet=False):
        p = self.run(*(list(args) + ['--json']), expect=expect, quiet=quiet)
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise AssertionError('%s %s --json printed no JSON: %r' % (self.name, args,
                                                                       clip(p.stdout)))

    def enrol(self, code, expect=0):
        d = self.world.daemon
        return self.run('enrol', '--server', d.url, '--ca', d.ca, '--code', code, expect=expect)

    def sync(self, expect=0, quiet=False):
        return self.run('sync', expect=expect, quiet=quiet)

    def caseload(self):
        return self.json('caseload', quiet=True)

    def show(self, person, expect=0):
        if expect != 0:
            return self.run('show', person, '--json', expect=expect)
        return self.json('show', person, quiet=True)

    def status(self):
        return self.json('status', quiet=True)

    def edit(self, table, row, field, value, expect=0):
        if value is None:
            return self.run('edit', table, row, field, '--null', expect=expect)
        if value.startswith('-'):
            return self.run('edit', table, row, field, '--', value, expect=expect)
        return self.run('edit', table, row, field, value, expect=expect)

    def add(self, table, person, fields, expect=0):
        """Create a row; @fields is a dict. Returns the new row id."""
        args = ['%s=%s' % (k, v) for k, v in fields.items()]
        p = self.run('add', table, person, *args, expect=expect)
        if expect != 0:
            return None
        rid = p.stdout.strip().split()[-1] if p.stdout.strip() else ''
        check(len(rid) == 36, 'caresync add printed no id: %r' % p.stdout)
        return rid

    def delete(self, table, row, expect=0):
        return self.run('delete', table, row, expect=expect)

    def conflicts(self, all=False, *filters, expect=0):
        """`conflicts --json` with --all and any other options (e.g. '--kind', 'append_only')."""
        args = ['conflicts'] + (['--all'] if all else []) + list(filters)
        if expect != 0:
            return self.run(*(args + ['--json']), expect=expect)
        doc = self.json(*args)
        return doc['conflicts'] if isinstance(doc, dict) and 'conflicts' in doc else doc

    def resolve(self, conflict_id, action, value=None, expect=0,
                reason='checked with the team'):
        """Resolve with a reason (required; reason=None leaves --reason out)."""
        args = ['resolve', str(conflict_id), '--' + action]
        if value is not None:
            args.append(value)
        if reason is not None:
            args += ['--reason', reason]
        return self.run(*args, expect=expect)

    @property
    def token(self):
        with open(os.path.join(self.home, 'token')) as f:
            return f.read().strip()

    @property
    def device_id(self):
        return self.status()['device_id']

    def replica_bytes(self):
        """Every file in the home directory, concatenated (the canary scan reads these)."""
        out = {}
        for dirpath, _, files in os.walk(self.home):
            for fn in files:
                p = os.path.join(dirpath, fn)
                with open(p, 'rb') as f:
                    out[p] = f.read()
        return out


# ---- a world: one daemon, users and clients, all under one temporary directory ----

class World:
    def __init__(self, root):
        self.root = root
        self.daemon = Daemon(root)
        self.clients = {}

    def start(self):
        self.daemon.init()
        self.daemon.start()
        return self

    def client(self, name, role, user=None):
        """Add user @user (default @name) with @role, enrol a client for it."""
        user = user or name
        if not self.daemon.query('SELECT 1 FROM users WHERE name=?', (user,)):
            self.daemon.add_user(user, role)
        c = Client(self, name, user, role)
        c.enrol(self.daemon.enrol_code(user))
        self.clients[name] = c
        return c

    def shared_person(self, name, **person):
        """One person @name (add_person()'s @person), cared for by a nurse ('nurse') and an
        occupational therapist ('ot'), both enrolled, assigned and synced: (id, nurse, ot)."""
        pid = self.daemon.add_person(name, **person)
        nurse = self.client('nurse', 'nurse')
        ot = self.client('ot', 'occupational_therapist')
        self.daemon.assign(pid, 'nurse')
        self.daemon.assign(pid, 'ot')
        nurse.sync()
        ot.sync()
        return pid, nurse, ot

    def close(self):
        self.daemon.kill()


def require_binaries():
    missing = [n for n, p in (('CARESYNCD', CARESYNCD), ('CARESYNC', CARESYNC))
               if not p or not os.access(p, os.X_OK)]
    if missing:
        print('SKIP: %s not set to an executable (run through meson test)' % ', '.join(missing))
        sys.exit(77)


def main(test, name=None):
    """Run test(world) in a fresh temporary directory; exit 0 on success, 1 on failure."""
    require_binaries()
    name = name or os.path.basename(sys.argv[0])
    root = tempfile.mkdtemp(prefix='caresync-it-')
    world = World(root)
    ok = False
    log('%s: temporary directory %s%s' % (name, root, ' (store: PostgreSQL)'
                                              if TEST_STORE == 'postgresql' else ''))
    try:
        world.start()
        test(world)
        world.daemon.stop(expect_rc=0)
        ok = True
    except Exception:
        traceback.print_exc()
        world.daemon.dump_log()
    finally:
        world.close()
        if TEST_PG is not None:
            TEST_PG.close()
    if ok and not os.environ.get('KEEP_TMP'):
        shutil.rmtree(root, ignore_errors=True)
    else:
        log('kept %s' % root)
    print('%d passed, %d failed' % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


# ---- helpers for the field-worker commands (today, visit, note, goal, ...) and FHIR export ----

def today_local(offset_days=0):
    """The device's local date (the client's 'today') plus @offset_days, as YYYY-MM-DD."""
    return time.strftime('%Y-%m-%d', time.localtime(time.time() + offset_days * 86400))


def by_id(rows, row_id, what='row'):
    """The one element of @rows (dicts) whose 'id' is @row_id."""
    got = [r for r in rows if r.get('id') == row_id]
    check(len(got) == 1, '%s %s: %d matches' % (what, row_id, len(got)), rows)
    return got[0]


def make_change(table, row, person, field, value, hlc=None, base=None):
    """One change for a raw POST /v1/sync. @hlc: integer clock (default now); @base: a
    field_state dict (Daemon.field) whose version the writer had seen, or None."""
    return {'change_id': uuid7(), 'table': table, 'row_id': row, 'person_id': person,
            'field': field, 'value': value, 'hlc': hlc_text(hlc if hlc is not None
                                                              else hlc_now()),
            'base_hlc': hlc_text(base['hlc']) if base else None,
            'base_device': base['device'] if base else None}


def _daemon_push(self, token, changes, cursor='', pull=False):
    """A raw push of @changes with @token. Returns (HTTP status, parsed body)."""
    status, _, _, doc = self.request('POST', '/v1/sync', {'cursor': cursor, 'pull': pull,
                                                          'changes': changes}, token=token)
    return status, doc


Daemon.push = _daemon_push


def _client_new(self, *args, expect=0):
    """Run a command that creates a row and prints its id; return the id (None if @expect
    is not 0)."""
    p = self.run(*args, expect=expect)
    if expect != 0:
        return None
    out = p.stdout.strip()
    rid = out.split()[-1] if out else ''
    check(len(rid) == 36 and rid.count('-') == 4, '%s %s printed no id: %r' %
          (self.name, ' '.join(str(a) for a in args[:2]), out))
    return rid


def _client_today(self, *extra):
    return self.json('today', *extra, quiet=True)


def _client_open(self, person, expect=0):
    if expect != 0:
        return self.run('open', person, '--json', expect=expect)
    return self.json('open', person, quiet=True)


def _client_row(self, person, label, row_id):
    """Row @row_id of array @label ('visits', 'notes', ...) in `show PERSON --json`."""
    return by_id(self.show(person)[label], row_id, '%s: %s' % (self.name, label))


Client.new = _client_new
Client.today = _client_today
Client.open = _client_open
Client.row = _client_row


# ---- faults: a small file system that can be filled, a proxy that cuts a reply ----

def mount_tmpfs(path, size_bytes):
    """Mount a tmpfs of @size_bytes on @path (made if missing). Returns None, or the reason it
    could not (not root, mount refused) for the caller to print when it skips."""
    if os.geteuid() != 0:
        return 'not root: mounting a small tmpfs needs root'
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0755' % size_bytes, 'tmpfs',
                        path], capture_output=True, text=True)
    if p.returncode != 0:
        return 'mount -t tmpfs failed: %s' % (p.stderr.strip() or 'exit %d' % p.returncode)
    log('mounted a %d KiB tmpfs on %s' % (size_bytes // 1024, path))
    return None


def umount(path):
    """Unmount @path (lazily, so that a process still holding a file there cannot block it)."""
    subprocess.run(['umount', '-l', path], capture_output=True)


def world_on(parent, data_dir, name='full-server'):
    """A second world under @parent's root whose daemon keeps its data in @data_dir (a small
    tmpfs, say), started. The caller closes it."""
    w = World(os.path.join(parent.root, name))
    os.makedirs(w.root)
    w.daemon.data = data_dir
    w.start()
    return w


def fill_disk(directory, name='filler'):
    """Write DIRECTORY/NAME until the file system says ENOSPC, down to the last byte. Returns
    the file's path; remove it to free the space."""
    path = os.path.join(directory, name)
    with open(path, 'wb', buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
            block = b'\0' * chunk
            while True:
                try:
                    if f.write(block) != chunk:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    st = os.statvfs(directory)
    log('filled %s: %d bytes in %s, %d bytes free' % (directory, os.path.getsize(path), name,
                                                       st.f_bavail * st.f_frsize))
    return path


# ---- raw HTTPS, for requests http.client will not send (test_strict_http, test_limits) ----

def raw_request(daemon, data, timeout=10):
    """Send the bytes @data as they are over one TLS connection and read until the server
    closes it or @timeout passes. Returns (status or None, headers dict, body bytes, closed,
    rest): the first response, whether the server closed the connection, and any bytes after
    the first response (a second response, say)."""
    s = socket.create_connection(('127.0.0.1', daemon.port), timeout=timeout)
    t = daemon.ssl_context().wrap_socket(s, server_hostname='127.0.0.1')
    got, closed = b'', False
    try:
        t.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = t.recv(65536)
            except socket.timeout:
                break
            except (ConnectionError, ssl.SSLError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        t.close()
    head, _, body = got.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = None
    if lines and lines[0].startswith('HTTP/1.'):
        status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get('content-length', len(body)))
    log('raw %r -> %s %s' % (clip(data.decode('latin-1'), 200), status,
                             clip(body.decode('utf-8', 'replace'), 300)))
    return status, hdrs, body[:n], closed, body[n:]


# ---- a history checker for the fault tests (crash, network): what devices recorded, against
# what the server stored ----

def _client_db_rows(self, sql, params=()):
    """Rows of the client's replica.db, read-only (the client must not be running)."""
    con = sqlite3.connect('file:%s?mode=ro' % os.path.join(self.home, 'replica.db'), uri=True,
                          timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def _client_outbox(self):
    """The client's unacknowledged changes: [{change_id, tbl, row_id, field, value}]."""
    return self.db_rows('SELECT change_id, tbl, row_id, person_id, field, value FROM outbox'
                        ' ORDER BY seq')


def _client_versions(self):
    """{(tbl, row_id, field): (hlc, device)} of every field the replica holds."""
    return {(r['tbl'], r['row_id'], r['field']): (r['hlc'], r['device'])
            for r in self.db_rows('SELECT tbl, row_id, field, hlc, device FROM field_version')}


Client.db_rows = _client_db_rows
Client.outbox = _client_outbox
Client.versions = _client_versions


class History:
    """What every client recorded (each change once, as it sat in the outbox) and what the
    server acknowledged; check() holds them against the server's store.db."""

    def __init__(self):
        self.recorded = {}  # change_id -> (client name, tbl, row_id, field, value)
        self.acked = set()  # change_ids that left an outbox after a successful sync

    def note_outbox(self, client):
        """Call after local edits (and before a sync): remember what the outbox holds."""
        rows = client.outbox()
        for r in rows:
            self.recorded.setdefault(r['change_id'], (client.name, r['tbl'], r['row_id'],
                                                      r['field'], r['value']))
        return {r['change_id'] for r in rows}

    def note_synced(self, client, before):
        """After a sync that exited 0: what left the outbox was acknowledged."""
        now = {r['change_id'] for r in client.outbox()}
        self.acked |= before - now
        return before - now

    def check(self, daemon, clients, unique_prefix):
        """Every recorded change is on the server exactly once, every outbox is empty (so
        everything was acknowledged), no value of this run's form was stored that no client
        recorded, and every replica holds the server's version of each field it holds."""
        for c in clients:
            check_eq(c.outbox(), [], c.name + ': outbox after the final syncs')
        log_rows = daemon.query('SELECT change_id, device, tbl, row_id, field, value'
                                ' FROM change_log')
        by_id = {}
        for r in log_rows:
            by_id.setdefault(r['change_id'], []).append(r)
        lost = sorted(cid for cid in self.recorded if cid not in by_id)
        twice = sorted(cid for cid, rs in by_id.items() if len(rs) > 1)
        wrong = sorted(cid for cid, rec in self.recorded.items() if cid in by_id and
                       (by_id[cid][0]['tbl'], by_id[cid][0]['row_id'], by_id[cid][0]['field'],
                        by_id[cid][0]['value']) != rec[1:])
        values = {}
        for r in log_rows:
            if r['value'] and r['value'].startswith(unique_prefix):
                values.setdefault(r['value'], []).append(r['change_id'])
        recorded_values = {rec[4] for rec in self.recorded.values()}
        dup_values = sorted(v for v, ids in values.items() if len(ids) > 1)
        phantom = sorted(v for v in values if v not in recorded_values)
        check(not (lost or twice or wrong or dup_values or phantom),
              'history: %d recorded changes lost, %d stored twice, %d stored differently, %d'
              ' values stored under two change ids, %d values no client recorded' %
              (len(lost), len(twice), len(wrong), len(dup_values), len(phantom)),
              {'lost': [(cid, self.recorded[cid]) for cid in lost[:20]],
               'twice': twice[:20], 'wrong': wrong[:20], 'dup_values': dup_values[:20],
               'phantom': phantom[:20]})
        missing_acks = sorted(cid for cid in self.acked if cid not in by_id)
        check(not missing_acks, 'acknowledged changes not on the server', missing_acks)
        state = {(r['tbl'], r['row_id'], r['field']): (r['hlc'], r['device'])
                 for r in daemon.query('SELECT tbl, row_id, field, hlc, device FROM field_state')}
        for c in clients:
            held = c.versions()
            diff = sorted((k, v, state.get(k)) for k, v in held.items() if state.get(k) != v)
            check(not diff, '%s: %d fields held at another version than the server\'s' %
                  (c.name, len(diff)), diff[:20])
        log('history: %d changes recorded by %d clients, each stored exactly once (%d seen'
            ' acknowledged); every replica at the server\'s versions' %
            (len(self.recorded), len(clients), len(self.acked)))


def tls_connect(daemon, source='127.0.0.1', timeout=10):
    """A TLS connection to @daemon from loopback address @source, handshake done. Raises
    OSError or ssl.SSLError when the server closes it during the handshake."""
    s = socket.create_connection(('127.0.0.1', daemon.port), timeout=timeout,
                                 source_address=(source, 0))
    try:
        return daemon.ssl_context().wrap_socket(s, server_hostname='127.0.0.1')
    except BaseException:
        s.close()
        raise


def closed_by_server(sock, timeout):
    """Whether the server closes TLS connection @sock within @timeout seconds (reading and
    dropping whatever it sends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


def read_response(sock, timeout):
    """Read one HTTP response from @sock (until its Content-Length is in, or the server closes,
    or @timeout passes). Returns (status or None, headers dict, body bytes)."""
    got = b''
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, sep, body = got.partition(b'\r\n\r\n')
        if sep:
            n = 0
            for line in head.decode('latin-1').split('\r\n')[1:]:
                k, _, v = line.partition(':')
                if k.strip().lower() == 'content-length':
                    n = int(v.strip())
            if len(body) >= n:
                break
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        got += chunk
    head, _, body = got.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1]) if lines and lines[0].startswith('HTTP/1.') else None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def rss_kb(pid):
    """The resident set size of process @pid in KiB (VmRSS)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for pid %d' % pid)


# ---- several daemons on one PostgreSQL (test_several_daemons, test_pg_outage) ----

def switch_server(client, daemon):
    """Point @client's replica at @daemon, as a load balancer sends each request where it
    likes (the client must not be running)."""
    con = sqlite3.connect(os.path.join(client.home, 'replica.db'), timeout=10)
    try:
        con.execute("UPDATE meta SET value = ? WHERE key = 'server_url'", (daemon.url,))
        con.commit()
    finally:
        con.close()


def pg_daemons(root, pg, n):
    """A World under @root whose daemon inits a store in @pg's database, and @n - 1 more data
    directories that join it (init --no-dev-ca, then the first's CA and certificate, so that
    every device trusts every daemon); all @n serving. Daemon.query() reads that database.
    Returns (world, [daemons]); the caller kills them."""
    global TEST_STORE, TEST_PG
    TEST_STORE, TEST_PG = 'postgresql', pg
    w = World(root)
    first = w.daemon
    first._pg_db = 'caresync'  # pg.url's database
    first.init()
    first.start()
    daemons = [first]
    for k in range(1, n):
        d = Daemon(root, 'server-%c' % (ord('a') + k))
        d._pg_db = 'caresync'
        run([CARESYNCD, 'init', '--data', d.data, '--store', pg.url, '--no-dev-ca'])
        for f in ('ca.pem', 'server.pem', 'server.key'):
            shutil.copy2(os.path.join(first.data, f), os.path.join(d.data, f))
        d.start()
        daemons.append(d)
    _PG_DAEMONS.extend(daemons)
    return w, daemons


_PG_DAEMONS = []  # pg_daemons()'s, for pg_main() to dump and kill


def pg_main(test, what=''):
    """The whole run of a test of several daemons on one private PostgreSQL: skip (77) without
    the PostgreSQL binaries, else test(root, pg, seed) with a seed printed (SEED=n replays
    it) and @what; on failure the daemons' logs and the database's, and the temporary folder
    kept; the daemons killed and the database removed whatever happens. Exits 0 or 1 with
    'N passed, N failed'. In the suite's PostgreSQL pass (tools/test.sh --pg) it skips: it
    starts its own PostgreSQL whatever the pass, and has run in the default one already."""
    require_binaries()
    if TEST_STORE == 'postgresql':
        print('SKIP: runs on its own PostgreSQL in the default pass already')
        sys.exit(77)
    pg = PostgreSQL()
    if pg.missing:
        print('SKIP: ' + pg.missing)
        sys.exit(77)
    seed = int(os.environ.get('SEED') or random.SystemRandom().randrange(1, 1 << 30))
    root = tempfile.mkdtemp(prefix='caresync-it-')
    log('seed %d (replay: SEED=%d)%s; temporary directory %s' % (seed, seed, what, root))
    ok = False
    try:
        pg.start()
        test(root, pg, seed)
        ok = True
    except Exception:
        traceback.print_exc()
        for d in _PG_DAEMONS:
            d.dump_log(40)
        pg.dump_log(30)
        log('FAILED seed %d; replay with SEED=%d' % (seed, seed))
    finally:
        for d in _PG_DAEMONS:
            d.kill()
        pg.close()
    if ok and not os.environ.get('KEEP_TMP'):
        shutil.rmtree(root, ignore_errors=True)
    else:
        log('kept ' + root)
    print('%d passed, %d failed' % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)
