ALTER TABLE device_codes DROP COLUMN amr;
ALTER TABLE refresh_tokens DROP COLUMN amr;
ALTER TABLE authorization_codes DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE pending_sign_ins;
DROP TABLE user_recovery_codes;
DROP TABLE user_second_factors;
