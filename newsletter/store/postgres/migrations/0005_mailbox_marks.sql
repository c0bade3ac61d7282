-- Version 5: how far the bounce reader has looked into an IMAP folder (the SQLite
-- ledger's version 16, newsletter/bounces/process.py): every message with a UID up to
-- `uid` was judged in an earlier pass (by any host) and is not fetched again. Keyed by
-- the mailbox, its UIDVALIDITY and `judge` (what decides "not ours"); the mark only
-- grows (several hosts reading the same folder each raise it to what they finished).

CREATE TABLE mailbox_marks (
    mailbox     text NOT NULL,
    uidvalidity bigint NOT NULL,
    judge       text NOT NULL,
    uid         bigint NOT NULL,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (mailbox, uidvalidity, judge)
);

-- A Maildir has no UIDs: the names (without ":2,flags") of the messages left in it after
-- they were judged, per Maildir (maildir://host/path: each host its own) and judge.
CREATE TABLE mailbox_known (
    mailbox  text NOT NULL,
    judge    text NOT NULL,
    name     text NOT NULL,
    seen_at  double precision NOT NULL,
    PRIMARY KEY (mailbox, judge, name)
);
