-- SPDX-License-Identifier: MIT
-- 0010_scale_out.sql - what several daemons on one database need (docs/internals/scale-out.md):
--
--  * store_head, the one ordered append point: the server sequence (SQLite's meta 'seq'), the
--    store's hybrid logical clock (meta 'hlc') and the audit chain's tail, in one row. A write
--    transaction takes it with UPDATE ... RETURNING, which holds the row's lock until COMMIT or
--    ROLLBACK; everything it numbers (field_state.seq, assignment and expiry seqs, audit ids,
--    conflict_events ids) is numbered while it holds that lock. So numbers become visible in the
--    order they were given: a pull never passes a number that commits later.
--  * guards that refuse, in the database, what would break that with several writers: numbered
--    rows written by a transaction that does not hold store_head, a counter moving back, an
--    audit row that does not extend the chain.
--
-- The row is made with the sequence at the wall clock in microseconds (ms x 1000), as an
-- embedded store lifts its own at every open (docs/internals/audit.md, "Rewinds").

CREATE TABLE IF NOT EXISTS store_head (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq        bigint NOT NULL CHECK (seq >= 0),
    hlc        bigint NOT NULL DEFAULT 0 CHECK (hlc >= 0),
    audit_id   bigint NOT NULL DEFAULT 0 CHECK (audit_id >= 0),
    audit_hash text NOT NULL DEFAULT repeat('0', 64)
);
INSERT INTO store_head(seq)
    VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint * 1000)
    ON CONFLICT DO NOTHING;

-- Whether this transaction holds the append point: it has updated store_head (the row version
-- it sees is its own). The update must be made at the top level, not inside a savepoint.
CREATE OR REPLACE FUNCTION store_head_held() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT xmin = pg_current_xact_id()::xid FROM store_head
$$;

-- The counter, the clock and the chain's tail only move forward, and the tail names a row that
-- is in the chain; the row itself is never removed.
CREATE OR REPLACE FUNCTION store_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'store_head is the store''s one append point: it is never removed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.seq < OLD.seq OR NEW.hlc < OLD.hlc OR NEW.audit_id < OLD.audit_id THEN
        RAISE EXCEPTION 'store_head moves forward only (seq %, hlc %, audit %)',
            NEW.seq, NEW.hlc, NEW.audit_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.audit_id <> OLD.audit_id AND NOT EXISTS
            (SELECT 1 FROM audit WHERE id = NEW.audit_id AND hash = NEW.audit_hash) THEN
        RAISE EXCEPTION 'store_head names audit row % with a hash the chain does not hold',
            NEW.audit_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER store_head_forward BEFORE UPDATE OR DELETE ON store_head
    FOR EACH ROW EXECUTE FUNCTION store_head_forward();
CREATE OR REPLACE TRIGGER store_head_no_truncate BEFORE TRUNCATE ON store_head
    FOR EACH STATEMENT EXECUTE FUNCTION store_head_forward();

-- Numbered rows only from the holder of the append point, and never past it. Statement
-- triggers over the rows written (transition tables): one check per statement, not per row.
CREATE OR REPLACE FUNCTION numbered_under_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    top bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM written) THEN
        RETURN NULL;
    END IF;
    IF NOT store_head_held() THEN
        RAISE EXCEPTION '% of %: numbered rows are written only by the transaction holding store_head (UPDATE store_head first)',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT seq INTO top FROM store_head;
    IF TG_TABLE_NAME = 'field_state' THEN
        IF EXISTS (SELECT 1 FROM written WHERE seq > top) THEN
            RAISE EXCEPTION 'field_state: a seq past store_head.seq %', top
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    ELSIF TG_TABLE_NAME = 'assignments' THEN
        IF EXISTS (SELECT 1 FROM written WHERE start_seq > top OR end_seq > top) THEN
            RAISE EXCEPTION 'assignments: a seq past store_head.seq %', top
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    ELSIF TG_TABLE_NAME = 'person_expiry' THEN
        IF EXISTS (SELECT 1 FROM written WHERE expired_seq > top OR reopened_seq > top) THEN
            RAISE EXCEPTION 'person_expiry: a seq past store_head.seq %', top
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER field_state_numbered_insert AFTER INSERT ON field_state
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER field_state_numbered_update AFTER UPDATE ON field_state
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER assignments_numbered_insert AFTER INSERT ON assignments
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER assignments_numbered_update AFTER UPDATE ON assignments
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER person_expiry_numbered_insert AFTER INSERT ON person_expiry
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER person_expiry_numbered_update AFTER UPDATE ON person_expiry
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER conflict_events_numbered AFTER INSERT ON conflict_events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();
CREATE OR REPLACE TRIGGER audit_numbered AFTER INSERT ON audit
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION numbered_under_head();

-- One chain: each audit row extends the row before it (the first, the genesis hash of 64
-- zeros). Two writers cannot fork it: the same id twice is refused by the primary key, a gap
-- or a wrong prev_hash by this trigger.
CREATE OR REPLACE FUNCTION audit_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev text;
BEGIN
    IF NEW.id = 1 THEN
        prev := repeat('0', 64);
    ELSE
        SELECT hash INTO prev FROM audit WHERE id = NEW.id - 1;
    END IF;
    IF prev IS DISTINCT FROM NEW.prev_hash THEN
        RAISE EXCEPTION 'audit row % does not extend the chain (row % %)', NEW.id, NEW.id - 1,
            CASE WHEN prev IS NULL THEN 'is missing' ELSE 'has another hash' END
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER audit_extends_chain BEFORE INSERT ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_extends_chain();

INSERT INTO schema_migrations(version, name) VALUES (10, '0010_scale_out') ON CONFLICT DO NOTHING;
