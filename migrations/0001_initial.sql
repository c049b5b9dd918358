-- Requests, photos and the outbox of the photo ingestion worker.
-- The contract's tables and columns come first in each table; the rest is the worker's own.

CREATE TABLE photo_requests (
    message_id                          uuid PRIMARY KEY,
    code_oc                             text NOT NULL,
    reference_prestation_prise          text,
    reference_commande_prise_interne_oc text,
    reference_commande_sous_traitant_oi text,
    status                              text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'completed', 'unavailable', 'expired', 'failed')),
    attempts                            integer NOT NULL DEFAULT 0,
    last_http_status                    integer,
    -- For a pending request: when someone should next look at it. While a worker holds the
    -- request this is the end of its lease, so a crashed worker's request simply falls due again.
    next_attempt_at                     timestamptz,
    received_at                         timestamptz NOT NULL DEFAULT now(),
    completed_at                        timestamptz,
    last_error                          text,

    date_intervention                   timestamptz,
    resultat                            text,
    actions                             text[],
    not_found_count                     integer NOT NULL DEFAULT 0,
    lease_owner                         text,
    lease_id                            uuid,
    first_ready_at                      timestamptz,
    updated_at                          timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'pending' OR next_attempt_at IS NULL)
);

-- The scheduler's only query: due pending requests of one OC, oldest first.
CREATE INDEX photo_requests_due ON photo_requests (code_oc, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX photo_requests_status ON photo_requests (status, code_oc);
CREATE INDEX photo_requests_ref_intervention ON photo_requests (reference_commande_sous_traitant_oi);
CREATE INDEX photo_requests_ref_order ON photo_requests (reference_commande_prise_interne_oc);
CREATE INDEX photo_requests_ref_access ON photo_requests (reference_prestation_prise);

CREATE TABLE photos (
    code_oc       text NOT NULL,
    photo_id      uuid NOT NULL,
    type          text NOT NULL,
    mime_type     text NOT NULL,
    name          text,
    title         text,
    description   text,
    taken_at      timestamptz,
    width         integer,
    height        integer,
    declared_size bigint,
    size_bytes    bigint NOT NULL,
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key   text NOT NULL,
    latitude      double precision,
    longitude     double precision,
    projection    text,
    stored_at     timestamptz NOT NULL DEFAULT now(),

    declared_width  integer,
    declared_height integer,
    -- Where the stored image disagrees with its metadata (size, width, height), one line each.
    anomalies     text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (code_oc, photo_id)
);

CREATE TABLE photo_request_photos (
    message_id uuid NOT NULL REFERENCES photo_requests (message_id),
    code_oc    text NOT NULL,
    photo_id   uuid NOT NULL,
    PRIMARY KEY (message_id, code_oc, photo_id),
    FOREIGN KEY (code_oc, photo_id) REFERENCES photos (code_oc, photo_id)
);
CREATE INDEX photo_request_photos_photo ON photo_request_photos (code_oc, photo_id);

-- Photos a request listed but that were not stored, with the reason. photo_id is text because a
-- record that breaks the spec may carry an id that is not a UUID, or none.
CREATE TABLE photo_refusals (
    id         bigserial PRIMARY KEY,
    message_id uuid NOT NULL REFERENCES photo_requests (message_id),
    code_oc    text NOT NULL,
    photo_id   text,
    reason     text NOT NULL,
    detail     text NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX photo_refusals_message ON photo_refusals (message_id);

-- One row per metadata attempt: what was asked, what came back, what was decided.
CREATE TABLE request_attempts (
    id            bigserial PRIMARY KEY,
    message_id    uuid NOT NULL REFERENCES photo_requests (message_id),
    attempt       integer NOT NULL,
    worker        text NOT NULL,
    operation     text,
    reference     text,
    http_status   integer,
    x_request_id  uuid,
    outcome       text NOT NULL,
    error         text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz
);
CREATE INDEX request_attempts_message ON request_attempts (message_id, attempt);

-- Events to publish; written in the transaction that sets the final status.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL,
    routing_key text NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
