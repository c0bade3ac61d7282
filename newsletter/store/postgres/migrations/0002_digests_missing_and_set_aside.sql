-- Version 2: what the SQLite ledger holds since its versions 8 to 11, so that both
-- backends answer the same Ledger protocol (issue 22): the ids a partial text dump links
-- to but the reader did not read, files in the digests directory that are not digests,
-- mail of the bounce mailbox set aside, and the papers' sentence embeddings.

ALTER TABLE digests ADD COLUMN missing text;   -- JSON list, NULL: none

CREATE TABLE ignored_files (
    path     text PRIMARY KEY,
    kind     text NOT NULL,
    seen_at  double precision NOT NULL
);

CREATE TABLE mail_set_aside (
    id         bigserial PRIMARY KEY,
    message    text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('ignored', 'quarantined')),
    reason     text NOT NULL,
    detail     text,
    created_at double precision NOT NULL
);

CREATE TABLE paper_vectors (
    model      text NOT NULL,
    text_key   text NOT NULL,
    vector     bytea NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (model, text_key)
);
