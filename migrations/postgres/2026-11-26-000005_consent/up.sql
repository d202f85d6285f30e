-- Consent: remembered per user, client and scope set; first-party clients skip it.
ALTER TABLE clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
