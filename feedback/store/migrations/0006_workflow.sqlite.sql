-- The editors' workflow, round two: resolution reasons and duplicates, what the page
-- checker found, the service's own spelling suggestion, the reader's "tell me when it's
-- fixed" address, site switches and key rotation, refused sends for the install check.

-- Why a report was closed: fixed, not_error, duplicate, wont_fix, need_info ('' while open
-- or for reports closed before reasons existed).
ALTER TABLE reports ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
-- No foreign key: a copy between engines may bring the kept report after its duplicate.
ALTER TABLE reports ADD COLUMN duplicate_of INTEGER;
-- The page checker: its last verdict (found, fixed, missing), when, and when to look next.
ALTER TABLE reports ADD COLUMN check_state TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN checked_at REAL;
ALTER TABLE reports ADD COLUMN check_due REAL;
-- Neither the quote nor its context was on the page when the report arrived: spam signal.
ALTER TABLE reports ADD COLUMN not_on_page INTEGER NOT NULL DEFAULT 0;
-- The service's own spelling suggestion for a one-word typo sent without a correction.
ALTER TABLE reports ADD COLUMN service_suggestion TEXT NOT NULL DEFAULT '';
CREATE INDEX reports_check_due ON reports(check_due) WHERE check_due IS NOT NULL;
CREATE INDEX reports_assignee ON reports(assignee_id, id) WHERE assignee_id IS NOT NULL;

-- Every event says why (the resolution) and who when no editor did it ("checker").
ALTER TABLE report_events ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
ALTER TABLE report_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';

-- The canned note offered with each resolution, editable by admins.
CREATE TABLE resolution_notes (
    reason  TEXT PRIMARY KEY,
    note    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

ALTER TABLE sites ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sites ADD COLUMN notify_reader INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sites ADD COLUMN auto_resolve INTEGER NOT NULL DEFAULT 0;
-- After a key rotation the previous key keeps working until old_key_until.
ALTER TABLE sites ADD COLUMN old_key TEXT;
ALTER TABLE sites ADD COLUMN old_key_until REAL;
CREATE UNIQUE INDEX sites_old_key ON sites(old_key) WHERE old_key IS NOT NULL;

-- A reader's address, kept only for their report, used once, and deleted when the report
-- is closed or after 90 days.
CREATE TABLE reader_notify (
    report_id   INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX reader_notify_created ON reader_notify(created_at);

-- Sends the widget made that intake refused, by site, reason and origin.
CREATE TABLE refused_sends (
    site_id  INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    reason   TEXT NOT NULL,
    origin   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    last_at  REAL NOT NULL,
    PRIMARY KEY (site_id, reason, origin)
) WITHOUT ROWID;

-- The checker's queue: open reports not yet checked, newest first.
CREATE INDEX reports_unchecked ON reports(id)
    WHERE checked_at IS NULL AND check_due IS NULL AND status IN ('new', 'in_progress');
