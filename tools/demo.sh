#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - install dependencies, build, start caresyncd on 127.0.0.1 with the invented 'demo'
# data set (caresyncd demo: 9 staff, 30 people, 90 days of care records; a development CA
# under demo-run/server), enrol two field workers and a coordinator, and show a day's sync: today's
# visits, offline edits to a person both workers support, a conflict, and the coordinator
# resolving it; then give the coordinator a web console login (password and TOTP secret) and
# print it with the console's address. The daemon keeps serving afterwards until Ctrl-C (set
# DEMO_EXIT=1 to stop at the end instead; DEMO_PORT picks the port, DEMO_SEED the data set,
# DEMO_CONSOLE_PASSWORD the console password; DEMO_BUILD=DIR runs the binaries already built in
# DIR instead of installing dependencies and building build/). It works in demo-run/, which it
# empties first; demo/ holds the generator's sources and is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DEMO_BUILD:-}
if [ -z "$build" ]; then
    build=build
    tools/deps.sh
    [ -f build/build.ninja ] || meson setup build >/dev/null
    ninja -C build >/dev/null
fi
D=$build/daemon/caresyncd
C=$build/client/caresync
[ -x "$D" ] && [ -x "$C" ] || { echo "demo: no caresyncd and caresync in $build; build them first" >&2; exit 1; }
port=${DEMO_PORT:-8443}
root=$PWD/demo-run
rm -rf "$root"
mkdir -p "$root"
data=$root/server

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "An administrator initialises the server and loads the demo data (all of it invented)"
run $D init --data "$data" >/dev/null
run $D demo --data "$data" --profile demo --seed "${DEMO_SEED:-1}"

say "The daemon starts on https://127.0.0.1:$port"
$D serve --data "$data" --listen 127.0.0.1:$port &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done

say "A nurse, a link worker and a coordinator each enrol a device once"
nurse=nurse.amira lw=lw.grace coord=coord.iona
for u in $nurse $lw $coord; do
    code=$($D enrol --data "$data" $u)
    run $C --home "$root/$u" enrol --server https://127.0.0.1:$port --ca "$data/ca.pem" --code "$code"
done
run $C --home "$root/$nurse" sync
run $C --home "$root/$lw" sync

say "The nurse's day: her visits and her caseload; then the doorstep view of someone she and the link worker both support"
run $C --home "$root/$nurse" today
run $C --home "$root/$nurse" caseload
# Someone on both workers' caseloads (Doreen, the example person, when the seed has her).
person=$(python3 - "$C" "$root/$nurse" "$root/$lw" <<'EOF'
import json, subprocess, sys
cl = [json.loads(subprocess.run([sys.argv[1], '--home', h, 'caseload', '--json'], check=True,
                                capture_output=True, text=True).stdout) for h in sys.argv[2:]]
both = sorted((p['name'] != 'Doreen Ashworth', p['name'], p['id']) for p in cl[0]
              if p['id'] in {q['id'] for q in cl[1]})
print(both[0][2] if both else '')
EOF
)
[ -n "$person" ] || { echo "demo: no person is on both caseloads; try another DEMO_SEED" >&2; exit 1; }
run $C --home "$root/$nurse" open "$person"

say "Nurse and link worker both edit that person's phone number offline (no signal), then sync"
run $C --home "$root/$nurse" edit person "$person" phone "01632 960991"
run $C --home "$root/$lw" edit person "$person" phone "01632 960992"
run $C --home "$root/$nurse" status
run $C --home "$root/$nurse" sync
run $C --home "$root/$lw" sync
run $C --home "$root/$nurse" sync

say "One value won everywhere; the other is in the conflict log, not lost"
phone_of() {
    $C --home "$root/$1" show "$person" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["phone"])'
}
echo "$nurse sees $(phone_of $nurse); $lw sees $(phone_of $lw)"
run $C --home "$root/$coord" sync
run $C --home "$root/$coord" conflicts

say "The coordinator restores the losing phone number; everyone converges after sync"
id=$($C --home "$root/$coord" conflicts --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
doc = doc["conflicts"] if isinstance(doc, dict) else doc
print([c["id"] for c in doc if c["row_id"] == sys.argv[1] and c["field"] == "phone"][0])' "$person")
run $C --home "$root/$coord" resolve "$id" --restore --reason "Rang Dee: the nurse's number is the new one"
run $C --home "$root/$nurse" sync
run $C --home "$root/$lw" sync
echo "$nurse sees $(phone_of $nurse); $lw sees $(phone_of $lw)"

say "The coordinators' web console: a password and an authenticator app's code"
console_pw=${DEMO_CONSOLE_PASSWORD:-demo-console-pass}
printf '$ echo ... | %s user passwd --data %s %s --qr %s\n' "$D" "$data" "$coord" "$root/$coord-totp.svg"
secret=$(echo "$console_pw" | $D user passwd --data "$data" "$coord" --qr "$root/$coord-totp.svg" |
         sed -n 's/.*enter the secret \([A-Z2-7]*\).*/\1/p')

say "Try it yourself"
cat <<EOT
The daemon is serving at https://127.0.0.1:$port (data in $data).
  $C --home $root/$nurse today
  $C --home $root/$nurse open $person
  $C --home $root/$coord conflicts
The demo data seeds five more conflicts. To enrol another member of staff (see the list at the
top), e.g. the occupational therapist:
  $C --home $root/ot.chloe enrol --server https://127.0.0.1:$port --ca $data/ca.pem --code \$($D enrol --data $data ot.chloe)
The coordinators' web console: https://127.0.0.1:$port/console/
  (the certificate is the demo's own CA, $data/ca.pem: import it into the browser,
  or accept the warning for this demo)
  user name   $coord
  password    $console_pw
  code        from an authenticator app: scan $root/$coord-totp.svg or enter the
              secret $secret; or, for the demo only, print the current code with
              $D user totp --data $data $coord
Press Ctrl-C to stop the daemon.
EOT
[ "${DEMO_EXIT:-0}" = 1 ] && exit 0
wait $daemon
