-- JWT client authentication with keys fetched from the client's jwks_uri
-- (RFC 7523 §2.2, OIDC Core §9; never together with an inline jwks), and
-- the JWT bearer grant (RFC 7523 §2.1): the issuers a client trusts, each
-- with its keys (inline or by URL) and how its `sub` names a user, as a
-- JSON array.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN jwt_bearer_issuers TEXT NOT NULL DEFAULT '[]';
