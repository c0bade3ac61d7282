-- The SQL of newsletter/store/sqlite/subscribers.py, one named query each (loaded once).

-- name: register-subscribers
INSERT OR IGNORE INTO subscribers(email, email_key, first_seen, horizon) VALUES (?,?,?,?)

-- name: horizons
SELECT email, horizon FROM subscribers WHERE email IN ({marks})

-- name: sent-papers-of
SELECT email_key, paper_id FROM sent_papers WHERE email_key IN ({marks})

-- name: sent-papers-of-before-13
SELECT email, paper_id FROM sent_papers WHERE email IN ({marks})

-- name: pending-papers-of
SELECT email_key, papers FROM deliveries WHERE status = 'pending' AND email_key IN ({marks})

-- name: pending-papers-of-before-13
SELECT email, papers FROM deliveries WHERE status = 'pending' AND email IN ({marks})

-- name: any-given-up
-- (the partial index holds only deliveries given up: a look-up of nothing on most days)
SELECT 1 FROM deliveries WHERE given_up_at >= ? LIMIT 1

-- name: carried-papers-of
-- the papers of deliveries given up by the queue lifetime since a time (and picked up
-- since then), of addresses with no delivery recorded since the give-up (the first one
-- recorded after it took them); not when a chat part of it was posted (they were seen there)
SELECT g.email_key, j.value FROM deliveries g, json_each(g.papers) j
WHERE g.given_up_at >= ?
AND EXISTS (
SELECT 1 FROM digest_papers dp JOIN digests dg ON dg.id = dp.digest_id
WHERE dp.paper_id = j.value AND dg.seen_at >= ?
)
AND g.email_key IN ({marks})
AND NOT EXISTS (
SELECT 1 FROM deliveries d WHERE d.email_key = g.email_key AND d.id > g.id AND d.created_at >= g.given_up_at
)
AND NOT EXISTS (SELECT 1 FROM channel_parts c WHERE c.delivery_id = g.id AND +c.status = 'sent')
ORDER BY g.id, j.key

-- name: advance
UPDATE subscribers SET horizon = MAX(horizon, ?) WHERE email = ?

-- name: subscriber-rows
SELECT email, first_seen, horizon FROM subscribers WHERE email IN ({marks})

-- name: latest-ok-digest
SELECT MAX(id) FROM digests WHERE status = 'ok'

-- name: has-delivery
SELECT 1 FROM deliveries WHERE email = ? LIMIT 1

-- name: register-one
INSERT OR IGNORE INTO subscribers(email, email_key, first_seen, horizon) VALUES (?,?,?,?)

-- name: move-horizon-back
UPDATE subscribers SET horizon = ? WHERE email = ? AND horizon > ?

-- name: last-deliveries
SELECT email, status, COALESCE(sent_at, updated_at)
FROM deliveries
WHERE id IN (SELECT MAX(id)
FROM deliveries
GROUP BY email)
