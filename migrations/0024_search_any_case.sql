-- migrate: no-transaction
-- The console's search and `worker show` find a reference whatever the case it is typed in
-- (issue 21): a prefix of lower(reference) is an index range of these, in byte order as 0009's.
-- The references are the partners' own, sent back to them as received: they are not rewritten,
-- and 0009's indexes stay for the exact lookups (`worker refetch`, the findings' comparisons).
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_intervention_lower
    ON photo_requests (lower(reference_commande_sous_traitant_oi) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_order_lower
    ON photo_requests (lower(reference_commande_prise_interne_oc) text_pattern_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS photo_requests_ref_access_lower
    ON photo_requests (lower(reference_prestation_prise) text_pattern_ops);
