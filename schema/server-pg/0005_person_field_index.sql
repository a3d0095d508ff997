-- SPDX-License-Identifier: MIT
-- 0005_person_field_index.sql - look up one person's fields of one table (their consent
-- records, read for every pushed change and pulled person) without scanning every consent row
-- (schema/server/0005_person_field_index.sql; bench/README.md, item 6).

CREATE INDEX IF NOT EXISTS field_state_person_field ON field_state(person_id, tbl, field);

INSERT INTO schema_migrations(version, name) VALUES (5, '0005_person_field_index')
    ON CONFLICT DO NOTHING;
