-- Dead letters sent back to the work queue (`worker replay-dead-letters`, the console's replay
-- button): when, and by whom, so that `worker status` and the console tell them from the others.
ALTER TABLE dead_letters ADD COLUMN replayed_at timestamptz, ADD COLUMN replayed_by text;
-- `worker show` and the console find a dead letter by the messageId it carried.
CREATE INDEX dead_letters_message ON dead_letters (message_id);
