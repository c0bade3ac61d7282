-- Version 7.
-- "More/fewer like this" from the email (or `newsletter feedback`), per subscriber and
-- paper; the latest action wins.

CREATE TABLE feedback (
    email      TEXT NOT NULL,
    paper_id   TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('like', 'dislike')),
    title      TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (email, paper_id)
) WITHOUT ROWID;
