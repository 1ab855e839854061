-- The police catalogue (issue 16 part 5): the grant of a subscriber enrolled here, and the rows
-- of the catalogue this hub serves, each stamped with the sequence number of its last change so
-- that a reader resumes from its cursor (a removed camera stays as a tombstone).
ALTER TABLE children ADD COLUMN catalogue INTEGER NOT NULL DEFAULT 0;

CREATE TABLE catalogue_rows (
    unit        TEXT NOT NULL,
    device_code TEXT NOT NULL,
    row         TEXT NOT NULL,              -- the catalogue row as JSON (domain::catalogue::Entry)
    seq         INTEGER NOT NULL,           -- the change that last touched it
    removed     INTEGER NOT NULL DEFAULT 0, -- 1: the camera left the ledger (a tombstone)
    changed_at  TEXT NOT NULL,
    PRIMARY KEY (unit, device_code)
);
CREATE INDEX catalogue_rows_by_seq ON catalogue_rows (seq);
