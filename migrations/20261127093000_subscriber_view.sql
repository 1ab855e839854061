-- What a feed subscriber (the police) received from its hub: the latest row of every unit of a
-- scope, and the recent changes. Written in one transaction with the scope's cursor (meta
-- `feed_cursor:SCOPE`), so that a restart resumes exactly where the rows stand. The figures are
-- the stats contract as the wire row carries them (counts, and rates as the hub computed them).

CREATE TABLE subscribed_rows (
    scope                    TEXT    NOT NULL,
    unit                     TEXT    NOT NULL,
    hub                      TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    built                    INTEGER NOT NULL,
    must_network             INTEGER NOT NULL,
    networked                INTEGER NOT NULL,
    networking_rate          REAL,
    archived                 INTEGER NOT NULL,
    archive_rate             REAL,
    geo_tagged               INTEGER NOT NULL,
    geo_rate                 REAL,
    in_service               INTEGER NOT NULL,
    intact_rate              REAL,
    intact_rate_key_public   REAL,
    intact_rate_key_industry REAL,
    as_of                    TEXT    NOT NULL,
    received_at              TEXT    NOT NULL,
    PRIMARY KEY (scope, unit)
);

CREATE TABLE subscribed_changes (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    scope                    TEXT    NOT NULL,
    cursor                   INTEGER NOT NULL,
    unit                     TEXT    NOT NULL,
    hub                      TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    built                    INTEGER NOT NULL,
    must_network             INTEGER NOT NULL,
    networked                INTEGER NOT NULL,
    networking_rate          REAL,
    archived                 INTEGER NOT NULL,
    archive_rate             REAL,
    geo_tagged               INTEGER NOT NULL,
    geo_rate                 REAL,
    in_service               INTEGER NOT NULL,
    intact_rate              REAL,
    intact_rate_key_public   REAL,
    intact_rate_key_industry REAL,
    as_of                    TEXT    NOT NULL,
    received_at              TEXT    NOT NULL
);

CREATE INDEX subscribed_changes_by_scope ON subscribed_changes (scope, id);
