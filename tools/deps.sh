#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh - install the build and test dependencies from Debian 12's archive (idempotent).
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev python3 openssl ca-certificates
      libsqlite3-dev libevent-dev libssl-dev libcurl4-openssl-dev libcjson-dev zlib1g-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the FHIR validators and server of tests/integration/test_fhir_validate.py
# and test_fhir_server.py (the tests install them from npm into ~/.cache/caresync-tests). Medplum
# 4.0.3 declares Node.js >= 20; the tests have run on 20, not yet on Debian 12's own 18.
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
