/* SPDX-License-Identifier: MIT */
/* app.js - the console after sign-in: one page, a view per #/route (conflicts, people, a
 * person, devices, staff, audit), built from /console/api/ JSON with the DOM (no HTML strings,
 * no inline script or style: the Content-Security-Policy allows neither). Every change sends
 * the session's CSRF token in X-CSRF-Token. */
'use strict';

var session = null;

/* ---- small helpers ---- */

function el(tag, attrs, children) {
  var e = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    var v = attrs[k];
    if (v === null || v === undefined || v === false) return;
    if (k === 'text') e.textContent = v;
    else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  });
  (children || []).forEach(function (c) {
    if (c === null || c === undefined) return;
    e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  });
  return e;
}

function say(text) {
  var s = document.getElementById('status');
  s.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(function () { s.textContent = ''; }, 8000);
}

var dateFmt = new Intl.DateTimeFormat('en-GB', {weekday: 'short', day: 'numeric', month: 'short',
                                                 year: 'numeric', hour: '2-digit', minute: '2-digit'});

/* An ISO time or a clock ("ms.counter") in this browser's local time. */
function localTime(v) {
  if (v === null || v === undefined || v === '') return '—';
  var d = /^\d{13}\.\d{5}$/.test(v) ? new Date(Number(v.split('.')[0])) : new Date(v);
  return isNaN(d.getTime()) ? String(v) : dateFmt.format(d);
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  var s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return s + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  if (s < 129600) return Math.round(s / 3600) + ' h';
  return Math.round(s / 86400) + ' days';
}

function api(method, path, body) {
  var opts = {method: method, credentials: 'same-origin', headers: {}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session) opts.headers['X-CSRF-Token'] = session.csrf;
  return fetch('/console/api/' + path, opts).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (doc) {
      if (r.status === 401) {
        window.location.assign('/console/sign-in');
        throw new Error('signed out');
      }
      if (r.status >= 400 && r.status !== 207) {
        var msg = (doc.error && doc.error.message) || ('the server answered ' + r.status);
        throw new Error(msg);
      }
      return doc;
    });
  });
}

function view(title, children) {
  var main = document.getElementById('main');
  main.textContent = '';
  main.appendChild(el('h1', {text: title}));
  children.forEach(function (c) { if (c) main.appendChild(c); });
  document.title = title + ' – caresync console';
  return main;
}

function failed(err) {
  if (err.message === 'signed out') return;
  say('Failed: ' + err.message);
}

function field(id, label, input) {
  input.id = id;
  return el('div', {class: 'field'}, [el('label', {for: id, text: label}), input]);
}

function select(name, options, value) {
  var s = el('select', {name: name});
  options.forEach(function (o) {
    var opt = el('option', {value: o[0], text: o[1]});
    if (o[0] === (value || '')) opt.selected = true;
    s.appendChild(opt);
  });
  return s;
}

function confirmDialog(text) {
  var d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise(function (resolve) {
    d.addEventListener('close', function onClose() {
      d.removeEventListener('close', onClose);
      resolve(d.returnValue === 'ok');
    });
    d.returnValue = '';
    d.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

function query(params) {
  var q = Object.keys(params).filter(function (k) { return params[k]; })
    .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); });
  return q.length ? '?' + q.join('&') : '';
}

/* ---- conflicts ---- */

var KINDS = [['', 'Any kind'], ['concurrent_edit', 'Edited on two devices'],
             ['edit_after_delete', 'Edited after deletion'], ['out_of_scope', 'Edited after leaving the caseload'],
             ['missed_vs_completed', 'Missed and completed'], ['append_only', 'Added twice'],
             ['clock_corrected', 'Clock corrected']];

function kindText(k) {
  for (var i = 0; i < KINDS.length; i++) if (KINDS[i][0] === k) return KINDS[i][1];
  return k;
}

function sideBox(title, value, deleted, user, device, hlc) {
  return el('div', {class: 'side'}, [
    el('h4', {text: title}),
    el('div', {class: 'value', text: deleted ? '(deleted)' : (value === null ? '(empty)' : value)}),
    el('p', {class: 'meta', text: 'by ' + (user || 'unknown') + ' on device ' +
             (device ? device.slice(-8) : '—') + ', ' + localTime(hlc)})
  ]);
}

function resolveForm(c, reload) {
  var n = 'c' + c.id;
  var action = el('fieldset', {class: 'radios'}, [
    el('legend', {text: 'Resolve'}),
    el('label', {}, [el('input', {type: 'radio', name: n + '-action', value: 'keep', checked: true}), ' Keep the present value']),
    el('label', {}, [el('input', {type: 'radio', name: n + '-action', value: 'restore'}), ' Restore the other value']),
    el('label', {}, [el('input', {type: 'radio', name: n + '-action', value: 'value'}), ' Write a new value'])
  ]);
  var value = el('textarea', {name: 'value'});
  var reason = el('input', {name: 'reason', maxlength: '500', required: true});
  var form = el('form', {class: 'resolve', 'data-conflict': c.id}, [
    action,
    field(n + '-value', 'New value (for “Write a new value”)', value),
    field(n + '-reason', 'Reason (kept in the record)', reason),
    el('button', {type: 'submit', text: c.status === 'open' ? 'Resolve' : 'Resolve again'})
  ]);
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var a = form.querySelector('input[type=radio]:checked').value;
    if (!reason.value.trim()) { say('Give a reason for the record.'); reason.focus(); return; }
    var body = {ids: [c.id], action: a, reason: reason.value.trim()};
    if (a === 'value') body.value = value.value;
    api('POST', 'conflicts/resolve', body).then(function (doc) {
      var r = doc.results[0];
      if (!r.resolved) throw new Error(r.error);
      say('Conflict ' + c.id + ' resolved.');
      reload();
    }).catch(failed);
  });
  return form;
}

