-- SPDX-License-Identifier: MIT
-- 0010_closed_on_index.sql - the closed records' sweep runs at every sync's pull (its query in
-- daemon/sqlite_pull.c, sqlite_expire_closed()): find the closed_on fields through their own
-- partial index instead of walking every person's fields. Of a writer's CPU per sync at 500
-- devices at once (bench item 4) the walk was about a fifth; bench/README.md.

CREATE INDEX field_state_closed_on ON field_state(value) WHERE tbl = 'person' AND field = 'closed_on';
