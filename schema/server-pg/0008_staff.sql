-- SPDX-License-Identifier: MIT
-- 0008_staff.sql - how staff appear in exports (schema/server/0008_staff.sql;
-- docs/internals/fhir.md "Staff"): display name and professional registrations, all optional.

ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS nmc_pin text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS hcpc_number text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS swe_number text;

INSERT INTO schema_migrations(version, name) VALUES (8, '0008_staff') ON CONFLICT DO NOTHING;
