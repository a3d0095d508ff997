#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# report.py - gather the JSON each benchmark wrote (bench/run.sh puts them in one directory),
# print one table of figures with the targets of the benchmark issue, and write results.json.
import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def machine():
    cpu = 'unknown'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    mem = 0
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem = int(line.split()[1]) // 1024
    try:
        sqlite = subprocess.run(['pkg-config', '--modversion', 'sqlite3'], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        sqlite = ''
    return {'nproc': os.cpu_count(), 'cpu': cpu, 'mem_mib': mem, 'kernel': platform.release(),
            'sqlite': sqlite,
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}


def git_rev():
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True).stdout.strip()
        return rev + ('+changes' if dirty else '')
    except OSError:
        return ''


def k(n):
    return '{:,.0f}'.format(n)


def mib(n):
    return '%.1f MiB' % (n / 1048576.0)


def kb(n):
    return '%.0f kB' % (n / 1000.0)


def level_of(path):
    m = re.search(r'-(\d+)\.json$', path)
    return int(m.group(1)) if m else 0


def yes(ok):
    return 'yes' if ok else 'NO'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--quick', type=int, default=0)
    ap.add_argument('--seconds', type=int, default=0)
    a = ap.parse_args()

    loads = {}
    for w in ('start', 'end'):
        try:
            loads[w] = open(os.path.join(a.dir, 'loadavg-%s.txt' % w)).read().split()[:3]
        except OSError:
            pass
    res = {'machine': machine(), 'commit': git_rev(), 'quick': bool(a.quick), 'loadavg': loads,
           'run_seconds': a.seconds, 'build': 'meson --buildtype=release'}
    for name in ('merge', 'day', 'first', 'fill'):
        res[name] = []
        for p in sorted(glob.glob(os.path.join(a.dir, name + '-*.json')), key=level_of):
            d = load(p)
            if d is not None:
                d['background_entries'] = level_of(p)
                res[name].append(d)
    for name in ('bulk', 'load', 'peer', 'engine'):
        d = load(os.path.join(a.dir, name + '.json'))
        if d is not None:
            res[name] = d

    rows, targets = [], []

    def row(item, what, figure, target='', met=None):
        rows.append((item, what, figure, target, '' if met is None else yes(met)))
        if met is not None:
            targets.append({'item': item, 'what': what, 'target': target, 'met': met})

    if res['merge']:
        m = res['merge'][0]
        ratio = m['ratio']
        row('1', 'merge: store_sync, batches of %d (store of %s entries)' %
            (m['batch'], k(m['entries'])),
            '%s changes/s' % k(m['merge_changes_per_s']['median']),
            '>= 0.5 x raw', ratio >= 0.5)
        row('', 'raw SQLite batched upserts, same machine, same pragmas',
            '%s upserts/s  (ratio %.2f)' % (k(m['raw_upserts_per_s']['median']), ratio))
    if res.get('engine'):
        e = res['engine']
        row('7', 'the engine over the in-memory backend, batches of %d (the rules alone)' %
            e['batch'], '%s changes/s  (%.1f backend calls per change)' %
            (k(e['engine_changes_per_s']['median']), e['backend_calls_per_change']))
    if res['day']:
        d = res['day'][0]
        s, t = d['sync'], d['sync']['traffic']
        ms = s['seconds']['median'] * 1e3
        row('2', "a field worker's day: %d people, push %d + pull %d" %
            (d['people'], s['pushed'], s['pulled']),
            '%.0f ms, %d request%s, %s up / %s down' %
            (ms, t['requests'], '' if t['requests'] == 1 else 's', kb(t['wire_bytes_up']),
             kb(t['wire_bytes_down'])), '< 50 ms', ms < 50)
    if res['first']:
        f = res['first'][0]
        r0 = sorted(f['runs'], key=lambda r: r['seconds'])[len(f['runs']) // 2]
        secs = f['seconds']['median']
        rss = f['maxrss_kib']['median'] / 1024.0
        base = f['status_maxrss_kib']['median'] / 1024.0 if 'status_maxrss_kib' in f else \
            r0['hwm_kib_before_sync'] / 1024.0
        anon = f['anon_peak_kib']['median'] / 1024.0 if 'anon_peak_kib' in f else \
            r0.get('anon_peak_kib', 0) / 1024.0
        row('3', 'first sync: %d people, %s field states, new device' %
            (f['people'], k(r0['pulled'])),
            '%.2f s, %d requests, %s down' % (secs, r0['requests'], mib(r0['wire_bytes_down'])),
            '< 2 s', secs < 2)
        if 'client_cpu_s' in f:
            row('', 'client CPU (the caresync CLI); daemon CPU',
                '%.2f s; %.2f s' % (f['client_cpu_s']['median'], r0.get('daemon_cpu_s', 0)))
        row('', 'client RSS: peak (ru_maxrss); the bare binary (status); private (RssAnon) peak',
            '%.1f MiB; %.1f MiB; %.1f MiB' % (rss, base, anon), '< 8 MiB', rss < 8)
        g = f.get('gzip')
        if g:
            row('', 'the same pages uncompressed, and deflated here',
                '%s raw; %s at level 1 (%.1fx, %.0f ms to compress), %s at level 6 (%.1fx)' %
                (mib(g['body_bytes']), mib(g['gzip1_bytes']), g['body_bytes'] / g['gzip1_bytes'],
                 g['gzip1_seconds'] * 1e3, mib(g['gzip6_bytes']),
                 g['body_bytes'] / g['gzip6_bytes']))
    if 'load' in res:
        L = res['load']
        row('4', '%d devices at once, %d changes each + pull' %
            (L['devices'], L['changes_per_sync']),
            '%s syncs/s, p50 %s ms, p99 %s ms, %d errors, daemon peak RSS %s, %s fsyncs/sync' %
            (k(L['syncs_per_s']['median']), k(L['p50_ms']['median']),
             k(L['p99_ms']['median']), L['errors'], mib(L['daemon_hwm_kib'] * 1024),
             '%.2f' % L['fsyncs_per_sync'] if 'fsyncs_per_sync' in L else '?'),
            'errors = 0', L['errors'] == 0)
        st = L['first_sync_storm']
        row('', 'their first syncs, all at once', '%s syncs/s, p99 %s ms, %d errors' %
            (k(st['syncs_per_s']), k(st['p99_ms']), st['errors']))
    if 'bulk' in res:
        b = res['bulk']
        s = b['sync']
        row('5', 'bulk push: %s records of %d fields from one device' %
            (k(b['records']), b['fields_per_record']),
            '%s records/s (%.2f s, %d requests, %s up / %s down)' %
            (k(b['records_per_s']['median']), s['seconds']['median'], s['traffic']['requests'],
             mib(s['traffic']['wire_bytes_up']), mib(s['traffic']['wire_bytes_down'])))

    print('caresync benchmarks - %s; %s, %d cores, %d MiB; Linux %s; SQLite %s; %s%s' %
          (res['machine']['date'], res['machine']['cpu'], res['machine']['nproc'],
           res['machine']['mem_mib'], res['machine']['kernel'], res['machine']['sqlite'],
           res['commit'], ' (--quick)' if a.quick else ''))
    if loads:
        print('load average at start %s, at end %s; %d s in all' %
              ('/'.join(loads.get('start', [])), '/'.join(loads.get('end', [])), a.seconds))
    print()
    w = [max(len(r[i]) for r in rows + [('item', 'what', 'figure (median)', 'target', 'met')])
         for i in range(5)]
    hdr = ('item', 'what', 'figure (median)', 'target', 'met')
    fmt = '  '.join('%%-%ds' % x for x in w)
    print(fmt % hdr)
    print('  '.join('-' * x for x in w))
    for r in rows:
        print(fmt % r)

    # item 6: growth
    if res['merge'] or res['day'] or res['first']:
        print()
        print('6. growth: the same work as the store grows (background = other workers\' history)')
        levels = sorted({x['background_entries'] for n in ('merge', 'day', 'first')
                         for x in res[n]})
        hdr = ('background', 'merge/s', 'vs raw', 'day ms', 'day kB down', 'first sync s',
               'first: store entries')
        out = []
        for lv in levels:
            m = next((x for x in res['merge'] if x['background_entries'] == lv), None)
            d = next((x for x in res['day'] if x['background_entries'] == lv), None)
            f = next((x for x in res['first'] if x['background_entries'] == lv), None)
            out.append((k(lv),
                        k(m['merge_changes_per_s']['median']) if m else '-',
                        '%.2f' % m['ratio'] if m else '-',
                        '%.0f' % (d['sync']['seconds']['median'] * 1e3) if d else '-',
                        kb(d['sync']['traffic']['wire_bytes_down']) if d else '-',
                        '%.2f' % f['seconds']['median'] if f else '-',
                        k(f['store_entries']) if f else '-'))
        w = [max(len(r[i]) for r in out + [hdr]) for i in range(len(hdr))]
        fmt = '  '.join('%%%ds' % x for x in w)
        print(fmt % hdr)
        for r in out:
            print(fmt % r)
        if len(levels) > 1 and res['day']:
            d0, d1 = res['day'][0], res['day'][-1]
            grow = d1['sync']['seconds']['median'] / d0['sync']['seconds']['median']
            ok = grow < 1.5
            targets.append({'item': '6', 'what': 'day sync time from %s to %s background entries'
                            % (k(d0['background_entries']), k(d1['background_entries'])),
                            'target': 'tracks what is new, not store size (< 1.5x)',
                            'met': ok, 'growth': grow})
            print('day sync at %s vs %s background entries: %.2fx' %
                  (k(d1['background_entries']), k(d0['background_entries']), grow))

    if 'peer' in res:
        print()
        print(res['peer'].get('table', ''))
        for t in res['peer'].get('targets', []):
            targets.append(t)

    res['targets'] = targets
    print()
    print('targets: %d met, %d missed%s' %
          (sum(1 for t in targets if t['met']), sum(1 for t in targets if not t['met']),
           ''.join('\n  missed: %s %s (%s)' % (t['item'], t['what'], t['target'])
                   for t in targets if not t['met'])))
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()
