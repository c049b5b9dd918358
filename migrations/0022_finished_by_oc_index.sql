-- migrate: no-transaction
-- The findings page's rates per 100 interventions (`ops.rates`): the requests each OC finished
-- in each week of the period, one range count per OC and week, read from this index alone
-- (photo_requests_finished_at has no code_oc: each of its rows would be read in the table).
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_finished_oc
    ON photo_requests (code_oc, completed_at) WHERE completed_at IS NOT NULL;
