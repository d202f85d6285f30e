ALTER TABLE authorization_codes DROP COLUMN replayed_at;
ALTER TABLE authorization_codes DROP COLUMN access_expires_at;
ALTER TABLE authorization_codes DROP COLUMN access_jti;
ALTER TABLE refresh_tokens DROP COLUMN access_expires_at;
ALTER TABLE refresh_tokens DROP COLUMN access_jti;
DROP TABLE revocations;
