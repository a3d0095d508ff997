#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/backends.sh - items 1-5 on both storage backends side by side, in one run, and item 4
# with 1, 2 and 3 daemons on one PostgreSQL (issue 12). Prints a table; writes one JSON file per
# figure under $BENCH_OUT (default /tmp/caresync-backends-<time>), and loadavg at start and end.
#
#   bench/backends.sh [--quick]
#
#   --quick  fewer runs (item 2: 3, item 3: 1, item 4: 200 devices, 2 rounds)
#
# Every item starts from a fresh data directory with the same background history (10,000
# change-log entries by bench-store fill, BENCH_LEVEL to change it); each PostgreSQL item on a
# private PostgreSQL 15 of its own (bench/with-pg.py), so no item warms the next one's cache.
# Environment: BENCH_BUILD (see bench/build.sh), BENCH_TMP, BENCH_LEVEL, BENCH_DEVICES (item 4),
# BENCH_BACKENDS (default "sqlite postgresql"; "postgresql" alone skips SQLite), BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
level=${BENCH_LEVEL:-10000}
if [ $quick = 1 ]; then
    merge_runs=3; day_runs=3; first_runs=1; bulk_runs=1; devices=${BENCH_DEVICES:-200}; rounds=2
else
    merge_runs=5; day_runs=5; first_runs=2; bulk_runs=2; devices=${BENCH_DEVICES:-500}; rounds=3
fi

build=$(bench/build.sh)
bin=$build/bench
export CARESYNCD=$build/daemon/caresyncd
out=${BENCH_OUT:-/tmp/caresync-backends-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
cp /proc/loadavg "$out/loadavg-start.txt"
work=$(mktemp -d "${BENCH_TMP:-/tmp}/caresync-backends-XXXXXX")
trap '[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
t0=$(date +%s)
log() { printf '[%4ss] %s\n' $(( $(date +%s) - t0 )) "$*" >&2; }

# item BACKEND NAME COMMAND...: a fresh data directory $work/NAME with the background history
# (on PostgreSQL: a private server, 'caresyncd init --store'), then COMMAND with DATA set.
item() {
    local backend=$1 name=$2
    shift 2
    local data=$work/$backend-$name
    rm -rf "$data" "$data".d*
    if [ "$backend" = postgresql ]; then
        bench/with-pg.py -- bash -c '
            set -euo pipefail
            "$CARESYNCD" init --data "$0" --store "$CARESYNC_BENCH_PG_URL" >/dev/null 2>&1
            "$1" fill --store "$0" --entries "$2" >/dev/null
            shift 2
            DATA=$0 "$@"' "$data" "$bin/bench-store" "$level" "$@"
    else
        "$CARESYNCD" init --data "$data" >/dev/null
        "$bin/bench-store" fill --store "$data" --entries "$level" >/dev/null
        DATA=$data "$@"
    fi
    rm -rf "$data" "$data".d* "$data".*.log
}
export -f item 2>/dev/null || true

for b in ${BENCH_BACKENDS:-sqlite postgresql}; do
    item $b merge bash -c '"$0" merge --store "$DATA" --runs '$merge_runs' --batches 10 --json "$1"' \
        "$bin/bench-store" "$out/merge-$b.json"
    log "$b: item 1 done"
    item $b day bash -c '"$0" day --data "$DATA" --runs '$day_runs' --json "$1"' \
        "$bin/bench-e2e" "$out/day-$b.json"
    log "$b: item 2 done"
    item $b first bash -c '"$0" first --data "$DATA" --runs '$first_runs' --json "$1"' \
        "$bin/bench-e2e" "$out/first-$b.json"
    log "$b: item 3 done"
    item $b bulk bash -c '"$0" bulk --data "$DATA" --runs '$bulk_runs' --json "$1"' \
        "$bin/bench-e2e" "$out/bulk-$b.json"
    log "$b: item 5 done"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "${BENCH_BACKENDS:-sqlite postgresql}" = postgresql ] || item sqlite load bash -c '"$0" --data "$DATA" --devices '$devices' --rounds '$rounds' --json "$1"' \
    "$bin/bench-load" "$out/load-sqlite-1.json"
log "sqlite: item 4 done"
for n in 1 2 3; do
    item postgresql load bash -c '"$0" --data "$DATA" --devices '$devices' --rounds '$rounds' --daemons '$n' --json "$1"' \
        "$bin/bench-load" "$out/load-postgresql-$n.json"
    log "postgresql: item 4 with $n daemon(s) done"
done
cp /proc/loadavg "$out/loadavg-end.txt"
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
def get(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None
def med(o, *keys):
    for k in keys:
        if o is None or k not in o:
            return None
        o = o[k]
    return o.get('median') if isinstance(o, dict) else o
def f(v, fmt='%.0f'):
    return '-' if v is None else fmt % v
print('| item | SQLite | PostgreSQL |')
print('|---|---|---|')
rows = [('1, merge: changes/s', 'merge-%s.json', ('merge_changes_per_s',), 1, '%.0f'),
        ('1, merge: CPU us per change in the merging process', 'merge-%s.json',
         ('merge_cpu_us_per_change',), 1, '%.1f'),
        ('2, the day: sync ms', 'day-%s.json', ('sync', 'seconds'), 1e3, '%.1f'),
        ('3, first sync: s', 'first-%s.json', ('seconds',), 1, '%.2f'),
        ('5, bulk push: records/s', 'bulk-%s.json', ('records_per_s',), 1, '%.0f')]
for label, pat, keys, mult, fmt in rows:
    vals = []
    for b in ('sqlite', 'postgresql'):
        o = get(pat % b)
        if isinstance(o, list):   # bench-e2e writes one object per level
            o = o[0] if o else None
        v = med(o, *keys)
        vals.append(None if v is None else v * mult)
    print('| %s | %s | %s |' % (label, f(vals[0], fmt), f(vals[1], fmt)))
print()
print('| item 4 | daemons | syncs/s | p50 ms | p99 ms | errors | daemon CPU ms/sync | database CPU ms/sync |')
print('|---|---|---|---|---|---|---|---|')
for name, label in [('load-sqlite-1.json', 'SQLite')] + \
        [('load-postgresql-%d.json' % n, 'PostgreSQL') for n in (1, 2, 3)]:
    o = get(name)
    if not o:
        continue
    rs = o.get('rounds', [])
    syncs = sum(o.get('devices', 0) for _ in rs) or 1
    dcpu = sum(r.get('daemon_cpu_s', 0) for r in rs) * 1e3 / syncs
    bcpu = sum(r.get('database_cpu_s', 0) for r in rs) * 1e3 / syncs
    print('| %s | %d | %s | %s | %s | %d | %.2f | %.2f |' % (
        label, o.get('daemons', 1), f(med(o, 'syncs_per_s')), f(med(o, 'p50_ms')),
        f(med(o, 'p99_ms')), o.get('errors', 0), dcpu, bcpu))
PY
echo "figures in $out" >&2
