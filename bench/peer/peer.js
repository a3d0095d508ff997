// SPDX-License-Identifier: MIT
// peer.js - the CouchDB-protocol peer: the same shapes of work as bench items 2 and 5, done with
// pouchdb (client, LevelDB on disk) replicating to pouchdb-server (LevelDB on disk) over HTTP
// on 127.0.0.1. Run by bench/peer.sh, which installs both into a throw-away folder and passes
// it as PEER_MODULES. Prints one JSON object on stdout; progress on stderr.
//
//   node peer.js --url http://127.0.0.1:PORT --tmp DIR [--runs N] [--bulk-runs N]
//                [--records 10000] [--people 45]
'use strict';

const http = require('http');
const path = require('path');
const crypto = require('crypto');

// ---- traffic counters: every HTTP request pouchdb makes, and its socket's bytes ----
const traffic = { requests: 0, connections: 0, up: 0, down: 0 };
const live = new Set();
const origRequest = http.request;
http.request = function (...args) {
  const req = origRequest.apply(this, args);
  traffic.requests++;
  req.on('socket', (s) => {
    if (s.__counted) return;
    s.__counted = true;
    traffic.connections++;
    live.add(s);
    s.on('close', () => {
      traffic.up += s.bytesWritten;
      traffic.down += s.bytesRead;
      live.delete(s);
    });
  });
  return req;
};
function snap() {
  let up = traffic.up, down = traffic.down;
  for (const s of live) { up += s.bytesWritten; down += s.bytesRead; }
  return { requests: traffic.requests, connections: traffic.connections, up, down };
}
function diff(a, b) {
  return { requests: b.requests - a.requests, connections: b.connections - a.connections,
           bytes_up: b.up - a.up, bytes_down: b.down - a.down };
}

const modules = process.env.PEER_MODULES;
const PouchDB = require(path.join(modules, 'node_modules', 'pouchdb'));

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}
const url = arg('url');
const tmp = arg('tmp');
const runs = parseInt(arg('runs', '5'), 10);
const bulkRuns = parseInt(arg('bulk-runs', '3'), 10);
const records = parseInt(arg('records', '10000'), 10);
const people = parseInt(arg('people', '45'), 10);
const log = (...m) => process.stderr.write('[peer] ' + m.join(' ') + '\n');
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (v) => { const s = [...v].sort((a, b) => a - b); const n = s.length;
                        return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

// ---- the same records as bench/gen.c: same tables, fields and value sizes ----
let seed = 7;
function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; }
const WORDS = ('walk garden kitchen daughter morning tea bus shop church friend stairs rail dressing '
  + 'shower wound dressed pain sleep appetite weight knitting radio dog cat neighbour club lunch '
  + 'medication pharmacy sister carer visit confident steady tired cheerful quiet worried better '
  + 'slowly with and the to her his their after before every today week home back door key safe '
  + 'frame stick chair bed window letter phone').split(' ');
function text(n) {
  let s = '';
  while (s.length + 12 < n) s += (s ? ' ' : '') + WORDS[rnd(WORDS.length)];
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}
const iso = (ms) => new Date(ms).toISOString().slice(0, 16) + ':00Z';
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const DAY = 86400000;
const uuid = () => crypto.randomUUID();

