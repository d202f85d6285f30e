ALTER TABLE plugin_versions DROP COLUMN signature;
ALTER TABLE plugin_versions DROP COLUMN signed_by;
