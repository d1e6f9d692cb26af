-- A take from the shared rate-limit buckets is one statement: an upsert that refills,
-- takes, and keeps how much it granted in the row, to be handed back by RETURNING (which
-- sees only the new row). `at` changes on every take, so it carries no index: updates
-- stay in their page (HOT), with room left there for them. Forgetting old buckets once
-- a minute reads the table through instead.
ALTER TABLE rate_buckets ADD COLUMN granted integer NOT NULL DEFAULT 0;
DROP INDEX rate_buckets_at;
ALTER TABLE rate_buckets SET (fillfactor = 50);