function conflictCard(c, reload) {
  var high = c.priority === 'high';
  var head = el('h3', {}, [
    el('input', {type: 'checkbox', class: 'pick', value: String(c.id), 'aria-label': 'Select conflict ' + c.id}),
    ' ', c.description || (c.table + ' ' + c.field)]);
  var history = null;
  if (c.resolutions && c.resolutions.length) {
    history = el('details', {}, [el('summary', {text: 'History (' + c.resolutions.length + ')'}),
      el('ol', {}, c.resolutions.map(function (h) {
        return el('li', {text: localTime(h.at) + ': ' + h.by + ' chose ' + h.action +
                          (h.value !== null && h.value !== undefined ? ' (“' + h.value + '”)' : '') +
                          ' because “' + h.reason + '”'});
      }))]);
  }
  return el('article', {class: 'conflict' + (high ? ' high' : ''), 'aria-labelledby': 'ch' + c.id}, [
    el('div', {id: 'ch' + c.id}, [head]),
    el('p', {class: 'meta'}, [
      el('span', {class: 'badge ' + (high ? 'high' : 'normal'), text: high ? 'High priority' : 'Normal'}), ' ',
      kindText(c.kind) + ' · ' + (c.person_name || 'unknown person') + ' · field “' + c.field +
      '” · logged ' + localTime(c.created_at) + ' · ' + (c.status === 'open' ? 'open' : 'resolved (' + c.resolution + ')')]),
    el('div', {class: 'sides'}, [
      sideBox('Present value (won)', c.winner_value, c.winner_deleted, c.winner_user, c.winner_device, c.winner_hlc),
      sideBox('Other value (lost)', c.loser_value, false, c.loser_user, c.loser_device, c.loser_hlc),
      el('div', {class: 'side'}, [el('h4', {text: 'The record now'}),
        el('div', {class: 'value', text: c.row_deleted ? '(deleted)' : (c.current_value === null ? '(empty)' : c.current_value)})])
    ]),
    history,
    c.redacted ? null : resolveForm(c, reload)
  ]);
}

function showConflicts(params) {
  var f = {status: params.get('status') || 'open', priority: params.get('priority') || '',
           kind: params.get('kind') || '', table: params.get('table') || '',
           worker: params.get('worker') || '', person: params.get('person') || ''};
  var form = el('form', {class: 'filters', role: 'search', 'aria-label': 'Filter conflicts'}, [
    field('f-status', 'Status', select('status', [['open', 'Open'], ['resolved', 'Resolved'], ['all', 'All']], f.status)),
    field('f-priority', 'Priority', select('priority', [['', 'Any'], ['high', 'High'], ['normal', 'Normal']], f.priority)),
    field('f-kind', 'Kind', select('kind', KINDS, f.kind)),
    field('f-table', 'Record', select('table', [['', 'Any'], ['person', 'Person'], ['about_me', 'About Me'],
      ['care_plan', 'Care plan'], ['goal', 'Goal'], ['plan_action', 'Action'], ['visit', 'Visit'],
      ['note', 'Note'], ['consent', 'Consent'], ['alert', 'Alert'], ['related_person', 'Contact']], f.table)),
    field('f-worker', 'Worker (user name)', el('input', {name: 'worker', value: f.worker})),
    el('input', {type: 'hidden', name: 'person', value: f.person}),
    el('button', {type: 'submit', text: 'Filter'})
  ]);
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var p = {};
    ['status', 'priority', 'kind', 'table', 'worker', 'person'].forEach(function (k) { p[k] = form.elements[k].value.trim(); });
    window.location.hash = '#/conflicts' + query(p);
  });
  var list = el('div', {id: 'conflict-list'}, [el('p', {text: 'Loading…'})]);
  var bulkReason = el('input', {name: 'bulk-reason', maxlength: '500'});
  var bulkAction = select('bulk-action', [['keep', 'Keep the present values'], ['restore', 'Restore the other values']], 'keep');
  var bulk = el('form', {class: 'bulk inline', 'aria-label': 'Resolve the selected conflicts'}, [
    field('bulk-action', 'Selected conflicts', bulkAction),
    field('bulk-reason', 'Reason', bulkReason),
    el('button', {type: 'submit', text: 'Resolve selected'})
  ]);
  function reload() { render(); }
  bulk.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var ids = Array.prototype.map.call(document.querySelectorAll('input.pick:checked'), function (i) { return Number(i.value); });
    if (!ids.length) { say('Select the conflicts to resolve first.'); return; }
    if (!bulkReason.value.trim()) { say('Give a reason for the record.'); bulkReason.focus(); return; }
    api('POST', 'conflicts/resolve', {ids: ids, action: bulkAction.value, reason: bulkReason.value.trim()})
      .then(function (doc) { say(doc.resolved + ' of ' + ids.length + ' conflicts resolved.'); reload(); })
      .catch(failed);
  });
  view('Conflicts', [form, bulk, list]);
  function render() {
    api('GET', 'conflicts' + query(f)).then(function (doc) {
      list.textContent = '';
      list.appendChild(el('p', {'aria-live': 'polite', text: doc.conflicts.length + ' conflict' +
                                (doc.conflicts.length === 1 ? '' : 's') + ' shown, high priority first.'}));
      doc.conflicts.forEach(function (c) { list.appendChild(conflictCard(c, reload)); });
    }).catch(failed);
  }
  render();
}

