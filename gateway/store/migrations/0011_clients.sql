-- 0011: clients (issue 14). Each message names the client that sent it (`default`: the
-- global http.api_keys), and the SMS parts each client sent per UTC day and month are
-- counted for its quotas (clients.NAME.quota_day / quota_month): one row per client and
-- period ("2026-12-01", "2026-12"), shared by every worker and daemon.

ALTER TABLE messages ADD COLUMN client TEXT NOT NULL DEFAULT 'default';

CREATE TABLE client_quota (
    client TEXT NOT NULL,
    period TEXT NOT NULL,
    parts  INTEGER NOT NULL,
    PRIMARY KEY (client, period)
);
