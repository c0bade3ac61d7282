-- The SQL of newsletter/store/sqlite/runs.py, one named query each (loaded once).

-- name: insert-run
INSERT INTO runs(started_at, serving) VALUES (?, ?)

-- name: mark-resumed
UPDATE runs SET resumed_by = ? WHERE id = ? AND finished_at IS NULL

-- name: plan-run
UPDATE runs SET upto = ? WHERE id = ?

-- name: unfinished-runs
SELECT id, started_at, serving, upto
FROM runs
WHERE finished_at IS NULL AND resumed_by IS NULL
ORDER BY id

-- name: finish-run
UPDATE runs SET finished_at = ?, sent = ?, failed = ?, pending = ? WHERE id = ?

-- name: last-run
SELECT MAX(started_at) FROM runs

-- name: runs-since
SELECT serving FROM runs WHERE started_at >= ? ORDER BY id