/* ---- devices ---- */

var SKEW_WORRY_MS = 5 * 60 * 1000;
var SYNC_WORRY_MS = 3 * 86400 * 1000;

function worry(d) {
  if (d.revoked) return 0;
  var w = 0;
  if (d.since_sync_ms === null || d.since_sync_ms > SYNC_WORRY_MS) w += 4;
  if (d.last_error) w += 3;
  if (d.clock_skew_ms !== null && Math.abs(d.clock_skew_ms) > SKEW_WORRY_MS) w += 2;
  if (d.pending > 0 && d.oldest_pending_ms > 86400000) w += 1;
  return w;
}

var deviceSort = {key: 'worry', desc: true};

function showDevices() {
  var table = el('div', {class: 'scroll'});
  view('Devices', [el('p', {text: 'Sync health of every enrolled device. The worrying ones come first: not synced for three days, a failed sync, a clock more than five minutes out.'}), table]);
  api('GET', 'devices').then(function (doc) {
    var cols = [['worry', 'Attention'], ['user', 'Worker'], ['name', 'Device'], ['since_sync_ms', 'Last sync'],
                ['pending', 'Backlog'], ['oldest_pending_ms', 'Oldest unsent'], ['clock_skew_ms', 'Clock skew'],
                ['client_version', 'Version'], ['locked', 'Locked'], ['last_error', 'Last error'], ['', 'Action']];
    function draw() {
      var rows = doc.devices.slice();
      var lockMs = doc.lock_after_days ? doc.lock_after_days * 86400000 : Infinity;
      rows.forEach(function (d) {
        d.worry = worry(d);
        d.locked = d.revoked ? 'revoked' : (d.since_sync_ms !== null && d.since_sync_ms > lockMs ? 'yes' : 'no');
      });
      rows.sort(function (a, b) {
        var x = a[deviceSort.key], y = b[deviceSort.key];
        if (x === null || x === undefined) x = -Infinity;
        if (y === null || y === undefined) y = -Infinity;
        var c = x < y ? -1 : x > y ? 1 : 0;
        return deviceSort.desc ? -c : c;
      });
      var t = el('table', {id: 'devices'}, [
        el('caption', {class: 'meta', text: 'Sorted by ' + cols.filter(function (c) { return c[0] === deviceSort.key; })[0][1] +
                        (deviceSort.desc ? ', highest first' : ', lowest first')}),
        el('thead', {}, [el('tr', {}, cols.map(function (c) {
          if (!c[0]) return el('th', {scope: 'col', text: c[1]});
          var sorted = deviceSort.key === c[0];
          return el('th', {scope: 'col', 'aria-sort': sorted ? (deviceSort.desc ? 'descending' : 'ascending') : null}, [
            el('button', {type: 'button', class: 'sort', text: c[1], onclick: function () {
              deviceSort = {key: c[0], desc: sorted ? !deviceSort.desc : true};
              draw();
            }})]);
        }))]),
        el('tbody', {}, rows.map(function (d) {
          return el('tr', {class: d.worry ? 'worry' : null, 'data-device': d.device_id}, [
            el('td', {}, [el('span', {class: 'badge ' + (d.revoked ? 'normal' : d.worry ? 'high' : 'ok'),
                                      text: d.revoked ? 'Revoked' : d.worry ? 'Check' : 'OK'})]),
            el('td', {text: d.user + ' (' + d.role + ')'}),
            el('td', {text: (d.name || '—') + ' · ' + d.device_id.slice(-8)}),
            el('td', {text: d.last_sync_at ? localTime(d.last_sync_at) + ' (' + duration(d.since_sync_ms) + ' ago)' : 'never'}),
            el('td', {text: d.pending === null ? '—' : String(d.pending)}),
            el('td', {text: d.oldest_pending_ms ? duration(d.oldest_pending_ms) : '—'}),
            el('td', {text: d.clock_skew_ms === null ? '—' : Math.abs(d.clock_skew_ms) < 1000 ? 'in step' :
                                   (d.clock_skew_ms > 0 ? 'slow by ' : 'fast by ') + duration(d.clock_skew_ms)}),
            el('td', {text: d.client_version || '—'}),
            el('td', {text: d.locked}),
            el('td', {text: d.last_error || '—'}),
            el('td', {}, [d.revoked ? el('span', {text: localTime(d.revoked_at)}) :
              el('button', {type: 'button', class: 'danger revoke', text: 'Revoke',
                            'aria-label': 'Revoke ' + d.user + '’s device ' + d.device_id.slice(-8),
                            onclick: function () {
                              confirmDialog('Revoke ' + d.user + '’s device ' + (d.name || d.device_id.slice(-8)) +
                                            '? At its next sync it wipes everything it holds and must be enrolled again.')
                                .then(function (ok) {
                                  if (!ok) return;
                                  api('POST', 'devices/revoke', {device_id: d.device_id}).then(function () {
                                    say('Device revoked; it wipes at its next sync.');
                                    showDevices();
                                  }).catch(failed);
                                });
                            }})])
          ]);
        }))
      ]);
      table.textContent = '';
      table.appendChild(t);
    }
    draw();
  }).catch(failed);
}

