-- What the photo checks flagged for a quality analyst (README "Photo findings"): one row per
-- finding of a request, with the photos concerned and, for a reused photo, the other request.
CREATE TABLE photo_findings (
    id                 bigserial PRIMARY KEY,
    message_id         uuid NOT NULL REFERENCES photo_requests (message_id) ON DELETE CASCADE,
    code_oc            text NOT NULL,
    kind               text NOT NULL,
    severity           text NOT NULL CHECK (severity IN ('info', 'warning', 'suspect')),
    photo_ids          uuid[] NOT NULL DEFAULT '{}',
    detail             text NOT NULL,
    related_message_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX photo_findings_request ON photo_findings (message_id);
CREATE INDEX photo_findings_oc_time ON photo_findings (code_oc, created_at);
CREATE INDEX photo_findings_kind_time ON photo_findings (kind, created_at);
