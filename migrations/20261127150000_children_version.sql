-- A count of the changes to `children` (an enrolment, a revocation, a grant), kept by triggers
-- whichever process or connection writes: a hub's admission gate reads this one value twice a
-- second and re-reads the enrolments only when it moved.
INSERT OR IGNORE INTO meta (key, value) VALUES ('children_version', '0');

CREATE TRIGGER children_version_insert AFTER INSERT ON children BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'children_version';
END;

CREATE TRIGGER children_version_update AFTER UPDATE ON children BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'children_version';
END;

CREATE TRIGGER children_version_delete AFTER DELETE ON children BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'children_version';
END;
