-- The review stage (docs/review.md): the photo checks run apart from ingestion.
--
-- One row per request to review, written by the attempt's final statement in the same
-- transaction as the final status; reviewers claim rows with a lease (FOR UPDATE SKIP LOCKED),
-- as the scheduler claims requests. A row stays once reviewed (reviewed_at set): `worker review`
-- queues it again by clearing reviewed_at.
CREATE TABLE request_reviews (
    message_id    uuid PRIMARY KEY REFERENCES photo_requests (message_id) ON DELETE CASCADE,
    code_oc       text NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),  -- when its photos were all stored
    queued_at     timestamptz NOT NULL DEFAULT now(),  -- stored_at, or the last re-queue
    lease_id      uuid,
    lease_owner   text,
    lease_until   timestamptz,
    claims        integer NOT NULL DEFAULT 0,          -- claims since queued_at
    failures      jsonb NOT NULL DEFAULT '{}',         -- photo id -> checks crashed or overran
    reviewed_at   timestamptz,                         -- NULL: waiting for its review
    reviews       integer NOT NULL DEFAULT 0,          -- reviews done (re-reviews included)
    checks_version text                                -- of the checks that made its findings
);
-- What reviewers claim, oldest first; the backlog and the lag read it too.
CREATE INDEX request_reviews_waiting ON request_reviews (queued_at) WHERE reviewed_at IS NULL;
-- `worker review --since`: requests by when they were stored.
CREATE INDEX request_reviews_stored ON request_reviews (stored_at);

-- When a photo's traits were measured, and by which checks: a photo shared by two requests is
-- decoded once per queueing, not once per request.
ALTER TABLE photos
    ADD COLUMN checked_at     timestamptz,
    ADD COLUMN checks_version text;

-- NULL: found at ingestion without decoding (kept by a re-review); otherwise the version of the
-- checks of the review that found it (replaced by the next review).
ALTER TABLE photo_findings ADD COLUMN checks_version text;

-- `worker review --since`: each run of the command, so that one cut short resumes where it was.
CREATE TABLE review_runs (
    id                bigserial PRIMARY KEY,
    selection         text NOT NULL,           -- e.g. "since=30d oc=* kind=low_quality"
    since_at          timestamptz NOT NULL,    -- the window, fixed when the run started
    started_at        timestamptz NOT NULL DEFAULT now(),
    cursor_at         timestamptz,             -- completed_at of the last request queued
    cursor_message_id uuid,
    queued            integer NOT NULL DEFAULT 0,
    changed           integer NOT NULL DEFAULT 0,
    finished_at       timestamptz,
    run_by            text
);
