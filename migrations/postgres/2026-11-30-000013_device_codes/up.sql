-- Device authorization requests (RFC 8628). Both codes are stored only as
-- the SHA-256 of what the device and the user were given; the user code's
-- hash is unique so a typed code finds one request. A row lives until the
-- purge deletes it after expires_at.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    audience TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_polled_at BIGINT,
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    auth_time BIGINT,
    used_at BIGINT
);

CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
