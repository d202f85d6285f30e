-- Back-Channel Logout for sessions an administrator ends (a password reset,
-- a disabled or deleted user): the transaction that ends them queues one
-- notice per client of each session with a back-channel logout URL, and
-- every running server takes queued notices (each once) and posts their
-- Logout Tokens, whichever process made the change (console, management
-- API or the local CLI).
CREATE TABLE logout_notices (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    uri TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX logout_notices_created ON logout_notices (created_at);
