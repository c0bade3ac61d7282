-- Version 7: a delivery given up by the queue lifetime (newsletter/delivery/lifetime.py)
-- is told apart from one refused for good (a 5xx, an unsubscribe): `given_up_at` is when
-- the lifetime ran out (NULL for every other delivery, and for the ones given up before
-- this version: their error text is never parsed). Its papers are offered again to the
-- subscriber's first delivery recorded after that moment (newsletter/delivery/plan.py,
-- `carried_papers`).

ALTER TABLE deliveries ADD COLUMN given_up_at double precision;
CREATE INDEX deliveries_given_up ON deliveries(email_key, given_up_at) WHERE given_up_at IS NOT NULL;
