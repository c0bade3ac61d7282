-- Version 3: chat channels (issue 27, SPEC 2.5), as the SQLite ledger's version 13: every
-- message part a delivery sends to a subscriber's Slack, Discord, Matrix or webhook
-- channel, pending before it is posted, sent once the service answered 2xx, failed on a
-- refusal. One row per (delivery, channel, part).

CREATE TABLE channel_parts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries(id),
    email       text NOT NULL,
    channel     text NOT NULL,
    part        integer NOT NULL,
    parts       integer NOT NULL,
    payload     text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    error       text,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    UNIQUE (delivery_id, channel, part)
);
CREATE INDEX channel_parts_open ON channel_parts(id) WHERE status = 'pending';
