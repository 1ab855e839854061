-- The admission gate matches a child's exact certificate (SHA-256 of its DER), not only its serial.
ALTER TABLE children ADD COLUMN fingerprint TEXT;
