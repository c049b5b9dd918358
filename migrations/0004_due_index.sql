-- migrate: no-transaction
-- migrate: replaces f1c9f3b421ba1c82d74f110af2f3e5084e39ef3d0bc15221bb3bb151700d1477
-- The claim query must find due requests through the (code_oc, next_attempt_at) index whatever
-- the planner's statistics say: the (status, code_oc) index could be preferred on stale
-- statistics (after a bulk arrival), and then every claim scanned all pending requests of an OC.
-- received_at is included so that the backlog gauges (count and oldest pending, by OC) are read
-- from this index too.
--
-- Outside a transaction, so that an upgrade never locks photo_requests (issue 17): the new index
-- is built beside the old one, the old one dropped, the new one renamed; each statement can run
-- again after a crash. (The former text of this file, applied by older databases, built it in a
-- transaction; its checksum is accepted above.)
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_due_rebuilt
    ON photo_requests (code_oc, next_attempt_at) INCLUDE (received_at)
    WHERE status = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS photo_requests_due;
ALTER INDEX IF EXISTS photo_requests_due_rebuilt RENAME TO photo_requests_due;
DROP INDEX CONCURRENTLY IF EXISTS photo_requests_status;

-- Every attempt moves next_attempt_at, so dead index entries pile up at the head of the due
-- index; vacuum and analyze this table sooner than the defaults (20 % and 10 % of its rows).
ALTER TABLE photo_requests SET (autovacuum_vacuum_scale_factor = 0.02,
                                autovacuum_analyze_scale_factor = 0.02);
