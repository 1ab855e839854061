-- The node's store: Automerge documents (as saved chunks), their SQL projections and the audit log.
-- Projections are rewritten in the same transaction as the document change they follow.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- One row per document held here (own documents and replicas of others).
CREATE TABLE documents (
    doc_id     TEXT PRIMARY KEY NOT NULL,   -- ledger/<unit>, profile/<unit>, rollup/<hub>, campaign/<root>
    heads      TEXT NOT NULL,               -- JSON array of hex change hashes
    chunks     INTEGER NOT NULL DEFAULT 0,
    bytes      INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- The document's saved bytes: a snapshot (compacted) followed by incremental chunks.
CREATE TABLE doc_chunks (
    doc_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    data   BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
);

-- Projection of ledger/<unit>: one row per camera record with what it counts towards.
CREATE TABLE cameras (
    unit         TEXT NOT NULL,
    device_code  TEXT NOT NULL,
    name         TEXT NOT NULL,
    address      TEXT,
    point_class  INTEGER,
    area         TEXT,
    state        TEXT NOT NULL,
    built        INTEGER NOT NULL,
    must_network INTEGER NOT NULL,
    networked    INTEGER NOT NULL,
    archived     INTEGER NOT NULL,
    geo_tagged   INTEGER NOT NULL,
    in_service   INTEGER NOT NULL,
    record       TEXT NOT NULL,             -- the whole record as JSON
    conflicts    TEXT,                      -- JSON {field: [values]} when concurrent writes disagree
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (unit, device_code)
);
CREATE INDEX cameras_by_name ON cameras (unit, name);

-- Projection of profile/<unit>.
CREATE TABLE units (
    unit       TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT,
    address    TEXT,
    parent     TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE contacts (
    unit     TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('leader', 'liaison')),
    name     TEXT NOT NULL,
    position TEXT NOT NULL,
    phone    TEXT NOT NULL,
    remarks  TEXT NOT NULL,
    PRIMARY KEY (unit, role)
);

-- The figures of each unit's own ledger, kept current with the cameras projection.
CREATE TABLE stats (
    unit                    TEXT PRIMARY KEY NOT NULL,
    built                   INTEGER NOT NULL,
    must_network            INTEGER NOT NULL,
    networked               INTEGER NOT NULL,
    archived                INTEGER NOT NULL,
    geo_tagged              INTEGER NOT NULL,
    in_service              INTEGER NOT NULL,
    key_public_built        INTEGER NOT NULL,
    key_public_in_service   INTEGER NOT NULL,
    key_industry_built      INTEGER NOT NULL,
    key_industry_in_service INTEGER NOT NULL,
    as_of                   TEXT NOT NULL
);

-- Who changed what: one row per record and change, with the fields and their old and new values.
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    who       TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    record    TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('add', 'edit', 'remove')),
    fields    TEXT NOT NULL,               -- comma-separated field names
    old_value TEXT,                        -- JSON object of the fields before
    new_value TEXT                         -- JSON object of the fields after
);
CREATE INDEX audit_by_record ON audit (doc_id, record);
