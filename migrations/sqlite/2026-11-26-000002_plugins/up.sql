-- Plugins: uploaded components and their numbered versions, bindings per
-- grant type, and bounded run records.
CREATE TABLE plugins (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE plugin_versions (
    id TEXT PRIMARY KEY NOT NULL,
    plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    wasm BLOB NOT NULL,
    world TEXT NOT NULL,
    declared_claims TEXT,
    interface TEXT NOT NULL DEFAULT '{}',
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    UNIQUE (plugin_id, version)
);

CREATE TABLE bindings (
    id TEXT PRIMARY KEY NOT NULL,
    plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    plugin_version_id TEXT NOT NULL REFERENCES plugin_versions(id),
    trigger_name TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    client_ids TEXT,
    position INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    secrets_enc BLOB,
    secret_names TEXT NOT NULL DEFAULT '[]',
    failure_policy TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE plugin_runs (
    id TEXT PRIMARY KEY NOT NULL,
    binding_id TEXT NOT NULL,
    plugin_version_id TEXT NOT NULL,
    grant_type TEXT NOT NULL,
    client_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    logs TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX plugin_runs_at ON plugin_runs(at);
CREATE INDEX plugin_runs_binding ON plugin_runs(binding_id);
