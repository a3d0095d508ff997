-- SPDX-License-Identifier: MIT
-- 0010_closed_field_index.sql - find the records closed on or before a day (the sweep of
-- closed records, daemon/store_pull.c) from their closed_on fields alone. Without it, the count
-- a sync's page asks first walked every field of every person in the store: 1.6 ms of a
-- reader's CPU per sync at 500 devices, a third of the daemon's SQL (bench/README.md, issue 11).
-- Not partial (WHERE field = 'closed_on'): SQLite would then re-prepare every statement that
-- binds tbl or field at each new value. Upserts keep their cost: an update changes neither
-- column, so only a new field adds an entry.

CREATE INDEX field_state_field ON field_state(field, tbl);
