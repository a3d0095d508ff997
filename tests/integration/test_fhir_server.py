#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_fhir_server.py - a real FHIR server takes the exports of all 30 demo people as a trust
# would load them, and answers the searches a trust would run.
#
# The server is Medplum's FHIR REST router (@medplum/fhir-router, the request handling of the
# Medplum server: transactions, reads and search over the R4 SearchParameters) on its in-memory
# repository (tests/integration/fhir-server.mjs), installed by test_fhir_validate.py's
# install_validators() into the same npm cache outside the tree.
#
# Server one: a nurse's device export (`caresync export --fhir --max-entries 40`), then every
# person's `caresyncd export --max-entries 50`, slice after slice in order, each POSTed as a
# transaction. Every transaction succeeds, and after each slice every reference inside it
# resolves on the server (GET Type/id): each slice stands alone given the earlier ones.
# Server two, fresh: every resource of `caresyncd export --all --ndjson DIR` PUT one by one.
# On both, the searches are answered as the exports say they should be, counted here
# independently from the whole Bundles: Patient by NHS number and by family name, CarePlan by
# subject, Appointment by patient and date, Observation by LOINC code. 0 errors.
# SKIPs (exit 77) only when npm cannot install the server.
import collections
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h
from test_fhir_validate import demo, device_slices, ref_of, references

HERE = os.path.dirname(os.path.abspath(__file__))
NHS = 'https://fhir.nhs.uk/Id/nhs-number'
LOINC = 'http://loinc.org'
PAGE = 1000   # _count of every search; a search must find fewer
CODES = ['8867-4', '2708-6', '85354-9', '29463-7', '8310-5', '9279-1']


