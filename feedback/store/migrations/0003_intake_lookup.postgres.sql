-- Intake finds a send's open report through reports_open_dedup, as on SQLite.
DROP INDEX reports_site_dedup;
