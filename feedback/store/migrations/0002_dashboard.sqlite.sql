-- The editors' dashboard: full-text search, per-status counts, sign-in throttling,
-- undoable actions and the indexes the queue's sorts need.

-- Search over what readers sent: one row per send (rowid = submission id) with the quote
-- it was about, its comment and its suggestion. Rows are only ever added, never rewritten,
-- and the table keeps no copy of the text (content=''), so a report costs intake one
-- small index insert per send.
CREATE VIRTUAL TABLE report_search USING fts5(
    text, content = '', tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO report_search (rowid, text)
SELECT s.id, r.quote_exact || ' ' || s.comment || ' ' || s.suggestion
FROM submissions s JOIN reports r ON r.id = s.report_id;

CREATE TRIGGER submissions_search_insert AFTER INSERT ON submissions BEGIN
    INSERT INTO report_search (rowid, text)
    SELECT new.id, quote_exact || ' ' || new.comment || ' ' || new.suggestion
    FROM reports WHERE id = new.report_id;
END;

-- When each site last received a report, for the site page's live indicator. Intake sets
-- it once per committed batch.
ALTER TABLE sites ADD COLUMN last_report_at REAL;
UPDATE sites SET last_report_at = (SELECT max(last_seen) FROM reports WHERE site_id = sites.id);

-- Counting a million rows by status on every page view is too slow; keep the totals.
CREATE TABLE report_counts (
    site_id  INTEGER NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (site_id, status)
) WITHOUT ROWID;

INSERT INTO report_counts (site_id, status, n)
SELECT site_id, status, count(*) FROM reports GROUP BY site_id, status;

CREATE TRIGGER reports_count_insert AFTER INSERT ON reports BEGIN
    INSERT INTO report_counts (site_id, status, n) VALUES (new.site_id, new.status, 1)
    ON CONFLICT (site_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER reports_count_status AFTER UPDATE OF status ON reports
WHEN old.status <> new.status BEGIN
    UPDATE report_counts SET n = n - 1 WHERE site_id = old.site_id AND status = old.status;
    INSERT INTO report_counts (site_id, status, n) VALUES (new.site_id, new.status, 1)
    ON CONFLICT (site_id, status) DO UPDATE SET n = n + 1;
END;

-- Reports received per UTC day (day = unix seconds / 86400), by site and current status:
-- the stats chart reads a few hundred rows of this instead of a month of reports.
CREATE TABLE report_daily (
    day      INTEGER NOT NULL,
    site_id  INTEGER NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (day, site_id, status)
) WITHOUT ROWID;

INSERT INTO report_daily (day, site_id, status, n)
SELECT CAST(first_seen / 86400 AS INTEGER), site_id, status, count(*) FROM reports
GROUP BY 1, 2, 3;

CREATE TRIGGER reports_daily_insert AFTER INSERT ON reports BEGIN
    INSERT INTO report_daily (day, site_id, status, n)
    VALUES (CAST(new.first_seen / 86400 AS INTEGER), new.site_id, new.status, 1)
    ON CONFLICT (day, site_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER reports_daily_status AFTER UPDATE OF status ON reports
WHEN old.status <> new.status BEGIN
    UPDATE report_daily SET n = n - 1
    WHERE day = CAST(old.first_seen / 86400 AS INTEGER) AND site_id = old.site_id
      AND status = old.status;
    INSERT INTO report_daily (day, site_id, status, n)
    VALUES (CAST(new.first_seen / 86400 AS INTEGER), new.site_id, new.status, 1)
    ON CONFLICT (day, site_id, status) DO UPDATE SET n = n + 1;
END;

-- The "most reported" sort walks this index backwards, keyset on (submission_count, id).
CREATE INDEX reports_most_reported ON reports(submission_count, id);
CREATE INDEX reports_site_id ON reports(site_id, id);
-- Stats: reports received per day, and time to resolve.
CREATE INDEX reports_first_seen ON reports(first_seen);
CREATE INDEX reports_resolved_at ON reports(resolved_at) WHERE resolved_at IS NOT NULL;

-- Every action an editor takes is one `action_id`; undo replays it backwards and
-- marks its own events with `undoes`.
ALTER TABLE report_events ADD COLUMN action_id TEXT;
ALTER TABLE report_events ADD COLUMN undoes TEXT;
ALTER TABLE report_events ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE INDEX report_events_user_action ON report_events(user_id, id);
CREATE INDEX report_events_created ON report_events(created_at);

-- Failed sign-ins, by account and by hashed client address, for throttling.
CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    who   TEXT NOT NULL,
    at    REAL NOT NULL
);
CREATE INDEX login_failures_who ON login_failures(who, at);
