-- Version 5.
-- Fetch sources: per configured source of `newsletter fetch`, the URL last asked, the
-- ETag / Last-Modified validators of its answer, when, the outcome and the last success.

CREATE TABLE fetch_sources (
    source        TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    checked_at    REAL NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('written', 'unchanged', 'empty', 'failed')),
    detail        TEXT,
    http_status   INTEGER,
    ok_at         REAL
) WITHOUT ROWID;
