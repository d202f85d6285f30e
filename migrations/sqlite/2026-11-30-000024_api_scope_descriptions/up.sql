-- What each scope of an API lets a client do, in words for the people who
-- approve it: the consent page shows the description instead of the bare
-- scope name. A scope without a row is shown by its name.
CREATE TABLE api_scope_descriptions (
    api_id TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (api_id, scope)
);
