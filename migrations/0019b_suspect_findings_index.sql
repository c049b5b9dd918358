-- migrate: no-transaction
-- The review queue reads the recent suspect findings, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_findings_suspect_time
    ON photo_findings (created_at) WHERE severity = 'suspect';
