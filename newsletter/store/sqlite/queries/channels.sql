-- The SQL of newsletter/store/sqlite/channels.py, one named query each (loaded once).

-- name: pending
SELECT id, delivery_id, email, channel, part, parts, payload, status, attempts, error, updated_at
FROM channel_parts WHERE status = 'pending'
ORDER BY delivery_id, channel, part

-- name: outcome
UPDATE channel_parts SET status = ?, attempts = ?, error = ?, updated_at = ? WHERE id = ? AND status = 'pending'

-- name: failures
SELECT id, delivery_id, email, channel, part, parts, payload, status, attempts, error, updated_at
FROM channel_parts WHERE status = 'failed'
ORDER BY updated_at DESC, id DESC

-- name: pending-since
-- parts first recorded pending at or before a time (a queue lifetime ran out)
SELECT id, delivery_id, email, channel, part, parts, payload, status, attempts, error, updated_at
FROM channel_parts WHERE status = 'pending' AND created_at <= ?
ORDER BY delivery_id, channel, part

-- name: give-up
UPDATE channel_parts SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status = 'pending'