/* ---- people ---- */

function statusText(p) {
  return (p.status || 'active') + (p.closed_reason ? ' (' + p.closed_reason + ', ' + p.closed_on + ')' : '');
}

function showPeople(params) {
  var q = params.get('q') || '';
  var input = el('input', {name: 'q', value: q, type: 'search'});
  var form = el('form', {class: 'filters', role: 'search', 'aria-label': 'Search people'}, [
    el('div', {class: 'field'}, [el('label', {for: 'people-q', text: 'Name, NHS number or date of birth'}),
      el('p', {class: 'hint', id: 'people-q-hint', text: 'For example Ashworth, 943 476 5919 or 12/03/1941'})]),
    el('button', {type: 'submit', text: 'Search'})
  ]);
  input.id = 'people-q';
  input.setAttribute('aria-describedby', 'people-q-hint');
  form.firstChild.appendChild(input);
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    window.location.hash = '#/people' + query({q: input.value.trim()});
  });
  var out = el('div', {class: 'scroll'}, [el('p', {text: 'Loading…'})]);
  view('People', [form, out]);
  api('GET', 'people' + query({q: q})).then(function (doc) {
    out.textContent = '';
    out.appendChild(el('p', {text: doc.people.length + ' found.'}));
    out.appendChild(el('table', {id: 'people'}, [
      el('thead', {}, [el('tr', {}, ['Name', 'Date of birth', 'NHS number', 'Status', 'Assigned to'].map(function (h) {
        return el('th', {scope: 'col', text: h});
      }))]),
      el('tbody', {}, doc.people.map(function (p) {
        return el('tr', {}, [
          el('td', {}, [el('a', {href: '#/person/' + p.person_id, text: p.name || '(no name)'})]),
          el('td', {text: p.birth_date || '—'}),
          el('td', {text: p.nhs_number || '—'}),
          el('td', {text: statusText(p)}),
          el('td', {text: p.assigned || 'nobody'})
        ]);
      }))
    ]));
  }).catch(failed);
}

function staffOptions(staff, filter) {
  return [['', 'Choose…']].concat(staff.filter(filter).map(function (u) { return [u.name, u.name + ' (' + u.role + ')']; }));
}

/* The person's record as a coordinator may read it: a section per kind of row, newest first. */
var SECTIONS = [['alerts', 'Alerts', ['category', 'text', 'status']],
                ['care_plans', 'Care plans', ['title', 'status', 'agreed_on', 'review_due', 'summary']],
                ['goals', 'Goals', ['description', 'achievement_status', 'lifecycle_status', 'target_date']],
                ['actions', 'Actions', ['what', 'status', 'due_date', 'who']],
                ['visits', 'Visits', ['planned_start', 'visit_type', 'status', 'missed_reason', 'assigned_to']],
                ['notes', 'Notes', ['category', 'text', 'author', 'recorded_at']],
                ['contacts', 'Contacts', ['name', 'relationship', 'phone']],
                ['consents', 'Consent', ['decision', 'sector', 'data_class']],
                ['reviews', 'Reviews', ['review_date', 'outcome', 'next_review_date']]];

function recordSections(rec) {
  if (!rec) return null;
  var wrap = el('section', {'aria-labelledby': 'record-h'}, [el('h2', {id: 'record-h', text: 'Record'})]);
  if (rec.about_me) {
    var am = Object.keys(rec.about_me).filter(function (k) { return k !== 'id' && k !== 'person_id' && rec.about_me[k]; });
    wrap.appendChild(el('details', {}, [el('summary', {text: 'About Me'}),
      el('dl', {class: 'facts'}, [].concat.apply([], am.map(function (k) {
        return [el('dt', {text: k.replace(/_/g, ' ')}), el('dd', {text: rec.about_me[k]})];
      })))]));
  }
  SECTIONS.forEach(function (sec) {
    var rows = (rec[sec[0]] || []).slice().reverse().slice(0, 20);
    if (!rows.length) return;
    var cols = sec[2].filter(function (c) { return rows.some(function (r) { return r[c] !== undefined; }); });
    wrap.appendChild(el('details', {open: sec[0] === 'alerts' || sec[0] === 'care_plans' || sec[0] === 'goals'}, [
      el('summary', {text: sec[1] + ' (' + (rec[sec[0]] || []).length + ')'}),
      el('div', {class: 'scroll'}, [el('table', {}, [
        el('thead', {}, [el('tr', {}, cols.map(function (c) { return el('th', {scope: 'col', text: c.replace(/_/g, ' ')}); }))]),
        el('tbody', {}, rows.map(function (r) {
          return el('tr', {}, cols.map(function (c) {
            var v = r[c];
            return el('td', {text: v === null || v === undefined ? '—' : (/start|_at$/.test(c) ? localTime(v) : v)});
          }));
        }))])])]));
  });
  return wrap;
}

