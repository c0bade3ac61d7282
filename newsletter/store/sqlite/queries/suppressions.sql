-- The SQL of newsletter/store/sqlite/suppressions.py, one named query each (loaded once).

-- name: suppression-until
SELECT until FROM suppressions WHERE email = ?

-- name: upsert-suppression
INSERT INTO suppressions(email, created_at, source, until)
VALUES (?,?,?,?) ON CONFLICT(email) DO UPDATE
SET created_at = excluded.created_at, source = excluded.source, until = excluded.until

-- name: delete-suppression
DELETE FROM suppressions WHERE email = ?

-- name: clear-bounces
UPDATE bounces SET cleared = 1 WHERE email = ?

-- name: advance-horizon-of-key
UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email_key = ?

-- name: suppression
SELECT email, created_at, source, until
FROM suppressions
WHERE email = ? AND (until IS NULL OR until > ?)

-- name: suppressed
SELECT email FROM suppressions WHERE until IS NULL OR until > ?

-- name: suppression-counts
SELECT COUNT(*), COUNT(until) FROM suppressions WHERE until IS NULL OR until > ?

-- name: pending-to-suppressed
SELECT d.id, d.email, s.source
FROM deliveries d
JOIN suppressions s ON s.email = d.email_key
WHERE d.status = 'pending' AND (s.until IS NULL OR s.until > ?)
ORDER BY d.id

-- name: cancel-delivery
UPDATE deliveries
SET status = 'failed', last_error = ?, updated_at = ?, message = NULL
WHERE id = ? AND status = 'pending'
