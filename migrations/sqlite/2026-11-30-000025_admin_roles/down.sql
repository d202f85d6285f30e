DROP TABLE admin_invitations;
ALTER TABLE admin_sessions DROP COLUMN user_agent;
ALTER TABLE admin_sessions DROP COLUMN address;
ALTER TABLE admins DROP COLUMN disabled;
ALTER TABLE admins DROP COLUMN role;
