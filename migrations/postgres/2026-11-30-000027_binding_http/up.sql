-- Issue #17 item 4: outbound HTTP for plugins of tessera:plugin@0.2.0.
-- A binding names the URL prefixes its plugin may reach (a JSON array of
-- strings, checked by server/plugin-host/src/http.rs when set and at each
-- call) and how long a successful answer is reused (NULL: no cache). Both
-- live in the bindings row, so the config_generation triggers of migration
-- 000014 carry a change to every node's snapshot.
ALTER TABLE bindings ADD COLUMN http_allow TEXT NOT NULL DEFAULT '[]';
ALTER TABLE bindings ADD COLUMN http_cache_ttl_secs BIGINT;

-- Every request a run made (method, URL without query values, status,
-- bytes, duration, cached, error), a JSON array; '[]' for runs without any.
ALTER TABLE plugin_runs ADD COLUMN http TEXT NOT NULL DEFAULT '[]';
