-- A peer that cannot make progress on a document: since when and why (cleared once in sync).
ALTER TABLE peers ADD COLUMN stuck_since TEXT;
ALTER TABLE peers ADD COLUMN stuck_reason TEXT;