function showPerson(id) {
  view('Person', [el('p', {text: 'Loading…'})]);
  Promise.all([api('GET', 'person' + query({id: id})), api('GET', 'staff')]).then(function (res) {
    var p = res[0], staff = res[1].staff;
    var team = p.team.map(function (t) { return t.user; });
    function post(path, body, done) {
      return api('POST', path, body).then(function () { say(done); showPerson(id); }).catch(failed);
    }
    var facts = el('dl', {class: 'facts'}, [
      el('dt', {text: 'Status'}), el('dd', {id: 'person-status', text: statusText(p)}),
      el('dt', {text: 'Date of birth'}), el('dd', {text: p.birth_date || '—'}),
      el('dt', {text: 'NHS number'}), el('dd', {text: p.nhs_number || '—'}),
      el('dt', {text: 'GP practice'}), el('dd', {text: p.gp_practice || '—'}),
      el('dt', {text: 'Named coordinator'}), el('dd', {id: 'named-coordinator', text: p.named_coordinator ? p.named_coordinator.user : 'none'})
    ]);
    var teamList = el('ul', {id: 'team'}, p.team.map(function (t) {
      return el('li', {}, [t.user + ' (' + t.role + '), since ' + localTime(t.since) + ' ',
        el('button', {type: 'button', class: 'secondary', text: 'Unassign', 'aria-label': 'Unassign ' + t.user,
          onclick: function () {
            confirmDialog('Take ' + (p.name || 'this person') + ' off ' + t.user + '’s caseload? Their devices remove the record at the next sync.')
              .then(function (ok) { if (ok) post('person/assign', {person_id: id, user: t.user, assign: false}, 'Unassigned ' + t.user + '.'); });
          }})]);
    }));
    var assignSel = select('user', staffOptions(staff, function (u) { return u.role !== 'admin' && team.indexOf(u.name) < 0; }), '');
    var assign = el('form', {class: 'inline', id: 'assign-form'}, [field('assign-user', 'Add to the caseload of', assignSel),
                                                                   el('button', {type: 'submit', text: 'Assign'})]);
    assign.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (assignSel.value) post('person/assign', {person_id: id, user: assignSel.value, assign: true}, 'Assigned to ' + assignSel.value + '.');
    });
    var fromSel = select('from', [['', 'Choose…']].concat(team.map(function (u) { return [u, u]; })), '');
    var toSel = select('to', staffOptions(staff, function (u) { return u.role !== 'admin'; }), '');
    var transfer = el('form', {class: 'inline'}, [field('transfer-from', 'Transfer from', fromSel), field('transfer-to', 'to', toSel),
                                                  el('button', {type: 'submit', text: 'Transfer'})]);
    transfer.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (fromSel.value && toSel.value) post('person/transfer', {person_id: id, from: fromSel.value, to: toSel.value}, 'Transferred.');
    });
    var namedSel = select('user', staffOptions(staff, function (u) { return u.role === 'coordinator' || team.indexOf(u.name) >= 0; }), '');
    var named = el('form', {class: 'inline'}, [field('named-user', 'Named coordinator', namedSel), el('button', {type: 'submit', text: 'Set'})]);
    named.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (namedSel.value) post('person/named-coordinator', {person_id: id, user: namedSel.value}, 'Named coordinator set.');
    });
    var st = p.status || 'active';
    var life = el('div', {class: 'inline', id: 'lifecycle'});
    if (st === 'referred')
      life.appendChild(el('button', {type: 'button', id: 'accept-referral', text: 'Accept the referral',
        onclick: function () { post('person/lifecycle', {person_id: id, action: 'accept'}, 'Referral accepted.'); }}));
    if (st === 'closed' || st === 'deceased')
      life.appendChild(el('button', {type: 'button', text: 'Reopen the record',
        onclick: function () { post('person/lifecycle', {person_id: id, action: 'reopen'}, 'Record reopened.'); }}));
    if (st !== 'closed' && st !== 'deceased') {
      var reasonSel = select('reason', [['', 'Choose…'], ['discharged', 'Discharged'], ['moved-away', 'Moved away'],
                                        ['declined', 'Declined'], ['deceased', 'Deceased'], ['duplicate', 'Duplicate'], ['other', 'Other']], '');
      var close = el('form', {class: 'inline'}, [field('close-reason', 'Close the record, because', reasonSel),
                                                 el('button', {type: 'submit', class: 'danger', text: 'Close'})]);
      close.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (!reasonSel.value) { say('Choose why the record closes.'); return; }
        confirmDialog('Close ' + (p.name || 'this record') + ' (' + reasonSel.value + ')? Field devices remove it after 30 days.')
          .then(function (ok) { if (ok) post('person/lifecycle', {person_id: id, action: 'close', reason: reasonSel.value}, 'Record closed.'); });
      });
      life.appendChild(close);
    }
    view(p.name || 'Person', [facts, recordSections(p.record),
      el('h2', {text: 'Team'}), p.team.length ? teamList : el('p', {text: 'Nobody is assigned.'}), assign, transfer, named,
      el('h2', {text: 'Status of the record'}), life,
      el('p', {}, [el('a', {href: '#/conflicts' + query({person: id, status: 'all'}), text: 'Conflicts about this person'}), ' · ',
                   el('a', {href: '#/audit' + query({person: id}), text: 'Audit trail'})])]);
  }).catch(failed);
}

/* ---- staff (administrators change it) and audit ---- */

var ROLES = ['nurse', 'social_worker', 'occupational_therapist', 'physiotherapist', 'link_worker',
             'volunteer', 'personal_assistant', 'coordinator', 'admin'];

/* The QR code the server drew (SVG text), parsed as SVG: never run, never HTML. */
function svgNode(text) {
  var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  var svg = doc.documentElement;
  if (svg.nodeName !== 'svg') return el('p', {text: '(the QR code did not draw)'});
  return document.importNode(svg, true);
}

