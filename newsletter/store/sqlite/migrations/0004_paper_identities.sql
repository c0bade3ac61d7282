-- Version 4.
-- One paper, one identity (issue 12): papers sent before are recorded under their
-- normalised title too, so that they never come again under another id. paper_key is
-- newsletter.digest.paper_id, registered on every connection.

INSERT OR IGNORE INTO sent_papers(email, paper_id, delivery_id)
SELECT sp.email, paper_key(json_extract(dp.record, '$.title')), sp.delivery_id
FROM sent_papers sp JOIN digest_papers dp ON dp.paper_id = sp.paper_id
WHERE json_extract(dp.record, '$.title') IS NOT NULL;
