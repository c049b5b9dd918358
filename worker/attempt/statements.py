"""The SQL of an attempt's outcome: one statement each, fenced by the attempt's lease.

The request's row, the photos stored by the attempt and their links, the attempt's row and, for a
final status, the refused photos, the findings known without decoding, the outbox event and the
request's "to review" row (`request_reviews`, for the review stage) are written by a single
statement: one
round trip, atomic, and a worker that lost its lease (the UPDATE matches nothing) writes nothing.
Every outcome sets `interruptions` back to 0: the attempt ended as it should.
"""

# $1 lease, $2 photos stored (JSON), $3 photos already stored (ids), $4.. the attempt's row.
PHOTOS_AND_ATTEMPT = """

, stored AS (
    INSERT INTO photos (code_oc, photo_id, type, mime_type, name, title, description, taken_at,
        width, height, declared_size, size_bytes, sha256, storage_key, latitude, longitude,
        projection, declared_width, declared_height, anomalies, stored_at)
    SELECT d.code_oc, p.photo_id, p.type, p.mime_type, p.name, p.title, p.description,
        p.taken_at, p.width, p.height, p.declared_size, p.size_bytes, p.sha256, p.storage_key,
        p.latitude, p.longitude, p.projection, p.declared_width, p.declared_height,
        p.anomalies, now()
    FROM done d, jsonb_to_recordset($2::jsonb) AS p(photo_id uuid, type text, mime_type text,
        name text, title text, description text, taken_at timestamptz, width int, height int,
        declared_size bigint, size_bytes bigint, sha256 text, storage_key text,
        latitude float8, longitude float8, projection text, declared_width int,
        declared_height int, anomalies text[])
    -- The traits are the review's: a photo stored again keeps what its review measured.
    ON CONFLICT (code_oc, photo_id) DO UPDATE SET
        type = EXCLUDED.type, mime_type = EXCLUDED.mime_type, name = EXCLUDED.name,
        title = EXCLUDED.title, description = EXCLUDED.description,
        taken_at = EXCLUDED.taken_at, width = EXCLUDED.width, height = EXCLUDED.height,
        declared_size = EXCLUDED.declared_size, size_bytes = EXCLUDED.size_bytes,
        sha256 = EXCLUDED.sha256, storage_key = EXCLUDED.storage_key,
        latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
        projection = EXCLUDED.projection, declared_width = EXCLUDED.declared_width,
        declared_height = EXCLUDED.declared_height, anomalies = EXCLUDED.anomalies,
        stored_at = EXCLUDED.stored_at
    RETURNING photo_id
), linked AS (
    INSERT INTO photo_request_photos (message_id, code_oc, photo_id)
    SELECT d.message_id, d.code_oc, x.photo_id
    FROM done d, (SELECT photo_id FROM stored UNION SELECT unnest($3::uuid[])) AS x(photo_id)
    ON CONFLICT DO NOTHING
), attempt AS (
    INSERT INTO request_attempts (message_id, attempt, worker, operation, reference,
        http_status, x_request_id, outcome, error, started_at, next_attempt_at)
    SELECT d.message_id, d.attempts, $4, $5, $6, $7, $8, $9, $10, $11, d.next_attempt_at
    FROM done d
)
"""

RESCHEDULE = (
    """
WITH done AS (
    UPDATE photo_requests
    SET next_attempt_at = $12, last_http_status = $7, last_error = $10, not_found_count = $13,
        first_ready_at = coalesce(first_ready_at, $14), lease_id = NULL, lease_owner = NULL,
        interruptions = 0, updated_at = now()
    WHERE lease_id = $1 AND status = 'pending'
    RETURNING message_id, code_oc, attempts, next_attempt_at
)"""
    + PHOTOS_AND_ATTEMPT
    + "SELECT count(*) FROM done"
)