function showStaff() {
  var out = el('div', {class: 'scroll'}, [el('p', {text: 'Loading…'})]);
  var enrol = el('div', {id: 'enrol-code', 'aria-live': 'polite'});
  var admin = session && session.admin;
  var addForm = null;
  if (admin) {
    var name = el('input', {name: 'name', autocapitalize: 'none', spellcheck: 'false'});
    var role = select('role', ROLES.map(function (r) { return [r, r.replace('_', ' ')]; }), 'nurse');
    addForm = el('form', {class: 'filters', id: 'staff-add', 'aria-label': 'Add a member of staff'}, [
      field('staff-name', 'User name', name), field('staff-role', 'Role', role),
      el('button', {type: 'submit', text: 'Add'})]);
    addForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      api('POST', 'staff/add', {name: name.value.trim(), role: role.value})
        .then(function () { say('Added ' + name.value.trim() + '.'); showStaff(); }).catch(failed);
    });
  }
  view('Staff', [addForm, enrol, out]);
  api('GET', 'staff').then(function (doc) {
    out.textContent = '';
    var heads = ['Name', 'Role', 'People', 'Devices'].concat(admin ? ['Change'] : []);
    out.appendChild(el('table', {id: 'staff'}, [
      el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', {scope: 'col', text: h}); }))]),
      el('tbody', {}, doc.staff.map(function (u) {
        var cells = [el('td', {text: u.name}), el('td', {text: u.role}), el('td', {text: String(u.people)}),
                     el('td', {text: String(u.devices)})];
        if (admin) {
          var sel = select('role', ROLES.map(function (r) { return [r, r.replace('_', ' ')]; }), u.role);
          sel.setAttribute('aria-label', 'New role for ' + u.name);
          cells.push(el('td', {class: 'inline'}, [
            sel,
            el('button', {type: 'button', class: 'secondary', text: 'Change role', 'aria-label': 'Change role for ' + u.name,
              onclick: function () {
                api('POST', 'staff/role', {name: u.name, role: sel.value})
                  .then(function (r) { say(r.changed ? u.name + ' is now ' + r.role + '.' : 'Nothing changed.'); showStaff(); })
                  .catch(failed);
              }}),
            el('button', {type: 'button', class: 'secondary enrol', text: 'Enrolment code', 'aria-label': 'Enrolment code for ' + u.name,
              onclick: function () {
                api('POST', 'staff/enrol', {name: u.name}).then(function (r) {
                  enrol.textContent = '';
                  enrol.appendChild(el('div', {class: 'bulk'}, [
                    el('h2', {text: 'Enrolment code for ' + r.name}),
                    el('p', {}, ['Type ', el('strong', {class: 'code', text: r.code}),
                                 ' in the caresync app, or scan the QR code. It works once, within 24 hours.']),
                    el('div', {class: 'qr'}, [svgNode(r.qr_svg)])]));
                  enrol.querySelector('h2').setAttribute('tabindex', '-1');
                  enrol.querySelector('h2').focus();
                }).catch(failed);
              }}),
            el('button', {type: 'button', class: 'danger', text: 'Disable', 'aria-label': 'Disable ' + u.name,
              onclick: function () {
                confirmDialog('Disable ' + u.name + '? Every device of theirs is revoked and wipes at its next sync, and unused enrolment codes stop working.')
                  .then(function (ok) {
                    if (ok) api('POST', 'staff/disable', {name: u.name}).then(function () { say(u.name + ' is disabled.'); showStaff(); }).catch(failed);
                  });
              }})]));
        }
        return el('tr', {'data-user': u.name}, cells);
      }))
    ]));
  }).catch(failed);
}

/* ---- population ---- */

