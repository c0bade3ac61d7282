-- Version 13.
-- Chat channels (issue 27, SPEC 2.5): every message part a delivery sends to a subscriber's
-- Slack, Discord, Matrix or webhook channel, recorded like an email delivery: pending
-- before it is posted, sent once the service answered 2xx (never posted again), failed on
-- a refusal (shown in `status`). One row per (delivery, channel, part).

CREATE TABLE channel_parts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    email       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    part        INTEGER NOT NULL,
    parts       INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    UNIQUE (delivery_id, channel, part)
);
CREATE INDEX channel_parts_status ON channel_parts(status);
