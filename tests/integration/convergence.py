# SPDX-License-Identifier: MIT
# convergence.py - the randomised multi-replica property test shared by test_convergence.py
# (one daemon, either store) and test_several_daemons.py (three daemons on one PostgreSQL,
# one of them killed now and then): a Run makes clients of different roles share people, has
# them make random offline edits (field edits, clears, new rows, deletes) in rounds, syncs a
# random subset one after another or all at once, then syncs everyone until quiescent, and
# checks the server against every replica and against an oracle computed from the change log:
#   - convergence: every replica's view of every person equals the server's field_state;
#   - last writer wins: each field's value is that of its highest-version stored change;
#   - the conflict log is exact: its set of (loser_change_id, kind) equals what an independent
#     oracle computes from the change_log (recall and precision both 100%);
#   - replaying a sample of stored changes returns their stored outcomes and changes nothing;
#   - nothing lost, nothing invented: every value an edit wrote is stored exactly once, and no
#     stored value of this run's form was not written by an edit; no stored clock is more than
#     5 minutes ahead of the server's wall clock;
#   - integrity_check is ok on every SQLite database, and every outbox is empty.
# Every server read goes through the harness's Daemon.query()/scalar(), so the checks hold on
# the embedded store and on PostgreSQL alike. A subclass decides where each sync goes
# (sync_target()) and what happens while syncs run (during_syncs()).
import os
import random
import sqlite3
import subprocess

import harness as h

ROLES = [('nurse', 'nurse'), ('sw', 'social_worker'), ('ot', 'occupational_therapist'),
         ('physio', 'physiotherapist'), ('link', 'link_worker'), ('coord', 'coordinator')]
PEOPLE = int(os.environ.get('PEOPLE', '3'))
ROUNDS = int(os.environ.get('ROUNDS', '4'))
OPS = int(os.environ.get('OPS', '4'))  # offline operations per client per round (1..OPS)
DEFAULT_SEEDS = int(os.environ.get('CONVERGENCE_SEEDS', '4'))
REPLAYS = 40  # stored changes pushed again at the end
# Parallel syncs make the server's arrival order depend on scheduling; PARALLEL=0 makes a
# SEED replay the same run.
PARALLEL = os.environ.get('PARALLEL', '1') != '0'

# The synced tables the test writes, the key of their rows in 'show --json', and the fields
# it edits with a generator of values.
ARRAYS = {'care_plan': 'care_plans', 'goal': 'goals', 'plan_action': 'actions',
          'visit': 'visits', 'note': 'notes'}
PERSON_FIELDS = ['name', 'preferred_name', 'birth_date', 'phone', 'address']
LIFECYCLE = ['proposed', 'active', 'on-hold', 'completed']
ACHIEVEMENT = ['in-progress', 'improving', 'achieved']
ACTION_STATUS = ['not-started', 'in-progress', 'completed']


