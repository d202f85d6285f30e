-- DPoP (RFC 9449). A client can require DPoP on every token request
-- (dpop_bound_access_tokens, §5.2). A public client's refresh token is bound
-- to the key its first proof used (§5): dpop_jkt is that key's RFC 7638
-- thumbprint, and a refresh must prove possession of the same key. Each
-- proof is accepted once (§11.1): its jti is kept, per key, until the proof
-- is too old to be accepted anyway, shared by every node.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;

CREATE TABLE dpop_proof_jtis (
    jkt TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (jkt, jti)
);

CREATE INDEX dpop_proof_jtis_expires_at ON dpop_proof_jtis (expires_at);
