-- OpenID Connect Back-Channel Logout 1.0. A client may register the URL
-- its Logout Tokens are posted to; an authorization code remembers the
-- session it was issued in (the ID token's `sid`); and each session
-- remembers the clients that signed in through it, so ending it can tell
-- them. A row goes with its session or its client.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;
CREATE TABLE session_clients (
    session_hash TEXT NOT NULL REFERENCES sessions(id_hash) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);
CREATE INDEX session_clients_client ON session_clients (client_id);
