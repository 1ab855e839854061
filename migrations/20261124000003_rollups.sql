-- Rollups and feeds: one row per direct child of every rollup/<hub> held here (this hub's own and
-- the replicas of its children's), and the durable feed of their changes (the cursor is `seq`).

CREATE TABLE rollup_rows (
    hub                     TEXT NOT NULL,   -- the rollup's hub
    unit                    TEXT NOT NULL,   -- a direct child of that hub, or the hub itself for its totals
    name                    TEXT NOT NULL,
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
    as_of                   TEXT NOT NULL,
    PRIMARY KEY (hub, unit)
);

CREATE TABLE feed_events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    hub  TEXT NOT NULL,                      -- the rollup the row belongs to
    unit TEXT NOT NULL,                      -- whose figures changed
    row  TEXT NOT NULL,                      -- the row's figures as JSON (the stats contract)
    at   TEXT NOT NULL
);
