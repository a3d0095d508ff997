-- SPDX-License-Identifier: MIT
-- 0011_flags.sql - the store's six flags as integers, as sql.h's portable subset has them
-- ("booleans are stored as integers 0/1") and the embedded store does: the store's SQL,
-- written once for both databases, binds them as int8 parameters and compares them with
-- integer literals (wrote = 1, redecide = 0), which a boolean column refuses (no operator
-- boolean = bigint, no assignment cast from bigint). And devices.redecide is not a flag: it
-- holds 2 for a coordinator's devices (store_people.c), which a boolean cannot.
-- The columns keep their meaning: false is 0, true is 1. Run again, it changes nothing (only
-- a column still boolean is altered).

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND data_type = 'boolean'
               AND (table_name, column_name) IN (('change_log', 'conflict'),
                   ('conflicts', 'review'), ('conflict_resolutions', 'wrote'),
                   ('conflict_resolutions', 'before_exists'), ('devices', 'redecide'),
                   ('devices', 'redecide_done'))
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP DEFAULT', c.table_name, c.column_name);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE bigint USING %I::integer',
                       c.table_name, c.column_name, c.column_name);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT 0', c.table_name, c.column_name);
    END LOOP;
END;
$$;

INSERT INTO schema_migrations(version, name) VALUES (11, '0011_flags') ON CONFLICT DO NOTHING;
