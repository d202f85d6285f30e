-- Issue #11 item 4: consent is recorded per user, client and API (audience).
-- The old rows said only "this user allowed this client these scope names",
-- which made consent to API A's `read` cover API B's `read`. They cannot be
-- assigned to an API after the fact, so they are dropped: users are asked
-- once more. `api_id` is the API's internal id (a new API under an old
-- identifier never inherits consent), or `userinfo` for OpenID Connect
-- requests without an audience.
DROP TABLE consents;

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    api_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, api_id)
);

-- Issue #11 item 7 (RFC 7662 §4): the clients registered as resource servers
-- of an API, which may introspect tokens issued for that API's audience.
-- Deleting either side ends the link.
CREATE TABLE api_resource_servers (
    api_id TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    PRIMARY KEY (api_id, client_id)
);
CREATE INDEX api_resource_servers_client ON api_resource_servers(client_id);

-- Issue #11 item 5: an admin can disable a client. A disabled client cannot
-- authenticate or start an authorization; disabling it ends its refresh
-- token families.
ALTER TABLE clients ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- Issue #11 item 5: the grant type that started a refresh-token family
-- (authorization_code or password), so a refresh can check the client still
-- has it. NULL for families started before this column existed.
ALTER TABLE refresh_tokens ADD COLUMN grant_type TEXT;
