-- 0005: one spelling of a state. segments.receipt_state held the provider's upper-case
-- name (DELIVERED) while every other column holds gateway.lifecycle.State values
-- (delivered); now it holds State values too.

UPDATE segments SET receipt_state = LOWER(receipt_state) WHERE receipt_state IS NOT NULL;
