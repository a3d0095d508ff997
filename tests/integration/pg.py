# SPDX-License-Identifier: MIT
# pg.py - a private PostgreSQL server for the integration tests: initdb into a temporary
# folder, a free loopback port and a unix socket in that folder, pg_ctl to start it, stop it
# (and start it again, for "the database goes away" tests) and remove it. No system service,
# no system cluster: nothing here reads or changes /etc/postgresql or port 5432.
#
#   pg = PostgreSQL()               # finds the binaries; pg.missing says why when it cannot
#   pg.start()                      # initdb on first start (a copy of one cluster made by
#                                   # initdb once: _template_path()), role and database 'caresync'
#   pg.url                          # postgresql://caresync:PASSWORD@127.0.0.1:PORT/caresync
#   pg.socket_url                   # the same over the unix socket in the folder
#   PostgreSQL(tls=True)            # TCP only with TLS (hostssl), a certificate for 127.0.0.1
#   pg.tls_url                      # ...?sslmode=verify-full&sslrootcert=<its CA>
#   pg.psql('SELECT 1')             # runs psql as the role caresync; returns CompletedProcess
#   pg.migrate('schema/server-pg')  # every migration, each in one transaction under the lock
#   s = pg.session('A')             # an interactive psql: s.run(sql), or s.send(sql) and
#                                   # s.wait() to hold a transaction open while others act
#   pg.stop(); pg.start()           # the database goes away and comes back, same port and data
#   pg.close()                      # stop it and remove the folder (also at exit, and on SIGTERM)
#   main(test, tls=False)           # a test's whole run: skip (77) without the binaries, start,
#                                   # test(pg), close; exit 0 or 1 with "N passed, N failed"
#
# initdb and postgres refuse to run as root. When the tests run as root the server runs as
# CARESYNC_PG_USER (default: nobody, which every Debian system has) through runuser(1), and the
# folder is given to that user; the tests themselves stay root and reach the server over the
# socket (root passes the folder's 0700) or TCP. Run as any other user, the server runs as that
# user. Authentication: the socket (in a 0700 folder) is trust; TCP on 127.0.0.1 is
# scram-sha-256 with a password made for the run, which the URL carries.
#
# The binaries: CARESYNC_PG_BINDIR, else Debian's /usr/lib/postgresql/<newest>/bin (package
# postgresql-15 on bookworm), else initdb on PATH. Python 3 standard library only.

import atexit
import fcntl
import glob
import os
import pwd
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_MIN_MAJOR = 15
# The lock a migration runs under (docs/internals/scale-out.md, "The schema").
MIGRATION_LOCK = 'SELECT pg_advisory_xact_lock(72657, 1)'
ROLE = 'caresync'
DATABASE = 'caresync'


def _log(msg):
    print('[pg] %s' % msg, flush=True)


def pg_bindir():
    """The folder holding initdb, pg_ctl, postgres and psql, or None."""
    env = os.environ.get('CARESYNC_PG_BINDIR')
    if env:
        return env if os.access(os.path.join(env, 'initdb'), os.X_OK) else None
    found = []
    for d in glob.glob('/usr/lib/postgresql/*/bin'):
        try:
            major = int(d.split('/')[-2])
        except ValueError:
            continue
        if major >= PG_MIN_MAJOR and os.access(os.path.join(d, 'initdb'), os.X_OK):
            found.append((major, d))
    if found:
        return max(found)[1]
    initdb = shutil.which('initdb')
    return os.path.dirname(initdb) if initdb else None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


_live = []


def _close_all():
    for pg in list(_live):
        pg.close()


def _on_sigterm(signum, frame):
    # meson test ends a test that ran out of time with SIGTERM: unwind, so that every finally
    # block and the atexit handler run and no postgres is left behind.
    sys.exit(128 + signum)