var SVGNS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, children) {
  var e = document.createElementNS(SVGNS, tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  (children || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
  return e;
}

function listHref(what, arg) {
  return '#/population/list' + query({what: what, arg: arg || '', days: String(popDays)});
}

/* A bar chart as a table: each row a label linking to its list, the number, and a bar. */
function barTable(id, caption, rows) {
  var max = Math.max.apply(null, [1].concat(rows.map(function (r) { return r.value; })));
  return el('table', {id: id, class: 'bars'}, [
    el('caption', {text: caption}),
    el('thead', {}, [el('tr', {}, [el('th', {scope: 'col', text: 'What'}), el('th', {scope: 'col', text: 'Number'}),
                                    el('th', {scope: 'col'}, [el('span', {class: 'visually-hidden', text: 'Bar'})])])]),
    el('tbody', {}, rows.map(function (r) {
      var w = Math.round(300 * r.value / max);
      return el('tr', {}, [
        el('th', {scope: 'row'}, [el('a', {href: r.href, text: r.label})]),
        el('td', {class: 'num', text: String(r.value)}),
        el('td', {'aria-hidden': 'true'}, [svg('svg', {width: '310', height: '18', viewBox: '0 0 310 18', focusable: 'false'},
                                                [svg('rect', {x: '0', y: '2', width: String(Math.max(w, r.value ? 2 : 0)), height: '14', class: 'bar'})])])
      ]);
    }))
  ]);
}

/* Visits per week: a stacked column chart (an image with its summary) and its table. */
function visitChart(weeks) {
  var kinds = [['completed', 'Completed'], ['missed', 'Missed'], ['cancelled', 'Cancelled']];
  var max = Math.max.apply(null, [1].concat(weeks.map(function (w) { return w.completed + w.missed + w.cancelled; })));
  var bw = 34, h = 160, chart = svg('svg', {viewBox: '0 0 ' + (weeks.length * (bw + 8) + 10) + ' ' + (h + 24), role: 'img',
    class: 'columns', 'aria-label': 'Visits per week over 90 days: ' + weeks.map(function (w) {
      return 'week of ' + w.week + ', ' + w.completed + ' completed, ' + w.missed + ' missed, ' + w.cancelled + ' cancelled';
    }).join('; ')});
  weeks.forEach(function (w, i) {
    var y = h;
    kinds.forEach(function (k) {
      var v = w[k[0]], hh = Math.round(h * v / max);
      if (!v) return;
      y -= hh;
      chart.appendChild(svg('rect', {x: String(10 + i * (bw + 8)), y: String(y), width: String(bw), height: String(hh), class: 'bar-' + k[0]}));
    });
    chart.appendChild(svg('text', {x: String(10 + i * (bw + 8) + bw / 2), y: String(h + 16), 'text-anchor': 'middle', class: 'axis'},
                          [w.week.slice(5)]));
  });
  var legend = el('p', {class: 'legend'}, kinds.map(function (k) {
    return el('span', {}, [svg('svg', {width: '14', height: '14', 'aria-hidden': 'true', focusable: 'false'}, [svg('rect', {width: '14', height: '14', class: 'bar-' + k[0]})]),
                           ' ', el('a', {href: listHref('visits', k[0]), text: k[1]}), ' ']);
  }));
  var table = el('table', {id: 'visits-by-week'}, [
    el('caption', {text: 'Visits per week (the week’s Monday), the 90 days to today'}),
    el('thead', {}, [el('tr', {}, [el('th', {scope: 'col', text: 'Week'})].concat(kinds.map(function (k) { return el('th', {scope: 'col', text: k[1]}); })))]),
    el('tbody', {}, weeks.map(function (w) {
      return el('tr', {}, [el('th', {scope: 'row', text: w.week})].concat(kinds.map(function (k) { return el('td', {class: 'num', text: String(w[k[0]])}); })));
    }))
  ]);
  return el('section', {'aria-labelledby': 'visits-h'}, [el('h2', {id: 'visits-h', text: 'Visits'}), chart, legend,
                                                           el('details', {}, [el('summary', {text: 'The numbers'}), table])]);
}

var popDays = 7;

function showPopulation(params) {
  popDays = Number(params.get('days')) || 7;
  view('Population', [el('p', {text: 'Loading…'})]);
  api('GET', 'population' + query({days: String(popDays)})).then(function (p) {
    var figures = el('ul', {class: 'figures', id: 'figures'}, [
      ['without_agreed_plan', p.without_agreed_plan, 'active people without an agreed care plan'],
      ['reviews_overdue', p.reviews_overdue, 'care plan reviews overdue'],
      ['reviews_due', p.reviews_due_30_days, 'reviews due in the next 30 days'],
      ['devices_not_synced', p.devices_not_synced, 'devices not synced for more than ' + p.stale_days + ' days']
    ].map(function (f) {
      return el('li', {}, [el('a', {href: listHref(f[0]), 'data-figure': f[0]}, [el('span', {class: 'big', text: String(f[1])}), ' ' + f[2]])]);
    }));
    var days = el('input', {name: 'days', type: 'number', min: '1', max: '3650', value: String(popDays)});
    var daysForm = el('form', {class: 'inline'}, [field('pop-days', 'Devices not synced for more than (days)', days),
                                                  el('button', {type: 'submit', class: 'secondary', text: 'Update'})]);
    daysForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      window.location.hash = '#/population' + query({days: days.value});
    });
    var conflicts = p.open_conflicts_by_week.map(function (c) { return {label: 'to ' + c.date, value: c.open, href: '#/conflicts'}; });
    view('Population', [
      el('p', {text: 'Today (' + p.today + '). Every figure links to the list behind it, and every list downloads as CSV.'}),
      figures, daysForm,
      el('h2', {text: 'People'}),
      barTable('people-by-status', 'People by the status of their record',
               p.people_by_status.map(function (r) { return {label: r.status, value: r.count, href: listHref('status', r.status)}; })),
      visitChart(p.visits_by_week),
      barTable('missed-reasons', 'Why visits were missed (90 days)',
               p.missed_reasons.map(function (r) { return {label: r.reason, value: r.count, href: listHref('missed_reason', r.reason)}; })),
      el('h2', {text: 'Goals'}),
      barTable('goals-by-achievement', 'Goals by how they are going',
               p.goals_by_achievement.map(function (r) { return {label: r.status, value: r.count, href: listHref('goals', r.status)}; })),
      el('h2', {text: 'Conflicts'}),
      barTable('open-conflicts', 'Conflicts open at the end of each week', conflicts)
    ]);
  }).catch(failed);
}

var LIST_TITLES = {status: 'People whose record is', without_agreed_plan: 'Active people without an agreed care plan',
                   reviews_overdue: 'Care plan reviews overdue', reviews_due: 'Reviews due in the next 30 days',
                   visits: 'Visits in the last 90 days:', missed_reason: 'Visits missed in the last 90 days because',
                   goals: 'Goals going', devices_not_synced: 'Devices not synced lately'};

