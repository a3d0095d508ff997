#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_fhir_export.py - a nurse records a whole plan with the field commands (About Me, contacts,
# goals and a stage goal, actions, progress, a completed, a missed and a planned visit,
# observations one of them entered in error, a note, consents one of them withdrawn, alerts one
# of them deactivated, a review), syncs, then - offline - exports the person with
# `caresync export PERSON --fhir`. The Bundle is a FHIR R4 transaction: every entry is a PUT to
# Type/id of its own resource, ids are valid FHIR ids and unique, every reference resolves to an
# entry's fullUrl, each resource has its required elements, and statuses come from the right
# value sets and mean the right thing (Appointment noshow for the missed visit and fulfilled for
# the completed one, Encounter finished, Goal lifecycleStatus, Consent active/inactive, Flag
# active/inactive, Observation entered-in-error). --output writes the same Bundle to a file. A
# coordinator gets a Bundle with the same resources from GET /v1/people/{id}/fhir and from
# `caresyncd export`; a nurse gets 403 there, no token 401, an unknown person 404.
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

FHIR_ID = re.compile(r'^[A-Za-z0-9\-.]{1,64}$')
INSTANT = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$')
# FHIR dateTime: a time needs seconds and a zone.
DATETIME = re.compile(r'^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?'
                      r'(Z|[+-]\d{2}:\d{2}))?)?)?$')
DATE = re.compile(r'^\d{4}(-\d{2}(-\d{2})?)?$')

# R4 required elements (min cardinality 1) and status value sets of the resources we export.
REQUIRED = {
    'Appointment': ['status', 'participant'],
    'Encounter': ['status', 'class'],
    'Task': ['status', 'intent'],
    'Goal': ['lifecycleStatus', 'description', 'subject'],
    'CarePlan': ['status', 'intent', 'subject'],
    'Observation': ['status', 'code'],
    'DocumentReference': ['status', 'content'],
    'Consent': ['status', 'scope', 'category'],
    'Flag': ['status', 'code', 'subject'],
    'RelatedPerson': ['patient'],
    'QuestionnaireResponse': ['status'],
    'Provenance': ['target', 'recorded', 'agent'],
    'CareTeam': [],
    'Patient': [],
    'Practitioner': [],
    'PractitionerRole': [],
    'Organization': [],
    'Condition': ['subject'],
    'CodeSystem': ['status', 'content'],
    'Questionnaire': ['status'],
}
STATUS = {
    'Appointment': {'proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled',
                    'noshow', 'entered-in-error', 'checked-in', 'waitlist'},
    'Encounter': {'planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished',
                  'cancelled', 'entered-in-error', 'unknown'},
    'Task': {'draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'cancelled',
             'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error'},
    'CarePlan': {'draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error',
                 'unknown'},
    'Observation': {'registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled',
                    'entered-in-error', 'unknown'},
    'DocumentReference': {'current', 'superseded', 'entered-in-error'},
    'Consent': {'draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'},
    'Flag': {'active', 'inactive', 'entered-in-error'},
    'QuestionnaireResponse': {'in-progress', 'completed', 'amended', 'entered-in-error',
                              'stopped'},
    'CareTeam': {'proposed', 'active', 'suspended', 'inactive', 'entered-in-error'},
}
GOAL_LIFECYCLE = {'proposed', 'planned', 'accepted', 'active', 'on-hold', 'completed',
                  'cancelled', 'entered-in-error', 'rejected'}
TASK_INTENT = {'unknown', 'proposal', 'plan', 'order', 'original-order', 'reflex-order',
               'filler-order', 'instance-order', 'option'}
CAREPLAN_INTENT = {'proposal', 'plan', 'order', 'option'}
# Elements of type instant (timezone and seconds required) and dateTime/date in what we export.
INSTANT_KEYS = {('Appointment', 'start'), ('Appointment', 'end'), ('Provenance', 'recorded'),
                ('Observation', 'issued'), ('DocumentReference', 'date')}
