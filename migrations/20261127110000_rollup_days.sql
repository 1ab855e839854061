-- A rollup's figures kept per day: when a rollup document gives way to its next generation (which
-- starts without history), the rows and totals it held at the end of each day it covered are kept
-- here, so that figures as of a past day still answer. `hub` is the rollup's hub (this hub's own
-- and the replicas of its children's), `unit` a row of it (the hub itself for its totals).

CREATE TABLE rollup_days (
    hub                     TEXT NOT NULL,
    day                     TEXT NOT NULL,   -- the Beijing date, YYYY-MM-DD
    unit                    TEXT NOT NULL,
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
    findings_errors         INTEGER NOT NULL DEFAULT 0,  -- the subtree's data-quality findings
    findings_warnings       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hub, day, unit)
);
