-- Local accounts of the unit's web pages (argon2 hashes), their sessions, and lock-out state.

CREATE TABLE users (
    name         TEXT PRIMARY KEY NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('editor', 'read-only')),
    hash         TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at   TEXT NOT NULL
);

CREATE TABLE sessions (
    token      TEXT PRIMARY KEY NOT NULL,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
