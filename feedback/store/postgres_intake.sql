-- Intake on PostgreSQL: a whole batch of readers' sends in one statement, which is also
-- its own transaction. :sends is a JSON array with one array per send, :now the time.
--
-- Instances write at once, so the statement takes its locks in one order: the batch's
-- open reports sorted by (site, quote), then the sites, then the totals (triggers).
WITH sends AS (
    -- Each send is a JSON array of reports.SEND_FIELDS, read by position; its place in
    -- the batch is its number.
    SELECT CAST(t.ord - 1 AS integer) AS n, CAST(e ->> 0 AS bigint) AS site_id,
           e ->> 1 AS kind, e ->> 2 AS url, e ->> 3 AS title, e ->> 4 AS lang,
           e ->> 5 AS exact, e ->> 6 AS prefix, e ->> 7 AS suffix, e ->> 8 AS dedup_key,
           e ->> 9 AS suggestion, e ->> 10 AS comment, e ->> 11 AS user_agent,
           e ->> 12 AS ip_hash, e ->> 13 AS ip_hash_prev, e ->> 14 AS fragment,
           CAST(e ->> 15 AS bigint) AS position_start,
           CAST(e ->> 16 AS bigint) AS position_end
    FROM jsonb_array_elements(CAST(:sends AS jsonb)) WITH ORDINALITY AS t(e, ord)
),
-- A sender an editor blocked lands straight in spam, in a report of its own whose id is
-- drawn here, so each of those sends knows its report without a second lookup.
flagged AS MATERIALIZED (
    SELECT s.*, b.blocked,
           CASE WHEN b.blocked THEN nextval(pg_get_serial_sequence('reports', 'id')) END
               AS spam_id
    FROM sends s
    CROSS JOIN LATERAL (
        -- A block belongs to the site it was set on; yesterday's hash still matches.
        SELECT EXISTS (SELECT 1 FROM ip_blocks b
                       WHERE b.site_id = s.site_id
                         AND b.ip_hash IN (s.ip_hash, s.ip_hash_prev)
                         AND b.until > :now) AS blocked
    ) b
),
-- Every other send merges into its open report or opens one. One row per quote: a
-- statement may not update the same row twice, so sends of one quote are counted here.
-- The title a report keeps is the latest one sent that is not empty.
titles AS (
    SELECT DISTINCT ON (site_id, dedup_key) site_id, dedup_key, title
    FROM flagged
    WHERE NOT blocked AND title <> ''
    ORDER BY site_id, dedup_key, n DESC
),
-- Likewise the latest verified text fragment.
fragments AS (
    SELECT DISTINCT ON (site_id, dedup_key) site_id, dedup_key, fragment
    FROM flagged
    WHERE NOT blocked AND fragment <> ''
    ORDER BY site_id, dedup_key, n DESC
),
quotes AS (
    SELECT DISTINCT ON (f.site_id, f.dedup_key)
           f.site_id, f.kind, f.url, f.lang, f.exact, f.prefix, f.suffix, f.dedup_key,
           count(*) OVER (PARTITION BY f.site_id, f.dedup_key) AS sends,
           coalesce(t.title, '') AS title, coalesce(g.fragment, '') AS fragment
    FROM flagged f
    LEFT JOIN titles t ON t.site_id = f.site_id AND t.dedup_key = f.dedup_key
    LEFT JOIN fragments g ON g.site_id = f.site_id AND g.dedup_key = f.dedup_key
    WHERE NOT f.blocked
    ORDER BY f.site_id, f.dedup_key, f.n
),
merged AS (
    INSERT INTO reports AS r (site_id, kind, url, title, lang, quote_exact, quote_prefix,
                              quote_suffix, quote_fragment, dedup_key, status,
                              submission_count, first_seen, last_seen)
    SELECT site_id, kind, url, title, lang, exact, prefix, suffix, fragment, dedup_key, 'new',
           sends, :now, :now
    FROM quotes
    ORDER BY site_id, dedup_key
    ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
        submission_count = r.submission_count + excluded.submission_count,
        last_seen = excluded.last_seen,
        title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE r.title END,
        quote_fragment = CASE WHEN excluded.quote_fragment <> ''
                              THEN excluded.quote_fragment ELSE r.quote_fragment END
    RETURNING r.id, r.site_id, r.dedup_key, r.status, r.quote_exact, (r.xmax = 0) AS opened
),
spam AS (
    INSERT INTO reports (id, site_id, kind, url, title, lang, quote_exact, quote_prefix,
                         quote_suffix, quote_fragment, dedup_key, status, submission_count,
                         first_seen, last_seen)
    SELECT spam_id, site_id, kind, url, title, lang, exact, prefix, suffix, fragment,
           dedup_key, 'spam', 1, :now, :now
    FROM flagged
    WHERE blocked
    ORDER BY n
),
placed AS (
    SELECT f.*,
           CASE WHEN f.blocked THEN f.spam_id ELSE m.id END AS report_id,
           CASE WHEN f.blocked THEN 'spam' ELSE m.status END AS status,
           CASE WHEN f.blocked THEN false ELSE NOT m.opened END AS existed
    FROM flagged f
    LEFT JOIN merged m
      ON NOT f.blocked AND m.site_id = f.site_id AND m.dedup_key = f.dedup_key
),
kept AS (
    INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at,
                             position_start, position_end)
    SELECT report_id, suggestion, comment, user_agent, ip_hash, :now, position_start,
           position_end
    FROM placed
    ORDER BY n
    RETURNING id, report_id, comment, suggestion
),
searchable AS (
    INSERT INTO report_search (rowid, report_id, text)
    SELECT k.id, k.report_id,
           to_tsvector('simple', p.exact || ' ' || k.comment || ' ' || k.suggestion)
    FROM kept k
    JOIN (SELECT DISTINCT report_id, exact FROM placed) p ON p.report_id = k.report_id
),
touched AS (
    UPDATE sites SET last_report_at = :now
    WHERE id IN (SELECT DISTINCT site_id FROM sends)
)
SELECT n, report_id, status, existed FROM placed ORDER BY n
