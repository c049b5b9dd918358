-- `worker refetch` moves a request forward to a new attempt; its max_wait then counts from here.
ALTER TABLE photo_requests ADD COLUMN refetched_at timestamptz;
