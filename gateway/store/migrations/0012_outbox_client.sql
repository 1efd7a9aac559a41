-- 0012: each webhook names the client whose message it reports (NULL: an inbound
-- message, or a row from before), so the dispatcher signs it with that client's secret
-- and scheme (clients.NAME.webhook_secret, signature_scheme). Kept only until delivery.

ALTER TABLE webhook_outbox ADD COLUMN client TEXT NULL;
