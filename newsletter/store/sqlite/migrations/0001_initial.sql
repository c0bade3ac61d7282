-- Version 1.
-- The ledger (SPEC 6): digests picked up (their row ids are the ledger's clock) and
-- their papers, every address seen with its horizon (the last digest already considered
-- for it), deliveries (the exact bytes kept until the server accepts them, so a re-send
-- carries the same message and Message-ID), the papers sent to each address (never
-- again), and one row per pass.

CREATE TABLE digests (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    path     TEXT NOT NULL,
    sha256   TEXT NOT NULL UNIQUE,
    status   TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    papers   INTEGER NOT NULL DEFAULT 0,
    error    TEXT,
    seen_at  REAL NOT NULL
);
CREATE TABLE digest_papers (
    digest_id INTEGER NOT NULL REFERENCES digests(id),
    position  INTEGER NOT NULL,
    paper_id  TEXT NOT NULL,
    record    TEXT NOT NULL,
    PRIMARY KEY (digest_id, position)
);
CREATE INDEX digest_papers_paper ON digest_papers(paper_id);
CREATE TABLE subscribers (
    email      TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    horizon    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at    REAL,
    horizon    INTEGER NOT NULL,
    papers     TEXT NOT NULL,
    sender     TEXT NOT NULL,
    size       INTEGER NOT NULL DEFAULT 0,
    message    BLOB
);
CREATE INDEX deliveries_status ON deliveries(status);
CREATE INDEX deliveries_email ON deliveries(email);
CREATE TABLE sent_papers (
    email       TEXT NOT NULL,
    paper_id    TEXT NOT NULL,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    PRIMARY KEY (email, paper_id)
) WITHOUT ROWID;
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  REAL NOT NULL,
    finished_at REAL,
    sent        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    pending     INTEGER NOT NULL DEFAULT 0
);
