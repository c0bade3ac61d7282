-- The SQL of newsletter/store/sqlite/bounces.py, one named query each (loaded once).

-- name: delivery-for
SELECT id, email FROM deliveries WHERE message_id = ? ORDER BY id DESC LIMIT 1

-- name: delivery-by-sender
SELECT id, email FROM deliveries WHERE sender = ? ORDER BY id DESC LIMIT 1

-- name: last-delivery-to
SELECT MAX(id) FROM deliveries WHERE email_key = ? AND status IN ('sent', 'failed')

-- name: has-report
SELECT 1 FROM bounces WHERE report_id = ?

-- name: report-seen
SELECT 1 FROM bounces WHERE report_id = ?

-- name: insert-bounce
INSERT INTO bounces(email, delivery_id, kind, source, status, diagnostic, report_id, created_at)
VALUES (?,?,?,?,?,?,?,?)

-- name: suppression-until
SELECT until FROM suppressions WHERE email = ?

-- name: suppress-bounced
INSERT INTO suppressions(email, created_at, source, until)
VALUES (?,?,'bounced',NULL) ON CONFLICT(email) DO UPDATE
SET created_at = excluded.created_at, source = 'bounced', until = NULL

-- name: bounces-since-resubscribe
SELECT delivery_id, kind FROM bounces WHERE email = ? AND cleared = 0 ORDER BY id

-- name: tried-deliveries-newest-first
SELECT id
FROM deliveries
WHERE email_key = ? AND id <= ? AND status IN ('sent', 'failed')
ORDER BY id DESC

-- name: bounced-addresses
SELECT email, created_at FROM suppressions WHERE source = 'bounced' AND until IS NULL ORDER BY email

-- name: last-bounce
SELECT kind, source, status, diagnostic
FROM bounces
WHERE email = ? AND cleared = 0
ORDER BY id DESC LIMIT 1

-- name: record-set-aside
INSERT OR IGNORE INTO mail_set_aside(message, kind, reason, detail, created_at) VALUES (?,?,?,?,?)

-- name: set-aside
SELECT message, reason, detail, created_at FROM mail_set_aside WHERE kind = ? ORDER BY id

-- name: tried-deliveries-before-12
SELECT id
FROM deliveries
WHERE address_key(email) = ? AND id <= ? AND status IN ('sent', 'failed')
ORDER BY id DESC

-- name: mailbox-mark
SELECT uid FROM mailbox_marks WHERE mailbox = ? AND uidvalidity = ? AND judge = ?

-- name: forget-other-uidvalidity
DELETE FROM mailbox_marks WHERE mailbox = ? AND uidvalidity <> ?

-- name: raise-mailbox-mark
INSERT INTO mailbox_marks(mailbox, uidvalidity, judge, uid, updated_at) VALUES (?,?,?,?,?)
ON CONFLICT(mailbox, uidvalidity, judge) DO UPDATE
SET uid = MAX(uid, excluded.uid), updated_at = excluded.updated_at

-- name: known-mail
SELECT name FROM mailbox_known WHERE mailbox = ? AND judge = ?

-- name: forget-other-judges
DELETE FROM mailbox_known WHERE mailbox = ? AND judge <> ?

-- name: remember-known-mail
INSERT OR IGNORE INTO mailbox_known(mailbox, judge, name, seen_at) VALUES (?,?,?,?)

-- name: forget-known-mail
DELETE FROM mailbox_known WHERE mailbox = ? AND judge = ? AND name = ?
