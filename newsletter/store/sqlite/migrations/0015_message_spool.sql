-- Version 15.
-- The message spool of a large pass (issue 26, newsletter/store/spool.py): a delivery
-- rendered by a render worker is recorded pending with where its bytes are (a file of
-- the spool directory beside the ledger, and the offset in it; the length is `size`)
-- instead of the bytes; `message` stays NULL. At the start and the end of every pass the
-- bytes of deliveries still pending move into `message` and the spool is deleted.

ALTER TABLE deliveries ADD COLUMN spool TEXT;
ALTER TABLE deliveries ADD COLUMN spool_at INTEGER;
