-- migrate: no-transaction
-- migrate: replaces ac1b705d96ee9c3c6da6cf5e620d971ded62eeb0edd512c03756387525f569ad
-- The operator console's lists and counts (README "Console"), each read through an index, so that
-- a page costs the same on millions of requests.
--
-- Outside a transaction, so that an upgrade never locks photo_requests, photos or outbox (issue
-- 17: the former text of this file, which older databases applied, held photo_requests for 4.2 s
-- on a million requests); each statement can run again after a crash.

-- Finished requests by OC and status, newest first (keyset on received_at, message_id). Partial:
-- the pending ones are read through photo_requests_due, and the claim query must keep that index
-- as its only candidate (see 0004); a partial index also costs nothing while a request waits.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_finished
    ON photo_requests (code_oc, status, received_at, message_id) WHERE status <> 'pending';
-- Counts by OC and status (`worker status`, the overview): a few distinct keys, so the index is
-- deduplicated to a few MB and counting a million finished requests reads only it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_counts
    ON photo_requests (code_oc, status) WHERE status <> 'pending';
-- Requests finished in the last hour or day, by status.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_finished_at
    ON photo_requests (completed_at) INCLUDE (status) WHERE completed_at IS NOT NULL;
-- Photos stored in the last hour or day.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_stored_at ON photos (stored_at);
-- A request's events (its page, `worker show`).
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_message ON outbox (message_id);

-- References searched exactly or by prefix: text_pattern_ops compares bytes, so a prefix is an
-- index range whatever the database's collation; equality (`worker show`, `worker refetch`)
-- uses these indexes too. Each replaces 0001's index of the same name: built beside it, the old
-- one dropped, the new one renamed.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_intervention_rebuilt
    ON photo_requests (reference_commande_sous_traitant_oi text_pattern_ops);
DROP INDEX CONCURRENTLY IF EXISTS photo_requests_ref_intervention;
ALTER INDEX IF EXISTS photo_requests_ref_intervention_rebuilt
    RENAME TO photo_requests_ref_intervention;

CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_order_rebuilt
    ON photo_requests (reference_commande_prise_interne_oc text_pattern_ops);
DROP INDEX CONCURRENTLY IF EXISTS photo_requests_ref_order;
ALTER INDEX IF EXISTS photo_requests_ref_order_rebuilt RENAME TO photo_requests_ref_order;

CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_access_rebuilt
    ON photo_requests (reference_prestation_prise text_pattern_ops);
DROP INDEX CONCURRENTLY IF EXISTS photo_requests_ref_access;
ALTER INDEX IF EXISTS photo_requests_ref_access_rebuilt RENAME TO photo_requests_ref_access;
