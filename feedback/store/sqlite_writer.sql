-- Per-connection (TEMP) objects of the writer connection. They live only as long as the
-- connection, so they are created each time it opens rather than migrated.
--
-- Intake writes a whole batch of readers' sends, and reads back what became of each,
-- with one statement:
--     INSERT INTO temp.intake_batch (sends, now) VALUES (:json_array, :now)
--     RETURNING (SELECT results FROM temp.intake_results)
-- and the trigger below does the rest. One statement is one transaction (and one
-- COMMIT) on its own, and the writer's thread needs the interpreter lock back only
-- once for it, not after every step; on a busy server each hand-back waits for the
-- request loop to let go of it. The trigger runs BEFORE the row goes in, so the
-- RETURNING clause, evaluated as it does, sees the results.

PRAGMA temp_store = MEMORY;

CREATE TEMP TABLE intake_batch (sends TEXT NOT NULL, now REAL NOT NULL);

CREATE TEMP TABLE intake_sends (
    n INTEGER PRIMARY KEY, site_id INTEGER, kind TEXT, url TEXT, title TEXT, lang TEXT,
    exact TEXT, prefix TEXT, suffix TEXT, dedup_key TEXT, suggestion TEXT, comment TEXT,
    user_agent TEXT, ip_hash TEXT, blocked INTEGER, fragment TEXT, position_start INTEGER,
    position_end INTEGER
);

-- The newest report id before the batch.
CREATE TEMP TABLE intake_state (before_id INTEGER NOT NULL);

-- The batch's outcome as one JSON array, one [report_id, status, existed] per send.
CREATE TEMP TABLE intake_results (results TEXT NOT NULL);

CREATE TEMP TRIGGER intake_batch_store BEFORE INSERT ON intake_batch BEGIN
    DELETE FROM intake_batch;  -- the previous batch's row
    DELETE FROM intake_sends;
    DELETE FROM intake_results;
    DELETE FROM intake_state;
    INSERT INTO intake_state (before_id) SELECT coalesce(max(id), 0) FROM reports;

    INSERT INTO intake_sends
    -- Each send is a JSON array of reports.SEND_FIELDS, read by position.
    SELECT key, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
           value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10,
           value ->> 11, value ->> 12,
           -- A sender an editor blocked lands straight in spam.
           -- A block belongs to the site it was set on; yesterday's hash still matches.
           EXISTS (SELECT 1 FROM ip_blocks b
                   WHERE b.site_id = value ->> 0
                     AND b.ip_hash IN (value ->> 12, value ->> 13)
                     AND b.until > new.now),
           value ->> 14, value ->> 15, value ->> 16
    FROM json_each(new.sends);

    -- Each send merges into its open report or opens one: the partial unique index on
    -- open reports makes a second identical send hit ON CONFLICT (also within one batch,
    -- as rows go in order). A blocked sender's report is created as spam, outside that
    -- index, so it never merges into a real report.
    -- The latest verified text fragment wins, as the page may have changed since.
    INSERT INTO reports (site_id, kind, url, title, lang, quote_exact, quote_prefix,
                         quote_suffix, quote_fragment, dedup_key, status, first_seen,
                         last_seen)
    SELECT site_id, kind, url, title, lang, exact, prefix, suffix, fragment, dedup_key,
           CASE WHEN blocked THEN 'spam' ELSE 'new' END, new.now, new.now
    FROM intake_sends
    WHERE true
    ORDER BY n
    ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
        submission_count = submission_count + 1,
        last_seen = excluded.last_seen,
        title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE reports.title END,
        quote_fragment = CASE WHEN excluded.quote_fragment <> ''
                              THEN excluded.quote_fragment ELSE reports.quote_fragment END;

    -- Each send, kept whole, in the report it belongs to after the upsert above: the one
    -- open report with its key, or for a blocked sender the spam report just created
    -- for it (reports newer than intake_state.before_id are this batch's own).
    INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at,
                             position_start, position_end)
    SELECT CASE WHEN s.blocked
                THEN (SELECT r.id FROM reports r
                      WHERE r.id > (SELECT before_id FROM intake_state)
                        AND r.site_id = s.site_id AND r.dedup_key = s.dedup_key
                      ORDER BY r.id DESC LIMIT 1)
                ELSE (SELECT r.id FROM reports r
                      WHERE r.site_id = s.site_id AND r.dedup_key = s.dedup_key
                        AND r.status IN ('new', 'in_progress'))
           END,
           s.suggestion, s.comment, s.user_agent, s.ip_hash, new.now, s.position_start,
           s.position_end
    FROM intake_sends s
    ORDER BY s.n;

    UPDATE sites SET last_report_at = new.now
    WHERE id IN (SELECT site_id FROM intake_sends);

    -- The batch's submissions are the newest ones, as the statement holds the write lock
    -- from start to end. Newest first.
    INSERT INTO intake_results (results)
    SELECT json_group_array(json_array(report_id, status, existed))
    FROM (SELECT s.report_id, r.status, r.first_seen < new.now AS existed
          FROM submissions s JOIN reports r ON r.id = s.report_id
          ORDER BY s.id DESC LIMIT (SELECT count(*) FROM intake_sends));
END;
