DROP TABLE admin_passkey_ceremonies;
DROP TABLE admin_passkeys;
