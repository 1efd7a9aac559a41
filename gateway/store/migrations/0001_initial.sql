-- 0001_initial: messages, their segments and their history.
--
-- Written to run on SQLite as-is and on PostgreSQL after the runner's dialect rewrite
-- (gateway/store/migrate.py, postgres_types): BLOB becomes BYTEA, REAL becomes
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes, too coarse for epoch seconds), and
-- INTEGER PRIMARY KEY AUTOINCREMENT becomes an identity column.
-- Times are epoch seconds. Receipts and the webhook outbox come in later migrations.

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,          -- the gateway's UUID
    created_at          REAL NOT NULL,
    api_key_id          TEXT NOT NULL,             -- non-secret label of the API key
    receiver            TEXT NOT NULL,             -- normalised (E.164 digits)
    receiver_as_given   TEXT NOT NULL,
    text                TEXT NOT NULL,
    text_length         INTEGER NOT NULL,
    source_addr         TEXT NOT NULL,
    source_addr_ton     INTEGER NOT NULL,
    source_addr_npi     INTEGER NOT NULL,
    destination_addr    TEXT NOT NULL,
    dest_addr_ton       INTEGER NOT NULL,
    dest_addr_npi       INTEGER NOT NULL,
    data_coding         INTEGER NOT NULL,
    esm_class           INTEGER NOT NULL,
    protocol_id         INTEGER NOT NULL,
    registered_delivery INTEGER NOT NULL,
    validity_minutes    INTEGER NULL,
    expires_at          REAL NOT NULL,
    reference           TEXT NULL,
    callback            TEXT NULL,
    notify_statuses     TEXT NOT NULL DEFAULT '',  -- comma-joined; empty means all
    segment_count       INTEGER NOT NULL,
    state               TEXT NOT NULL,             -- gateway.model.State values
    state_changed_at    REAL NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               TEXT NULL,
    smpp_status         INTEGER NULL
);

-- claim() takes the oldest accepted; pending_count() counts by state.
CREATE INDEX messages_state_created ON messages (state, created_at);

CREATE TABLE segments (
    message_id      TEXT NOT NULL REFERENCES messages (id),  -- enforced on PostgreSQL only
    seq             INTEGER NOT NULL,                        -- 0-based
    payload         BLOB NOT NULL,                           -- BYTEA on PostgreSQL
    smsc_message_id TEXT NULL,
    command_status  INTEGER NULL,                            -- 0: the SMSC took it
    submitted_at    REAL NULL,
    PRIMARY KEY (message_id, seq)
);

-- receipts correlate by the SMSC's id.
CREATE INDEX segments_smsc_message_id ON segments (smsc_message_id);

CREATE TABLE message_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    at         REAL NOT NULL,
    state      TEXT NOT NULL,   -- the state entered
    detail     TEXT NULL        -- why: error text, "requeued", "attempt 2", ...
);

CREATE INDEX message_events_message_id ON message_events (message_id);
