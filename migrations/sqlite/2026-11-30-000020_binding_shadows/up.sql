-- Issue #17 item 2: shadow runs. A binding may carry a candidate version
-- that runs beside the live one on a sampled share of real token requests,
-- off the request path (server/tessera/src/service/shadow/). The candidate
-- lives in the bindings row, so the config_generation triggers of migration
-- 000014 carry a change to every node's snapshot within a second.
ALTER TABLE bindings ADD COLUMN shadow_version_id TEXT;
ALTER TABLE bindings ADD COLUMN shadow_share REAL;
ALTER TABLE bindings ADD COLUMN shadow_sensitive_claims TEXT;
ALTER TABLE bindings ADD COLUMN shadow_since BIGINT;

-- Running totals of the comparisons, one row per binding with a candidate
-- (created when the candidate is set, dropped when it is promoted,
-- discarded or replaced). No generation trigger: written in batches by
-- every node's shadow worker, never read by the token path.
CREATE TABLE shadow_totals (
    binding_id TEXT PRIMARY KEY NOT NULL REFERENCES bindings(id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    compared BIGINT NOT NULL DEFAULT 0,
    differed BIGINT NOT NULL DEFAULT 0,
    live_errors BIGINT NOT NULL DEFAULT 0,
    shadow_errors BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0
);

-- The latest comparisons per binding (bounded by the writer: a window of
-- recent ones for the percentiles, and the latest differences), each with
-- its per-claim diff as JSON (values of sensitive claims already hashed).
CREATE TABLE shadow_results (
    id TEXT PRIMARY KEY NOT NULL,
    binding_id TEXT NOT NULL REFERENCES bindings(id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    live_us BIGINT NOT NULL,
    shadow_us BIGINT NOT NULL,
    live_outcome TEXT NOT NULL,
    shadow_outcome TEXT NOT NULL,
    differed BOOLEAN NOT NULL,
    diff TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX shadow_results_binding ON shadow_results(binding_id, id);