function person(author) {
  const pid = uuid(), t = Date.now(), docs = [];
  docs.push({ _id: pid, type: 'person', person_id: pid, name: 'Ada Abbott', preferred_name: 'Ada',
              birth_date: '1940-03-0' + (1 + rnd(9)), phone: '0131 496 ' + (1000 + rnd(9000)),
              address: '12 Abbott Road, Northbrook NB1 2AB', pronouns: 'she/her',
              language: 'English', communication_needs: text(80), access_instructions: text(80) });
  docs.push({ _id: 'about_me:' + pid, type: 'about_me', person_id: pid, what_matters: text(200),
              people_important: text(120), communication: text(120), wellness: text(150),
              please_do: text(150), how_to_support: text(200), shareable_with_vcse: '1' });
  for (let i = 0; i < 2; i++)
    docs.push({ _id: uuid(), type: 'related_person', person_id: pid, name: 'Jo Abbott',
                relationship: i ? 'Neighbour' : 'Daughter', relationship_code: i ? 'NBOR' : 'CHILD',
                phone: '07700 900' + (100 + rnd(900)), is_next_of_kin: i ? '0' : '1',
                is_unpaid_carer: i ? '0' : '1' });
  const plan = uuid();
  docs.push({ _id: plan, type: 'care_plan', person_id: pid,
              title: 'Personalised care and support plan', status: 'active', summary: text(300),
              review_due: day(t + 60 * DAY), kind: 'pcsp', agreed_with: 'Ada and daughter',
              agreed_on: day(t - 100 * DAY), start_date: day(t - 100 * DAY) });
  for (let g = 0; g < 3; g++) {
    const goal = uuid();
    docs.push({ _id: goal, type: 'goal', person_id: pid, care_plan_id: plan, description: text(90),
                lifecycle_status: 'active', achievement_status: 'in-progress',
                importance: String(1 + rnd(10)), target_date: day(t + 60 * DAY),
                domain: 'mobility', expressed_by: 'Ada' });
    for (let k = 0; k < 2; k++)
      docs.push({ _id: uuid(), type: 'plan_action', person_id: pid, goal_id: goal, what: text(80),
                  who: k ? 'person' : author, who_kind: k ? 'person' : 'worker',
                  due_date: day(t + 30 * DAY), status: 'in-progress',
                  when_text: k ? 'every morning' : 'every week' });
    for (let k = 0; k < 2; k++)
      docs.push({ _id: uuid(), type: 'goal_progress', person_id: pid, goal_id: goal,
                  rating: String(rnd(11)), in_own_words: text(100),
                  achievement_status: 'improving', author, occurred_at: iso(t - 40 * DAY),
                  status: 'final' });
  }
  docs.push({ _id: uuid(), type: 'consent', person_id: pid, sector: 'all', decision: 'permit',
              data_class: 'direct care', basis: 'explicit', recorded_by: author,
              recorded_at: iso(t - 100 * DAY), status: 'active' });
  for (let v = 0; v < 37; v++) {
    const start = t - 90 * DAY + v * (90 * DAY / 35), vid = uuid(), done = v < 35 && rnd(100) < 88;
    const visit = { _id: vid, type: 'visit', person_id: pid, planned_start: iso(start),
                    planned_end: iso(start + 2700000), status: v >= 35 ? 'planned'
                      : done ? 'completed' : 'missed',
                    visit_type: 'nursing review', mode: 'home', assigned_to: author };
    if (done) Object.assign(visit, { actual_start: iso(start + 300000),
                                     actual_end: iso(start + 3000000), outcome: text(60),
                                     recorded_at: iso(start + 3300000) });
    docs.push(visit);
    if (!done) continue;
    docs.push({ _id: uuid(), type: 'note', person_id: pid, visit_id: vid,
                text: text(100 + rnd(300)), category: 'visit', author,
                occurred_at: iso(start + 300000), recorded_at: iso(start + 3300000),
                status: 'final' });
    if (v % 3 === 0)
      for (let k = 0; k < 2; k++)
        docs.push({ _id: uuid(), type: 'observation', person_id: pid, visit_id: vid,
                    kind: 'pulse', value: String(60 + rnd(40)), unit: '/min', author,
                    occurred_at: iso(start + 1200000), recorded_at: iso(start + 3300000),
                    status: 'final' });
  }
  return docs;
}

function visitWithNote(pid, author) {
  const t = Date.now(), vid = uuid();
  return [{ _id: vid, type: 'visit', person_id: pid, planned_start: iso(t),
            planned_end: iso(t + 2700000), actual_start: iso(t + 300000),
            actual_end: iso(t + 3000000), status: 'completed', outcome: text(60),
            visit_type: 'nursing review', mode: 'home', assigned_to: author,
            recorded_at: iso(t + 3300000) },
          { _id: uuid(), type: 'note', person_id: pid, visit_id: vid, text: text(300),
            category: 'visit', author, occurred_at: iso(t + 300000),
            recorded_at: iso(t + 3300000), status: 'final' }];
}

const EDITS = { person: ['phone'], goal: ['achievement_status', 'description'],
                plan_action: ['status'], care_plan: ['summary'] };
function editValue(field) {
  if (field === 'phone') return '0131 496 ' + (1000 + rnd(9000));
  if (field === 'achievement_status')
    return ['in-progress', 'improving', 'no-change', 'worsening', 'achieved'][rnd(5)];
  if (field === 'status') return rnd(2) ? 'in-progress' : 'completed';
  return text(120);
}

// A day's work on one device: the same records as bench-e2e's day (2/3 of the changes as new
// visits with notes, 17 fields each; the rest as single-field edits), written locally.
async function dayWork(db, targets, pids, author, changes) {
  const visits = Math.floor(changes * 2 / 3 / 17);
  let made = 0, docs = 0;
  for (let i = 0; i < visits; i++) {
    const vn = visitWithNote(pids[rnd(pids.length)], author);
    await db.bulkDocs(vn);
    made += 17;
    docs += 2;
  }
  const edited = new Set();
  while (made < changes) {
    const t = targets[rnd(targets.length)];
    const fields = EDITS[t.type];
    const f = fields[rnd(fields.length)];
    const doc = await db.get(t.id);
    doc[f] = editValue(f);
    await db.put(doc);
    made++;
    if (!edited.has(t.id)) { edited.add(t.id); }
    docs++;
  }
  return { field_changes: made, doc_writes: docs, docs_changed: visits * 2 + edited.size };
}

async function replicate(from, to) {
  const r = await PouchDB.replicate(from, to, {});
  if (r.doc_write_failures) throw new Error('replication had write failures');
  return r;
}

