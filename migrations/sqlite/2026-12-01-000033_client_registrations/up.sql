-- OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management
-- protocol (RFC 7592): a client created by registration holds a
-- registration access token, stored only as its SHA-256, which reads,
-- replaces and deletes it at its client configuration endpoint, and the
-- metadata it registered that the client row has no column for (the
-- authentication method, the response types, descriptive fields), as JSON.
-- A row goes with its client.
CREATE TABLE client_registrations (
    client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    registered TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
