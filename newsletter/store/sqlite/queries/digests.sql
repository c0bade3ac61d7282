-- The SQL of newsletter/store/sqlite/digests.py, one named query each (loaded once).

-- name: has-digest
SELECT 1 FROM digests WHERE sha256 = ?

-- name: insert-digest
INSERT INTO digests(path, sha256, status, papers, error, seen_at, missing) VALUES (?,?,?,?,?,?,?)

-- name: insert-digest-paper
INSERT INTO digest_papers(digest_id, position, paper_id, record) VALUES (?,?,?,?)

-- name: note-ignored
INSERT OR IGNORE INTO ignored_files(path, kind, seen_at) VALUES (?,?,?)

-- name: digests
SELECT id, path, sha256, status, papers, error, seen_at, missing FROM digests ORDER BY id

-- name: digests-before-11
SELECT id, path, sha256, status, papers, error, seen_at FROM digests ORDER BY id

-- name: papers-after
SELECT dp.paper_id, dp.record
FROM digest_papers dp
JOIN digests d ON d.id = dp.digest_id
WHERE d.status = 'ok' AND d.id > ? AND d.id <= ?
ORDER BY d.id, dp.position

-- name: papers-by-id
SELECT paper_id, record FROM digest_papers WHERE paper_id IN ({marks}) ORDER BY digest_id, position
