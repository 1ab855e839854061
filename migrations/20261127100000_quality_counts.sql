-- Data quality in the figures (issue 17): every rollup row and every feed event carries the
-- findings of its unit's subtree, by severity (错误 errors, 提示 warnings). Rows and events written
-- before have none (0).

ALTER TABLE rollup_rows ADD COLUMN findings_errors   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_rows ADD COLUMN findings_warnings INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN findings_errors   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_events ADD COLUMN findings_warnings INTEGER NOT NULL DEFAULT 0;
