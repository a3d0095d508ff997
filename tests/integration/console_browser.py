# SPDX-License-Identifier: MIT
# console_browser.py - what the console tests share: headless Chromium from Debian driven by
# Selenium (python3-selenium, chromium-driver) against the real daemon over real TLS (the
# browser trusts exactly the server's key: --ignore-certificate-errors-spki-list with its SPKI
# hash), console passwords set with `caresyncd user passwd`, TOTP codes computed here from the
# secret it printed (RFC 6238, independently of the daemon's code), plain HTTPS requests with a
# session cookie, and screenshots kept under the build's meson-logs/console-screens/.
import base64
import hashlib
import hmac
import http.client
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

PASSWORD = 'correct horse battery'


def require_browser():
    """SKIP (exit 77) unless Chromium, its driver and Selenium are installed."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        # Debian's python3-selenium, when the python3 running us is another one (pyenv, venv).
        sys.path.append('/usr/lib/python3/dist-packages')
    try:
        import selenium  # noqa: F401,F811
    except ImportError:
        print('SKIP: python3-selenium is not installed (tools/deps.sh installs it)')
        sys.exit(77)
    for prog in ('chromium', 'chromedriver'):
        if not any(os.access(os.path.join(p, prog), os.X_OK)
                   for p in os.environ.get('PATH', '').split(':')):
            print('SKIP: %s is not installed (tools/deps.sh installs chromium and '
                  'chromium-driver)' % prog)
            sys.exit(77)


def totp(secret, at=None, step=30, digits=6):
    """RFC 6238 with HMAC-SHA1, written here from the RFC (not the daemon's code)."""
    key = base64.b32decode(secret + '=' * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack('>Q', counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0f
    code = (struct.unpack('>I', mac[off:off + 4])[0] & 0x7fffffff) % 10 ** digits
    return '%0*d' % (digits, code)


class Staff:
    """A console account: user name, password and TOTP secret; fresh_code() never repeats a
    time step (a code works once), waiting for the next one when needed."""

    def __init__(self, daemon, user, role, add=True):
        if add:
            daemon.add_user(user, role)
        self.user, self.password = user, PASSWORD
        p = subprocess.run([h.CARESYNCD, 'user', 'passwd', '--data', daemon.data, user],
                           input=PASSWORD + '\n', capture_output=True, text=True, timeout=60)
        h.check_eq(p.returncode, 0, 'caresyncd user passwd ' + user, p.stderr)
        out = p.stdout
        self.secret = [l.split()[-1] for l in out.splitlines() if 'enter the secret' in l][0]
        self.used = set()

    def fresh_code(self):
        while True:
            step = int(time.time() // 30)
            if step not in self.used:
                self.used.add(step)
                self.last = totp(self.secret, at=step * 30)
                return self.last
            time.sleep(0.5)


def two_nurses(w, name, edits):
    """Person @name on the caseloads of nurses nina and ben, who each change the person's
    fields offline (@edits: [(field, nina's value, ben's value)]) and sync: one conflict per
    field for the coordinator. Returns (person id, nina, ben)."""
    d = w.daemon
    person = d.add_person(name, phone='0131 000 0000')
    nina = w.client('nina', 'nurse')
    ben = w.client('ben', 'nurse')
    for u in ('nina', 'ben'):
        d.assign(person, u)
    nina.sync()
    ben.sync()
    for field, a, b in edits:
        nina.edit('person', person, field, a)
        ben.edit('person', person, field, b)
    nina.sync()
    ben.sync()
    nina.sync()
    return person, nina, ben


def spki_hash(cert_path):
    pub = subprocess.run(['openssl', 'x509', '-in', cert_path, '-noout', '-pubkey'],
                         check=True, capture_output=True).stdout
    der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def browser(daemon):
    from selenium import webdriver
    opts = webdriver.ChromeOptions()
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
              '--window-size=1280,900', '--lang=en-GB',
              '--ignore-certificate-errors-spki-list=' +
              spki_hash(os.path.join(daemon.data, 'server.pem'))):
        opts.add_argument(a)
    opts.binary_location = '/usr/bin/chromium'
    from selenium.webdriver.chrome.service import Service
    service = Service(executable_path='/usr/bin/chromedriver')
    drv = webdriver.Chrome(options=opts, service=service)
    drv.set_page_load_timeout(60)
    return drv


def wait(drv, cond, what, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        # A view re-renders as its data arrives: an element found a moment ago may be gone.
        return WebDriverWait(drv, timeout,
                             ignored_exceptions=[StaleElementReferenceException]).until(cond)
    except Exception:
        raise AssertionError('browser: timed out waiting for %s (at %s)' % (what, drv.current_url))


def css(drv, selector):
    from selenium.webdriver.common.by import By
    return drv.find_elements(By.CSS_SELECTOR, selector)


def text_present(selector, text):
    def cond(drv):
        return any(text in e.text for e in css(drv, selector))
    return cond


def sign_in(drv, daemon, staff, password=None, code=None, expect_ok=True):
    drv.get(daemon.url + '/console/sign-in')
    wait(drv, lambda d: css(d, '#user'), 'the sign-in form')
    css(drv, '#user')[0].send_keys(staff.user)
    css(drv, '#password')[0].send_keys(password or staff.password)
    css(drv, '#code')[0].send_keys(code or staff.fresh_code())
    css(drv, '#sign-in-button')[0].click()
    if expect_ok:
        wait(drv, lambda d: 'sign-in' not in d.current_url and css(d, '#who') and
             staff.user in css(d, '#who')[0].text, 'the console after sign-in')
    else:
        wait(drv, lambda d: css(d, '#sign-in-error')[0].text.strip(), 'a sign-in error')
        return css(drv, '#sign-in-error')[0].text


def screens_dir():
    d = os.environ.get('CONSOLE_SCREENS') or os.path.join(os.getcwd(), 'console-screens')
    os.makedirs(d, exist_ok=True)
    return d


def screenshot(drv, name):
    path = os.path.join(screens_dir(), name + '.png')
    drv.save_screenshot(path)
    h.log('screenshot %s' % path)
    return path


def session_cookie(drv):
    c = drv.get_cookie('__Host-caresync')
    return c['value'] if c else None


def request(daemon, method, path, body=None, cookie=None, csrf=None, headers=None):
    """One HTTPS request to the console: (status, headers dict, parsed JSON or text)."""
    conn = http.client.HTTPSConnection('127.0.0.1', daemon.port, context=daemon.ssl_context(),
                                       timeout=30)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault('Content-Type', 'application/json')
    if cookie:
        hdrs['Cookie'] = '__Host-caresync=' + cookie
    if csrf:
        hdrs['X-CSRF-Token'] = csrf
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = raw.decode('utf-8', 'replace')
    return r.status, {k.lower(): v for k, v in r.getheaders()}, doc


def api_sign_in(daemon, staff, password=None, code=None):
    return request(daemon, 'POST', '/console/api/sign-in',
                   {'user': staff.user, 'password': password or staff.password,
                    'code': code or staff.fresh_code()})


def cookie_of(headers):
    sc = headers.get('set-cookie', '')
    return sc.split(';')[0].split('=', 1)[1] if sc.startswith('__Host-caresync=') else None
