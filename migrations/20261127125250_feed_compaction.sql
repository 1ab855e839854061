-- The feed's history bounded: the cursor each subscriber last resumed from or was sent up to
-- (what a hub knows of its subscribers' durable cursors), so that the events behind the slowest
-- of them can be compacted to the newest of each row; and an index that finds the newest event of
-- each row without reading them all (the compaction, and every snapshot).

CREATE TABLE feed_cursors (
    subscriber TEXT    NOT NULL,            -- the subscriber's unit code
    scope      TEXT    NOT NULL,            -- the unit whose subtree it follows
    cursor     INTEGER NOT NULL,
    seen_at    TEXT    NOT NULL,            -- RFC 3339, UTC
    PRIMARY KEY (subscriber, scope)
);

CREATE INDEX feed_events_by_row ON feed_events (hub, unit, seq);
