-- SPDX-License-Identifier: MIT
-- 0004_export_audit.sql - the FHIR exports made on this device (`caresync export --fhir`),
-- kept until a sync has sent them to the server's audit log (POST /v1/sync "exports"). Only
-- the person's id and the device's time: nothing of the person is kept here.

CREATE TABLE export_log (
    id        INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;
