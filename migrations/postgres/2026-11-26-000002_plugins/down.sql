DROP TABLE plugin_runs;
DROP TABLE bindings;
DROP TABLE plugin_versions;
DROP TABLE plugins;
