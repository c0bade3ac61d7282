-- Version 16.
-- How far the bounce reader has looked into an IMAP folder (newsletter/bounces/process.py):
-- every message with a UID up to `uid` was judged in an earlier pass, and what is still
-- there is mail that is not ours (a human's, on a shared mailbox) or was left on purpose;
-- it is not fetched again. Keyed by the mailbox (imap://user@host:port/folder), its
-- UIDVALIDITY (a recreated folder numbers its messages anew: nothing remembered applies)
-- and `judge`, a fingerprint of what decides "not ours" (the unsubscribe address, the
-- reader's version): a change of either reads everything again.

CREATE TABLE mailbox_marks (
    mailbox     TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    judge       TEXT NOT NULL,
    uid         INTEGER NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (mailbox, uidvalidity, judge)
);

-- A Maildir has no UIDs: the names (without the ":2,flags" part, which a mail reader
-- changes) of the messages left in it after they were judged, per Maildir
-- (maildir://host/path) and judge; forgotten when the file is gone.
CREATE TABLE mailbox_known (
    mailbox  TEXT NOT NULL,
    judge    TEXT NOT NULL,
    name     TEXT NOT NULL,
    seen_at  REAL NOT NULL,
    PRIMARY KEY (mailbox, judge, name)
);
