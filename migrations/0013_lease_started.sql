-- Whether the attempt of the current lease has started. A claim's requests that start at once
-- are claimed started; those that wait in a process's hand for a slot start later (the start
-- checks the lease) or never (given back). Only a started attempt spends an attempt, and only
-- a started one that ends without an outcome counts as an interruption: the waiting claims of
-- a killed process cost their requests nothing. A constant default: no table rewrite.
ALTER TABLE photo_requests ADD COLUMN IF NOT EXISTS lease_started boolean NOT NULL DEFAULT false;
