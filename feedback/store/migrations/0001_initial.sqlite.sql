-- Sites, reports and everything a report is made of.
-- Times are Unix seconds (REAL) so SQLite's date functions and Python agree.

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TABLE site_origins (
    site_id  INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    origin   TEXT NOT NULL,
    PRIMARY KEY (site_id, origin)
) WITHOUT ROWID;

CREATE INDEX site_origins_origin ON site_origins(origin);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL
);

CREATE TABLE user_sites (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site_id  INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, site_id)
) WITHOUT ROWID;

CREATE TABLE reports (
    id                INTEGER PRIMARY KEY,
    site_id           INTEGER NOT NULL REFERENCES sites(id),
    kind              TEXT NOT NULL CHECK (kind IN ('typo', 'comment')),
    url               TEXT NOT NULL,
    title             TEXT NOT NULL DEFAULT '',
    lang              TEXT NOT NULL DEFAULT '',
    quote_exact       TEXT NOT NULL DEFAULT '',
    quote_prefix      TEXT NOT NULL DEFAULT '',
    quote_suffix      TEXT NOT NULL DEFAULT '',
    -- Hash of what makes two sends "the same report"; see feedback/reports.py.
    dedup_key         TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'new'
                      CHECK (status IN ('new', 'in_progress', 'fixed', 'rejected', 'spam')),
    submission_count  INTEGER NOT NULL DEFAULT 1,
    first_seen        REAL NOT NULL,
    last_seen         REAL NOT NULL,
    resolved_at       REAL,
    resolved_by       INTEGER REFERENCES users(id),
    assignee_id       INTEGER REFERENCES users(id),
    note              TEXT NOT NULL DEFAULT ''
);

-- Only one open report per identical quote: later sends merge into it.
-- Once it is closed, the same quote opens a fresh report.
CREATE UNIQUE INDEX reports_open_dedup ON reports(site_id, dedup_key)
    WHERE status IN ('new', 'in_progress');
-- Finds the report a send belongs to, open or not.
CREATE INDEX reports_site_dedup ON reports(site_id, dedup_key, id);
CREATE INDEX reports_site_status ON reports(site_id, status, id);
CREATE INDEX reports_status ON reports(status, id);

CREATE TABLE submissions (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL REFERENCES reports(id),
    suggestion  TEXT NOT NULL DEFAULT '',
    comment     TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    -- HMAC of the client IP under the secret key; the raw address is never stored.
    ip_hash     TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE INDEX submissions_report ON submissions(report_id, id);
CREATE INDEX submissions_ip_hash ON submissions(ip_hash);

CREATE TABLE report_events (
    id           INTEGER PRIMARY KEY,
    report_id    INTEGER NOT NULL REFERENCES reports(id),
    user_id      INTEGER REFERENCES users(id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    created_at   REAL NOT NULL
);

CREATE INDEX report_events_report ON report_events(report_id, id);

-- Senders an editor blocked when marking their report as spam.
CREATE TABLE ip_blocks (
    ip_hash     TEXT PRIMARY KEY,
    until       REAL NOT NULL,
    created_by  INTEGER REFERENCES users(id),
    created_at  REAL NOT NULL
) WITHOUT ROWID;
