#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/build.sh - build the benchmarks and caresyncd in release mode; prints the build directory.
# Uses BENCH_BUILD (default build-bench/). While the top meson.build has no subdir('bench'), it
# builds a copy of the tree that does (under $BENCH_TMP, default /tmp), keeping file times so
# rebuilds are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=${BENCH_TMP:-/tmp}
if grep -q "subdir('bench')" meson.build; then
    src=$root
    build=${BENCH_BUILD:-$root/build-bench}
else
    src=$tmp/caresync-bench-src
    build=${BENCH_BUILD:-$tmp/caresync-bench-build}
    mkdir -p "$src"
    for d in common daemon client schema tools tests bench; do
        [ -d "$d" ] || continue
        rm -rf "${src:?}/$d"
        cp -a "$d" "$src/"
    done
    [ -f meson_options.txt ] && cp -a meson_options.txt "$src/"
    { cat meson.build; echo "subdir('bench')"; } > "$src/meson.build.new"
    if ! cmp -s "$src/meson.build.new" "$src/meson.build"; then
        mv "$src/meson.build.new" "$src/meson.build"
    else
        rm "$src/meson.build.new"
    fi
fi
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$src" --buildtype=release >&2
fi
ninja -C "$build" bench >&2
echo "$build"
