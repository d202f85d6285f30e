-- Foundation: users, clients and their secrets, APIs, signing keys, audit log.
-- Times are Unix seconds (BIGINT) and JSON is TEXT on both backends, so one
-- diesel schema serves SQLite and PostgreSQL.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    email TEXT,
    profile TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    roles TEXT NOT NULL DEFAULT '[]',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    confidential BOOLEAN NOT NULL,
    grant_types TEXT NOT NULL DEFAULT '[]',
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    allowed_scopes TEXT,
    allowed_audiences TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    service_account_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE client_secrets (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX client_secrets_client ON client_secrets(client_id);

CREATE TABLE apis (
    id TEXT PRIMARY KEY NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    alg TEXT NOT NULL,
    token_lifetime_secs BIGINT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '[]',
    hs256_secret_enc BLOB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    private_key_enc BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT
);
CREATE INDEX signing_keys_alg_state ON signing_keys(alg, state);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events(at);
