-- PostgreSQL's shared rate-limit buckets take in one statement from here on. SQLite
-- keeps its buckets in memory (feedback/ratelimit.py): nothing to change, but both
-- engines count the same migrations.
SELECT 1;
