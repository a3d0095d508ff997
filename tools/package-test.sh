#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# package-test.sh - build the Debian packages (dpkg-buildpackage -us -uc -b) from a copy of this
# tree, install them on this machine, start the service (with systemd when it runs, otherwise
# the installed binary as the caresync user, as the unit would), and enrol and sync a client
# against it; then purge them. For CI (root, a machine without caresync installed): it refuses
# to run where caresync-server or /var/lib/caresync is there already. Ends with one line
# "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "package-test: needs root (it installs packages)"; exit 1
fi
if dpkg-query -W -f='${Status}' caresync-server 2>/dev/null | grep -q installed ||
   [ -e /var/lib/caresync ]; then
    echo "package-test: caresync is installed here already; run it on a CI machine"; exit 1
fi
tmp=$(mktemp -d /tmp/caresync-pkg.XXXXXX)
pid=""
passed=0
failed=0
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    if [ -d /run/systemd/system ]; then systemctl stop caresyncd 2>/dev/null || true; fi
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q caresync-server caresync-client \
        >/dev/null 2>&1 || true
    rm -rf /var/lib/caresync "$tmp"
}
trap cleanup EXIT
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }

echo "== build: dpkg-buildpackage -us -uc -b (in $tmp/src)"
mkdir "$tmp/src"
tar --exclude='./build*' --exclude='./.git' -cf - . | tar -x -C "$tmp/src"
# The test suites ran already (tools/test.sh): nocheck keeps this step short.
(cd "$tmp/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b \
    >"$tmp/build.log" 2>&1) ||
    { tail -40 "$tmp/build.log"; echo "0 passed, 1 failed"; exit 1; }
ls "$tmp"/*.deb
ok "dpkg-buildpackage built $(ls "$tmp"/*.deb | wc -l) packages"

echo "== install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tmp"/caresync-server_*.deb \
    "$tmp"/caresync-client_*.deb >"$tmp/install.log" 2>&1 ||
    { tail -30 "$tmp/install.log"; echo "$passed passed, 1 failed"; exit 1; }
ok "installed"
getent passwd caresync >/dev/null && ok "the caresync system user exists" || bad "no caresync user"
[ "$(stat -c '%U %a' /var/lib/caresync)" = "caresync 700" ] && ok "/var/lib/caresync is caresync's, 0700" ||
    bad "/var/lib/caresync: $(stat -c '%U %a' /var/lib/caresync)"
[ -f /var/lib/caresync/store.db ] && ok "postinst made the store" || bad "no store"
man -w caresyncd >/dev/null && man -w caresync >/dev/null && ok "man pages installed" || bad "man pages"
[ -f /usr/include/caresync.h ] && pkg-config --exists caresync && ok "libcaresync header and pkg-config" ||
    bad "libcaresync"
caresyncd config check /etc/caresync/caresyncd.conf && ok "the installed configuration checks" ||
    bad "config check"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/caresyncd.service |
        tail -1
    ok "systemd-analyze security: 2.0 or lower"
fi

echo "== start"
if [ -d /run/systemd/system ]; then
    systemctl restart caresyncd
    systemctl is-active caresyncd && ok "systemctl: caresyncd is active" || bad "not active"
else
    echo "no systemd here: starting /usr/bin/caresyncd as caresync, as the unit does"
    setpriv --reuid caresync --regid caresync --init-groups -- /usr/bin/caresyncd serve \
        --config /etc/caresync/caresyncd.conf >"$tmp/serve.log" 2>&1 &
    pid=$!
fi
ready=""
for _ in $(seq 100); do
    if curl -sf http://127.0.0.1:9469/readyz >/dev/null; then ready=1; break; fi
    sleep 0.1
done
[ -n "$ready" ] && ok "/readyz answers 200" || { bad "/readyz"; cat "$tmp/serve.log" 2>/dev/null || true; }
[ -n "$pid" ] && { [ "$(stat -c %U /proc/$pid)" = caresync ] && ok "serving as caresync" || bad "uid"; }

echo "== a client syncs"
as() { runuser -u caresync -- /usr/bin/caresyncd "$@"; }
as user add --data /var/lib/caresync nina --role nurse >/dev/null
person=$(as person add --data /var/lib/caresync --name "Pat Package" | tail -1)
as assign --data /var/lib/caresync "$person" nina >/dev/null
code=$(as enrol --data /var/lib/caresync nina | tail -1)
home="$tmp/home"
if caresync --home "$home" enrol --server https://127.0.0.1:8443 --ca /var/lib/caresync/ca.pem \
        --code "$code" >/dev/null && caresync --home "$home" sync >/dev/null &&
        caresync --home "$home" caseload | grep -q "Pat Package"; then
    ok "enrolled, synced, the caseload has the person"
else
    bad "client sync"; cat "$tmp/serve.log" 2>/dev/null || true
fi
curl -sf http://127.0.0.1:9469/metrics | grep -q '^caresyncd_syncs_total [1-9]' &&
    ok "/metrics counted the sync" || bad "/metrics"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
