#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh - install the build and test dependencies from Debian 12's archive (idempotent).
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev python3 openssl ca-certificates
      libsqlite3-dev libevent-dev libssl-dev libcurl4-openssl-dev libcjson-dev zlib1g-dev
      prometheus libsystemd-dev man-db debhelper dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
