-- Where on the page a report's quote is: see the SQLite step of the same number.
ALTER TABLE reports ADD COLUMN quote_fragment text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN position_start bigint;
ALTER TABLE submissions ADD COLUMN position_end bigint;
