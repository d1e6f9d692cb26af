-- Rate-limit token buckets shared by every instance. UNLOGGED: they are rewritten on
-- almost every report, and losing them in a crash only gives readers a fresh allowance,
-- so they skip the WAL.
CREATE UNLOGGED TABLE rate_buckets (
    name    text NOT NULL,
    key     text NOT NULL,
    tokens  double precision NOT NULL,
    at      double precision NOT NULL,
    PRIMARY KEY (name, key)
);
CREATE INDEX rate_buckets_at ON rate_buckets(at);
