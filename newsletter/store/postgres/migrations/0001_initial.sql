-- The PostgreSQL ledger, version 1: the tables of the SQLite ledger (version 7) plus
-- what several senders need (SPEC 6d): passes planned once, deliveries claimed with
-- an owner, a fencing number and a lease on the database's clock.
--
-- Times the program records are UNIX seconds (double precision), as in the SQLite
-- ledger, so that a copy between the two is exact; the lease clock (lease_until,
-- passes.fire_at/planned_at, claim_events.at) is the database's own now().
-- Addresses: `email` columns of subscribers, sent_papers, suppressions, bounces and
-- feedback hold the address key (newsletter.addresses.address_key: stripped, lower
-- case); deliveries keep the address as written (the recipient) beside its key.

CREATE TABLE digests (
    id       bigserial PRIMARY KEY,       -- grows with pick-up order: the ledger's clock
    path     text NOT NULL,
    sha256   text NOT NULL UNIQUE,        -- a digest content is picked up once, by any host
    status   text NOT NULL CHECK (status IN ('ok', 'failed')),
    papers   integer NOT NULL DEFAULT 0,
    error    text,
    seen_at  double precision NOT NULL
);

-- the content of every digest: any host renders any delivery from it
CREATE TABLE digest_papers (
    digest_id bigint NOT NULL REFERENCES digests(id),
    position  integer NOT NULL,
    paper_id  text NOT NULL,
    record    text NOT NULL,              -- the paper record as JSON (Paper.to_json)
    PRIMARY KEY (digest_id, position)
);
CREATE INDEX digest_papers_paper ON digest_papers(paper_id);

CREATE TABLE subscribers (
    email      text PRIMARY KEY,          -- address key
    first_seen double precision NOT NULL,
    horizon    bigint NOT NULL DEFAULT 0
);

-- the unit of work of several senders: planned once per (schedule, fire time)
CREATE TABLE passes (
    id           bigserial PRIMARY KEY,
    schedule_key text NOT NULL,
    fire_at      timestamptz NOT NULL,
    planned_by   text NOT NULL,
    planned_at   timestamptz NOT NULL DEFAULT now(),
    upto         bigint,                  -- the last digest id it delivers
    deliveries   integer NOT NULL DEFAULT 0,
    finished_at  timestamptz,
    UNIQUE (schedule_key, fire_at)
);

CREATE SEQUENCE fence_seq;            -- fencing numbers: every claim gets a new, larger one

CREATE TABLE deliveries (
    id          bigserial PRIMARY KEY,
    pass_id     bigint REFERENCES passes(id),   -- NULL: recorded outside a planned pass
    email       text NOT NULL,                  -- the recipient, as written
    email_key   text NOT NULL,                  -- its address key
    message_id  text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    sent_at     double precision,
    horizon     bigint NOT NULL,
    papers      text[] NOT NULL,
    sender      text NOT NULL,
    size        integer NOT NULL DEFAULT 0,
    message     bytea,                          -- the exact bytes, until accepted (TOAST compresses them)
    owner       text,                           -- who claimed it last (kept once sent: who sent it)
    fence       bigint,                         -- the fencing number of that claim
    lease_until timestamptz,                    -- the claim's end, on the database's clock
    deferred_in bigint,                         -- the pass that left it pending (temporary trouble)
    UNIQUE (pass_id, email_key)                 -- one delivery per subscriber per pass
);
-- the work queue: only the open rows, in claim order (no index on status alone: it
-- would only make every claim and outcome update one more index)
CREATE INDEX deliveries_open ON deliveries(id) WHERE status IN ('pending', 'claimed');
CREATE INDEX deliveries_email ON deliveries(email_key, id);
CREATE INDEX deliveries_message_id ON deliveries(message_id);
CREATE INDEX deliveries_sender ON deliveries(sender);

CREATE TABLE sent_papers (
    email       text NOT NULL,               -- address key
    paper_id    text NOT NULL,
    delivery_id bigint NOT NULL REFERENCES deliveries(id),
    PRIMARY KEY (email, paper_id)
);

CREATE TABLE runs (
    id          bigserial PRIMARY KEY,
    started_at  double precision NOT NULL,
    finished_at double precision,
    sent        integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    pending     integer NOT NULL DEFAULT 0,
    serving     text,                        -- JSON list of the addresses served, NULL for all
    upto        bigint,
    resumed_by  bigint
);

CREATE TABLE suppressions (
    email      text PRIMARY KEY,             -- address key
    created_at double precision NOT NULL,
    source     text NOT NULL,
    until      double precision
);

CREATE TABLE fetch_sources (
    source        text PRIMARY KEY,
    url           text NOT NULL,
    etag          text,
    last_modified text,
    checked_at    double precision NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('written', 'unchanged', 'empty', 'failed')),
    detail        text,
    http_status   integer,
    ok_at         double precision
);

CREATE TABLE bounces (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,               -- address key
    delivery_id bigint REFERENCES deliveries(id),
    kind        text NOT NULL CHECK (kind IN ('hard', 'soft')),
    source      text NOT NULL,
    status      text,
    diagnostic  text,
    report_id   text UNIQUE,                 -- a report is recorded once, whichever host reads it
    cleared     boolean NOT NULL DEFAULT false,
    created_at  double precision NOT NULL
);
CREATE INDEX bounces_email ON bounces(email, id);

CREATE TABLE feedback (
    email      text NOT NULL,                -- address key
    paper_id   text NOT NULL,
    action     text NOT NULL CHECK (action IN ('like', 'dislike')),
    title      text NOT NULL,
    source     text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (email, paper_id)
);

-- what `status` shows of the claims: takeovers of expired claims, and late writes
-- refused because their fencing number was no longer current
CREATE TABLE claim_events (
    id          bigserial PRIMARY KEY,
    pass_id     bigint,
    delivery_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('takeover', 'refused')),
    owner       text NOT NULL,               -- who took over / whose write was refused
    other       text,                        -- the previous owner / the current owner
    fence       bigint,                      -- the new fence / the refused fence
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claim_events_pass ON claim_events(pass_id, kind);
