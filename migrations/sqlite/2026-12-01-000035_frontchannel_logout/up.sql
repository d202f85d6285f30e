-- OpenID Connect Front-Channel Logout 1.0: a client may register a page of
-- its own that the browser loads (in a hidden iframe, with `iss` and `sid`)
-- when a session it signed in through ends at the end-session endpoint.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
