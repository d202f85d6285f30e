-- Pushed authorization requests (RFC 9126). A row holds the validated
-- authorization request's parameters, found by the SHA-256 of the
-- request_uri handed to the client. The authorization endpoint opens it once
-- before expires_at (and then holds it for the sign-in), and uses it once:
-- used_at is set by the authorization response. A row lives until the purge
-- deletes it after expires_at. Clients can require PAR.
CREATE TABLE pushed_requests (
    request_uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    opened_at BIGINT,
    used_at BIGINT
);

CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);

ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
