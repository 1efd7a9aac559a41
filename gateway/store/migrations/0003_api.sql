-- 0003_api: what the provider's API surface needs beyond sending (issue 4):
-- idempotency keys, conversions, and the cost path of usage by country.
--
-- Runs after 0002 (receipts/outbox), whose messages.cost column (in 1/100 of the billing
-- currency, summed from receipts that carry a cost; NULL while none did) is what usage
-- by country sums per country.

-- One row per (API key, Idempotency-Key): the answer given to the first request, so a
-- repeat within the window gets the same answer and sends nothing. Written in the same
-- transaction as the messages it answered for, so neither exists without the other.
CREATE TABLE idempotency_keys (
    api_key_id   TEXT NOT NULL,     -- non-secret label of the API key
    idem_key     TEXT NOT NULL,     -- the Idempotency-Key header as sent
    request_hash TEXT NOT NULL,     -- sha256 of the endpoint and its parameters
    status       INTEGER NOT NULL,  -- HTTP status of the stored answer
    response     TEXT NOT NULL,     -- the stored answer, JSON
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,     -- after this the key may be used again
    PRIMARY KEY (api_key_id, idem_key)
);

-- expired rows are deleted by range.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- POST /sms/converted: one row per converted message; a repeat keeps the first time.
CREATE TABLE conversions (
    message_id   TEXT PRIMARY KEY,
    api_key_id   TEXT NOT NULL,
    converted_at REAL NOT NULL
);

-- POST /usage/bycountry scans messages by creation time.
CREATE INDEX messages_created_at ON messages (created_at);
