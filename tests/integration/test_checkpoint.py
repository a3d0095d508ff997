#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_checkpoint.py - while the daemon runs, what a sync commits reaches the store file itself,
# not only its write-ahead log: a background thread checkpoints (SQLite's own checkpoint, which
# the daemon's commits no longer run, would wait for 1000 WAL pages). The store file alone,
# copied without its -wal, holds a small sync's edit within a few seconds; and the daemon keeps
# serving and stops cleanly.
import os
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h


def value_in_store_file(d, pid, tmp):
    # Copy the main file only: a reader of the copy sees no WAL, just what was checkpointed.
    copy = os.path.join(tmp, 'store-copy.db')
    for suffix in ('', '-wal', '-shm'):
        if os.path.exists(copy + suffix):
            os.unlink(copy + suffix)
    shutil.copyfile(d.store_path, copy)
    db = sqlite3.connect(copy)
    try:
        row = db.execute("SELECT value FROM field_state WHERE tbl = 'person' AND row_id = ?"
                         " AND field = 'phone'", (pid,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test(w):
    d = w.daemon
    pid = d.add_person('Cy Example', phone='0131 000 0000')
    nurse = w.client('nurse', 'nurse')
    d.assign(pid, 'nurse')
    nurse.sync()
    for i in range(3):
        value = '0131 000 00%02d' % (i + 1)
        nurse.edit('person', pid, 'phone', value)
        nurse.sync()
        deadline = time.time() + 10
        got = value_in_store_file(d, pid, w.root)
        while got != value and time.time() < deadline:
            time.sleep(0.1)
            got = value_in_store_file(d, pid, w.root)
        h.check_eq(got, value, 'sync %d reached the store file while the daemon runs' % i)
    h.check(os.path.getsize(d.store_path + '-wal') < 64 * 1024 * 1024, 'the WAL stays bounded')
    d.stop(expect_rc=0)


if __name__ == '__main__':
    h.sqlite_only("the background checkpoint of store.db's write-ahead log (PostgreSQL checkpoints itself)")
    h.main(test)
