-- A take from the shared rate-limit buckets is one statement: an upsert that refills,
-- takes, and keeps how much it granted in the row, to be handed back by RETURNING (which
-- sees only the new row). The takes wanted travel in the inserted row (`want_first`,
-- `want_repeat`: repeat takes may not use a bucket's reserve). `at` changes on every
-- take, so it carries no index: updates stay in their page (HOT), with room left there
-- for them. Forgetting old buckets once a minute reads the table through instead.
ALTER TABLE rate_buckets ADD COLUMN granted integer NOT NULL DEFAULT 0;
ALTER TABLE rate_buckets ADD COLUMN want_first integer NOT NULL DEFAULT 0;
ALTER TABLE rate_buckets ADD COLUMN want_repeat integer NOT NULL DEFAULT 0;
DROP INDEX rate_buckets_at;
ALTER TABLE rate_buckets SET (fillfactor = 50);
