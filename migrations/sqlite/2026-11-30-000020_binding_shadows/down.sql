DROP TABLE shadow_results;
DROP TABLE shadow_totals;
ALTER TABLE bindings DROP COLUMN shadow_since;
ALTER TABLE bindings DROP COLUMN shadow_sensitive_claims;
ALTER TABLE bindings DROP COLUMN shadow_share;
ALTER TABLE bindings DROP COLUMN shadow_version_id;
