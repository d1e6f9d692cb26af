-- On SQLite one process serves the database, and it keeps its rate-limit buckets in
-- memory (feedback/ratelimit.py); PostgreSQL shares them between instances in a table.
-- Nothing to change here: the step exists so both engines count the same migrations.
SELECT 1;
