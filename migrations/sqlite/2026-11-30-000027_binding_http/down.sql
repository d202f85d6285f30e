ALTER TABLE plugin_runs DROP COLUMN http;
ALTER TABLE bindings DROP COLUMN http_cache_ttl_secs;
ALTER TABLE bindings DROP COLUMN http_allow;
