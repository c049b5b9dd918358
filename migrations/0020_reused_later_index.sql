-- migrate: no-transaction
-- The request page's "reused later": the findings of later requests that point at this one.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_findings_related
    ON photo_findings (related_message_id) WHERE related_message_id IS NOT NULL;
