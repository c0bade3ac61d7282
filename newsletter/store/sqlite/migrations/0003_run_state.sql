-- Version 3.
-- The state of a pass, so that an interrupted one is finished at the next start: a run
-- with finished_at NULL was interrupted (SIGTERM, a crash, a full disk) unless a later run
-- took it over (resumed_by). serving: the addresses it served (JSON), NULL for all; upto:
-- the last digest id it delivers. Runs left unfinished by older versions say nothing of
-- what they served: they are closed here.

ALTER TABLE runs ADD COLUMN serving TEXT;
ALTER TABLE runs ADD COLUMN upto INTEGER;
ALTER TABLE runs ADD COLUMN resumed_by INTEGER;
UPDATE runs SET finished_at = started_at WHERE finished_at IS NULL;
