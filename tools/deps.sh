#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh - install the build and test dependencies from Debian 12's archive (idempotent).
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev python3 openssl ca-certificates
      libsqlite3-dev libevent-dev libssl-dev libcurl4-openssl-dev libcjson-dev zlib1g-dev
      libargon2-dev libqrencode-dev chromium chromium-driver python3-selenium
      prometheus libsystemd-dev man-db debhelper dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the tests' npm packages (the FHIR validators and server of
# test_fhir_validate.py and test_fhir_server.py, axe-core for the console's accessibility test),
# which the tests install into ~/.cache/caresync-tests, never the tree. Medplum 4.0.3 declares
# Node.js >= 20 (this machine kind has 20 on PATH); Debian 12's own is 18, installed only when
# there is none.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
