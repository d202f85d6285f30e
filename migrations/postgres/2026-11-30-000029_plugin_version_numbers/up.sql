-- A plugin's version numbers are never given out twice: deleting the newest
-- version used to let the next upload take its number again, so the metrics'
-- `version` label, the dashboard's figures and the audit log named two
-- different components by one number. The highest number ever given is kept
-- on the plugin, and an upload takes the next one by incrementing it (which
-- also serialises concurrent uploads of one plugin on its row).
ALTER TABLE plugins ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
UPDATE plugins SET last_version = COALESCE(
    (SELECT MAX(version) FROM plugin_versions WHERE plugin_versions.plugin_id = plugins.id), 0);
