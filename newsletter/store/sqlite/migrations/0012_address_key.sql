-- Version 12 (issue 22): one address key. subscribers and deliveries keep the address as
-- configured (what status and the logs show) and gain email_key, its key
-- (newsletter.base.addresses.address_key, registered on every connection): every look-up
-- "by address" goes through it (and its indexes), never through lower(email). Two
-- spellings of one address recorded before (the configuration changed its case): the
-- subscriber row furthest along is kept.

ALTER TABLE subscribers ADD COLUMN email_key TEXT;
UPDATE subscribers SET email_key = address_key(email);
DELETE FROM subscribers WHERE EXISTS (
    SELECT 1 FROM subscribers t
    WHERE t.email_key = subscribers.email_key
      AND (t.horizon > subscribers.horizon OR (t.horizon = subscribers.horizon AND t.email < subscribers.email))
);
CREATE UNIQUE INDEX subscribers_email_key ON subscribers(email_key);

ALTER TABLE deliveries ADD COLUMN email_key TEXT;
UPDATE deliveries SET email_key = address_key(email);
CREATE INDEX deliveries_email_key ON deliveries(email_key, id);
