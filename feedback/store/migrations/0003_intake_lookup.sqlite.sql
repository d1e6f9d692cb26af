-- Intake finds a send's open report through reports_open_dedup, and a blocked sender's
-- new spam report among the batch's own rows, so this index only cost writes: with
-- random keys, each report touched a page of its own in it on every batch.
DROP INDEX reports_site_dedup;
