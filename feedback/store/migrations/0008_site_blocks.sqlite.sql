-- A spam block belongs to the site it was set on, and to the editor's action that set
-- it, so undoing the action lifts the block. Blocks made before this had no site: they
-- are dropped (they last a day at most).
DROP TABLE ip_blocks;
CREATE TABLE ip_blocks (
    site_id     INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    ip_hash     TEXT NOT NULL,
    until       REAL NOT NULL,
    created_by  INTEGER REFERENCES users(id),
    created_at  REAL NOT NULL,
    action_id   TEXT,
    PRIMARY KEY (site_id, ip_hash)
) WITHOUT ROWID;
CREATE INDEX ip_blocks_action ON ip_blocks(action_id);
