-- 0002: delivery receipts, inbound (MO) messages and the webhook outbox.
--
-- A receipt row is written before deliver_sm_resp; it is matched to a segment by the
-- SMSC id key (lower case, leading zeros stripped; hex/decimal readings are tried too).
-- One that matches nothing stays with message_id NULL: kept, counted, visible.

ALTER TABLE segments ADD COLUMN smsc_id_key TEXT NULL;      -- normalised smsc_message_id
ALTER TABLE segments ADD COLUMN receipt_state TEXT NULL;    -- provider state of its receipt
ALTER TABLE segments ADD COLUMN receipt_error INTEGER NULL;
ALTER TABLE segments ADD COLUMN receipt_at REAL NULL;
CREATE INDEX segments_smsc_id_key ON segments (smsc_id_key);

ALTER TABLE messages ADD COLUMN error_code INTEGER NULL;    -- the receipt's err
ALTER TABLE messages ADD COLUMN done_at REAL NULL;          -- when a final state arrived
ALTER TABLE messages ADD COLUMN cost REAL NULL;             -- from receipts that carry one

CREATE TABLE receipts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at     REAL NOT NULL,
    session         TEXT NOT NULL,
    smsc_message_id TEXT NOT NULL,
    id_key          TEXT NOT NULL,
    stat            TEXT NOT NULL,
    state           TEXT NOT NULL,
    error_code      INTEGER NULL,
    done_date       TEXT NULL,
    message_id      TEXT NULL,       -- set when matched
    seq             INTEGER NULL,
    matched_at      REAL NULL
);
CREATE INDEX receipts_id_key ON receipts (id_key);
CREATE INDEX receipts_unmatched ON receipts (received_at) WHERE message_id IS NULL;

CREATE TABLE inbound_parts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    group_key   TEXT NOT NULL,       -- sender|receiver|reference|total
    number      INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    coding      TEXT NOT NULL,
    text        TEXT NOT NULL,
    UNIQUE (group_key, number)
);
CREATE INDEX inbound_parts_received ON inbound_parts (received_at);

CREATE TABLE inbound_messages (
    id          TEXT PRIMARY KEY,    -- the gateway's UUID, sent as msgid
    received_at REAL NOT NULL,
    sender      TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    coding      TEXT NOT NULL,
    text        TEXT NOT NULL,
    parts       INTEGER NOT NULL,
    complete    INTEGER NOT NULL     -- 0 when the reassembly timeout delivered what it had
);

CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,    -- also the X-Webhook-Id header, for receiver dedup
    kind            TEXT NOT NULL,       -- callback | inbound
    message_id      TEXT NULL,
    created_at      REAL NOT NULL,
    url             TEXT NOT NULL,
    method          TEXT NOT NULL,       -- GET | POST
    content_type    TEXT NULL,
    body            BLOB NULL,
    state           TEXT NOT NULL,       -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL NULL,           -- claimed by a dispatcher until then
    last_error      TEXT NULL,
    finished_at     REAL NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);
