-- SPDX-License-Identifier: MIT
-- 0006_trust.sql - what the server itself observed, so that no decision rests on a device's word
-- (schema/server/0006_trust.sql; docs/internals/access.md "Windows that depend on time",
-- merge.md "Bases the server never issued"): the highest pull cursor given to each device in a
-- committed reply, and the base a device sent when the server did not trust it.

ALTER TABLE devices ADD COLUMN IF NOT EXISTS given_cursor bigint NOT NULL DEFAULT 0;
ALTER TABLE change_log ADD COLUMN IF NOT EXISTS sent_base_hlc bigint;
ALTER TABLE change_log ADD COLUMN IF NOT EXISTS sent_base_device text;

INSERT INTO schema_migrations(version, name) VALUES (6, '0006_trust') ON CONFLICT DO NOTHING;
