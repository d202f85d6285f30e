-- A second factor for end users (TOTP, RFC 6238) at the hosted sign-in
-- pages. One row per user who has one or must enrol one: the secret is
-- sealed with the master key (AES-256-GCM, bound to the user's id);
-- totp_last_step is the last time step a code was accepted for, so a code
-- is used once within its window; required means "enrol at the next
-- sign-in" (set by an administrator; the server-wide switch is
-- [login] require_second_factor in the config).
CREATE TABLE user_second_factors (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    totp_secret_enc BLOB,
    totp_last_step BIGINT,
    enrolled_at BIGINT,
    required BOOLEAN NOT NULL DEFAULT FALSE
);

-- Recovery codes: stored as SHA-256 hashes, each used once.
CREATE TABLE user_recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes(user_id);

-- A sign-in past the password and waiting for the second factor (enrol:
-- the user has none yet and must enrol one). Kept apart from sessions, so
-- nothing that reads a session can take a half-finished sign-in for one.
-- The browser holds the random id; this its hash. session_id_hash: a
-- step-up (acr_values) of that session, which gains the factor in place
-- when the code is right (same sid for the applications signed in with
-- it); ending the session ends the step-up.
CREATE TABLE pending_sign_ins (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enrol BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    session_id_hash TEXT REFERENCES sessions(id_hash) ON DELETE CASCADE
);

-- How the user authenticated (RFC 8176 values, space-separated), carried
-- from the session into the codes, device grants and refresh-token
-- families it starts, and into their ID tokens' amr claim. NULL: not
-- recorded (rows from before this migration; the claim is left out).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT;
ALTER TABLE device_codes ADD COLUMN amr TEXT;
