-- The operator console's lists and counts (README "Console"), each read through an index, so that
-- a page costs the same on millions of requests.

-- Finished requests by OC and status, newest first (keyset on received_at, message_id). Partial:
-- the pending ones are read through photo_requests_due, and the claim query must keep that index
-- as its only candidate (see 0004); a partial index also costs nothing while a request waits.
CREATE INDEX photo_requests_finished ON photo_requests (code_oc, status, received_at, message_id)
    WHERE status <> 'pending';
-- Counts by OC and status (`worker status`, the overview): a few distinct keys, so the index is
-- deduplicated to a few MB and counting a million finished requests reads only it.
CREATE INDEX photo_requests_counts ON photo_requests (code_oc, status) WHERE status <> 'pending';
-- Requests finished in the last hour or day, by status.
CREATE INDEX photo_requests_finished_at ON photo_requests (completed_at) INCLUDE (status)
    WHERE completed_at IS NOT NULL;
-- Photos stored in the last hour or day.
CREATE INDEX photos_stored_at ON photos (stored_at);
-- A request's events (its page, `worker show`).
CREATE INDEX outbox_message ON outbox (message_id);

-- References searched exactly or by prefix: text_pattern_ops compares bytes, so a prefix is an
-- index range whatever the database's collation; equality (`worker show`, `worker refetch`)
-- uses these indexes too.
DROP INDEX photo_requests_ref_intervention;
DROP INDEX photo_requests_ref_order;
DROP INDEX photo_requests_ref_access;
CREATE INDEX photo_requests_ref_intervention
    ON photo_requests (reference_commande_sous_traitant_oi text_pattern_ops);
CREATE INDEX photo_requests_ref_order
    ON photo_requests (reference_commande_prise_interne_oc text_pattern_ops);
CREATE INDEX photo_requests_ref_access
    ON photo_requests (reference_prestation_prise text_pattern_ops);
