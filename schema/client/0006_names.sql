-- SPDX-License-Identifier: MIT
-- 0006_names.sql - a person's name and address in parts (family and given names, title;
-- address lines, town or city, postcode) and the GP practice's ODS code (common/catalogue.c,
-- docs/internals/fhir.md). Columns are only added: the whole name and address already held
-- stay as they are, and nothing is guessed from them. Forward-only.

ALTER TABLE person ADD COLUMN family_name TEXT;
ALTER TABLE person ADD COLUMN given_names TEXT;
ALTER TABLE person ADD COLUMN name_prefix TEXT;
ALTER TABLE person ADD COLUMN address_line1 TEXT;
ALTER TABLE person ADD COLUMN address_line2 TEXT;
ALTER TABLE person ADD COLUMN address_city TEXT;
ALTER TABLE person ADD COLUMN address_postcode TEXT;
ALTER TABLE person ADD COLUMN gp_ods_code TEXT;
