DROP TABLE authorization_codes;
DROP TABLE sessions;
