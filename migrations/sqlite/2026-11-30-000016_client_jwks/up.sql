-- JWT client authentication (RFC 7523 §2.2, OIDC Core §9 private_key_jwt):
-- a client's public keys as an inline JWK Set (JSON), and the jti values of
-- the assertions it used, kept until the assertion expires, so that each
-- assertion is accepted once.
ALTER TABLE clients ADD COLUMN jwks TEXT;

CREATE TABLE client_assertion_jtis (
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
