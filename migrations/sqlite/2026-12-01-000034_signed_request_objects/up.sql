-- RFC 9101 §10.5 `require_signed_request_object`: a client registered so
-- has its authorization requests taken only as signed request objects (by
-- value at the authorization endpoint, or pushed).
ALTER TABLE clients ADD COLUMN require_signed_request_object BOOLEAN NOT NULL DEFAULT FALSE;
