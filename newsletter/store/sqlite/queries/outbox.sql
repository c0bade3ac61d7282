-- The SQL of newsletter/store/sqlite/outbox.py, one named query each (loaded once).

-- name: delivery-counts-by-email
SELECT email, COUNT(*) FROM deliveries GROUP BY email

-- name: record-sent
UPDATE deliveries
SET status = 'sent', attempts = attempts + json_extract(p.value, '$[1]'), updated_at = ?1, sent_at = ?1, last_error = NULL, message = NULL
FROM json_each(?2) p
WHERE deliveries.id = json_extract(p.value, '$[0]')

-- name: insert-pending
-- `message` NULL and (spool, spool_at) set when a render worker spooled the bytes
INSERT INTO deliveries(email, email_key, message_id, status, attempts, created_at, updated_at, horizon, papers, sender, size, message, spool, spool_at)
VALUES (?,?,?,'pending',0,?,?,?,?,?,?,?,?,?)

-- name: spooled-pending
-- deliveries still pending whose bytes are in the spool (newsletter/store/spool.py)
SELECT id, email, spool, spool_at, size FROM deliveries
WHERE status = 'pending' AND spool IS NOT NULL AND message IS NULL
ORDER BY id

-- name: absorb-spooled
UPDATE deliveries SET message = ?, spool = NULL, spool_at = NULL WHERE id = ?

-- name: spooled-lost
UPDATE deliveries SET status = 'failed', last_error = ?, updated_at = ?, spool = NULL, spool_at = NULL WHERE id = ?

-- name: forget-spool
UPDATE deliveries SET spool = NULL, spool_at = NULL WHERE spool IS NOT NULL

-- name: insert-channel-part
-- a delivery's chat message parts, in the transaction that records the delivery (issue 27)
INSERT OR IGNORE INTO channel_parts(delivery_id, email, channel, part, parts, payload, status, created_at, updated_at)
VALUES (?,?,?,?,?,?,'pending',?,?)

-- name: advance-horizon
UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email = ?

-- name: record-unsent
UPDATE deliveries
SET status = ?, attempts = attempts + ?, last_error = ?, updated_at = ?
WHERE id = ?

-- name: record-sent-one
UPDATE deliveries
SET status = 'sent', attempts = attempts + ?, updated_at = ?, sent_at = ?, last_error = NULL, message = NULL
WHERE id = ?

-- name: pending-ids
SELECT id FROM deliveries WHERE status = 'pending' ORDER BY id

-- name: pendings
SELECT id, email, message_id, sender, message, attempts
FROM deliveries
WHERE status = 'pending' AND message IS NOT NULL AND id IN ({marks})

-- name: delivery-counts
SELECT status, COUNT(*) FROM deliveries GROUP BY status

-- name: failed
SELECT email, last_error FROM deliveries WHERE status = 'failed' ORDER BY id

-- name: deliveries
SELECT id, email, message_id, status, attempts, last_error, created_at, updated_at, sent_at, papers, size
FROM deliveries
ORDER BY id

-- name: deliveries-of
SELECT id, email, message_id, status, attempts, last_error, created_at, updated_at, sent_at, papers, size
FROM deliveries
WHERE email = ?
ORDER BY id

-- name: sent-issues
SELECT email, message_id, COALESCE(sent_at, updated_at), papers
FROM deliveries
WHERE status = 'sent'
ORDER BY id

-- name: sent-papers
SELECT paper_id FROM sent_papers WHERE email_key = ?

-- name: sent-papers-before-13
SELECT paper_id FROM sent_papers WHERE email = ?

-- name: pending-since
-- deliveries first recorded pending at or before a time (a queue lifetime ran out)
SELECT id, email, last_error FROM deliveries WHERE status = 'pending' AND created_at <= ? ORDER BY id

-- name: give-up
-- given_up_at: told apart from a refusal for good (its papers are carried, plan.py)
UPDATE deliveries SET status = 'failed', last_error = ?1, updated_at = ?2, given_up_at = ?2
WHERE id = ?3 AND status = 'pending'
