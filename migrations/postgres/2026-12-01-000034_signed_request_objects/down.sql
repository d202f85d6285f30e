ALTER TABLE clients DROP COLUMN require_signed_request_object;
