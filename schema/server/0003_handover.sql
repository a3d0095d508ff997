-- SPDX-License-Identifier: MIT
-- 0003_handover.sql - when an assignment ended, in milliseconds, so edits a worker recorded
-- offline within the handover grace period after it ended are still kept
-- (docs/internals/merge.md, "Safe handover").

ALTER TABLE assignments ADD COLUMN ended_ms INTEGER;
