#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/p99-pairs.sh - issue 11's last figure: item 4 (bench-load, 500 devices at once) for a
# baseline build and this tree's, in interleaved pairs (base, new, base, new ...). Each build
# runs with its own bench-load and on its own copy of a store it made itself (caresyncd init and
# bench-store fill, 10k background entries, as run.sh's item 4): a newer build's store is one
# migration ahead, which an older daemon refuses. Prints one line per run with the load average,
# and the p99 ratio per pair. Figures, never pass/fail.
#
#   bench/p99-pairs.sh [--pairs 5] [--devices 500] [--rounds 3] BASE_BUILD [NEW_BUILD]
#
# BASE_BUILD: the baseline's release build with its benchmarks, e.g. built beside with
#   git worktree add --detach /work/wt/base 6d62786
#   (cd /work/wt/base && BENCH_BUILD=$PWD/build-bench-rel bench/build.sh)
#   -> /work/wt/base/build-bench-rel
# NEW_BUILD: this tree's release build (default: bench/build.sh's). JSON and logs of every run
# are kept in $BENCH_TMP/caresync-p99-* (printed at the end). A build whose bench-load reports
# CPU by thread (this tree's) also prints the daemon's CPU ms per sync, round by round.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=5 devices=500 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --pairs) pairs=$2; shift ;;
        --devices) devices=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        -h|--help) sed -n '3,19p' "$0"; exit 0 ;;
        -*) echo "p99-pairs.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || { echo "p99-pairs.sh: give the baseline's release build directory (see --help)" >&2; exit 2; }
base_build=$1
[ -x "$base_build/daemon/caresyncd" ] && [ -x "$base_build/bench/bench-load" ] ||
    { echo "p99-pairs.sh: $base_build has no daemon/caresyncd and bench/bench-load" >&2; exit 2; }
new_build=${2:-$(bench/build.sh)}

work=$(mktemp -d "${BENCH_TMP:-/tmp}/caresync-p99-XXXXXX")
for side in base new; do
    b=$base_build
    [ $side = new ] && b=$new_build
    "$b/daemon/caresyncd" init --data "$work/level-$side" >/dev/null 2>&1
    "$b/bench/bench-store" fill --store "$work/level-$side/store.db" --entries 10000 >/dev/null 2>&1
done

run() { # run SIDE BUILD N
    local dir=$work/$1-$3
    cp -a "$work/level-$1" "$dir"
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    CARESYNCD=$2/daemon/caresyncd "$2/bench/bench-load" --data "$dir" --devices "$devices" --rounds "$rounds" \
        --json "$work/$1-$3.json" 2>"$work/$1-$3.log"
    python3 - "$work/$1-$3.json" "$1" "$3" "$load" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j["rounds"]
cpu = ", ".join("%.2f" % (x["daemon_cpu_s"] * 1e3 / j["devices"]) for x in r if "daemon_cpu_s" in x)
p99s = ", ".join("%.2f" % (x["p99_ms"] / 1e3) for x in r)
print("%-4s run %s: load %s; p99 %.2f s (rounds %s), p50 %.2f s, %.0f syncs/s, errors %d, "
      "fsyncs/sync %.2f, daemon CPU ms/sync %s"
      % (sys.argv[2], sys.argv[3], sys.argv[4], j["p99_ms"]["median"] / 1e3, p99s,
         j["p50_ms"]["median"] / 1e3, j["syncs_per_s"]["median"], j["errors"],
         j.get("fsyncs_per_sync", -1), cpu or "-"), flush=True)
PY
    rm -rf "$dir"
}

for i in $(seq 1 "$pairs"); do
    run base "$base_build" "$i"
    run new "$new_build" "$i"
    python3 - "$work/base-$i.json" "$work/new-$i.json" "$i" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["p99_ms"]["median"]
n = json.load(open(sys.argv[2]))["p99_ms"]["median"]
print(f"pair {sys.argv[3]}: p99 new/base = {n/b:.2f}x", flush=True)
PY
done
echo "runs' JSON and logs: $work"
