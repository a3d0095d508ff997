-- SPDX-License-Identifier: MIT
-- 0003_handover.sql - when an assignment ended, in milliseconds, so edits a worker recorded
-- offline within the handover grace period after it ended are still kept
-- (schema/server/0003_handover.sql; docs/internals/merge.md, "Safe handover").

ALTER TABLE assignments ADD COLUMN IF NOT EXISTS ended_ms bigint;

INSERT INTO schema_migrations(version, name) VALUES (3, '0003_handover') ON CONFLICT DO NOTHING;
