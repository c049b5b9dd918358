-- The same-spot figures of each AVANT/APRES pair the review compared, shown beside the pair in
-- the console whether or not it was flagged: [{"before", "after", "inliers", "matches",
-- "features", "spread", "same_spot"}]. A new column without default: catalog only.
ALTER TABLE request_reviews ADD COLUMN spot_pairs jsonb;
