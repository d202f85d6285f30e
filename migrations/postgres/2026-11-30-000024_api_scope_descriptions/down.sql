DROP TABLE api_scope_descriptions;
