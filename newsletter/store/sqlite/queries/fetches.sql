-- The SQL of newsletter/store/sqlite/fetches.py, one named query each (loaded once).

-- name: fetch-states
SELECT source, url, etag, last_modified, checked_at, outcome, detail, http_status, ok_at
FROM fetch_sources
ORDER BY source

-- name: record-fetch
INSERT OR REPLACE INTO fetch_sources(source, url, etag, last_modified, checked_at, outcome, detail, http_status, ok_at)
VALUES (?,?,?,?,?,?,?,?,?)
