-- OpenID Connect Core §12.2: a refresh returns a new ID token when the
-- grant that started the family gave one. It keeps the original sign-in's
-- `auth_time` and the browser session's `sid`, so the family remembers
-- them. NULL: the first grant issued no ID token (client credentials'
-- users, the password grant, families from before this migration).
ALTER TABLE refresh_tokens ADD COLUMN auth_time BIGINT;
ALTER TABLE refresh_tokens ADD COLUMN sid TEXT;
