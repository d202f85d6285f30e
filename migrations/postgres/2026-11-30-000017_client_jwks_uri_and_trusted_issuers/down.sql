ALTER TABLE clients DROP COLUMN jwt_bearer_issuers;
ALTER TABLE clients DROP COLUMN jwks_uri;
