DROP TABLE client_assertion_jtis;
ALTER TABLE clients DROP COLUMN jwks;
