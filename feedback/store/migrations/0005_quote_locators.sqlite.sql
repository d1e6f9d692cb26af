-- Where on the page a report's quote is, as the reader's browser found it: the latest
-- text-fragment directive that matched the quote alone (the dashboard's "open at the
-- quote"), and each send's offsets in the page's visible text. Offsets differ from send
-- to send (ads, updates), so they belong to the send, never to the report's identity.
ALTER TABLE reports ADD COLUMN quote_fragment TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN position_start INTEGER;
ALTER TABLE submissions ADD COLUMN position_end INTEGER;