FINISH = (
    """
WITH done AS (
    UPDATE photo_requests
    SET status = $12, next_attempt_at = NULL, completed_at = now(), last_http_status = $7,
        last_error = $10, first_ready_at = coalesce(first_ready_at, $13), lease_id = NULL,
        lease_owner = NULL, interruptions = 0, updated_at = now()
    WHERE lease_id = $1 AND status = 'pending'
    RETURNING message_id, code_oc, reference_prestation_prise,
        reference_commande_prise_interne_oc, reference_commande_sous_traitant_oi, status,
        attempts, completed_at, last_error, next_attempt_at
)"""
    + PHOTOS_AND_ATTEMPT
    + """
, refused AS (
    INSERT INTO photo_refusals (message_id, code_oc, photo_id, reason, detail)
    SELECT d.message_id, d.code_oc, r.photo_id, r.reason, r.detail
    FROM done d, jsonb_to_recordset($14::jsonb) AS r(photo_id text, reason text, detail text)
), flagged AS (
    INSERT INTO photo_findings (message_id, code_oc, kind, severity, photo_ids, detail,
        related_message_id)
    SELECT d.message_id, d.code_oc, f.kind, f.severity, f."photoIds", f.detail,
        f."relatedMessageId"
    FROM done d, jsonb_to_recordset($16::jsonb) AS f(kind text, severity text,
        "photoIds" uuid[], detail text, "relatedMessageId" uuid)
), event AS (
    SELECT d.message_id, 'photos.' || d.status AS routing_key, jsonb_build_object(
        'messageId', d.message_id, 'codeOC', d.code_oc,
        'referencePrestationPrise', d.reference_prestation_prise,
        'referenceCommandePriseInterneOC', d.reference_commande_prise_interne_oc,
        'referenceCommandeSousTraitantOI', d.reference_commande_sous_traitant_oi,
        'status', d.status, 'attempts', d.attempts, 'completedAt', d.completed_at,
        'error', d.last_error,
        -- Without a list in this attempt, the photos linked by earlier attempts.
        'photos', coalesce($15::jsonb, (
            SELECT coalesce(jsonb_agg(jsonb_build_object('photoId', p.photo_id, 'type', p.type,
                'storageKey', p.storage_key, 'sha256', p.sha256) ORDER BY p.type, p.photo_id),
                '[]'::jsonb)
            FROM photo_request_photos l JOIN photos p USING (code_oc, photo_id)
            WHERE l.message_id = d.message_id)),
        'findings', $16::jsonb,
        'review', CASE WHEN r.pending THEN 'pending' ELSE 'none' END
    ) AS body, r.pending
    FROM done d CROSS JOIN LATERAL (
        -- Photos to review: stored now, found stored, or linked by an earlier attempt.
        SELECT $17::boolean AND (EXISTS (SELECT 1 FROM stored)
            OR cardinality($3::uuid[]) > 0
            OR EXISTS (SELECT 1 FROM photo_request_photos l WHERE l.message_id = d.message_id))
            AS pending
    ) r
), queued AS (
    INSERT INTO outbox (message_id, routing_key, body)
    SELECT message_id, routing_key, body FROM event
), to_review AS (
    INSERT INTO request_reviews (message_id, code_oc, stored_at, queued_at)
    SELECT d.message_id, d.code_oc, d.completed_at, d.completed_at
    FROM done d JOIN event e ON e.pending
    -- Refetched after an earlier end: reviewed again, and a review under way starts over.
    ON CONFLICT (message_id) DO UPDATE SET stored_at = EXCLUDED.stored_at,
        queued_at = EXCLUDED.queued_at, reviewed_at = NULL, lease_id = NULL,
        lease_owner = NULL, lease_until = NULL, claims = 0, failures = '{}'
)
SELECT body::text FROM event
"""
)


# Many attempts without photos (202s, transient errors) rescheduled by one statement.
RESCHEDULE_MANY = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(lease_id uuid, next_at timestamptz,
        http_status int, error text, not_found_count int, ready_at timestamptz, worker text,
        operation text, reference text, x_request_id uuid, outcome text, started_at timestamptz)
), done AS (
    UPDATE photo_requests p
    SET next_attempt_at = i.next_at, last_http_status = i.http_status, last_error = i.error,
        not_found_count = i.not_found_count,
        first_ready_at = coalesce(p.first_ready_at, i.ready_at),
        lease_id = NULL, lease_owner = NULL, interruptions = 0, updated_at = now()
    FROM input i
    WHERE p.lease_id = i.lease_id AND p.status = 'pending'
    RETURNING p.message_id, p.attempts, i.lease_id, i.worker, i.operation, i.reference,
        i.http_status, i.x_request_id, i.outcome, i.error, i.started_at, i.next_at
), attempt AS (
    INSERT INTO request_attempts (message_id, attempt, worker, operation, reference,
        http_status, x_request_id, outcome, error, started_at, next_attempt_at)
    SELECT message_id, attempts, worker, operation, reference, http_status, x_request_id,
        outcome, error, started_at, next_at
    FROM done
)
SELECT lease_id FROM done
"""
