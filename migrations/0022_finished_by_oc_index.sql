-- migrate: no-transaction
-- The findings page's rates per 100 interventions (`ops.rates`): the requests each OC finished
-- per week of the period, counted from this index alone (code_oc included) rather than from
-- photo_requests_finished_at, whose rows would each be read in the table for their OC.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_completed_oc
    ON photo_requests (completed_at) INCLUDE (code_oc) WHERE completed_at IS NOT NULL;
