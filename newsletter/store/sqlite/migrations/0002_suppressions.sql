-- Version 2.
-- Suppressions: addresses that unsubscribed (the one-click endpoint, `newsletter
-- unsubscribe`) or paused; `until` NULL: for good, else the UNIX time a pause ends.

CREATE TABLE suppressions (
    email      TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source     TEXT NOT NULL,
    until      REAL
) WITHOUT ROWID;
