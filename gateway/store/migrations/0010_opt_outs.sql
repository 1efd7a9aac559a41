-- 0010: the opt-out list (issue 14). A handset that texted a stop word to one of our
-- numbers is on that number's list: sends from it to the handset are refused
-- (responseCode 8) until the entry is removed (`smpp-gateway opt-out remove`).

CREATE TABLE opt_outs (
    sender   TEXT NOT NULL,   -- our number the handset wrote to (a send's `from`)
    receiver TEXT NOT NULL,   -- the handset, E.164 digits (a send's `to`)
    at       REAL NOT NULL,   -- when it was added
    reason   TEXT NOT NULL,   -- why: the inbound text, or "admin: ..."
    PRIMARY KEY (sender, receiver)
);
