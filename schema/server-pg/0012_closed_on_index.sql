-- SPDX-License-Identifier: MIT
-- 0012_closed_on_index.sql - as schema/server/0010_closed_on_index.sql: the closed records'
-- sweep, run at every sync's pull, finds the closed_on fields through their own partial index.

CREATE INDEX IF NOT EXISTS field_state_closed_on ON field_state(value) WHERE tbl = 'person' AND field = 'closed_on';
