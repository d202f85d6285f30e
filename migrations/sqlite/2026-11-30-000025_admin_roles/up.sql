-- Issue #18 item 2: administrators get a role (a set of the management API's
-- scopes, see server/tessera/src/service/roles.rs) and can be disabled.
-- Everyone who was an administrator before roles existed could do
-- everything, so existing rows become owners.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE admins ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- What the account page shows of a session (both bounded by the service).
ALTER TABLE admin_sessions ADD COLUMN address TEXT;
ALTER TABLE admin_sessions ADD COLUMN user_agent TEXT;

-- One-time invitation links: stored as a hash, single use (deleting the row
-- is the check), expiring; the invitee picks a username and password.
CREATE TABLE admin_invitations (
    token_hash TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
