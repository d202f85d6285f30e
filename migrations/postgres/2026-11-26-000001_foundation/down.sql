DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE apis;
DROP TABLE client_secrets;
DROP TABLE clients;
DROP TABLE users;
