-- Federation: where each replica came from, a change counter for the sync loop, the sync state per
-- (peer, document), the children this unit enrolled, the peers' connection figures, and refusals.

ALTER TABLE documents ADD COLUMN origin TEXT;              -- the peer a replica first came from; NULL for own documents
ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX documents_by_version ON documents (version);

-- Automerge sync::State (shared heads) per peer and document, so a reconnect starts from them.
CREATE TABLE sync_states (
    peer       TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    state      BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (peer, doc_id)
);

-- The children this hub enrolled (their certificate serial) and whether they were revoked.
CREATE TABLE children (
    unit        TEXT PRIMARY KEY NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('node', 'hub', 'subscriber')),
    scope       TEXT,
    serial      TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    revoked_at  TEXT
);

-- One row per peer this unit syncs with (its parent, its children).
CREATE TABLE peers (
    peer            TEXT PRIMARY KEY NOT NULL,
    relation        TEXT NOT NULL CHECK (relation IN ('parent', 'child')),
    connected       INTEGER NOT NULL DEFAULT 0,
    connected_at    TEXT,
    disconnected_at TEXT,
    last_sync_at    TEXT,
    bytes_sent      INTEGER NOT NULL DEFAULT 0,
    bytes_received  INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);

-- Every refused connection or frame, with the peer's identity and the reason.
CREATE TABLE refusals (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    peer   TEXT NOT NULL,
    doc_id TEXT,
    reason TEXT NOT NULL
);
