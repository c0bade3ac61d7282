-- Version 4: chat channel parts posted by several senders (issue 27, second pass): the
-- host posting a message holds a claim on its pending parts (owner, lease_until), so that
-- two hosts never post the same message; a claim whose lease ended (its host died) is
-- taken again. Parts recorded before this version have no claim.

ALTER TABLE channel_parts ADD COLUMN owner text, ADD COLUMN lease_until double precision;
