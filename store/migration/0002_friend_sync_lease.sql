-- A friend sync holds a short lease on the member's connection so that only
-- one process syncs a given member at a time, also with several serve
-- processes on one database. The lease is a random token and an expiry (ms);
-- a crashed holder's lease simply runs out.
ALTER TABLE connections ADD COLUMN friend_sync_lease TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN friend_sync_lease_until INTEGER NOT NULL DEFAULT 0;
