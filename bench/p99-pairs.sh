#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/p99-pairs.sh - issue 11's last figure: item 4 (bench-load, 500 devices at once) against a
# baseline daemon and this tree's, in interleaved pairs (base, new, base, new ...), one
# bench-load (this tree's) driving both, each run on a fresh copy of the same store (10k
# background entries, as run.sh's item 4). Prints one line per run with the load average, and the
# p99 ratio per pair. Figures, never pass/fail.
#
#   bench/p99-pairs.sh [--pairs 5] [--devices 500] [--rounds 3] BASE_CARESYNCD [NEW_BUILD]
#
# BASE_CARESYNCD: the baseline's daemon, e.g. built beside with
#   git worktree add --detach /work/wt/base 6d62786
#   (cd /work/wt/base && BENCH_BUILD=$PWD/build-bench-rel bench/build.sh)
#   -> /work/wt/base/build-bench-rel/daemon/caresyncd
# NEW_BUILD: this tree's release build (default: bench/build.sh's). JSON of every run is kept in
# $BENCH_TMP/caresync-p99-* (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=5 devices=500 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --pairs) pairs=$2; shift ;;
        --devices) devices=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        -h|--help) sed -n '3,17p' "$0"; exit 0 ;;
        -*) echo "p99-pairs.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || { echo "p99-pairs.sh: give the baseline's caresyncd (see --help)" >&2; exit 2; }
base=$1
[ -x "$base" ] || { echo "p99-pairs.sh: $base is not an executable caresyncd" >&2; exit 2; }
build=${2:-$(bench/build.sh)}
new=$build/daemon/caresyncd
bin=$build/bench

work=$(mktemp -d "${BENCH_TMP:-/tmp}/caresync-p99-XXXXXX")
"$new" init --data "$work/level" >/dev/null 2>&1
"$bin/bench-store" fill --store "$work/level/store.db" --entries 10000 >/dev/null 2>&1

run() { # run NAME DAEMON N
    local dir=$work/$1-$3
    cp -a "$work/level" "$dir"
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    CARESYNCD=$2 "$bin/bench-load" --data "$dir" --devices "$devices" --rounds "$rounds" \
        --json "$work/$1-$3.json" 2>"$work/$1-$3.log"
    python3 - "$work/$1-$3.json" "$1" "$3" "$load" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j["rounds"]
cpu = [x.get("daemon_cpu_s", 0) * 1e3 / j["devices"] for x in r]
print(f"{sys.argv[2]:4} run {sys.argv[3]}: load {sys.argv[4]}; p99 {j['p99_ms']['median']/1e3:.2f} s "
      f"(rounds {', '.join(f'{x["p99_ms"]/1e3:.2f}' for x in r)}), p50 {j['p50_ms']['median']/1e3:.2f} s, "
      f"{j['syncs_per_s']['median']:.0f} syncs/s, errors {j['errors']}, "
      f"fsyncs/sync {j.get('fsyncs_per_sync', -1):.2f}, daemon CPU ms/sync {', '.join(f'{c:.2f}' for c in cpu)}",
      flush=True)
PY
    rm -rf "$dir"
}

for i in $(seq 1 "$pairs"); do
    run base "$base" "$i"
    run new "$new" "$i"
    python3 - "$work/base-$i.json" "$work/new-$i.json" "$i" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["p99_ms"]["median"]
n = json.load(open(sys.argv[2]))["p99_ms"]["median"]
print(f"pair {sys.argv[3]}: p99 new/base = {n/b:.2f}x", flush=True)
PY
done
echo "runs' JSON and logs: $work"
