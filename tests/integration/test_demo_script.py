#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_demo_script.py - tools/demo.sh runs end to end and works in demo-run/, never in demo/
# (where the demo-data generator's sources are: the script used to start with rm -rf of its
# working folder, which was demo/ when the generator moved there).
#
# The script runs from a copy of the tree's tools/demo.sh and demo/ (so that what it deletes can
# be seen, and the checkout is left alone), with DEMO_BUILD set to this build (no apt-get, no
# build/), DEMO_EXIT=1 and a free DEMO_PORT. Checked: it exits 0 having shown the conflict and
# its resolution and printed the console login; demo/ holds exactly the files and bytes it had;
# demo-run/ holds the server's store and the enrolled devices, and not what an earlier run left.
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def tree_digest(path):
    """{relative path: sha256} of every file under @path."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            with open(p, 'rb') as fh:
                out[os.path.relpath(p, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def run_demo(tree, build):
    env = dict(os.environ, DEMO_BUILD=build, DEMO_EXIT='1', DEMO_PORT=str(h.free_port()),
               DEMO_CONSOLE_PASSWORD='test-demo-pass')
    argv = [os.path.join(tree, 'tools', 'demo.sh')]
    h.log('$ DEMO_BUILD=%s DEMO_EXIT=1 %s' % (build, argv[0]))
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    h.check_eq(p.returncode, 0, 'tools/demo.sh exit code', h.clip(p.stdout, 4000),
               h.clip(p.stderr, 4000))
    return p.stdout


def test(w):
    # The build directory meson test runs in: caresyncd is BUILD/daemon/caresyncd.
    build = os.path.dirname(os.path.dirname(os.path.abspath(h.CARESYNCD)))
    h.check(os.access(os.path.join(build, 'client', 'caresync'), os.X_OK),
            'no caresync beside caresyncd in ' + build)
    tree = os.path.join(w.root, 'tree')
    os.makedirs(os.path.join(tree, 'tools'))
    shutil.copy2(os.path.join(SRC, 'tools', 'demo.sh'), os.path.join(tree, 'tools'))
    shutil.copytree(os.path.join(SRC, 'demo'), os.path.join(tree, 'demo'))
    before = tree_digest(os.path.join(tree, 'demo'))
    h.check(any(f.endswith('.c') for f in before), 'the copy of demo/ holds the sources', before)

    # A file left in demo-run/ by an earlier run must be gone: it starts afresh there.
    run_dir = os.path.join(tree, 'demo-run')
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, 'left-over'), 'w') as f:
        f.write('x')

    out = run_demo(tree, build)
    for want in ('One value won everywhere', 'everyone converges after sync', '/console/',
                 'test-demo-pass'):
        h.check(want in out, 'demo.sh printed %r' % want, h.clip(out, 4000))
    h.check_eq(tree_digest(os.path.join(tree, 'demo')), before,
               'demo/ (the generator sources) is untouched')
    h.check(not os.path.exists(os.path.join(run_dir, 'left-over')),
            'the run started afresh in demo-run/')
    h.check(os.path.exists(os.path.join(run_dir, 'server', 'store.db')),
            'the demo store is in demo-run/server/')
    for u in ('nurse.amira', 'lw.grace', 'coord.iona'):
        h.check(os.path.isdir(os.path.join(run_dir, u)), 'the device of %s is in demo-run/' % u)

if __name__ == '__main__':
    h.main(test)
