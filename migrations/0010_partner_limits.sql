-- What the replicas share about each OC's conditions of use (the partners file's rate, quota
-- and breaker): one row per OC, updated by a single statement at a time.
CREATE TABLE partner_limits (
    code_oc text PRIMARY KEY,
    -- Token bucket of the rate limit: tokens at refilled_at (negative: calls already promised).
    tokens double precision NOT NULL DEFAULT 0,
    refilled_at timestamptz NOT NULL DEFAULT now(),
    -- Daily quota: calls made on quota_day, a date in the quota's time zone.
    quota_day date,
    quota_used integer NOT NULL DEFAULT 0,
    -- Circuit breaker: transient failures in a row; open until breaker_until (then one probe).
    failures integer NOT NULL DEFAULT 0,
    breaker_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