class Run:
    def __init__(self, world, seed, roles=None, rounds=None, ops=None):
        self.w = world
        self.d = world.daemon  # the server the checks read (every daemon's store, on one)
        self.rng = random.Random(seed)
        self.seed = seed
        self.roles = roles or ROLES
        self.n_rounds = ROUNDS if rounds is None else rounds
        self.ops = OPS if ops is None else ops
        self.n = 0
        self.clients = []
        self.people = []
        self.written = set()  # every unique value an edit wrote

    # -- where syncs go and what happens meanwhile: a subclass's business --
    def before_sync(self, c):
        """Called before each sync of @c; what it returns is given to after_sync()."""
        return None

    def after_sync(self, c, ticket, rc, err):
        """Called after each sync of @c with its exit code and stderr: it must have succeeded."""
        h.check_eq(rc, 0, '%s: sync exit (stderr: %s)' % (c.name, err.strip()))

    def during_syncs(self):
        """Called while the syncs of a parallel round run."""

    def parallel_round(self, r):
        """Whether the syncs of round @r run all at once (else one after another)."""
        return PARALLEL and self.rng.random() >= 0.5

    def replay_daemon(self):
        """The daemon a replayed batch is sent to."""
        return self.d

    def sync_one(self, c):
        ticket = self.before_sync(c)
        p = c.sync(expect=None, quiet=True)
        self.after_sync(c, ticket, p.returncode, p.stderr)

    def unique(self, who):
        self.n += 1
        v = 's%d-%s-e%d' % (self.seed, who, self.n)
        self.written.add(v)
        return v

    def setup(self):
        for i in range(PEOPLE):
            self.people.append(self.d.add_person('Person %d of seed %d' % (i, self.seed),
                                                 phone='0131 000 000%d' % i))
        for name, role in self.roles:
            self.clients.append(self.w.client(name, role))
        for p in self.people:
            for name, role in self.roles:
                if role != 'coordinator':
                    self.d.assign(p, name)
        for c in self.clients:
            self.sync_one(c)
        # Some rows for every person, made by different clients.
        for i, p in enumerate(self.people):
            c = self.clients[i % len(self.clients)]
            plan = c.add('care_plan', p, {'title': 'Plan %d' % i, 'status': 'active'})
            for k in range(2):
                g = c.add('goal', p, {'care_plan_id': plan, 'description': 'Goal %d.%d' % (i, k),
                                      'lifecycle_status': 'active'})
                c.add('plan_action', p, {'goal_id': g, 'what': 'Action for goal %d.%d' % (i, k),
                                         'status': 'not-started'})
            self.sync_one(c)
        for c in self.clients:
            self.sync_one(c)

    # -- one random offline operation on client c --
    def op(self, c):
        rng = self.rng
        p = rng.choice(self.people)
        view = c.show(p)
        kind = rng.choices(['person', 'goal', 'action', 'plan', 'add_goal', 'delete', 'clear'],
                           [3, 4, 2, 1, 1, 1, 1])[0]
        if c.role == 'coordinator':
            kind = 'person'  # coordinators write contact details, not the plan (access rules)
        goals = view.get('goals', [])
        actions = view.get('actions', [])
        plans = view.get('care_plans', [])
        if kind == 'person':
            field = rng.choice(['phone', 'address', 'preferred_name'])
            c.edit('person', p, field, self.unique(c.name))
        elif kind == 'goal' and goals:
            g = rng.choice(goals)['id']
            field = rng.choice(['description', 'lifecycle_status', 'achievement_status'])
            if field == 'description':
                value = self.unique(c.name)
            else:
                value = rng.choice(LIFECYCLE if field == 'lifecycle_status' else ACHIEVEMENT)
            c.edit('goal', g, field, value)
        elif kind == 'action' and actions:
            a = rng.choice(actions)['id']
            field = rng.choice(['what', 'who', 'status'])
            value = self.unique(c.name) if field != 'status' else rng.choice(ACTION_STATUS)
            c.edit('plan_action', a, field, value)
        elif kind == 'plan' and plans:
            c.edit('care_plan', rng.choice(plans)['id'], rng.choice(['title', 'summary']),
                   self.unique(c.name))
        elif kind == 'add_goal':
            fields = {'description': self.unique(c.name), 'lifecycle_status': 'proposed'}
            if plans:
                fields['care_plan_id'] = rng.choice(plans)['id']
            c.add('goal', p, fields)
        elif kind == 'delete' and (goals or actions):
            table, rows = rng.choice([t for t in (('goal', goals), ('plan_action', actions))
                                      if t[1]])
            c.delete(table, rng.choice(rows)['id'])
        elif kind == 'clear':
            field = rng.choice(['address', 'preferred_name'])
            if view.get(field) is not None:
                c.edit('person', p, field, None)
            elif goals:
                g = rng.choice(goals)
                if g.get('achievement_status') is not None:
                    c.edit('goal', g['id'], 'achievement_status', None)

    def rounds(self):
        for r in range(self.n_rounds):
            h.log('seed %d round %d' % (self.seed, r))
            for c in self.rng.sample(self.clients, len(self.clients)):
                for _ in range(self.rng.randint(1, self.ops)):
                    self.op(c)
            syncing = [c for c in self.clients if self.rng.random() < 0.6]
            self.rng.shuffle(syncing)
            if not self.parallel_round(r):
                for c in syncing:
                    self.sync_one(c)
            else:
                self.sync_parallel(syncing)

    def sync_parallel(self, clients):
        """Start the clients' syncs at once; the daemon serves them concurrently."""
        h.log('parallel sync: %s' % ' '.join(c.name for c in clients))
        procs = []
        for c in clients:
            ticket = self.before_sync(c)
            env = dict(os.environ)
            env.update(c.env)
            procs.append((c, ticket, subprocess.Popen([h.CARESYNC, '--home', c.home, 'sync'],
                                                      stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE, text=True,
                                                      env=env)))
        try:
            self.during_syncs()
        finally:
            results = [(c, ticket, p.communicate(timeout=120), p.returncode)
                       for c, ticket, p in procs]
        for c, ticket, (out, err), rc in results:
            self.after_sync(c, ticket, rc, err)

    def quiesce(self):
        last = None
        for i in range(8):
            for c in self.clients:
                self.sync_one(c)
            now = (self.d.scalar('SELECT count(*) FROM change_log'),
                   self.d.scalar('SELECT max(seq) FROM field_state'))
            if now == last:
                return
            last = now
        raise AssertionError('no quiescence after 8 rounds of syncing')

    # -- checks --
    def server_view(self, person):
        rows = self.d.query('SELECT tbl, row_id, field, value FROM field_state WHERE person_id=?',
                            (person,))
        byrow = {}
        for r in rows:
            byrow.setdefault((r['tbl'], r['row_id']), {})[r['field']] = r['value']
        out = {'person': byrow.get(('person', person), {})}
        for (tbl, rid), fields in byrow.items():
            if tbl == 'person':
                continue
            if fields.get('_deleted') == '1':
                continue
            out.setdefault(tbl, {})[rid] = {k: v for k, v in fields.items() if k != '_deleted'}
        return out

    def check_convergence(self):
        for c in self.clients:
            ids = sorted(p['id'] for p in c.caseload())
            h.check_eq(ids, sorted(self.people), c.name + ' caseload')
            st = c.status()
            h.check_eq(st['pending'], 0, c.name + ' outbox after quiescence')
            for p in self.people:
                want = self.server_view(p)
                got = c.show(p)
                for field in PERSON_FIELDS:
                    h.check_eq(got.get(field), want['person'].get(field),
                               '%s: person %s field %s' % (c.name, p, field))
                for tbl, key in ARRAYS.items():
                    wrows = want.get(tbl, {})
                    grows = {r['id']: r for r in got.get(key, [])}
                    h.check(set(grows) == set(wrows), '%s: %s rows of person %s differ from the'
                            ' server' % (c.name, tbl, p),
                            {'replica only': sorted(set(grows) - set(wrows)),
                             'server only': sorted(set(wrows) - set(grows))})
                    for rid, fields in wrows.items():
                        for field, value in fields.items():
                            h.check_eq(grows[rid].get(field), value, '%s: %s %s field %s' %
                                       (c.name, tbl, rid, field))
                        for field, value in grows[rid].items():
                            if field in ('id', 'person_id') or field in fields:
                                continue
                            h.check(value is None, '%s: %s %s field %s is %r on the replica but'
                                    ' unset on the server' % (c.name, tbl, rid, field, value))
        h.log('seed %d: %d replicas converged on the server state' %
              (self.seed, len(self.clients)))

    def check_lww_and_conflicts(self):
        log = self.d.query('SELECT change_id, device, tbl, row_id, field, value, hlc, sent_hlc,'
                           ' base_hlc, base_device, outcome FROM change_log')
        changes = [x for x in log if x['outcome'] != 'out_of_scope']
        h.check_eq(len(changes), len(log), 'no out_of_scope changes in this test')
        ver = lambda x: (x['hlc'], x['device'])
        base = lambda x: (x['base_hlc'], x['base_device'] or '')

        def same_writer(p, q):
            # One device's successive edits: the later had seen the earlier (it carries the
            # device's own clock, or its base is at least the earlier). Never a conflict.
            if p['device'] != q['device']:
                return False
            early, late = (p, q) if ver(p) < ver(q) else (q, p)
            return late['hlc'] == late['sent_hlc'] or base(late) >= ver(early)
        by_field, by_row = {}, {}
        for x in changes:
            by_field.setdefault((x['tbl'], x['row_id'], x['field']), []).append(x)
            by_row.setdefault((x['tbl'], x['row_id']), []).append(x)

        # Last writer wins: the field's value is its highest version's.
        state = {(r['tbl'], r['row_id'], r['field']): r
                 for r in self.d.query('SELECT tbl, row_id, field, value, hlc, device'
                                       ' FROM field_state')}
        h.check_eq(set(state), set(by_field), 'fields with state == fields with changes')
        for key, xs in by_field.items():
            top = max(xs, key=ver)
            s = state[key]
            h.check((s['value'], s['hlc'], s['device']) == (top['value'], top['hlc'],
                                                            top['device']),
                    'field %s is not its highest version' % (key,), s, top)

        # The oracle.
        want = {}
        for key, xs in by_field.items():
            for x in xs:
                for y in xs:
                    if (ver(y) > ver(x) and base(y) < ver(x) and x['value'] != y['value'] and
                            not same_writer(x, y)):
                        want[(x['change_id'], 'concurrent_edit')] = (x, y)
                        break
        for (tbl, rid), xs in by_row.items():
            for t in xs:
                if t['field'] != '_deleted' or t['value'] != '1':
                    continue
                for x in xs:
                    if x['field'] != '_deleted' and ver(x) > base(t) and not same_writer(x, t):
                        want[(x['change_id'], 'edit_after_delete')] = (x, t)
        got = {(r['loser_change_id'], r['kind']) for r in
               self.d.query('SELECT loser_change_id, kind FROM conflicts')}
        missing = sorted(set(want) - got)
        spurious = sorted(got - set(want))
        byid = {x['change_id']: x for x in log}
        if missing or spurious:
            for k in missing[:10]:
                print('MISSING %s: loser %s\n   other %s' % (k[1], want[k][0], want[k][1]))
            for k in spurious[:10]:
                x = byid.get(k[0])
                print('SPURIOUS %s: %s' % (k[1], x))
                if x:
                    for y in by_field.get((x['tbl'], x['row_id'], x['field']), []):
                        print('     same field: %s' % y)
        h.check(not missing and not spurious,
                'conflict log differs from the oracle: %d missing, %d spurious (of %d expected)'
                % (len(missing), len(spurious), len(want)))
        kinds = {}
        for _, kind in want:
            kinds[kind] = kinds.get(kind, 0) + 1
        h.log('seed %d: %d changes, conflict log exact (%s)' % (self.seed, len(changes), kinds))
        return kinds

    def check_nothing_lost(self):
        stored = {}
        prefix = 's%d-' % self.seed
        for r in self.d.query('SELECT value FROM change_log WHERE value LIKE ?', (prefix + '%',)):
            stored[r['value']] = stored.get(r['value'], 0) + 1
        lost = sorted(v for v in self.written if stored.get(v, 0) == 0)
        twice = sorted(v for v, n in stored.items() if n > 1)
        phantom = sorted(v for v in stored if v not in self.written)
        h.check(not lost and not twice and not phantom, 'acknowledged edits lost, stored twice'
                ' or invented', {'lost': lost, 'twice': twice, 'phantom': phantom})
        top = self.d.scalar('SELECT max(hlc) FROM change_log')
        h.check((top >> 16) <= int(h.time.time() * 1000) + 300000,
                'a stored clock is in the far future: ' + h.hlc_text(top))
        h.log('seed %d: all %d written values stored exactly once' % (self.seed,
                                                                     len(self.written)))

    def check_replays(self):
        """Push a sample of stored changes again, each with its own device's token: the stored
        outcome comes back, and nothing in the store changes."""
        tokens = {c.device_id: c.token for c in self.clients}
        dump = lambda: (self.d.query('SELECT * FROM field_state ORDER BY tbl, row_id, field'),
                        self.d.query('SELECT * FROM conflicts ORDER BY id'),
                        self.d.scalar('SELECT count(*) FROM change_log'))
        before = dump()
        rows = [r for r in self.d.query('SELECT * FROM change_log ORDER BY id')
                if r['device'] in tokens]
        sample = self.rng.sample(rows, min(REPLAYS, len(rows)))
        by_dev = {}
        for r in sample:
            by_dev.setdefault(r['device'], []).append(r)
        for dev, rs in by_dev.items():
            self.rng.shuffle(rs)
            changes = [{'change_id': r['change_id'], 'table': r['tbl'], 'row_id': r['row_id'],
                        'person_id': r['person_id'], 'field': r['field'], 'value': r['value'],
                        'hlc': h.hlc_text(r['sent_hlc']),
                        'base_hlc': h.hlc_text(r['base_hlc']) if r['base_device'] else None,
                        'base_device': r['base_device'] or None} for r in rs]
            status, _, raw, doc = self.replay_daemon().request(
                'POST', '/v1/sync', {'cursor': '', 'changes': changes, 'pull': False},
                token=tokens[dev])
            h.check_eq(status, 200, 'replay status')
            for r, o in zip(rs, doc['outcomes']):
                h.check_eq((o['change_id'], o['outcome']), (r['change_id'], r['outcome']),
                           'replayed outcome')
        h.check(dump() == before, 'replaying %d stored changes changed the store' % len(sample))
        h.log('seed %d: %d replayed changes got their stored outcomes, store unchanged' %
              (self.seed, len(sample)))

    def check_integrity(self):
        # (A PostgreSQL store has no file to check: its own guarantees stand for it.)
        dbs = ([] if self.d.pg else [self.d.store_path]) + \
            [os.path.join(c.home, 'replica.db') for c in self.clients]
        for path in dbs:
            con = sqlite3.connect('file:%s?mode=ro' % path, uri=True)
            try:
                res = con.execute('PRAGMA integrity_check').fetchall()
            finally:
                con.close()
            h.check_eq(res, [('ok',)], 'integrity_check of ' + path)


