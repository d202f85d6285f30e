-- DPoP authorization code binding (RFC 9449 §10): the RFC 7638 thumbprint
-- of the key named by the authorization request's dpop_jkt, or by the DPoP
-- proof sent with its pushed request (§10.1). A token request redeems the
-- code only with a proof of that key.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
