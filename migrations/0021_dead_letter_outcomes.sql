-- What became of a dead letter besides a replay (issue 21): dismissed by an operator (seen, left
-- alone: it leaves the "waiting" count), or a replay that found no message in the dead-letter
-- queue. A replay's other outcomes (refused again, recorded) are read from `dead_letters` and
-- `photo_requests` themselves. Nullable columns without default: no rewrite, a moment's lock
-- under the runner's lock timeout.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS dismissed_at timestamptz,
                         ADD COLUMN IF NOT EXISTS dismissed_by text,
                         ADD COLUMN IF NOT EXISTS replay_missed_at timestamptz,
                         ADD COLUMN IF NOT EXISTS replay_missed_by text;
