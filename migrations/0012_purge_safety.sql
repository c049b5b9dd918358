-- The purge of finished requests, made safe against the requests running beside it (issue 17).

-- The message ids of purged requests: intake refuses them as duplicates, as it did while their
-- request was kept (contract: a second message with the same messageId changes nothing).
-- Forgotten by the purge after WORKER_KEEP_PURGED_IDS.
CREATE TABLE purged_messages (
    message_id uuid PRIMARY KEY,
    code_oc    text NOT NULL,
    purged_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purged_messages_age ON purged_messages (purged_at);

-- Stored objects whose last row the purge deleted, written in the same transaction: the purge
-- removes an object from storage only from here, only while no row points to its key, and the
-- entry goes with it, so that a purge cut after its commit leaves what the next run finishes.
-- A request that lists the photo again cancels the entry before it downloads the photo.
CREATE TABLE doomed_objects (
    storage_key text PRIMARY KEY,
    code_oc     text NOT NULL,
    photo_id    uuid NOT NULL,
    purged_at   timestamptz NOT NULL DEFAULT now()
);
