-- SPDX-License-Identifier: MIT
-- 0005_person_field_index.sql - look up one person's fields of one table (their consent
-- records, read for every pushed change and pulled person) without scanning every consent row
-- in the store; bench/README.md, item 6.

CREATE INDEX field_state_person_field ON field_state(person_id, tbl, field);
