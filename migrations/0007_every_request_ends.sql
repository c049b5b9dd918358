-- Attempts in a row that ended without an outcome (the worker was killed, lost its lease, or
-- failed on an error of its own): after WORKER_MAX_INTERRUPTIONS the request is finished as
-- failed instead of being tried at every lease for ever. Any outcome sets it back to 0.
ALTER TABLE photo_requests ADD COLUMN interruptions integer NOT NULL DEFAULT 0;