async function main() {
  const out = { pouchdb: PouchDB.version, server: 'pouchdb-server', transport: 'HTTP/1.1 (no TLS)' };
  const remote = (name) => new PouchDB(url + '/' + name);

  // ---- item 2: a field worker's day ----
  {
    const seedDocs = [];
    for (let i = 0; i < people; i++) seedDocs.push(...person('gen'));
    const pids = seedDocs.filter((d) => d.type === 'person').map((d) => d._id);
    const targets = seedDocs.filter((d) => EDITS[d.type]).map((d) => ({ id: d._id, type: d.type }));
    const server = remote('day');
    let t = now();
    for (let i = 0; i < seedDocs.length; i += 1000) await server.bulkDocs(seedDocs.slice(i, i + 1000));
    log('day: seeded', seedDocs.length, 'documents for', people, 'people in', (now() - t).toFixed(1), 's');
    const nurse = new PouchDB(path.join(tmp, 'nurse'));
    const colleague = new PouchDB(path.join(tmp, 'colleague'));
    t = now();
    await replicate(server, nurse);
    const firstSync = now() - t;
    await replicate(server, colleague);
    log('day: first replication of the caseload', firstSync.toFixed(2), 's');
    const res = [];
    for (let run = 0; run < runs; run++) {
      await dayWork(colleague, targets, pids, 'colleague', 300);
      await replicate(colleague, server);
      await replicate(server, colleague); // the colleague is up to date too
      const w = await dayWork(nurse, targets, pids, 'nurse', 300);
      const a = snap();
      const t0 = now();
      await replicate(nurse, server);
      const t1 = now();
      const rf = await replicate(server, nurse);
      const t2 = now();
      const tr = diff(a, snap());
      res.push({ seconds: t2 - t0, push_s: t1 - t0, pull_s: t2 - t1, pulled_docs: rf.docs_written,
                 ...w, ...tr });
      log(`day run ${run}: push ${((t1 - t0) * 1e3).toFixed(0)} ms + pull ${((t2 - t1) * 1e3).toFixed(0)} ms`
          + ` = ${((t2 - t0) * 1e3).toFixed(0)} ms, ${tr.requests} requests,`
          + ` ${(tr.bytes_up / 1000).toFixed(0)} kB up / ${(tr.bytes_down / 1000).toFixed(0)} kB down`
          + ` (${w.doc_writes} document writes, ${rf.docs_written} pulled)`);
    }
    const m = median(res.map((r) => r.seconds));
    const mid = res.reduce((b, r) => Math.abs(r.seconds - m) < Math.abs(b.seconds - m) ? r : b);
    out.day = { people, documents: seedDocs.length, first_replication_s: firstSync,
                seconds: { median: m, runs: res.map((r) => r.seconds) },
                push_s: median(res.map((r) => r.push_s)), pull_s: median(res.map((r) => r.pull_s)),
                traffic: { requests: mid.requests, connections: mid.connections,
                           bytes_up: mid.bytes_up, bytes_down: mid.bytes_down },
                field_changes: mid.field_changes, doc_writes: mid.doc_writes,
                pulled_docs: mid.pulled_docs };
    await nurse.close();
    await colleague.close();
  }

  // ---- item 5: bulk push ----
  {
    const res = [];
    for (let run = 0; run < bulkRuns; run++) {
      const local = new PouchDB(path.join(tmp, 'bulk-' + run));
      const pid = uuid();
      let t = now();
      for (let i = 0; i < records; i += 1000) {
        const docs = [];
        for (let k = i; k < Math.min(records, i + 1000); k++)
          docs.push({ _id: uuid(), type: 'note', person_id: pid, text: text(100),
                      category: 'phone', author: 'nurse', occurred_at: iso(Date.now() - k * 60000),
                      status: 'final' });
        await local.bulkDocs(docs);
      }
      const localS = now() - t;
      const a = snap();
      t = now();
      const r = await replicate(local, url + '/bulk-' + run);
      const s = now() - t;
      const tr = diff(a, snap());
      res.push({ seconds: s, docs_per_s: records / s, local_s: localS, docs_written: r.docs_written,
                 ...tr });
      log(`bulk run ${run}: ${records} documents in ${s.toFixed(2)} s: ${(records / s).toFixed(0)} docs/s,`
          + ` ${tr.requests} requests, ${(tr.bytes_up / 1048576).toFixed(1)} MiB up`
          + ` (writing them locally took ${localS.toFixed(1)} s)`);
      await local.close();
    }
    const m = median(res.map((r) => r.docs_per_s));
    const mid = res.reduce((b, r) => Math.abs(r.docs_per_s - m) < Math.abs(b.docs_per_s - m) ? r : b);
    out.bulk = { records, docs_per_s: { median: m, runs: res.map((r) => r.docs_per_s) },
                 seconds: mid.seconds, local_write_s: median(res.map((r) => r.local_s)),
                 traffic: { requests: mid.requests, connections: mid.connections,
                            bytes_up: mid.bytes_up, bytes_down: mid.bytes_down } };
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => { log('failed:', e && e.stack ? e.stack : e); process.exit(1); });
