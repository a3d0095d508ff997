#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz.sh - build the libFuzzer targets of tests/fuzz/ (clang, -fsanitize=fuzzer,address,
# undefined, in build-fuzz/) and run each for a bounded time from its seed corpus.
#   tools/fuzz.sh                    every target, FUZZ_SECONDS (default 60) each
#   tools/fuzz.sh wire gzip          only those targets
#   FUZZ_SECONDS=600 tools/fuzz.sh   longer
#   FUZZ_JOBS=1 tools/fuzz.sh        one target at a time (default: as many as there are cores)
#   tools/fuzz.sh --merge [TARGET…]  after a run, fold the new inputs that add coverage into
#                                    tests/fuzz/corpus/<target>/ (to commit)
# New inputs go to build-fuzz/fuzz-out/<target>/corpus (the tree's corpus is only read). A
# crash, leak, timeout or sanitizer report is a failure: its input is kept as
# build-fuzz/fuzz-out/<target>/crash-… (or leak-, timeout-, oom-), printed in hex, and the
# script exits 1 after the other targets have run. Add a crashing input to
# tests/fuzz/corpus/<target>/ before fixing the bug: `meson test --suite fuzz` then replays it.
# Ends with one line per target: execs/s, corpus size, coverage, time.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
merge=0
if [ "${1:-}" = "--merge" ]; then
    merge=1
    shift
fi
all=(wire proto gzip http sync enrol resolve)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
    # fuzzer-no-link puts the coverage instrumentation into every library the targets link
    # (common/, the store, http.c); only the fuzz-<target> programs link libFuzzer's main().
    CC=clang meson setup $dir -Dfuzz=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer"
fi
ninja -C $dir $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
out=$dir/fuzz-out
# Each target runs on one core: FUZZ_JOBS (default: the number of cores) run at once.
jobs=${FUZZ_JOBS:-$(nproc)}
fuzz_one() {
    local t=$1 bin=$dir/tests/fuzz/fuzz-$1 seeds=tests/fuzz/corpus/$1 start rc=0
    start=$(date +%s)
    # New inputs go to the first directory; the tree's seeds are read only.
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/$t/" "$out/$t/corpus" "$seeds" \
        >"$out/$t/log" 2>&1 || rc=$?
    echo "$rc $(( $(date +%s) - start ))" >"$out/$t/result"
}
for t in "${targets[@]}"; do
    [ -x "$dir/tests/fuzz/fuzz-$t" ] || { echo "fuzz: no target '$t' (have: ${all[*]})" >&2; exit 2; }
done
for t in "${targets[@]}"; do
    mkdir -p "$out/$t/corpus"
    rm -f "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* "$out/$t"/oom-* "$out/$t/result"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    echo "== fuzz-$t: ${seconds}s from tests/fuzz/corpus/$t =="
    fuzz_one "$t" &
done
wait
summary=()
failed=()
for t in "${targets[@]}"; do
    bin=$dir/tests/fuzz/fuzz-$t
    seeds=tests/fuzz/corpus/$t
    read -r rc took <"$out/$t/result" || { rc=1; took='?'; }
    stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$out/$t/log" | tail -1 || true)
    execs=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$out/$t/log" | grep -oE '[0-9]+$' ||
            echo '?')
    cov=$(echo "$stats" | grep -oE 'cov: [0-9]+' || true)
    corp=$(echo "$stats" | grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' || true)
    summary+=("fuzz-$t: ${execs} execs/s, ${corp:-corp: ?}, ${cov:-cov: ?}, ${took}s")
    artifacts=$(ls "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* "$out/$t"/oom-* \
                2>/dev/null || true)
    if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
        failed+=("$t")
        echo "fuzz-$t FAILED (exit $rc); the end of its log:"
        tail -60 "$out/$t/log"
        for a in $artifacts; do
            echo "-- input kept as $a ($(stat -c %s "$a") bytes); replay: $bin $a"
            od -A d -t x1z -v "$a" | head -40
        done
    fi
    if [ $merge -eq 1 ] && [ "$rc" -eq 0 ]; then
        "$bin" -merge=1 -max_len=65536 "$seeds" "$out/$t/corpus" >"$out/$t/merge.log" 2>&1
        echo "fuzz-$t: $seeds now holds $(ls "$seeds" | wc -l) inputs"
    fi
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $out/<target>/)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
