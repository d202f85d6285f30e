DROP TABLE session_clients;
ALTER TABLE authorization_codes DROP COLUMN sid;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
