-- SPDX-License-Identifier: MIT
-- 0001_init.sql - device replica: settings (meta), the version of every field held, the outbox of
-- unsent local edits, purges waiting for the outbox to drain, and one table per catalogue table
-- (common/catalogue.c) whose columns are the catalogue's field names exactly.
-- Forward-only: never edit once released; add 0002_... instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
) STRICT;

-- The version (clock, device) of the write that set each field the device holds, "_deleted"
-- included. No row = no version seen.
CREATE TABLE field_version (
    tbl    TEXT NOT NULL,
    row_id TEXT NOT NULL,
    field  TEXT NOT NULL,
    hlc    INTEGER NOT NULL,
    device TEXT NOT NULL,
    PRIMARY KEY (tbl, row_id, field)
) STRICT, WITHOUT ROWID;

-- Local edits not yet acknowledged by the server, pushed in seq order. base_hlc/base_device are
-- the version of the field the device held when the user edited it (0/'' = none).
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id   TEXT NOT NULL UNIQUE,
    tbl         TEXT NOT NULL,
    row_id      TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT,
    hlc         INTEGER NOT NULL,
    base_hlc    INTEGER NOT NULL DEFAULT 0,
    base_device TEXT NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_person ON outbox(person_id);

-- People the server told us to purge while the outbox still held edits of theirs.
CREATE TABLE pending_purge (
    person_id TEXT PRIMARY KEY
) STRICT;

CREATE TABLE person (
    id             TEXT PRIMARY KEY,
    person_id      TEXT NOT NULL,
    name           TEXT,
    preferred_name TEXT,
    birth_date     TEXT,
    phone          TEXT,
    address        TEXT,
    _deleted       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX person_person ON person(person_id);

CREATE TABLE care_plan (
    id         TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    title      TEXT,
    status     TEXT,
    summary    TEXT,
    review_due TEXT,
    _deleted   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX care_plan_person ON care_plan(person_id);

CREATE TABLE goal (
    id                 TEXT PRIMARY KEY,
    person_id          TEXT NOT NULL,
    care_plan_id       TEXT,
    description        TEXT,
    lifecycle_status   TEXT,
    achievement_status TEXT,
    _deleted           INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX goal_person ON goal(person_id);

CREATE TABLE plan_action (
    id        TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    goal_id   TEXT,
    what      TEXT,
    who       TEXT,
    due_date  TEXT,
    status    TEXT,
    _deleted  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX plan_action_person ON plan_action(person_id);

CREATE TABLE visit (
    id            TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL,
    planned_start TEXT,
    actual_start  TEXT,
    actual_end    TEXT,
    status        TEXT,
    missed_reason TEXT,
    outcome       TEXT,
    _deleted      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX visit_person ON visit(person_id);

CREATE TABLE note (
    id        TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    visit_id  TEXT,
    text      TEXT,
    _deleted  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX note_person ON note(person_id);
