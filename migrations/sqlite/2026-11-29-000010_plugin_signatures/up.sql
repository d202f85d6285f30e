-- Signed plugin uploads (issue #17 item 3): who signed a version (the name
-- of the trusted signer whose key verified it) and the signature itself,
-- base64 Ed25519 over the component's sha256; both null when unsigned.
ALTER TABLE plugin_versions ADD COLUMN signed_by TEXT;
ALTER TABLE plugin_versions ADD COLUMN signature TEXT;
