-- Version 11.
-- A text dump that links to papers its reader did not read is partial (issue 21): the
-- ids it missed, as a JSON list (NULL: none).

ALTER TABLE digests ADD COLUMN missing TEXT;
