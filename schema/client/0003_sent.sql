-- SPDX-License-Identifier: MIT
-- 0003_sent.sql - what the device sent and the server acknowledged, kept for a while (30 days,
-- at most 100000 changes; client/caresync_int.h) so that it can be sent again when the server
-- went back in time (a restore; docs/internals/audit.md, "Rewinds"); and, while the device
-- re-reads its caseload after such a rewind, the fields it held that the server has not sent
-- back yet.

CREATE TABLE sent (
    change_id   TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    tbl         TEXT NOT NULL,
    row_id      TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT,
    hlc         INTEGER NOT NULL,
    base_hlc    INTEGER NOT NULL DEFAULT 0,
    base_device TEXT NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL,
    sent_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX sent_sent_ms ON sent(sent_ms);

CREATE TABLE reread (
    tbl    TEXT NOT NULL,
    row_id TEXT NOT NULL,
    field  TEXT NOT NULL,
    PRIMARY KEY (tbl, row_id, field)
) STRICT, WITHOUT ROWID;
