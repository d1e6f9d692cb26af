-- The text the page checker last read on each page of a site, so that fixing a mistake
-- can show every other page where the same words still stand. Public page text only,
-- nothing readers sent; replaced on every check, gone with the site.
CREATE TABLE page_texts (
    site_id  bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    url      text NOT NULL,
    title    text NOT NULL DEFAULT '',
    text     text NOT NULL,
    seen_at  double precision NOT NULL,
    PRIMARY KEY (site_id, url)
);
