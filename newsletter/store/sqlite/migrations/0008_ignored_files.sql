-- Version 8.
-- Files in the digests directory that are not digests (a PDF, an image), named once by
-- `send` and the daemon, never again.

CREATE TABLE ignored_files (
    path     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    seen_at  REAL NOT NULL
) WITHOUT ROWID;
