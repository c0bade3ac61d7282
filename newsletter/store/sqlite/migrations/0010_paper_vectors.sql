-- Version 10.
-- Each paper's sentence embedding (issue 24), computed once at pick-up, keyed by the
-- model and the paper's text (newsletter.matching.semantic.text_key): float32 bytes.

CREATE TABLE paper_vectors (
    model      TEXT NOT NULL,
    text_key   TEXT NOT NULL,
    vector     BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, text_key)
) WITHOUT ROWID;
