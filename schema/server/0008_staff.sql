-- SPDX-License-Identifier: MIT
-- 0008_staff.sql - how staff appear in exports (docs/internals/fhir.md "Staff"): the name
-- people know them by, and their professional registrations (Nursing and Midwifery Council
-- PIN, Health and Care Professions Council number, Social Work England number), all optional.
-- The user name stays the login and the key. Forward-only.

ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN nmc_pin TEXT;
ALTER TABLE users ADD COLUMN hcpc_number TEXT;
ALTER TABLE users ADD COLUMN swe_number TEXT;