class Session:
    """An interactive psql session over the socket: statements sent one at a time, so that a
    transaction can stay open while another session acts."""

    def __init__(self, pg, name, user=ROLE, db=DATABASE):
        self.name = name
        self.p = subprocess.Popen([pg.bin('psql'), '-X', '-q', '-A', '-t', '-v', 'VERBOSITY=verbose',
                                   '-h', pg.sockdir, '-p', str(pg.port), '-U', user, '-d', db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b''
        self.pid = int(self.run('SELECT pg_backend_pid()')[0])

    def send(self, sql):
        # A statement ends at ';', then the marker that wait() reads up to.
        self.p.stdin.write((sql.rstrip(';') + ';\n\\echo @@done\n').encode())
        self.p.stdin.flush()

    def wait(self, timeout=30):
        """The output lines of the last statement sent (errors included), or None if it has not
        finished in time."""
        end = time.monotonic() + timeout
        while b'@@done\n' not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                data = os.read(self.p.stdout.fileno(), 65536)
                if not data:
                    raise AssertionError('psql session %s ended' % self.name)
                self.buf += data
        out, _, self.buf = self.buf.partition(b'@@done\n')
        return out.decode().splitlines()

    def run(self, sql, timeout=60):
        self.send(sql)
        out = self.wait(timeout)
        if out is None:
            raise AssertionError('session %s: %s did not finish' % (self.name, sql))
        return out

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


class PostgreSQL:
    def __init__(self, root=None, bindir=None, tls=False):
        self.bindir = bindir or pg_bindir()
        self.tls = tls
        self.missing = None
        if not self.bindir:
            self.missing = ('no PostgreSQL %d+ server binaries (initdb, pg_ctl): install Debian\'s '
                            'postgresql (tools/deps.sh) or set CARESYNC_PG_BINDIR' % PG_MIN_MAJOR)
        self._own_root = root is None
        self.root = root
        self.port = None
        self.password = secrets.token_hex(16)
        self.running = False
        self.os_user = None
        if os.geteuid() == 0:
            self.os_user = os.environ.get('CARESYNC_PG_USER', 'nobody')

    # ---- paths and URLs ----

    @property
    def data(self):
        return os.path.join(self.root, 'data')

    @property
    def sockdir(self):
        return os.path.join(self.root, 'sock')

    @property
    def log_path(self):
        return os.path.join(self.root, 'postgres.log')

    @property
    def url(self):
        return 'postgresql://%s:%s@127.0.0.1:%d/%s' % (ROLE, self.password, self.port, DATABASE)

    @property
    def ca(self):
        """The CA that issued the server's certificate (tls=True)."""
        return os.path.join(self.root, 'tls', 'ca.pem')

    @property
    def tls_url(self):
        return '%s?sslmode=verify-full&sslrootcert=%s' % (self.url, self.ca)

    @property
    def socket_url(self):
        return 'postgresql://%s@/%s?host=%s&port=%d' % (ROLE, DATABASE, self.sockdir, self.port)

    def bin(self, name):
        return os.path.join(self.bindir, name)

    # ---- running its programs ----

    def _as_server_user(self, argv):
        if self.os_user:
            return ['runuser', '-u', self.os_user, '--'] + argv
        return argv

    def _run(self, argv, timeout=120, check=True):
        p = subprocess.run(self._as_server_user(argv), capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if check and p.returncode != 0:
            self.dump_log()
            raise AssertionError('%s: exit %d\nstdout: %s\nstderr: %s' %
                                 (' '.join(argv), p.returncode, p.stdout.strip(),
                                  p.stderr.strip()))
        return p

    def psql(self, sql=None, file=None, user=ROLE, db=DATABASE, expect=0, args=(), timeout=120):
        """Run psql over the socket with ON_ERROR_STOP, one transaction per -c or -f; returns the
        CompletedProcess (stdout unaligned, tuples only, fields split by '|'). @expect: the exit
        code wanted (None: any)."""
        argv = [self.bin('psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                '-h', self.sockdir, '-p', str(self.port), '-U', user, '-d', db] + list(args)
        if sql is not None:
            argv += ['-c', sql]
        if file is not None:
            argv += ['-f', file]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, PGCONNECT_TIMEOUT='10'))
        if expect is not None and p.returncode != expect:
            raise AssertionError('psql %s: exit %d, expected %d\nstderr: %s' %
                                 (sql if sql is not None else file, p.returncode, expect,
                                  p.stderr.strip()))
        return p

    def query(self, sql, user=ROLE, db=DATABASE):
        """Rows of @sql as lists of strings (NULL as '')."""
        out = self.psql(sql, user=user, db=db).stdout
        return [line.split('|') for line in out.splitlines() if line != '']

    def migrate(self, folder):
        """Apply every NNNN_*.sql of @folder in order, each in one transaction (-1) under
        MIGRATION_LOCK, as the role caresync."""
        for fn in sorted(f for f in os.listdir(folder) if f.endswith('.sql')):
            self.psql(MIGRATION_LOCK, file=os.path.join(folder, fn),
                      args=['-1', '-v', 'client_min_messages=warning'])

    def session(self, name, user=ROLE, db=DATABASE):
        return Session(self, name, user, db)

    def waiting_on_lock(self, session, timeout=30):
        """True once @session's backend waits for a lock (pg_stat_activity)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.query("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %d"
                          % session.pid) == [['Lock']]:
                return True
            time.sleep(0.05)
        return False

    def dump_log(self, tail=60):
        try:
            with open(self.log_path, errors='replace') as f:
                lines = f.read().splitlines()[-tail:]
        except OSError:
            return
        _log('last lines of %s:' % self.log_path)
        for line in lines:
            print('    ' + line)

    # ---- life cycle ----

    def _make_certificates(self):
        """A CA and a server certificate for 127.0.0.1 and localhost (openssl(1))."""
        d = os.path.join(self.root, 'tls')
        os.makedirs(d, mode=0o700)
        ext = os.path.join(d, 'server.ext')
        with open(ext, 'w') as f:
            f.write('subjectAltName = IP:127.0.0.1, DNS:localhost\n')
        key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        for argv in (
                ['req', '-x509'] + key + ['-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
                                          '-subj', '/CN=caresync tests PostgreSQL CA',
                                          '-addext', 'basicConstraints=critical,CA:TRUE',
                                          '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
                ['req'] + key + ['-keyout', 'server.key', '-out', 'server.csr',
                                 '-subj', '/CN=localhost'],
                ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
                 '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', ext]):
            p = subprocess.run(['openssl'] + argv, cwd=d, capture_output=True, text=True,
                               timeout=60)
            if p.returncode != 0:
                raise AssertionError('openssl %s: %s' % (argv[0], p.stderr.strip()))
        os.chmod(os.path.join(d, 'server.key'), 0o600)
        os.chmod(os.path.join(d, 'ca.pem'), 0o644)
        os.chmod(d, 0o755)

    def _initdb(self):
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix='caresync-pg-')
        os.makedirs(self.sockdir, mode=0o700, exist_ok=True)
        if self.tls:
            self._make_certificates()
        pwfile = os.path.join(self.root, 'superuser.pw')
        with open(pwfile, 'w') as f:
            f.write(secrets.token_hex(16) + '\n')
        self._give(self.root)
        os.chmod(self.root, 0o700)
        template = self._template_path()
        if template:
            with open(template + '.lock', 'a') as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not os.path.isdir(template):
                    # Made once under the lock, by initdb into a folder beside it renamed into
                    # place, so that a test killed half way leaves no half-made template.
                    work = tempfile.mkdtemp(prefix=os.path.basename(template) + '.',
                                            dir=os.path.dirname(template))
                    self._give(work)
                    self._initdb_into(os.path.join(work, 'data'), pwfile)
                    os.rename(work, template)
            _log('copy of %s into %s' % (template, self.data))
            shutil.copytree(os.path.join(template, 'data'), self.data, symlinks=True)
            self._give(self.data)
        else:
            self._initdb_into(self.data, pwfile)
        os.unlink(pwfile)

    def _give(self, top):
        """Make @top and everything under it the server user's (when the tests run as root)."""
        if not self.os_user:
            return
        pw = pwd.getpwnam(self.os_user)
        for d, _, files in os.walk(top):
            os.chown(d, pw.pw_uid, pw.pw_gid)
            for fn in files:
                os.chown(os.path.join(d, fn), pw.pw_uid, pw.pw_gid)

    def _template_path(self):
        """Where the cluster every server of this PostgreSQL build and server user is copied
        from lives, or None (CARESYNC_PG_TEMPLATE=0): initdb costs a few CPU-seconds, a copy of
        its 40 MB a fraction of one, and the integration suite on PostgreSQL starts ~80 servers.
        The name carries the postgres binary's size and time, so an upgraded PostgreSQL gets
        its own."""
        if os.environ.get('CARESYNC_PG_TEMPLATE') == '0':
            return None
        st = os.stat(self.bin('postgres'))
        return os.path.join(tempfile.gettempdir(), 'caresync-pg-template-%d-%d-%d-%s' %
                            (os.getuid(), st.st_size, int(st.st_mtime),
                             self.os_user or 'self'))

    def _initdb_into(self, data, pwfile):
        _log('initdb into %s%s' % (data, ' as ' + self.os_user if self.os_user else ''))
        self._run([self.bin('initdb'), '-D', data, '-U', 'postgres', '-E', 'UTF8',
                   '--locale=C.UTF-8', '--auth-local=trust', '--auth-host=scram-sha-256',
                   '--pwfile=' + pwfile, '--no-sync'])

    def _configure(self):
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            f.write('\n# caresync tests (tests/integration/pg.py)\n'
                    "listen_addresses = '127.0.0.1'\n"
                    'port = %d\n'
                    "unix_socket_directories = '%s'\n"
                    'max_connections = 100\n'
                    'shared_buffers = 32MB\n'
                    # A test's server is thrown away after it: nothing is kept across an
                    # operating-system crash, so it need not wait for the disk. A commit is still
                    # written to the kernel before it returns (synchronous_commit stays on), so
                    # a server stopped with -m immediate, as test_pg_outage does, loses nothing.
                    'fsync = off\n'
                    "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n" % (self.port, self.sockdir))
            if self.tls:
                f.write("ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" %
                        (os.path.join(self.root, 'tls', 'server.pem'),
                         os.path.join(self.root, 'tls', 'server.key')))
        if self.tls:
            # TCP with TLS only: initdb's 'host' lines become 'hostssl'.
            hba = os.path.join(self.data, 'pg_hba.conf')
            with open(hba) as f:
                lines = f.read().splitlines()
            with open(hba, 'w') as f:
                f.write('\n'.join('hostssl' + l[4:] if l.startswith('host ') else l
                                  for l in lines) + '\n')

    def start(self, timeout=60):
        """initdb (first time), start and wait until it accepts; the role and database
        'caresync' exist afterwards. A start after stop() keeps port and data."""
        if self.missing:
            raise RuntimeError(self.missing)
        if self.running:
            return self
        first = self.port is None
        if first:
            self._initdb()
            _live.append(self)
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        for attempt in range(3):
            if first:
                self.port = _free_port()
                self._configure()
            p = self._run([self.bin('pg_ctl'), '-D', self.data, '-l', self.log_path, '-w',
                           '-t', str(timeout), 'start'], timeout=timeout + 10, check=False)
            if p.returncode == 0:
                break
            self.dump_log(20)
            if not first or attempt == 2:
                raise AssertionError('pg_ctl start: exit %d: %s' % (p.returncode,
                                                                   p.stderr.strip()))
            _log('port %d taken meanwhile? retrying on another' % self.port)
        self.running = True
        _log('PostgreSQL serving on 127.0.0.1:%d and %s (pid folder %s)' %
             (self.port, self.sockdir, self.data))
        if first:
            self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, self.password),
                      user='postgres', db='postgres')
            self.psql('CREATE DATABASE %s OWNER %s' % (DATABASE, ROLE), user='postgres',
                      db='postgres')
        return self

    def stop(self, mode='fast'):
        """pg_ctl stop: 'fast' ends every session and shuts down cleanly, 'immediate' as a
        crash would (recovery at the next start)."""
        if not self.running:
            return
        self.running = False
        self._run([self.bin('pg_ctl'), '-D', self.data, '-m', mode, '-w', 'stop'], check=False)

    def close(self):
        """Stop and remove the folder (kept with KEEP_TMP=1)."""
        try:
            self.stop()
        finally:
            if self in _live:
                _live.remove(self)
            if self.root and self._own_root and not os.environ.get('KEEP_TMP'):
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_log()
        self.close()


atexit.register(_close_all)


def main(test, tls=False):
    """Run test(pg) on a private PostgreSQL started for it; exit 0 on success, 1 on failure, 77
    (skipped) only when the PostgreSQL server binaries are missing."""
    pg = PostgreSQL(tls=tls)
    if pg.missing:
        print('SKIP: ' + pg.missing)
        sys.exit(77)
    ok = False
    try:
        pg.start()
        test(pg)
        ok = True
    except Exception:
        import traceback
        traceback.print_exc()
        pg.dump_log()
    finally:
        pg.close()
    print('%d passed, %d failed' % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)