DATETIME_KEYS = {'effectiveDateTime', 'authored', 'authoredOn', 'dateTime', 'lastModified',
                 'recordedDate', 'occurrenceDateTime', 'start', 'end', 'created'}


def walk(node, path=''):
    """Yield (path, key, value) for every member of every object under @node."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, path + '.' + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, '%s[%d]' % (path, i))


def validate_bundle(b, what):
    """The structural rules every export must meet. Returns {(type, id): resource}."""
    h.check_eq(b.get('resourceType'), 'Bundle', what + ': resourceType')
    h.check_eq(b.get('type'), 'transaction', what + ': Bundle.type')
    entries = b.get('entry')
    h.check(isinstance(entries, list) and entries, what + ': entries', b)
    full_urls = {}
    res = {}
    for i, e in enumerate(entries):
        r, req, fu = e.get('resource'), e.get('request'), e.get('fullUrl')
        where = '%s: entry %d' % (what, i)
        h.check(isinstance(r, dict) and r.get('resourceType') and r.get('id'),
                where + ' has a resource with a type and an id', e)
        t, rid = r['resourceType'], r['id']
        h.check(FHIR_ID.match(rid), '%s: %s id %r is a valid FHIR id' % (where, t, rid))
        h.check(isinstance(req, dict), where + ' has a request', e)
        h.check_eq((req.get('method'), req.get('url')), ('PUT', '%s/%s' % (t, rid)),
                   where + ': request is PUT Type/id of its resource')
        h.check(isinstance(fu, str) and fu, where + ' has a fullUrl', e)
        h.check(fu not in full_urls, where + ': fullUrl %s is unique' % fu)
        h.check((t, rid) not in res, where + ': %s/%s appears once' % (t, rid))
        full_urls[fu] = (t, rid)
        res[(t, rid)] = r
        h.check(t in REQUIRED, '%s: resource type %s is one we know' % (where, t))
        for el in REQUIRED[t]:
            h.check(r.get(el) not in (None, '', [], {}), '%s: %s.%s is required' % (where, t, el),
                    r)
        if t in STATUS:
            h.check(r.get('status') in STATUS[t], '%s: %s.status %r in its value set' %
                    (where, t, r.get('status')), r)
        if t == 'Goal':
            h.check(r['lifecycleStatus'] in GOAL_LIFECYCLE, where + ': Goal.lifecycleStatus', r)
            h.check(isinstance(r['description'], dict) and r['description'].get('text'),
                    where + ': Goal.description.text', r)
        if t == 'Task':
            h.check(r['intent'] in TASK_INTENT, where + ': Task.intent', r)
        if t == 'CarePlan':
            h.check(r['intent'] in CAREPLAN_INTENT, where + ': CarePlan.intent', r)
        if t == 'Appointment':
            for p in r['participant']:
                h.check(p.get('status') and (p.get('actor') or p.get('type')),
                        where + ': Appointment.participant needs status and actor or type', r)
        if t == 'Encounter':
            h.check(isinstance(r['class'], dict) and r['class'].get('code'),
                    where + ': Encounter.class is a Coding', r)
        if t == 'DocumentReference':
            for c in r['content']:
                h.check(isinstance(c.get('attachment'), dict),
                        where + ': DocumentReference.content.attachment', r)
        for path, k, v in walk(r):
            if (t, k) in INSTANT_KEYS and path == '':
                h.check(isinstance(v, str) and INSTANT.match(v),
                        '%s: %s.%s %r is an instant' % (where, t, k, v))
            elif k in DATETIME_KEYS and isinstance(v, str):
                h.check(DATETIME.match(v), '%s: %s%s.%s %r is a dateTime' % (where, t, path, k, v))
            elif k in ('birthDate', 'deceasedDate') and isinstance(v, str):
                h.check(DATE.match(v), '%s: %s.%s %r is a date' % (where, t, k, v))

    # Every reference is Type/id of an entry before the one that refers to it (or a contained
    # resource): the Bundle is in load order, so any slice loads after the ones before it.
    order = {k: i for i, k in enumerate(res)}
    for (t, rid), r in res.items():
        contained = {c.get('id') for c in r.get('contained', [])}
        for path, k, v in walk(r):
            # A dict is a Reference element that is itself named "reference"
            # (Consent.provision.actor.reference); its own "reference" string is walked too.
            if k != 'reference' or isinstance(v, dict):
                continue
            where = '%s: %s/%s%s.reference %r' % (what, t, rid, path, v)
            h.check(isinstance(v, str) and v, where + ' is a string')
            if v.startswith('#'):
                h.check(v[1:] in contained, where + ' names a contained resource')
                continue
            target = tuple(v.split('/', 1))
            h.check(target in res, where + ' is Type/id of an entry')
            h.check(order[target] <= order[(t, rid)], where + ' comes before it (load order)')
    return res


def no_roles(res):
    return sorted(k for k in res if k[0] != 'PractitionerRole')


def refs(r):
    return [v for _, k, v in walk(r) if k == 'reference' and isinstance(v, str)]


def points_to(r, t, rid, bundle_res):
    """Does some reference of @r name resource @t/@rid (by Type/id or by its fullUrl)?"""
    for v in refs(r):
        if v == '%s/%s' % (t, rid) or v.endswith('/%s/%s' % (t, rid)) or v.endswith(rid):
            return True
    return False


def test(w):
    d = w.daemon
    today, next_week = h.today_local(), h.today_local(7)
    pid = d.add_person('Doreen Ashworth', phone='0161 496 0000', dob='1941-06-01',
                       address='3 Mill Lane, Northbrook NB1 2AA')
    nurse = w.client('nurse', 'nurse', user='nina')
    coord = w.client('coord', 'coordinator', user='cora')
    d.assign(pid, 'nina')
    nurse.sync()

    nurse.run('about-me', pid, 'what_matters', 'My cat Bramble and the allotment club')
    nurse.run('about-me', pid, 'please_do', 'Knock loudly and wait')
    son = nurse.new('contact', 'add', pid, '--name', 'Mark Ashworth', '--relationship', 'son',
                    '--code', 'NOK', '--next-of-kin', '--phone', '07700 900123')
    jo = nurse.new('contact', 'add', pid, '--name', 'Jo Neighbour', '--code', 'NBOR', '--carer',
                   '--emergency')
    g_walk = nurse.new('goal', 'add', pid, 'Walk to the post office with my frame by June',
                       '--importance', '9', '--target-date', '2027-06-30')
    nurse.run('goal', 'status', g_walk, '--lifecycle', 'active', '--achievement', 'improving')
    g_gate = nurse.new('goal', 'add', pid, 'To the garden gate by May', '--parent', g_walk)
    nurse.run('goal', 'status', g_gate, '--lifecycle', 'completed', '--achievement', 'achieved')
    plan = nurse.row(pid, 'goals', g_walk)['care_plan_id']
    a_self = nurse.new('action', 'add', g_walk, 'Daily exercises', '--who', 'Doreen',
                       '--who-kind', 'person', '--confidence', '6')
    a_nurse = nurse.new('action', 'add', g_walk, 'Check leg dressing twice weekly', '--who',
                        'nina', '--who-kind', 'worker', '--due', next_week)
    nurse.run('action', 'status', a_nurse, 'in-progress')
    gp = nurse.new('progress', g_walk, 'Made it to the gate and back', '--rating', '6',
                   '--status', 'improving')
    v_done = nurse.new('visit', 'add', pid, '--at', today + 'T09:00', '--end', today + 'T09:45',
                       '--type', 'dressing', '--mode', 'home')
    v_missed = nurse.new('visit', 'add', pid, '--at', today + 'T13:00', '--mode', 'home')
    v_planned = nurse.new('visit', 'add', pid, '--at', next_week + 'T09:00', '--mode', 'phone')
    nurse.run('visit', 'start', v_done, '--at', today + 'T09:05')
    o_bp = nurse.new('observe', pid, 'blood-pressure', '130/80', '--unit', 'mmHg', '--visit',
                     v_done)
    o_wrong = nurse.new('observe', pid, 'weight', '612', '--unit', 'kg', '--visit', v_done)
    nurse.run('entered-in-error', 'observation', o_wrong, '--reason', 'typo: 61.2 kg')
    o_weight = nurse.new('observe', pid, 'weight', '61.2', '--unit', 'kg', '--visit', v_done)
    note = nurse.new('note', 'add', pid, 'Dressing changed; healing well', '--visit', v_done,
                     '--category', 'visit')
    nurse.run('visit', 'complete', v_done, '--outcome', 'Healing well', '--at', today + 'T09:40')
    nurse.run('visit', 'miss', v_missed, '--reason', 'no-answer')
    c_permit = nurse.new('consent', 'record', pid, '--sector', 'all', '--decision', 'permit',
                         '--basis', 'explicit')
    c_deny = nurse.new('consent', 'record', pid, '--sector', 'vcse', '--decision', 'deny',
                       '--data-class', 'clinical', '--basis', 'explicit')
    nurse.run('consent', 'withdraw', c_deny)
    al_cat = nurse.new('alert', 'raise', pid, 'Cat: keep the door shut', '--category', 'animal')
    al_old = nurse.new('alert', 'raise', pid, 'Dog in the garden', '--category', 'animal')
    nurse.run('alert', 'deactivate', al_old)
    review = nurse.new('review', 'add', pid, 'Six-week review', '--outcome', 'continue',
                       '--next', '2027-03-01', '--with-person')
    # The name and address in parts, entered on the device and synced as such.
    nurse.run('edit', 'person', pid, 'family_name', 'Ashworth')
    nurse.run('edit', 'person', pid, 'given_names', 'Doreen May')
    nurse.run('edit', 'person', pid, 'address_postcode', 'NB1 2AA')
    met = nurse.new('register', '--name', 'Sam Field', '--family', 'Field', '--given', 'Sam',
                    '--title', 'Mx', '--address-line1', '1 Kiln Lane', '--city', 'Northbrook',
                    '--postcode', 'NB2 3CD')
    nurse.sync()
    coord.sync()

    # ---- the device's export, offline ----
    d.stop(expect_rc=0)
    b = json.loads(nurse.run('export', pid, '--fhir', quiet=True).stdout)
    res = validate_bundle(b, 'caresync export')
    types = sorted({t for t, _ in res})
    h.log('exported %d resources: %s' % (len(res), types))

    def one(t, rid):
        r = res.get((t, rid))
        h.check(r is not None, '%s/%s is in the Bundle' % (t, rid), sorted(res))
        return r

    pat = one('Patient', pid)
    h.check_eq(pat.get('birthDate'), '1941-06-01', 'Patient.birthDate')
    h.check('Doreen Ashworth' in json.dumps(pat.get('name')), 'Patient.name', pat)
    h.check_eq((pat['name'][0].get('family'), pat['name'][0].get('given')),
               ('Ashworth', ['Doreen', 'May']), 'Patient.name family and given')
    h.check_eq(pat['address'][0].get('postalCode'), 'NB1 2AA', 'Patient.address.postalCode')
    h.check_eq(pat['address'][0].get('text'), '3 Mill Lane, Northbrook NB1 2AA',
               'the address as written is kept')
    staff = [r for (t, _), r in res.items() if t == 'Practitioner']
    h.check_eq([p['identifier'][0]['value'] for p in staff], ['nina'],
               'the nurse is a Practitioner (by user name on a device)')

    a = one('Appointment', v_missed)
    h.check_eq(a['status'], 'noshow', 'the missed visit is an Appointment noshow')
    h.check_eq(one('Appointment', v_done)['status'], 'fulfilled',
               'the completed visit is an Appointment fulfilled')
    h.check_eq(one('Appointment', v_planned)['status'], 'booked',
               'the planned visit is an Appointment booked')
    enc = [r for (t, _), r in res.items() if t == 'Encounter' and
           (r['id'] == v_done or points_to(r, 'Appointment', v_done, res))]
    h.check_eq([e['status'] for e in enc], ['finished'],
               'one Encounter, finished, for the completed visit', enc)
    h.check(not [r for (t, _), r in res.items() if t == 'Encounter' and
                 r['status'] == 'finished' and
                 (r['id'] == v_missed or points_to(r, 'Appointment', v_missed, res))],
            'no finished Encounter for the missed visit')
    tasks = [r for (t, _), r in res.items() if t == 'Task' and
             (r['id'] == v_missed or points_to(r, 'Appointment', v_missed, res))]
    for task in tasks:
        h.check_eq(task['status'], 'failed', 'a Task for the missed visit has failed')
        h.check('no-answer' in json.dumps(task.get('businessStatus')),
                'its businessStatus carries the reason', task)

    h.check_eq(one('Goal', g_walk)['lifecycleStatus'], 'active', 'Goal lifecycleStatus')
    h.check('improving' in json.dumps(one('Goal', g_walk).get('achievementStatus')),
            'Goal achievementStatus', one('Goal', g_walk))
    h.check('Walk to the post office' in one('Goal', g_walk)['description']['text'],
            'Goal in the person\'s words')
    h.check_eq(one('Goal', g_gate)['lifecycleStatus'], 'completed', 'stage goal lifecycle')
    h.check(points_to(one('Goal', g_gate), 'Goal', g_walk, res),
            'the stage goal refers to its parent', one('Goal', g_gate))
    cp = one('CarePlan', plan)
    h.check(points_to(cp, 'Patient', pid, res), 'CarePlan.subject is the patient', cp)
    h.check(points_to(cp, 'Goal', g_walk, res), 'CarePlan lists the goal', cp)
    h.check('Daily exercises' in json.dumps(cp), 'the actions are in the plan', cp)
    h.check_eq(one('Consent', c_permit)['status'], 'active', 'Consent active')
    h.check_eq(one('Consent', c_deny)['status'], 'inactive', 'withdrawn Consent inactive')
    h.check_eq(one('Consent', c_permit).get('provision', {}).get('type'), 'permit',
               'Consent provision permit')
    h.check_eq(one('Flag', al_cat)['status'], 'active', 'Flag active')
    h.check_eq(one('Flag', al_old)['status'], 'inactive', 'deactivated Flag inactive')
    h.check_eq(one('Observation', o_bp)['status'], 'final', 'Observation final')
    h.check_eq(one('Observation', o_weight)['status'], 'final', 'Observation final')
    h.check_eq(one('Observation', o_wrong)['status'], 'entered-in-error',
               'Observation entered in error')
    h.check(points_to(one('Observation', gp), 'Goal', g_walk, res),
            'goal progress is an Observation about the goal', one('Observation', gp))
    h.check(one('DocumentReference', note)['status'] in ('current',), 'note status')
    for rid in (son, jo):
        h.check(points_to(one('RelatedPerson', rid), 'Patient', pid, res),
                'RelatedPerson.patient')
    h.check_eq(one('QuestionnaireResponse', pid)['status'], 'completed',
               'About Me is a completed QuestionnaireResponse (id = person id)')
    h.check('My cat Bramble' in json.dumps(one('QuestionnaireResponse', pid)), 'About Me text')
    h.check(res.get(('Encounter', review)) is not None or
            any(review in json.dumps(r) for r in res.values()), 'the review is exported')
    for rid in (a_self, a_nurse):
        h.check(any(rid in json.dumps(r) for r in res.values()), 'action %s is exported' % rid)

    out = os.path.join(w.root, 'export.json')
    nurse.run('export', pid, '--fhir', '--output', out)
    with open(out) as f:
        b2 = json.load(f)
    h.check_eq(sorted(validate_bundle(b2, 'export --output')), sorted(res),
               '--output writes the same resources')
    nurse.run('export', pid, expect=h.EXIT_USAGE)
    nurse.run('export', 'not-an-id', '--fhir', expect=h.EXIT_USAGE)
    nurse.run('export', h.uuid7(), '--fhir', expect=h.EXIT_NOTFOUND)

    # ---- the server's export ----
    d.start()
    path = '/v1/people/%s/fhir' % pid
    status, _, _, sb = d.request('GET', path, token=coord.token)
    h.check_eq(status, 200, 'coordinator GET ' + path)
    sres = validate_bundle(sb, 'GET /v1/people/{id}/fhir')
    # The same resources, and the server, which knows each user's role, adds their
    # PractitionerRole.
    h.check_eq(no_roles(sres), no_roles(res), 'the server exports the same resources',
               {'server only': sorted(set(sres) - set(res)),
                'device only': sorted(set(res) - set(sres))})
    h.check(any(t == 'PractitionerRole' and 'nurse' in json.dumps(r) for (t, _), r in sres.items()),
            'the server exports the nurse\'s PractitionerRole', sorted(sres))
    h.check_eq(sres[('Appointment', v_missed)]['status'], 'noshow', 'server: noshow')
    status, _, _, doc = d.request('GET', path, token=nurse.token)
    h.check_eq(status, 403, 'a nurse may not use the coordinator export')
    h.check_eq(doc['error']['code'], 'forbidden', 'error code')
    status, _, _, doc = d.request('GET', path)
    h.check_eq(status, 401, 'no token')
    status, _, _, doc = d.request('GET', '/v1/people/%s/fhir' % h.uuid7(), token=coord.token)
    h.check_eq(status, 404, 'unknown person')
    status, _, _, doc = d.request('POST', path, body={}, token=coord.token)
    h.check_eq(status, 405, 'POST to the export')

    # Staff as exports show them: a display name and registrations, set on the server; a bad
    # one is refused and writes nothing.
    d.admin(['user', 'add'], 'nurse.bad', '--role', 'nurse', '--nmc', '123', expect=2)
    h.check_eq(d.query('SELECT count(*) AS n FROM users WHERE name = ?', ('nurse.bad',))[0]['n'],
               0, 'a refused user add writes nothing')
    d.admin(['user', 'set'], 'nobody', '--display-name', 'No One', expect=3)
    d.admin(['user', 'set'], 'nina', '--hcpc', 'PH12', '--swe', 'X1', expect=2)
    d.admin(['user', 'set'], 'nina', '--display-name', 'Nina Okafor', '--nmc', '12A3456B')
    sb = json.loads(d.admin(['export'], pid).stdout)
    nina = [e['resource'] for e in sb['entry'] if e['resource']['resourceType'] == 'Practitioner'
            and e['resource']['identifier'][0]['value'] == 'nina'][0]
    h.check_eq(nina['name'][0].get('text'), 'Nina Okafor', 'the server exports the display name')
    h.check(('https://fhir.hl7.org.uk/Id/nmc-number', '12A3456B') in
            [(i['system'], i['value']) for i in nina['identifier']], 'and the NMC PIN', nina)
    h.check_eq(nina['id'], staff[0]['id'], 'the same Practitioner id as the device\'s')
    obs = [e['resource'] for e in sb['entry'] if e['resource']['id'] == o_bp][0]
    h.check_eq(obs['performer'][0], {'reference': 'Practitioner/' + nina['id'],
                                     'display': 'Nina Okafor'}, 'the performer by name')

    # The registration's parts reached the server as fields of their own.
    mb = json.loads(d.admin(['export'], met).stdout)
    mp = [e['resource'] for e in mb['entry'] if e['resource']['resourceType'] == 'Patient'][0]
    h.check_eq((mp['name'][0].get('family'), mp['name'][0].get('prefix'),
                mp['address'][0].get('line'), mp['address'][0].get('postalCode')),
               ('Field', ['Mx'], ['1 Kiln Lane'], 'NB2 3CD'), 'a registration in parts, synced')

    p = d.admin(['export'], pid)
    cres = validate_bundle(json.loads(p.stdout), 'caresyncd export')
    h.check_eq(no_roles(cres), no_roles(res), 'caresyncd export gives the same resources')
    d.admin(['export'], h.uuid7(), expect=3)


if __name__ == '__main__':
    h.main(test)
