-- Issue #18 item 2: WebAuthn passkeys as a second factor for administrators.
-- credential is the passkey as webauthn-rs serializes it (public key,
-- signature counter, backup state), rewritten after each use;
-- credential_id is its WebAuthn credential id (base64url), unique across
-- administrators so an authenticator's credential is enrolled once.
CREATE TABLE admin_passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX admin_passkeys_admin ON admin_passkeys (admin_id);

-- A ceremony in flight (registration or sign-in), one per session: the
-- state webauthn-rs must keep server-side, sealed with the master key and
-- bound to the session, taken once, refused after expires_at.
CREATE TABLE admin_passkey_ceremonies (
    session_hash TEXT PRIMARY KEY NOT NULL REFERENCES admin_sessions(id_hash) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state_enc BLOB NOT NULL,
    expires_at BIGINT NOT NULL
);
