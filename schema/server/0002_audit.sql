-- SPDX-License-Identifier: MIT
-- 0002_audit.sql - the append-only, hash-chained audit log: every change applied (before and
-- after), every resolution, assignment change, enrolment and revocation, and every pull (which
-- person was sent to which device). hash = SHA-256 over the previous hash and this row's fields
-- (docs/internals/audit.md); `caresyncd audit verify` recomputes the chain.

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    actor_user   TEXT NOT NULL,
    actor_device TEXT,
    person_id    TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_person ON audit(person_id, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
