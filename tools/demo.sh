#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - install dependencies, build, start caresyncd on 127.0.0.1 with demo staff and people
# (a development CA under demo/server), enrol two field workers and a coordinator, and show a
# day's sync: offline edits, a conflict, and the coordinator resolving it. The daemon keeps
# serving afterwards until Ctrl-C (set DEMO_EXIT=1 to stop at the end instead).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
D=build/daemon/caresyncd
C=build/client/caresync
port=${DEMO_PORT:-8443}
root=$PWD/demo
rm -rf "$root"
mkdir -p "$root"
data=$root/server

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "An administrator initialises the server and adds staff"
run $D init --data "$data"
for u in "amira:nurse" "ben:link_worker" "chloe:coordinator" "dev:social_worker" "ella:volunteer"; do
    run $D user add --data "$data" "${u%%:*}" --role "${u##*:}"
done

say "People are registered and assigned"
doreen=$($D person add --data "$data" --name "Doreen Ashworth (DEMO)" --dob 1941-03-09 \
         --phone "0113 496 0001" --address "12 Example Row, Northbrook NB1 0XX")
frank=$($D person add --data "$data" --name "Frank Oduya (DEMO)" --dob 1950-11-30 \
        --phone "0113 496 0002" --address "4 Sample Court, Northbrook NB2 0XX")
echo "Doreen: $doreen"
echo "Frank:  $frank"
run $D assign --data "$data" "$doreen" amira
run $D assign --data "$data" "$doreen" ben
run $D assign --data "$data" "$frank" amira

say "The daemon starts on https://127.0.0.1:$port"
$D serve --data "$data" --listen 127.0.0.1:$port &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done

say "Each worker enrols a device once"
for u in amira ben chloe; do
    code=$($D enrol --data "$data" $u)
    run $C --home "$root/$u" enrol --server https://127.0.0.1:$port --ca "$data/ca.pem" --code "$code"
done
run $C --home "$root/amira" sync
run $C --home "$root/ben" sync
run $C --home "$root/amira" caseload

say "Both edit Doreen's phone number offline (no signal), then sync"
run $C --home "$root/amira" edit person "$doreen" phone "0113 496 1111"
run $C --home "$root/ben" edit person "$doreen" phone "0113 496 2222"
run $C --home "$root/amira" status
run $C --home "$root/amira" sync
run $C --home "$root/ben" sync
run $C --home "$root/amira" sync

say "One value won everywhere; the other is in the conflict log, not lost"
run $C --home "$root/amira" show "$doreen"
run $C --home "$root/chloe" sync
run $C --home "$root/chloe" conflicts

say "The coordinator restores the losing value; everyone converges after sync"
id=$($C --home "$root/chloe" conflicts --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run $C --home "$root/chloe" resolve "$id" --restore
run $C --home "$root/amira" sync
run $C --home "$root/ben" sync
run $C --home "$root/ben" show "$doreen"

say "Try it yourself"
cat <<EOT
The daemon is serving at https://127.0.0.1:$port (data in $data).
  $C --home $root/amira caseload
  $C --home $root/amira edit person $frank phone "0113 496 3333"
  $C --home $root/amira sync
  $C --home $root/chloe conflicts --all
Press Ctrl-C to stop the daemon.
EOT
[ "${DEMO_EXIT:-0}" = 1 ] && exit 0
wait $daemon
