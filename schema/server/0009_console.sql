-- SPDX-License-Identifier: MIT
-- 0008_console.sql - the coordinators' web console (docs/PROTOCOL.md, "The console"): a
-- member of staff's sign-in (an Argon2id password hash in its PHC string form, a TOTP secret in
-- base32 and the last time step a code was accepted for, so a code is never accepted twice) and
-- the sessions signed in, kept by the SHA-256 of their cookie (the cookie itself is never
-- stored). Forward-only.

CREATE TABLE staff_logins (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id),
    password_hash  TEXT NOT NULL,
    totp_secret    TEXT NOT NULL,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    set_at         TEXT NOT NULL
) STRICT;

CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    csrf       TEXT NOT NULL,
    addr       TEXT,
    created_ms INTEGER NOT NULL,
    seen_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_user ON console_sessions(user_id);
