-- Reports reaching editors where they work: destinations per site, the outbox of report
-- events, each message's delivery, API tokens, and a site's CMS edit link.

-- A CMS address to edit an article at its source, with {url} (and {path}) filled in.
ALTER TABLE sites ADD COLUMN edit_url TEXT NOT NULL DEFAULT '';

CREATE TABLE destinations (
    id            INTEGER PRIMARY KEY,
    site_id       INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'telegram', 'email')),
    target        TEXT NOT NULL,
    -- Signs webhooks; the bot token of a Telegram destination.
    secret        TEXT NOT NULL DEFAULT '',
    path_prefix   TEXT NOT NULL DEFAULT '',
    events        TEXT NOT NULL DEFAULT 'report.created',
    digest        TEXT NOT NULL DEFAULT 'off' CHECK (digest IN ('off', 'hourly', 'daily')),
    -- Action links in its messages act as this editor (an email destination's own
    -- editor when the address is one).
    created_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at    REAL NOT NULL
);

CREATE INDEX destinations_site ON destinations(site_id);

-- The outbox: written by triggers in the very transaction that creates a report or
-- changes its status, so an event is never lost and never announced for a change that
-- was rolled back. The delivery worker turns each into deliveries and deletes it.
CREATE TABLE notify_events (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL,
    site_id     INTEGER NOT NULL,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TRIGGER reports_notify_created AFTER INSERT ON reports
WHEN new.status = 'new' AND EXISTS (SELECT 1 FROM destinations WHERE site_id = new.site_id)
BEGIN
    INSERT INTO notify_events (report_id, site_id, type, status, created_at)
    VALUES (new.id, new.site_id, 'report.created', new.status, new.first_seen);
END;

CREATE TRIGGER reports_notify_status AFTER UPDATE OF status ON reports
WHEN old.status <> new.status
    AND EXISTS (SELECT 1 FROM destinations WHERE site_id = new.site_id)
BEGIN
    INSERT INTO notify_events (report_id, site_id, type, status, created_at)
    VALUES (new.id, new.site_id, 'report.updated', new.status,
            (julianday('now') - 2440587.5) * 86400.0);
END;

-- One message to one destination. `dedup_key` makes repeats impossible: one
-- report.created per report per destination, one digest per period.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    public_id       TEXT NOT NULL UNIQUE,
    destination_id  INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    dedup_key       TEXT NOT NULL,
    type            TEXT NOT NULL,
    report_id       INTEGER,
    -- held: waiting for a digest; digested: sent as part of one.
    state           TEXT NOT NULL
                    CHECK (state IN ('held', 'pending', 'delivered', 'failed', 'digested')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         REAL NOT NULL,
    last_code       INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL DEFAULT '{}',
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (destination_id, dedup_key)
);

CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'pending';
CREATE INDEX deliveries_held ON deliveries(destination_id) WHERE state = 'held';
CREATE INDEX deliveries_recent ON deliveries(destination_id, created_at);

-- API tokens: only a hash is kept; the token is shown once.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    token_hash    TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at    REAL NOT NULL,
    last_used_at  REAL,
    revoked_at    REAL
);

CREATE TABLE api_token_sites (
    token_id  INTEGER NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    site_id   INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, site_id)
) WITHOUT ROWID;
