DROP TABLE admin_setup_tokens;
DROP TABLE admin_sessions;
DROP TABLE admins;
