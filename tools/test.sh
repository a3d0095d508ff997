#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - install dependencies, build with warnings as errors and run every test suite.
#   tools/test.sh             gcc build in build/
#   tools/test.sh --sanitize  clang with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/
#                             (the PostgreSQL tests, suite postgresql, run in the gcc pass only)
#   tools/test.sh --pg        the integration suite with every daemon's store on PostgreSQL (a
#                             private server per test, tests/integration/harness.py), in build/;
#                             not suite postgresql, which starts its own and ran in the gcc pass
# Ends with one line "N passed, N failed"; exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    [ -f $dir/build.ninja ] || CC=clang meson setup $dir -Dwerror=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    mult=3
    # Four seeds of test_convergence take six minutes under the sanitizers; two run the same
    # code paths there (the gcc and --pg passes run four each, for the property's breadth).
    export CONVERGENCE_SEEDS=${CONVERGENCE_SEEDS:-2}
    # The sanitizer pass stays on the embedded store: the tests of suite 'postgresql' (several
    # daemons, store migrate, the outage, ...) run in the gcc pass, which keeps CI under 30 minutes.
    skip="--no-suite postgresql"
else
    dir=build
    [ -f $dir/build.ninja ] || meson setup $dir -Dwerror=true
    mult=1
    skip=
fi
ninja -C $dir
# Two tests per core fill the moments a test waits on start-up or fsync (3-6 % less time on
# 2 cores, where the suites are bound by CPU). MESON_TESTTHREADS=n overrides.
export MESON_TESTTHREADS=${MESON_TESTTHREADS:-$(( $(nproc) * 2 ))}
rc=0
if [ "${1:-}" = "--pg" ]; then
    # Suite postgresql (the driver, the schema, several daemons, store migrate, the outage, ...)
    # starts its own PostgreSQL whatever the pass and has run in the default pass already.
    meson test -C $dir --print-errorlogs --setup postgresql --suite integration \
        --no-suite postgresql || rc=$?
else
    meson test -C $dir --print-errorlogs --timeout-multiplier $mult $skip || rc=$?
fi
# meson names a setup's log after it: the --pg pass's is testlog-postgresql.json.
log=$dir/meson-logs/testlog.json
[ "${1:-}" = "--pg" ] && log=$dir/meson-logs/testlog-postgresql.json
python3 - "$log" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)['result']
    if r in ('OK', 'EXPECTEDFAIL'): ok += 1
    elif r == 'SKIP': skip += 1
    else: bad += 1
print("%d passed, %d failed" % (ok, bad) + (", %d skipped" % skip if skip else ""))
PY
exit $rc
