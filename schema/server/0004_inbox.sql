-- SPDX-License-Identifier: MIT
-- 0004_inbox.sql - the coordinator's conflict inbox, device health and caseload roles:
--  * a resolution needs a reason, may be superseded by a later one, and every resolution is
--    kept (conflict_resolutions); the conflicts row shows the latest;
--  * conflict_events numbers every creation and resolution of a conflict, so each device can be
--    told how many of its user's values entered or left the log since it last synced
--    (devices.notice_event is its cursor);
--  * what each device reports about itself on every sync (oldest unsent edit, last error,
--    its wall clock and the skew seen);
--  * the named coordinator of a person: one per person.
-- docs/PROTOCOL.md ("GET /v1/conflicts", "POST /v1/sync", "GET /v1/devices", caseload routes).

ALTER TABLE conflicts ADD COLUMN reason TEXT;

CREATE TABLE conflict_resolutions (
    id             INTEGER PRIMARY KEY,
    conflict_id    INTEGER NOT NULL REFERENCES conflicts(id),
    action         TEXT NOT NULL,            -- keep, restore, value
    value          TEXT,                     -- the value written, if any
    wrote          INTEGER NOT NULL DEFAULT 0,
    change_id      TEXT,                     -- the change written for the field, if any
    before_exists  INTEGER NOT NULL DEFAULT 0,
    before_value   TEXT,                     -- the field just before this resolution
    before_deleted TEXT,                     -- the row's _deleted just before it
    reason         TEXT NOT NULL,
    resolved_by    INTEGER NOT NULL REFERENCES users(id),
    device         TEXT,
    resolved_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX conflict_resolutions_conflict ON conflict_resolutions(conflict_id, id);

-- Every creation and resolution of a conflict, in order. Creations come from the merge code,
-- so a trigger records them whoever inserts the conflict.
CREATE TABLE conflict_events (
    id          INTEGER PRIMARY KEY,
    conflict_id INTEGER NOT NULL,
    event       TEXT NOT NULL,               -- created, resolved
    at_ms       INTEGER NOT NULL
) STRICT;
CREATE INDEX conflict_events_conflict ON conflict_events(conflict_id);

INSERT INTO conflict_events(conflict_id, event, at_ms)
    SELECT id, 'created', created_ms FROM conflicts ORDER BY id;

CREATE TRIGGER conflicts_event_created AFTER INSERT ON conflicts
BEGIN
    INSERT INTO conflict_events(conflict_id, event, at_ms) VALUES (NEW.id, 'created', NEW.created_ms);
END;
CREATE TRIGGER conflicts_event_resolved AFTER INSERT ON conflict_resolutions
BEGIN
    INSERT INTO conflict_events(conflict_id, event, at_ms)
        VALUES (NEW.conflict_id, 'resolved', NEW.resolved_ms);
END;

ALTER TABLE devices ADD COLUMN oldest_pending_ms INTEGER;
ALTER TABLE devices ADD COLUMN last_error TEXT;
ALTER TABLE devices ADD COLUMN device_time TEXT;
ALTER TABLE devices ADD COLUMN clock_skew_ms INTEGER;
ALTER TABLE devices ADD COLUMN notice_event INTEGER;

CREATE TABLE named_coordinators (
    person_id TEXT PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id),
    set_at    TEXT NOT NULL,
    set_by    INTEGER REFERENCES users(id)
) STRICT;
