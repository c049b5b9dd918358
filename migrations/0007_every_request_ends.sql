-- Attempts in a row that ended without an outcome (the worker was killed, lost its lease, or
-- failed on an error of its own): after WORKER_MAX_INTERRUPTIONS the request is finished as
-- failed instead of being tried at every lease for ever. Any outcome sets it back to 0.
ALTER TABLE photo_requests ADD COLUMN interruptions integer NOT NULL DEFAULT 0;

-- An event that no queue takes stays in the outbox and is tried again later and later.
ALTER TABLE outbox ADD COLUMN publish_attempts integer NOT NULL DEFAULT 0,
                   ADD COLUMN next_publish_at timestamptz,
                   ADD COLUMN last_error text;
