-- The feed's events keep their row's figures in typed columns (the name, the ten counts the rates
-- follow from, the as-of time) instead of JSON text. Existing events are converted in place (their
-- cursors stay). The JSON gave the in-service counts of the two key areas only as rates: they are
-- recovered from the rate and the built count, which gives back the very same rate.

ALTER TABLE feed_events ADD COLUMN name                    TEXT    NOT NULL DEFAULT '';
ALTER TABLE feed_events ADD COLUMN built                   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN must_network            INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN networked               INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN archived                INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN geo_tagged              INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN in_service              INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN key_public_built        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN key_public_in_service   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN key_industry_built      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN key_industry_in_service INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN as_of                   TEXT    NOT NULL DEFAULT '';

UPDATE feed_events SET
    name         = COALESCE(json_extract(row, '$.name'), ''),
    built        = COALESCE(json_extract(row, '$.built'), 0),
    must_network = COALESCE(json_extract(row, '$.must_network'), 0),
    networked    = COALESCE(json_extract(row, '$.networked'), 0),
    archived     = COALESCE(json_extract(row, '$.archived'), 0),
    geo_tagged   = COALESCE(json_extract(row, '$.geo_tagged'), 0),
    in_service   = COALESCE(json_extract(row, '$.in_service'), 0),
    key_public_built = COALESCE(json_extract(row, '$.key_public_built'), 0),
    key_public_in_service = COALESCE(CAST(ROUND(
        json_extract(row, '$.intact_rate_key_public') * json_extract(row, '$.key_public_built') / 100.0
    ) AS INTEGER), 0),
    key_industry_built = COALESCE(json_extract(row, '$.key_industry_built'), 0),
    key_industry_in_service = COALESCE(CAST(ROUND(
        json_extract(row, '$.intact_rate_key_industry') * json_extract(row, '$.key_industry_built') / 100.0
    ) AS INTEGER), 0),
    as_of        = COALESCE(json_extract(row, '$.as_of'), '');

ALTER TABLE feed_events DROP COLUMN row;
