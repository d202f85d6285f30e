ALTER TABLE refresh_tokens DROP COLUMN grant_type;
ALTER TABLE clients DROP COLUMN disabled;
DROP TABLE api_resource_servers;
DROP TABLE consents;

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
