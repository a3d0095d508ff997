-- SPDX-License-Identifier: MIT
-- 0001_init.sql - server store: staff, devices, enrolment, caseload assignments, the field
-- state (current value and version of every synced field), the change journal and the
-- conflict log. Forward-only: never edit once released; add 0002_... instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
) STRICT;

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE devices (
    id             TEXT PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    token_hash     TEXT NOT NULL UNIQUE,
    name           TEXT,
    client_version TEXT,
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT,
    last_sync_at   TEXT,
    pending        INTEGER,
    revoked_at     TEXT
) STRICT;

CREATE TABLE enrol_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_at    TEXT,
    device_id  TEXT
) STRICT;

-- One row per period a person is on a worker's caseload. start_seq/end_seq are positions in
-- the server sequence (meta 'seq') so pulls can tell what a device has already been sent.
CREATE TABLE assignments (
    id         INTEGER PRIMARY KEY,
    person_id  TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    start_seq  INTEGER NOT NULL,
    end_seq    INTEGER,
    started_at TEXT NOT NULL,
    ended_at   TEXT
) STRICT;
CREATE UNIQUE INDEX assignments_active ON assignments(person_id, user_id) WHERE end_seq IS NULL;
CREATE INDEX assignments_user ON assignments(user_id, start_seq);
CREATE INDEX assignments_user_end ON assignments(user_id, end_seq);

-- The current value and version of every field of every synced row. seq is the server
-- sequence number of the write that set it, so "seq > cursor" is what a device has not seen.
CREATE TABLE field_state (
    tbl       TEXT NOT NULL,
    row_id    TEXT NOT NULL,
    field     TEXT NOT NULL,
    person_id TEXT NOT NULL,
    value     TEXT,
    hlc       INTEGER NOT NULL,
    device    TEXT NOT NULL,
    change_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (tbl, row_id, field)
) STRICT, WITHOUT ROWID;
CREATE INDEX field_state_person ON field_state(person_id, seq);
CREATE UNIQUE INDEX field_state_seq ON field_state(seq);

-- Every change ever received or written, with its outcome: the permanent deduplication
-- record (change_id), the history the conflict rules consult, and the journal.
CREATE TABLE change_log (
    id          INTEGER PRIMARY KEY,
    change_id   TEXT NOT NULL UNIQUE,
    device      TEXT NOT NULL,
    user_id     INTEGER,
    tbl         TEXT NOT NULL,
    row_id      TEXT NOT NULL,
    field       TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    value       TEXT,
    hlc         INTEGER NOT NULL,
    sent_hlc    INTEGER NOT NULL,
    base_hlc    INTEGER NOT NULL DEFAULT 0,
    base_device TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    conflict    INTEGER NOT NULL DEFAULT 0,
    received_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX change_log_field ON change_log(tbl, row_id, field, hlc);

CREATE TABLE conflicts (
    id                   INTEGER PRIMARY KEY,
    kind                 TEXT NOT NULL,
    review               INTEGER NOT NULL DEFAULT 0,
    tbl                  TEXT NOT NULL,
    row_id               TEXT NOT NULL,
    field                TEXT NOT NULL,
    person_id            TEXT NOT NULL,
    loser_change_id      TEXT NOT NULL,
    winner_change_id     TEXT,
    created_ms           INTEGER NOT NULL,
    status               TEXT NOT NULL DEFAULT 'open',
    resolution           TEXT,
    resolved_value       TEXT,
    resolved_by          INTEGER REFERENCES users(id),
    resolved_ms          INTEGER,
    resolution_change_id TEXT,
    UNIQUE (loser_change_id, kind)
) STRICT;
CREATE INDEX conflicts_status ON conflicts(status, id);
