-- Version 13 (issue 22, second pass): sent_papers keyed by the address key
-- (newsletter.base.addresses.address_key), like the PostgreSQL ledger: no table keys rows
-- by the configured spelling. A paper sent to two spellings of one address (the
-- configuration changed its case) is one row, the earliest delivery's.

CREATE TABLE sent_papers_by_key (
    email_key   TEXT NOT NULL,
    paper_id    TEXT NOT NULL,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    PRIMARY KEY (email_key, paper_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO sent_papers_by_key(email_key, paper_id, delivery_id)
    SELECT address_key(email), paper_id, delivery_id FROM sent_papers ORDER BY delivery_id;
DROP TABLE sent_papers;
ALTER TABLE sent_papers_by_key RENAME TO sent_papers;
