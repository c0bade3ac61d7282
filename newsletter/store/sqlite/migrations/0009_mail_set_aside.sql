-- Version 9.
-- Mail of the bounce mailbox set aside, for `status`: a report ignored (forged, or about
-- nobody we mailed) or a message quarantined (it cannot be read), with why; once per
-- message.

CREATE TABLE mail_set_aside (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message    TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('ignored', 'quarantined')),
    reason     TEXT NOT NULL,
    detail     TEXT,
    created_at REAL NOT NULL
);
