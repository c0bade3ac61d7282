-- The SQL of newsletter/store/sqlite/connection.py (shared by every repository).

-- name: last-digest
SELECT COALESCE(MAX(id), 0) FROM digests

-- name: tables
SELECT count(*) FROM sqlite_master

-- name: sent-trigger
CREATE TEMP TRIGGER IF NOT EXISTS deliveries_sent_papers AFTER UPDATE OF status ON main.deliveries
WHEN NEW.status = 'sent' AND OLD.status != 'sent'
BEGIN
    INSERT OR IGNORE INTO sent_papers(email_key, paper_id, delivery_id)
    SELECT NEW.email_key, p.value, NEW.id FROM json_each(NEW.papers) p;
END
