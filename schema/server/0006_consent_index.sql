-- SPDX-License-Identifier: MIT
-- 0006_consent_index.sql - the consent lookup of 0005 through a partial index that holds only
-- consent fields: a pushed change to any other table no longer updates it, which cut the pages
-- a sync writes (bench/README.md, item 1).

DROP INDEX field_state_person_field;
CREATE INDEX field_state_consent ON field_state(person_id, field) WHERE tbl = 'consent';
