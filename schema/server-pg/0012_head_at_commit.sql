-- SPDX-License-Identifier: MIT
-- 0012_head_at_commit.sql - the bound "no numbered row past store_head.seq" checked when the
-- transaction commits, not after every statement (docs/internals/scale-out.md, "A write
-- transaction").
--
-- The daemon's engine numbers as it merges (++seq in memory, as on SQLite) and does not know
-- before the merge how many numbers a batch takes, so it cannot move store_head.seq past them
-- first. It takes the head at BEGIN (UPDATE store_head SET seq = seq: the lock, so that no one
-- else numbers), writes its numbered rows, and writes the head's new seq last, just before
-- COMMIT. 0010 checked the bound per statement, which refused every such row. Checked at
-- commit instead (a deferred constraint trigger, one event per row written, run inside the
-- server), the guarantee is the same: no transaction commits a number above the head it
-- commits, so a pull bounded by the head misses nothing. Holding the head is still checked at
-- once, per statement (numbered_under_head()).
-- Run again, it changes nothing.

CREATE OR REPLACE FUNCTION numbered_under_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM written) THEN
        RETURN NULL;
    END IF;
    IF NOT store_head_held() THEN
        RAISE EXCEPTION '% of %: numbered rows are written only by the transaction holding store_head (UPDATE store_head first)',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION numbered_within_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    top bigint;
    bad boolean := false;
BEGIN
    SELECT seq INTO top FROM store_head;
    -- One branch per table: plpgsql resolves every NEW.x of an expression, so a column of
    -- another table may not appear in this table's branch.
    IF TG_TABLE_NAME = 'field_state' THEN
        bad := NEW.seq > top;
    ELSIF TG_TABLE_NAME = 'assignments' THEN
        bad := NEW.start_seq > top OR NEW.end_seq > top;
    ELSIF TG_TABLE_NAME = 'person_expiry' THEN
        bad := NEW.expired_seq > top OR NEW.reopened_seq > top;
    END IF;
    IF bad THEN
        RAISE EXCEPTION '%: a seq past store_head.seq % at commit', TG_TABLE_NAME, top
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS field_state_within_head ON field_state;
CREATE CONSTRAINT TRIGGER field_state_within_head AFTER INSERT OR UPDATE ON field_state
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION numbered_within_head();
DROP TRIGGER IF EXISTS assignments_within_head ON assignments;
CREATE CONSTRAINT TRIGGER assignments_within_head AFTER INSERT OR UPDATE ON assignments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION numbered_within_head();
DROP TRIGGER IF EXISTS person_expiry_within_head ON person_expiry;
CREATE CONSTRAINT TRIGGER person_expiry_within_head AFTER INSERT OR UPDATE ON person_expiry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION numbered_within_head();

INSERT INTO schema_migrations(version, name) VALUES (12, '0012_head_at_commit') ON CONFLICT DO NOTHING;
