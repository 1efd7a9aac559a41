-- 0008: receipts are matched on segments.smsc_id_key (the normalised id, 0002); nothing
-- looks segments up by the raw smsc_message_id, so its index only cost a page write per
-- submit_sm_resp.

DROP INDEX segments_smsc_message_id;
