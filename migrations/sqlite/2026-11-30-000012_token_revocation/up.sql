-- Issue #15 item 1: revocable access tokens. Access tokens are JWTs checked
-- without a database read, so a revocation is a row here that every node
-- copies into memory (server/tessera/src/service/oauth/revoked.rs polls rows
-- with a larger id, or written recently). A row is one of:
--   kind 'token':  the access token whose jti is `subject`;
--   kind 'client': every token of client `subject` issued before `issued_before`;
--   kind 'user':   every token of user `subject` issued before `issued_before`.
-- A row is kept until `expires_at`, when every token it covers has expired,
-- and then purged (server/store/src/purge.rs).
CREATE TABLE revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    issued_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revocations_created_at ON revocations(created_at);
CREATE INDEX revocations_expires_at ON revocations(expires_at);

-- The access token issued with each refresh token, so revoking the family
-- revokes the access tokens issued from it too.
ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT;
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at BIGINT;

-- The access token issued from a code, and when a replay of the code was
-- seen: whichever of the redemption and the replay writes second sees the
-- other's column and revokes (RFC 6749 §4.1.2), in any order, on any node.
ALTER TABLE authorization_codes ADD COLUMN access_jti TEXT;
ALTER TABLE authorization_codes ADD COLUMN access_expires_at BIGINT;
ALTER TABLE authorization_codes ADD COLUMN replayed_at BIGINT;
