-- SPDX-License-Identifier: MIT
-- 0007_lifecycle.sql - who may still work and what their devices hold: a disabled user (a
-- leaver) and the re-decision of a device's replica after its user's role changed
-- (docs/internals/access.md, "Role changes"). Forward-only.

ALTER TABLE users ADD COLUMN disabled_at TEXT;
-- Set for every device of a user whose role changed: the next pulls re-send the visible state
-- from the start and drop what is no longer visible. redecide_cursor is the last cursor given
-- during the re-decision and redecide_done whether that page was its last.
ALTER TABLE devices ADD COLUMN redecide INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN redecide_cursor TEXT;
ALTER TABLE devices ADD COLUMN redecide_done INTEGER NOT NULL DEFAULT 0;

-- People whose record has been closed for longer than field devices keep it (STORE_CLOSED_KEEP_DAYS
-- after closed_on): expired_seq is the pull stream's purge of them from field workers' devices,
-- reopened_seq (when reopened since) the stream's re-send of the whole person.
CREATE TABLE person_expiry (
    person_id    TEXT PRIMARY KEY,
    expired_seq  INTEGER NOT NULL,
    reopened_seq INTEGER
) STRICT;
