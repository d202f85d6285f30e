DROP TABLE console_settings;
ALTER TABLE admin_sessions DROP COLUMN pending;
DROP TABLE admin_recovery_codes;
ALTER TABLE admins DROP COLUMN totp_last_step;
ALTER TABLE admins DROP COLUMN totp_secret_enc;
