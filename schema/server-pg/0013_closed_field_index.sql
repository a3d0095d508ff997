-- SPDX-License-Identifier: MIT
-- 0013_closed_field_index.sql - schema/server/0010's index: the records closed on or before a
-- day found from their closed_on fields (the sweep of closed records, daemon/store_pull.c),
-- not by reading every person field.

CREATE INDEX IF NOT EXISTS field_state_field ON field_state(field, tbl);

INSERT INTO schema_migrations(version, name) VALUES (13, '0013_closed_field_index') ON CONFLICT DO NOTHING;
