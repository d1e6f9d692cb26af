-- The text the page checker last read on each page of a site, so that fixing a mistake
-- can show every other page where the same words still stand. Public page text only,
-- nothing readers sent; replaced on every check, gone with the site.
CREATE TABLE page_texts (
    site_id  INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    url      TEXT NOT NULL,
    title    TEXT NOT NULL DEFAULT '',
    text     TEXT NOT NULL,
    seen_at  REAL NOT NULL,
    PRIMARY KEY (site_id, url)
);
