-- Retention (README "Retention"): each `worker purge` run, for `worker status` and /metrics.
CREATE TABLE purge_runs (
    id         bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seconds    double precision NOT NULL,
    deleted    jsonb NOT NULL,            -- rows deleted, by table
    objects    integer NOT NULL DEFAULT 0, -- photo objects removed from storage
    run_by     text NOT NULL DEFAULT ''
);

-- Autovacuum for the busy tables. The defaults vacuum a table once a fifth of it is dead, which
-- on tables that keep a year of history means rarely, while their busy part churns all day.
--
-- photo_requests: only the pending requests churn (every claim, lease renewal and 202 rewrites
-- the row, and moves it in the due index), and they are a small part of a table that grows with
-- every finished request. So vacuum after a fixed number of dead rows, not a share of the table.
-- A little free space per page (fillfactor 90) keeps a rewritten row on its page.
ALTER TABLE photo_requests SET (fillfactor = 90,
                                autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_threshold = 10000);
-- request_attempts: inserts only, and the purge's deletes. Vacuum after 2 % of inserts (the
-- visibility map, so that index-only reads stay index-only) or 2 % deleted.
ALTER TABLE request_attempts SET (autovacuum_vacuum_scale_factor = 0.02,
                                  autovacuum_vacuum_insert_scale_factor = 0.02,
                                  autovacuum_analyze_scale_factor = 0.02);
-- outbox: a queue; each event is inserted, updated once when sent (leaving a dead entry in the
-- unsent index that the relay reads), and deleted by the purge.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0,
                        autovacuum_vacuum_threshold = 5000,
                        autovacuum_analyze_scale_factor = 0.02);
