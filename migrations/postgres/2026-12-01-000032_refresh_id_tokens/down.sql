ALTER TABLE refresh_tokens DROP COLUMN sid;
ALTER TABLE refresh_tokens DROP COLUMN auth_time;
