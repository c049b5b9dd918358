-- Each worker process says it is alive, what it runs and what it sees, every
-- WORKER_HEARTBEAT_SECONDS: the on-call view tells a stopped fleet from a quiet hour with it.
CREATE TABLE worker_heartbeats (
    instance    text PRIMARY KEY,
    roles       text NOT NULL,
    version     text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL,
    -- Set by a clean stop; a killed process just stops being seen.
    stopped_at  timestamptz,
    in_flight   integer NOT NULL DEFAULT 0,
    -- What this process saw of the broker's queues: {"name": {"messages": n, "consumers": n}}.
    queues      jsonb NOT NULL DEFAULT '{}'
);
