-- SPDX-License-Identifier: MIT
-- 0009_console.sql - the coordinators' web console (schema/server/0009_console.sql;
-- docs/PROTOCOL.md, "The console"): a member of staff's sign-in (Argon2id PHC string, TOTP
-- secret, the last time step accepted) and the sessions signed in, kept by the SHA-256 of their
-- cookie. totp_last_step is updated with a compare-and-set (WHERE totp_last_step < step), so two
-- daemons cannot both accept one code.

CREATE TABLE IF NOT EXISTS staff_logins (
    user_id        bigint PRIMARY KEY REFERENCES users(id),
    password_hash  text NOT NULL,
    totp_secret    text NOT NULL,
    totp_last_step bigint NOT NULL DEFAULT 0,
    set_at         timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id),
    csrf       text NOT NULL,
    addr       text,
    created_ms bigint NOT NULL,
    seen_ms    bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions(user_id);

INSERT INTO schema_migrations(version, name) VALUES (9, '0009_console') ON CONFLICT DO NOTHING;
