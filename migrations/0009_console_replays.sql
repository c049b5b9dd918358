-- migrate: no-transaction
-- migrate: replaces 5fe079e0673de4d4f63ba22b795c56f80c5418491ec9df79b46db8fc2570bf7d
-- Dead letters sent back to the work queue (`worker replay-dead-letters`, the console's replay
-- button): when, and by whom, so that `worker status` and the console tell them from the others.
-- Outside a transaction, so that an upgrade never locks dead_letters, which intake writes
-- (issue 17); each statement can run again after a crash. (Older databases applied the former
-- text, in a transaction.)
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replayed_at timestamptz,
                         ADD COLUMN IF NOT EXISTS replayed_by text;
-- `worker show` and the console find a dead letter by the messageId it carried.
CREATE INDEX CONCURRENTLY IF NOT EXISTS dead_letters_message ON dead_letters (message_id);
