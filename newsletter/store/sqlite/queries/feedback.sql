-- The SQL of newsletter/store/sqlite/feedback.py, one named query each (loaded once).

-- name: feedback-action
SELECT action FROM feedback WHERE email = ? AND paper_id = ?

-- name: upsert-feedback
INSERT OR REPLACE INTO feedback(email, paper_id, action, title, source, created_at)
VALUES (?,?,?,?,?,?)

-- name: forget-feedback
DELETE FROM feedback WHERE email = ? AND paper_id = ?

-- name: feedback-rows
SELECT email, paper_id, action, title, source, created_at FROM feedback
ORDER BY created_at, paper_id

-- name: feedback-rows-of
SELECT email, paper_id, action, title, source, created_at FROM feedback
WHERE email = ?
ORDER BY created_at, paper_id

-- name: store-vectors
INSERT OR IGNORE INTO paper_vectors(model, text_key, vector, created_at) VALUES (?,?,?,?)

-- name: vectors-of-model
SELECT text_key, vector FROM paper_vectors WHERE model = ?

-- name: vectors-of-keys
SELECT text_key, vector FROM paper_vectors WHERE model = ? AND text_key IN ({marks})
