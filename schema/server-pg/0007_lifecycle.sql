-- SPDX-License-Identifier: MIT
-- 0007_lifecycle.sql - a disabled user (a leaver), the re-decision of a device's replica after
-- its user's role changed, and closed people's expiry from field devices
-- (schema/server/0007_lifecycle.sql; docs/internals/access.md, "Role changes").

ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;
-- redecide_cursor is a pull cursor (SEQ:EPOCH:AUDIT_ID:HASH16), text as the protocol writes it.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS redecide boolean NOT NULL DEFAULT false;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS redecide_cursor text;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS redecide_done boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS person_expiry (
    person_id    text PRIMARY KEY,
    expired_seq  bigint NOT NULL,
    reopened_seq bigint
);

INSERT INTO schema_migrations(version, name) VALUES (7, '0007_lifecycle') ON CONFLICT DO NOTHING;
