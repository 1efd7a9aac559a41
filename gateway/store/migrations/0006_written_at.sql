-- 0006: when a segment's submit_sm was last written to an SMSC socket. A segment written
-- and never answered (command_status NULL) may have reached the SMSC: submitted again
-- after a crash, it is a possible duplicate, and only those are counted as such.

ALTER TABLE segments ADD COLUMN written_at REAL NULL;
