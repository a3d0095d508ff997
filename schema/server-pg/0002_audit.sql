-- SPDX-License-Identifier: MIT
-- 0002_audit.sql - the append-only, hash-chained audit log (schema/server/0002_audit.sql;
-- docs/internals/audit.md). hash = SHA-256 over the previous hash and this row's fields, the
-- row's id among them: so the id is the writer's (the chain's tail + 1, taken under the lock on
-- store_head, 0010), not an identity. `caresyncd audit verify` recomputes the chain.

CREATE TABLE IF NOT EXISTS audit (
    id           bigint PRIMARY KEY CHECK (id > 0),
    at_ms        bigint NOT NULL,
    kind         text NOT NULL,
    actor_user   text NOT NULL,
    actor_device text,
    person_id    text,
    detail       text NOT NULL,
    prev_hash    text NOT NULL,
    hash         text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_person ON audit(person_id, id);

-- Append-only, as SQLite's RAISE(ABORT) triggers: UPDATE and DELETE row by row, and TRUNCATE
-- (which fires no row trigger) as a statement.
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE OR REPLACE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

INSERT INTO schema_migrations(version, name) VALUES (2, '0002_audit') ON CONFLICT DO NOTHING;
