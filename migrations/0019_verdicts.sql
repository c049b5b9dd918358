-- An analyst's verdict on a finding: confirmed, or a false alarm. Keyed by what the finding is
-- about (request, kind, photos), not by the finding's row: a review run again rewrites the rows,
-- and the verdict still applies to the same finding.
CREATE TABLE finding_verdicts (
    message_id  uuid NOT NULL REFERENCES photo_requests (message_id) ON DELETE CASCADE,
    kind        text NOT NULL,
    photo_ids   uuid[] NOT NULL DEFAULT '{}',
    code_oc     text NOT NULL,
    verdict     text NOT NULL CHECK (verdict IN ('confirmed', 'false_alarm')),
    decided_by  text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    comment     text NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    PRIMARY KEY (message_id, kind, photo_ids)
);
CREATE INDEX finding_verdicts_kind_time ON finding_verdicts (kind, decided_at);