class Server:
    """One FHIR server: a node process, one request a line in, one answer a line out."""

    def __init__(self, mods):
        self.p = subprocess.Popen(['node', os.path.join(HERE, 'fhir-server.mjs'), mods],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.n = 0

    def req(self, method, url, body=None):
        self.n += 1
        self.p.stdin.write(json.dumps({'method': method, 'url': url, 'body': body}) + '\n')
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError('the FHIR server exited (%s %s): rc %s' %
                                 (method, url, self.p.wait()))
        return json.loads(line)

    def search(self, rtype, **params):
        q = urllib.parse.urlencode(dict(params, _count=PAGE))
        r = self.req('GET', '/%s?%s' % (rtype, q))
        h.check(r['ok'], 'search %s?%s answered' % (rtype, q), r['issues'])
        h.check(len(r['ids']) < PAGE, 'search %s?%s fits one page' % (rtype, q))
        return sorted(r['ids'])

    def close(self):
        self.p.stdin.close()
        h.check_eq(self.p.wait(timeout=60), 0, 'the FHIR server exits cleanly')


def answered(r):
    return '%s/%s' % (r.get('resourceType'), r.get('id'))


def check_refs(srv, refs, what):
    """Every reference of @refs is a resource the server has (GET Type/id)."""
    for ref in sorted(refs):
        r = srv.req('GET', '/' + ref)
        h.check(r['ok'] and answered(r) == ref, '%s: %s resolves on the server' % (what, ref),
                r['issues'])


def load_slices(srv, lines, what):
    for i, line in enumerate(lines):
        b = json.loads(line)
        r = srv.req('POST', '/', b)
        h.check(r['ok'] and r.get('resourceType') == 'Bundle', '%s: slice %d loads as a '
                'transaction' % (what, i), r['issues'][:10])
        h.check_eq(len(r['responses']), len(b['entry']), '%s: slice %d: an answer per entry' %
                   (what, i))
        h.check(all(s.startswith('20') for s in r['responses']) and not r['issues'],
                '%s: slice %d: every entry stored' % (what, i), (r['responses'], r['issues']))
        # References resolve on the server, not merely in our own bookkeeping: the slice's own
        # entries too (a resource the server dropped would not resolve).
        mine = {ref_of(e['resource']) for e in b['entry']}
        refs = {ref for e in b['entry'] for ref in references(e['resource'])}
        check_refs(srv, refs | mine, '%s slice %d' % (what, i))


def expected(bundles):
    """What each search must find, from the whole Bundles (not the server)."""
    res = {}
    for b in bundles.values():
        for e in b['entry']:
            res[ref_of(e['resource'])] = e['resource']
    want = {}
    patients = [r for r in res.values() if r['resourceType'] == 'Patient']
    for pid, b in sorted(bundles.items()):
        pat = res['Patient/' + pid]
        for i in pat.get('identifier', []):
            if i['system'] == NHS:
                v = '%s|%s' % (NHS, i['value'])
                want[('Patient', (('identifier', v),))] = sorted(
                    ref_of(p) for p in patients if any(
                        '%s|%s' % (j['system'], j['value']) == v for j in p.get('identifier', [])))
        fam = pat['name'][0]['family']
        # FHIR string search: a family name that starts with the value, any case.
        want[('Patient', (('family', fam),))] = sorted(
            ref_of(p) for p in patients
            if any(n.get('family', '').lower().startswith(fam.lower()) for n in p['name']))
        mine = [e['resource'] for e in b['entry']]
        want[('CarePlan', (('subject', 'Patient/' + pid),))] = sorted(
            ref_of(r) for r in res.values() if r['resourceType'] == 'CarePlan' and
            r['subject']['reference'] == 'Patient/' + pid)
        appts = [r for r in mine if r['resourceType'] == 'Appointment']
        days = sorted({a['start'][:10] for a in appts if a.get('start')})
        if days:
            # A day between visits (none the day before or on it), so no time zone moves a
            # visit across it: half the person's visits on or after it.
            day = days[len(days) // 2]
            want[('Appointment', (('patient', 'Patient/' + pid), ('date', 'ge' + day)))] = \
                sorted(ref_of(a) for a in appts if a.get('start') and a['start'][:10] >= day
                       and any(p['actor'].get('reference') == 'Patient/' + pid
                               for p in a['participant']))
    for code in CODES:
        want[('Observation', (('code', '%s|%s' % (LOINC, code)),))] = sorted(
            ref_of(r) for r in res.values() if r['resourceType'] == 'Observation' and
            any((c.get('system'), c.get('code')) == (LOINC, code)
                for c in r['code'].get('coding', [])))
    return want


def run_searches(srv, want, what):
    found = collections.Counter()
    for (rtype, params), ids in sorted(want.items()):
        got = srv.search(rtype, **dict(params))
        h.check_eq(got, ids, '%s: %s?%s' % (what, rtype, urllib.parse.urlencode(params)))
        found[rtype] += len(got)
    h.log('%s: %d searches, found %s' % (what, len(want), dict(found)))
    # The searches are not vacuous.
    h.check(found['Patient'] >= 60 and found['CarePlan'] >= 30 and found['Appointment'] > 30
            and found['Observation'] > 100, '%s: the searches find the demo' % what, found)


def test(w):
    mods, d, people = demo(w)

    bundles, sliced = {}, {}
    for pid in sorted(people):
        f = os.path.join(w.root, pid + '.json')
        d.admin(['export'], pid, '--output', f)
        with open(f) as fh:
            bundles[pid] = json.load(fh)
        sliced[pid] = d.admin(['export'], pid, '--max-entries', '50').stdout.splitlines()
    want = expected(bundles)
    h.check(len({k[1][0][1] for k in want if k[1][0][0] == 'identifier'}) == 30,
            'every person has an NHS number to search by')

    # The device first (a community nurse's, synced), then the server's exports update the
    # same resources in place.
    dev_lines = device_slices(w, people)[3]

    srv = Server(mods)
    load_slices(srv, dev_lines, 'caresync export --max-entries 40')
    n_slices = len(dev_lines)
    for pid in sorted(people):
        load_slices(srv, sliced[pid], 'caresyncd export --max-entries 50 ' + pid)
        n_slices += len(sliced[pid])
    h.check(n_slices > 60, 'the people load in many slices (%d)' % n_slices)
    run_searches(srv, want, 'slices')
    # A wrong search finds nothing rather than everything.
    h.check_eq(srv.search('Patient', identifier=NHS + '|0000000000'), [], 'unknown NHS number')
    h.check_eq(srv.search('Patient', family='Zzzyzx'), [], 'unknown family name')
    h.log('slices: %d transactions, %d requests' % (n_slices, srv.n))
    srv.close()

    # A warehouse: the bulk NDJSON into a fresh server, resource by resource.
    nd = os.path.join(w.root, 'ndjson')
    d.admin(['export'], '--all', '--ndjson', nd)
    srv = Server(mods)
    refs, have = set(), set()
    for name in sorted(os.listdir(nd)):
        with open(os.path.join(nd, name)) as fh:
            for line in fh:
                r = json.loads(line)
                got = srv.req('PUT', '/' + ref_of(r), r)
                h.check(got['ok'] and answered(got) == ref_of(r), 'PUT %s' % ref_of(r),
                        got['issues'])
                have.add(ref_of(r))
                refs |= set(references(r))
    check_refs(srv, refs | have, 'NDJSON')
    run_searches(srv, want, 'NDJSON')
    h.log('NDJSON: %d resources, %d requests' % (len(have), srv.n))
    srv.close()


if __name__ == '__main__':
    h.main(test)