function showPopulationList(params) {
  var what = params.get('what') || '', arg = params.get('arg') || '', days = params.get('days') || '7';
  var q = query({what: what, arg: arg, days: days});
  var out = el('div', {class: 'scroll'}, [el('p', {text: 'Loading…'})]);
  view((LIST_TITLES[what] || 'List') + (arg ? ' ' + arg : ''), [
    el('p', {}, [el('a', {href: '#/population' + query({days: days}), text: 'Back to the population'}), ' · ',
                 el('a', {href: '/console/api/population/list' + q + '&format=csv', download: '', id: 'csv', text: 'Download as CSV'})]),
    out]);
  api('GET', 'population/list' + q).then(function (doc) {
    out.textContent = '';
    out.appendChild(el('p', {text: doc.rows.length + ' in the list.'}));
    if (!doc.rows.length) return;
    var keys = Object.keys(doc.rows[0]).filter(function (k) { return k !== 'person_id' && k !== 'device_id'; });
    out.appendChild(el('table', {id: 'population-list'}, [
      el('thead', {}, [el('tr', {}, keys.map(function (k) { return el('th', {scope: 'col', text: k.replace(/_/g, ' ')}); }))]),
      el('tbody', {}, doc.rows.map(function (r) {
        return el('tr', {}, keys.map(function (k, i) {
          var v = r[k] === null || r[k] === undefined ? '—' : String(r[k]);
          if (i === 0 && r.person_id) return el('td', {}, [el('a', {href: '#/person/' + r.person_id, text: v})]);
          return el('td', {text: /_at$|planned_start/.test(k) && r[k] ? localTime(r[k]) : v});
        }));
      }))
    ]));
  }).catch(failed);
}

function showAudit(params) {
  var person = params.get('person') || '';
  var input = el('input', {name: 'person', value: person});
  var form = el('form', {class: 'filters', role: 'search', 'aria-label': 'Audit trail'}, [
    field('audit-person', 'Person id', input), el('button', {type: 'submit', text: 'Show the trail'})]);
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    window.location.hash = '#/audit' + query({person: input.value.trim()});
  });
  var verdict = el('p', {id: 'chain', 'aria-live': 'polite'});
  var verify = el('button', {type: 'button', class: 'secondary', text: 'Verify the audit chain', onclick: function () {
    api('GET', 'audit/verify').then(function (doc) {
      verdict.textContent = doc.intact ? 'The chain is intact: ' + doc.rows + ' entries checked.'
                                       : 'The chain is broken at entry ' + doc.first_bad_id + '; tell IT now.';
    }).catch(failed);
  }});
  var out = el('div', {class: 'scroll'});
  view('Audit', [form, el('div', {class: 'inline'}, [verify]), verdict, out]);
  if (!person) return;
  api('GET', 'audit' + query({person: person})).then(function (doc) {
    out.appendChild(el('table', {id: 'audit'}, [
      el('thead', {}, [el('tr', {}, ['When', 'What', 'Who', 'Detail'].map(function (h) { return el('th', {scope: 'col', text: h}); }))]),
      el('tbody', {}, doc.events.map(function (e) {
        return el('tr', {}, [el('td', {text: localTime(e.at || e.at_ms)}), el('td', {text: e.kind}),
                             el('td', {text: e.actor_user || e.actor || '—'}),
                             el('td', {class: 'value', text: typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})]);
      }))
    ]));
  }).catch(failed);
}

/* ---- routing ---- */

function route(ev) {
  var hash = window.location.hash || (session.admin ? '#/staff' : '#/conflicts');
  var path = hash.slice(1).split('?')[0];
  var params = new URLSearchParams(hash.indexOf('?') >= 0 ? hash.slice(hash.indexOf('?') + 1) : '');
  var name = path.split('/')[1] || 'conflicts';
  document.querySelectorAll('header nav a').forEach(function (a) {
    if (a.getAttribute('data-view') === name || (name === 'person' && a.getAttribute('data-view') === 'people'))
      a.setAttribute('aria-current', 'page');
    else
      a.removeAttribute('aria-current');
  });
  if (session.admin && ['conflicts', 'people', 'person', 'devices'].indexOf(name) >= 0)
    view('For coordinators', [el('p', {text: 'The conflict log, people and devices are for coordinators. As an administrator, manage the staff.'}),
                              el('p', {}, [el('a', {href: '#/staff', text: 'Go to the staff'})])]);
  else if (name === 'person') showPerson(path.split('/')[2]);
  else if (name === 'population' && path.split('/')[2] === 'list') showPopulationList(params);
  else if (name === 'population') showPopulation(params);
  else if (name === 'people') showPeople(params);
  else if (name === 'devices') showDevices();
  else if (name === 'staff') showStaff();
  else if (name === 'audit') showAudit(params);
  else showConflicts(params);
  /* After a change of view, a screen reader starts from the new content; on first load the
     page starts from the top (the skip link first). */
  if (ev) document.getElementById('main').focus();
}

document.addEventListener('DOMContentLoaded', function () {
  api('GET', 'session').then(function (s) {
    session = s;
    document.getElementById('who').textContent = s.user + ' (' + s.role + ')';
    if (s.admin) /* the conflict log, people, devices and trails are the coordinators' */
      document.querySelectorAll('header nav a[data-coordinator]').forEach(function (a) { a.parentNode.remove(); });
    document.getElementById('sign-out').addEventListener('click', function () {
      api('POST', 'sign-out', {}).then(function () { window.location.assign('/console/sign-in'); }).catch(failed);
    });
    window.addEventListener('hashchange', route);
    route();
  }).catch(failed);
});
