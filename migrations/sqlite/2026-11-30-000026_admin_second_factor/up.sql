-- Issue #18 item 2: a TOTP second factor (RFC 6238) for administrators.
-- The secret is sealed with the master key (AES-256-GCM, bound to the
-- administrator's id); totp_last_step is the last time step a code was
-- accepted for, so a code is used once within its window.
ALTER TABLE admins ADD COLUMN totp_secret_enc BLOB;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;

-- Recovery codes: stored as SHA-256 hashes, each used once.
CREATE TABLE admin_recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE
);

-- A session past the password but not yet past the second factor:
-- 'code' (asks for a code) or 'enrol' (must enrol first); NULL when complete.
ALTER TABLE admin_sessions ADD COLUMN pending TEXT;

-- Server-wide console settings: one row.
CREATE TABLE console_settings (
    id INTEGER PRIMARY KEY NOT NULL,
    require_second_factor BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO console_settings (id, require_second_factor) VALUES (1, FALSE);
