-- 0004_scale_out: what several daemons on one PostgreSQL database need (issue 7), and
-- the indexes retention deletes by (both backends).
--
-- A claimed message records which daemon holds it and until when. On PostgreSQL a
-- daemon renews its claims while it lives; a claim whose lease has passed belongs to a
-- daemon that died, and any daemon may claim the message again. SQLite has one daemon
-- per file and requeues every claim at start, so it leaves these columns NULL.

ALTER TABLE messages ADD COLUMN claimed_by TEXT NULL;    -- owner id of the claiming daemon
ALTER TABLE messages ADD COLUMN lease_until REAL NULL;   -- the claim is void after this

-- claim() looks for submitting messages whose lease has passed.
CREATE INDEX messages_state_lease ON messages (state, lease_until);

-- retention deletes delivered webhooks by age.
CREATE INDEX webhook_outbox_finished ON webhook_outbox (state, finished_at);

-- retention deletes a purged message's receipts.
CREATE INDEX receipts_message_id ON receipts (message_id);
