-- The claim query must find due requests through the (code_oc, next_attempt_at) index whatever
-- the planner's statistics say: the (status, code_oc) index could be preferred on stale
-- statistics (after a bulk arrival), and then every claim scanned all pending requests of an OC.
-- received_at is included so that the backlog gauges (count and oldest pending, by OC) are read
-- from this index too.
DROP INDEX photo_requests_status;
DROP INDEX photo_requests_due;
CREATE INDEX photo_requests_due ON photo_requests (code_oc, next_attempt_at) INCLUDE (received_at)
    WHERE status = 'pending';

-- Every attempt moves next_attempt_at, so dead index entries pile up at the head of the due
-- index; vacuum and analyze this table sooner than the defaults (20 % and 10 % of its rows).
ALTER TABLE photo_requests SET (autovacuum_vacuum_scale_factor = 0.02,
                                autovacuum_analyze_scale_factor = 0.02);
