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
      rows.forEach(function (d) { d.worry = worry(d); d.locked = d.revoked ? 'revoked' : (d.since_sync_ms > 14 * 86400000 ? 'yes' : 'no'); });
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
            el('td', {text: d.clock_skew_ms === null ? '—' : (d.clock_skew_ms > 0 ? 'slow by ' : 'fast by ') + duration(d.clock_skew_ms)}),
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
    view(p.name || 'Person', [facts,
      el('h2', {text: 'Team'}), p.team.length ? teamList : el('p', {text: 'Nobody is assigned.'}), assign, transfer, named,
      el('h2', {text: 'Record'}), life,
      el('p', {}, [el('a', {href: '#/conflicts' + query({person: id, status: 'all'}), text: 'Conflicts about this person'}), ' · ',
                   el('a', {href: '#/audit' + query({person: id}), text: 'Audit trail'})])]);
  }).catch(failed);
}

/* ---- staff and audit ---- */

function showStaff() {
  var out = el('div', {class: 'scroll'}, [el('p', {text: 'Loading…'})]);
  view('Staff', [out]);
  api('GET', 'staff').then(function (doc) {
    out.textContent = '';
    out.appendChild(el('table', {id: 'staff'}, [
      el('thead', {}, [el('tr', {}, ['Name', 'Role', 'People', 'Devices'].map(function (h) { return el('th', {scope: 'col', text: h}); }))]),
      el('tbody', {}, doc.staff.map(function (u) {
        return el('tr', {}, [el('td', {text: u.name}), el('td', {text: u.role}), el('td', {text: String(u.people)}), el('td', {text: String(u.devices)})]);
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

function route() {
  var hash = window.location.hash || '#/conflicts';
  var path = hash.slice(1).split('?')[0];
  var params = new URLSearchParams(hash.indexOf('?') >= 0 ? hash.slice(hash.indexOf('?') + 1) : '');
  var name = path.split('/')[1] || 'conflicts';
  document.querySelectorAll('header nav a').forEach(function (a) {
    if (a.getAttribute('data-view') === name || (name === 'person' && a.getAttribute('data-view') === 'people'))
      a.setAttribute('aria-current', 'page');
    else
      a.removeAttribute('aria-current');
  });
  if (name === 'person') showPerson(path.split('/')[2]);
  else if (name === 'people') showPeople(params);
  else if (name === 'devices') showDevices();
  else if (name === 'staff') showStaff();
  else if (name === 'audit') showAudit(params);
  else showConflicts(params);
  document.getElementById('main').focus();
}

document.addEventListener('DOMContentLoaded', function () {
  api('GET', 'session').then(function (s) {
    session = s;
    document.getElementById('who').textContent = s.user + ' (' + s.role + ')';
    document.getElementById('sign-out').addEventListener('click', function () {
      api('POST', 'sign-out', {}).then(function () { window.location.assign('/console/sign-in'); }).catch(failed);
    });
    window.addEventListener('hashchange', route);
    route();
  }).catch(failed);
});
