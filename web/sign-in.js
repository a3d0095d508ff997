/* SPDX-License-Identifier: MIT */
/* sign-in.js - the console's sign-in form: POST /console/api/sign-in, then the console. */
'use strict';

document.addEventListener('DOMContentLoaded', function () {
  var form = document.getElementById('sign-in-form');
  var error = document.getElementById('sign-in-error');
  document.getElementById('user').focus();
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    error.textContent = '';
    var body = {
      user: form.user.value.trim(),
      password: form.password.value,
      code: form.code.value.replace(/\s/g, '')
    };
    if (!body.user || !body.password || !body.code) {
      error.textContent = 'Fill in your user name, password and the code from your app.';
      return;
    }
    var button = document.getElementById('sign-in-button');
    button.disabled = true;
    fetch('/console/api/sign-in', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      credentials: 'same-origin',
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (doc) { return {status: r.status, doc: doc}; });
    }).then(function (res) {
      button.disabled = false;
      if (res.status === 200) {
        window.location.assign('/console/');
        return;
      }
      form.code.value = '';
      error.textContent = (res.doc.error && res.doc.error.message) || 'Sign-in failed.';
      form.code.focus();
    }).catch(function () {
      button.disabled = false;
      error.textContent = 'The server did not answer; check the connection and try again.';
    });
  });
});
