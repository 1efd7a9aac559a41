-- 0007: token buckets every HTTP worker and every daemon share (a rate limit that holds
-- however requests spread over processes): tokens left at the time `at`.

CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY,   -- what is limited, e.g. "conversion:<api key id>"
    tokens REAL NOT NULL,
    at     REAL NOT NULL       -- epoch seconds of the last take
);
