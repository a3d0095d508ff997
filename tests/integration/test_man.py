#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_man.py - the man pages (issue 14, "Man pages"): caresyncd(8) and caresync(1), which meson
# builds (and installs) from 'caresyncd help --man' and 'caresync help --man', render with man
# without a warning, name every command, and hold each command's --help text line for line, so
# the pages and the help cannot drift apart.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def render(path):
    env = dict(os.environ, MANWIDTH='250', LANG='C.UTF-8', MAN_KEEP_FORMATTING='0')
    p = subprocess.run(['man', '--warnings', '-l', path], capture_output=True, text=True,
                       env=env, timeout=60)
    h.check_eq(p.returncode, 0, 'man renders ' + path, p.stderr)
    h.check(p.stderr.strip() == '', 'no roff warnings in ' + path, p.stderr)
    return p.stdout


def norm(line):
    return ' '.join(line.split())


def check_page(prog, page, headings_re, help_args, skip_prefixes):
    h.check(os.path.exists(page), 'meson built ' + page)
    roff = open(page).read()
    out = h.run([prog, 'help', '--man'], quiet=True).stdout
    h.check_eq(out, roff, 'the built page is what help --man prints')
    text = set(norm(l) for l in render(page).splitlines())
    names = [n.replace('\\-', '-') for n in re.findall(headings_re, roff)]
    h.check(len(names) > 10, 'the page has a section per command', names)
    for name in names:
        helptext = h.run([prog] + name.split() + help_args, quiet=True).stdout
        for line in helptext.splitlines():
            l = norm(line)
            if not l or any(l.startswith(s) for s in skip_prefixes):
                continue
            h.check(l in text, '%s %s: the --help line %r is in the man page' %
                    (os.path.basename(prog), name, l))
    h.log('%s: %d commands, every --help line in the page' % (os.path.basename(page), len(names)))


def test(w):
    dd = os.path.dirname(h.CARESYNCD)
    cd = os.path.dirname(h.CARESYNC)
    check_page(h.CARESYNCD, os.path.join(dd, 'caresyncd.8'), r'\.SS "caresyncd ([^"\n]+)',
               ['--help'], ['usage:', '-h, --help'])
    check_page(h.CARESYNC, os.path.join(cd, 'caresync.1'), r'\.SS "caresync ([^"\n]+)',
               ['--help'], ['usage:'])


if __name__ == '__main__':
    h.main(test)
