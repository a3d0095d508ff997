#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/peer.sh - caresync side by side with a CouchDB-protocol peer: pouchdb-server (server) and
# pouchdb (client), both from npm, installed into a throw-away folder outside the tree (default
# /tmp/caresync-bench-peer; BENCH_PEER_DIR overrides; the first install takes a few minutes).
# The server listens on 127.0.0.1 only. Runs the shapes of bench items 2 (a field worker's day)
# and 5 (10,000 records pushed from one device) on both systems and prints one table with both
# systems' figures and the ratio.
#
#   bench/peer.sh [--quick] [--json FILE] [--caresync-day FILE --caresync-bulk FILE]
#
# Without --caresync-* it runs caresync's side itself (bench-e2e day and bulk on a fresh store);
# bench/run.sh passes the figures it measured in the same run instead.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
json=
cs_day=
cs_bulk=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --quick-if) quick=$2; shift ;;
        --json) json=$2; shift ;;
        --caresync-day) cs_day=$2; shift ;;
        --caresync-bulk) cs_bulk=$2; shift ;;
        -h|--help) sed -n '3,14p' "$0"; exit 0 ;;
        *) echo "peer.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[peer] %s\n' "$*" >&2; }

peerdir=${BENCH_PEER_DIR:-/tmp/caresync-bench-peer}
if [ ! -x "$peerdir/node_modules/.bin/pouchdb-server" ] || [ ! -d "$peerdir/node_modules/pouchdb" ]; then
    log "installing pouchdb-server and pouchdb into $peerdir (npm; once)"
    mkdir -p "$peerdir"
    (cd "$peerdir" && npm install --no-audit --no-fund --loglevel=error pouchdb-server@4 pouchdb@9 >&2)
fi

work=$(mktemp -d "${BENCH_TMP:-/tmp}/caresync-bench-peer-run-XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/server" "$work/client"
(cd "$work/server" && exec "$peerdir/node_modules/.bin/pouchdb-server" --host 127.0.0.1 \
    --port "$port" --dir "$work/server" --config "$work/server/config.json" --no-stdout-logs \
    >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/" >/dev/null || { log "pouchdb-server did not start"; cat "$work/server.log" >&2; exit 1; }
log "pouchdb-server $(curl -fs "http://127.0.0.1:$port/" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("version",""))') on http://127.0.0.1:$port"

if [ "$quick" = 1 ]; then runs=3; bulk_runs=1; else runs=5; bulk_runs=3; fi
PEER_MODULES=$peerdir node bench/peer/peer.js --url "http://127.0.0.1:$port" --tmp "$work/client" \
    --runs $runs --bulk-runs $bulk_runs >"$work/pouch.json"
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=

if [ -z "$cs_day" ] || [ -z "$cs_bulk" ]; then
    log "running caresync's side (bench-e2e day and bulk on a fresh store)"
    build=$(bench/build.sh)
    "$build/daemon/caresyncd" init --data "$work/cs" >/dev/null 2>&1
    "$build/bench/bench-store" fill --store "$work/cs/store.db" --entries 10000 >/dev/null
    cp -a "$work/cs" "$work/cs2"
    CARESYNCD=$build/daemon/caresyncd "$build/bench/bench-e2e" day --data "$work/cs" \
        --runs $runs --json "$work/day.json"
    CARESYNCD=$build/daemon/caresyncd "$build/bench/bench-e2e" bulk --data "$work/cs2" \
        --runs $bulk_runs --json "$work/bulk.json"
    cs_day=$work/day.json
    cs_bulk=$work/bulk.json
fi

python3 - "$work/pouch.json" "$cs_day" "$cs_bulk" "${json:-}" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
d = json.load(open(sys.argv[2]))
b = json.load(open(sys.argv[3]))
out_path = sys.argv[4]

cs_day = d['sync']['seconds']['median']
cs_t = d['sync']['traffic']
pd = p['day']
cs_rate = b['records_per_s']['median']
pb = p['bulk']
rows = [
    ('day: push + pull (ms)', '%.0f' % (cs_day * 1e3),
     '%.0f (push %.0f + pull %.0f)' % (pd['seconds']['median'] * 1e3, pd['push_s'] * 1e3,
                                      pd['pull_s'] * 1e3),
     pd['seconds']['median'] / cs_day),
    ('day: requests', '%d' % cs_t['requests'], '%d' % pd['traffic']['requests'],
     pd['traffic']['requests'] / max(cs_t['requests'], 1)),
    ('day: bytes up / down (kB)', '%.0f / %.0f' % (cs_t['wire_bytes_up'] / 1e3,
                                                   cs_t['wire_bytes_down'] / 1e3),
     '%.0f / %.0f' % (pd['traffic']['bytes_up'] / 1e3, pd['traffic']['bytes_down'] / 1e3),
     (pd['traffic']['bytes_up'] + pd['traffic']['bytes_down']) /
     max(cs_t['wire_bytes_up'] + cs_t['wire_bytes_down'], 1)),
    ('bulk: %d records (records/s)' % b['records'], '%.0f' % cs_rate,
     '%.0f' % pb['docs_per_s']['median'], cs_rate / pb['docs_per_s']['median']),
    ('bulk: requests', '%d' % b['sync']['traffic']['requests'], '%d' % pb['traffic']['requests'],
     pb['traffic']['requests'] / max(b['sync']['traffic']['requests'], 1)),
    ('bulk: bytes up / down (MiB)',
     '%.1f / %.1f' % (b['sync']['traffic']['wire_bytes_up'] / 1048576,
                      b['sync']['traffic']['wire_bytes_down'] / 1048576),
     '%.1f / %.1f' % (pb['traffic']['bytes_up'] / 1048576, pb['traffic']['bytes_down'] / 1048576),
     (pb['traffic']['bytes_up'] + pb['traffic']['bytes_down']) /
     max(b['sync']['traffic']['wire_bytes_up'] + b['sync']['traffic']['wire_bytes_down'], 1)),
]
hdr = ('same work', 'caresync (HTTPS)', 'pouchdb %s -> pouchdb-server (HTTP)' % p['pouchdb'],
       'caresync advantage')
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(3)]
lines = ['side by side with a CouchDB-protocol peer (medians; "advantage" = how many times less'
         ' time/requests/bytes caresync needs, >1 is better)',
         '%-*s  %*s  %*s  %s' % (w[0], hdr[0], w[1], hdr[1], w[2], hdr[2], hdr[3])]
for r in rows:
    lines.append('%-*s  %*s  %*s  %.1fx' % (w[0], r[0], w[1], r[1], w[2], r[2], r[3]))
lines.append('day: caresync sends %d field changes (%s); pouchdb writes the same records as %d'
             ' document revisions (whole documents) and pulls %d' %
             (d['changes_each_way'], 'one request, push and pull in one round trip'
              if cs_t['requests'] == 1 else '%d requests' % cs_t['requests'],
              pd['doc_writes'], pd['pulled_docs']))
table = '\n'.join(lines)
print(table)
targets = [
    {'item': 'peer', 'what': "a field worker's day vs pouchdb", 'target': '>= 10x faster',
     'met': rows[0][3] >= 10, 'ratio': rows[0][3]},
    {'item': 'peer', 'what': 'bulk push of %d records vs pouchdb' % b['records'],
     'target': '>= 10x faster', 'met': rows[3][3] >= 10, 'ratio': rows[3][3]},
]
if out_path:
    json.dump({'pouchdb': p, 'table': table, 'targets': targets,
               'ratios': {'day': rows[0][3], 'bulk': rows[3][3]}}, open(out_path, 'w'), indent=1)
PY
