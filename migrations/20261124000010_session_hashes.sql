-- Web sessions keep only the SHA-256 of their token (lowercase hex): a copy of the store or a
-- backup holds nothing that signs anyone in. Sessions open before this migration end (everyone
-- signs in again once).
-- Sign-in failures are no longer counted per account in the store: the lock-out after five
-- failures is gone; the web server slows down a failing source and account in memory instead.

DROP TABLE sessions;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

ALTER TABLE users DROP COLUMN failures;
ALTER TABLE users DROP COLUMN locked_until;
