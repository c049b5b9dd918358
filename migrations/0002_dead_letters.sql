-- Messages refused at intake, also kept in the database so that a refusal is visible where the
-- requests are. The dead-letter queue keeps the message itself, for replay.
CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    message_id       text,
    reason           text NOT NULL,
    detail           text NOT NULL,
    body_excerpt     text NOT NULL,
    worker           text NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_at ON dead_letters (dead_lettered_at);
