#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh - build the benchmarks in release mode, run them all, print a table and write
# bench/results.json. Benchmarks print figures; they are never pass/fail tests.
#
#   bench/run.sh [--quick] [--no-peer] [--out FILE]
#
#   --quick    fewer runs and a smaller store ladder (10k, 100k): a few minutes
#   --no-peer  skip the CouchDB-protocol peer (pouchdb-server + pouchdb, bench/peer.sh)
#   --out FILE where the JSON goes (default bench/results.json)
#
# Environment: BENCH_LEVELS (background change-log entries of the store ladder, default
# "10000 100000 1000000"), BENCH_FIRST_LEVELS (the levels item 3 runs at, default the first
# and, in a full run, the last),
# BENCH_BUILD (build directory; see bench/build.sh), BENCH_TMP (where stores and replicas are made,
# default /tmp), BENCH_KEEP=1 keeps them, BENCH_PEER_DIR (see bench/peer.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
peer=1
out=bench/results.json
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --no-peer) peer=0 ;;
        --out) out=$2; shift ;;
        -h|--help) sed -n '3,14p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

t_start=$(date +%s)
log() { printf '[%4ss] %s\n' $(( $(date +%s) - t_start )) "$*" >&2; }

# ---- build (release) ----
build=$(bench/build.sh)
bin=$build/bench
export CARESYNCD=$build/daemon/caresyncd
log "built in $build (release)"

work=$(mktemp -d "${BENCH_TMP:-/tmp}/caresync-bench-XXXXXX")
cleanup() { [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
res=$work/results
mkdir -p "$res"
cp /proc/loadavg "$res/loadavg-start.txt"

if [ $quick = 1 ]; then
    levels="10000 100000"
    merge_runs=3; merge_batches=10
    day_runs=3
    first_runs=2
    bulk_runs=1
    load_rounds=2
else
    levels="10000 100000 1000000"
    merge_runs=5; merge_batches=10
    day_runs=5
    first_runs=3
    bulk_runs=2
    load_rounds=3
fi
levels=${BENCH_LEVELS:-$levels}
# item 3 at the smallest and the largest store (the full run: 10k and 1M)
first_levels=${BENCH_FIRST_LEVELS:-$(echo $levels | awk '{print $1; if (NF > 1 && '$quick' == 0) print $NF}')}

# ---- the store ladder: background history of other workers' people (item 6) ----
"$CARESYNCD" init --data "$work/base" >/dev/null 2>&1
for l in $levels; do
    "$bin/bench-store" fill --store "$work/base/store.db" --entries "$l" >"$res/fill-$l.json"
    cp -a "$work/base" "$work/level-$l"
    log "store with $l background change-log entries ready"
done

fresh() { # fresh DIR LEVEL: a copy of the level's data directory
    rm -rf "$1"
    cp -a "$work/level-$2" "$1"
}

for l in $levels; do
    # item 1: merge throughput against raw SQLite
    fresh "$work/m" "$l"
    "$bin/bench-store" merge --store "$work/m/store.db" --runs $merge_runs \
        --batches $merge_batches --json "$res/merge-$l.json"
    rm -rf "$work/m"
    log "merge at $l done"
    # item 2: a field worker's day
    fresh "$work/d" "$l"
    "$bin/bench-e2e" day --data "$work/d" --runs $day_runs --json "$res/day-$l.json"
    rm -rf "$work/d" "$work/d".*.log
    log "day at $l done"
done

# item 3: first sync of a large caseload (its own 200 people add ~180k entries to the store)
for l in $first_levels; do
    [ -d "$work/level-$l" ] || continue
    runs=$first_runs
    [ "$l" = "$(echo $first_levels | awk '{print $1}')" ] || runs=1
    fresh "$work/f" "$l"
    "$bin/bench-e2e" first --data "$work/f" --runs $runs --json "$res/first-$l.json"
    rm -rf "$work/f" "$work/f".*.log
    log "first sync at $l done"
done

# item 7: the engine's rules alone, over the in-memory backend (no store, no ladder)
"$bin/bench-engine" --runs $merge_runs --json "$res/engine.json"
log "engine done"

# item 5: bulk push
first_level=$(echo $levels | awk '{print $1}')
fresh "$work/b" "$first_level"
"$bin/bench-e2e" bulk --data "$work/b" --runs $bulk_runs --json "$res/bulk.json"
rm -rf "$work/b"
log "bulk push done"

# item 4: many devices at once
fresh "$work/l" "$first_level"
"$bin/bench-load" --data "$work/l" --devices 500 --rounds $load_rounds --json "$res/load.json"
rm -rf "$work/l"
log "500 devices done"

# the CouchDB-protocol peer, side by side
if [ $peer = 1 ]; then
    if command -v node >/dev/null && command -v npm >/dev/null; then
        if bench/peer.sh --json "$res/peer.json" --caresync-day "$res/day-$first_level.json" \
                --caresync-bulk "$res/bulk.json" --quick-if $quick >"$res/peer.txt"; then
            log "peer done"
        else
            log "peer failed (see above); continuing without it"
            rm -f "$res/peer.json"
        fi
    else
        log "node/npm not found: skipping the pouchdb peer"
    fi
fi

cp /proc/loadavg "$res/loadavg-end.txt"
python3 bench/report.py --dir "$res" --out "$out" --quick $quick \
    --seconds $(( $(date +%s) - t_start ))
log "wrote $out"
