-- Issue #15 item 2 (RFC 8693): what a client may obtain by token exchange.
-- The audiences and scopes are JSON lists of strings like allowed_audiences;
-- the default allows nothing: no audience, no scope, no impersonation
-- (exchange without an actor token).
ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN exchange_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN exchange_impersonation BOOLEAN NOT NULL DEFAULT FALSE;
