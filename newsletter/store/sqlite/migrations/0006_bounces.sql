-- Version 6.
-- Bounces tied to a delivery, from SMTP replies (a 5xx at RCPT/DATA) and from delivery
-- status notifications; a report is never counted twice (report_id); resubscribe clears
-- older ones. A bounced delivery keeps its status: "bounced" is this table joined to
-- deliveries.

CREATE TABLE bounces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    email       TEXT NOT NULL,
    delivery_id INTEGER REFERENCES deliveries(id),
    kind        TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
    source      TEXT NOT NULL,
    status      TEXT,
    diagnostic  TEXT,
    report_id   TEXT UNIQUE,
    cleared     INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE INDEX bounces_email ON bounces(email, id);
CREATE INDEX deliveries_sender ON deliveries(sender);
