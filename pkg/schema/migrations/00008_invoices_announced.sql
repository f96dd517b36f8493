-- When a Crypto Pay payment was announced: the payment-watcher's "Payment
-- received" message and its activation request were both stored by NATS.
-- Applying a payment commits before it is announced, so a watcher that dies,
-- or loses NATS, in between leaves a paid invoice that no pending-invoice poll
-- sees again; announced_at NULL is how the next poll finds it and announces
-- it, under the same dedup ids.
--
-- The payment-watcher sets it for Crypto Pay; the bot-handler sets it once
-- it confirmed a Stars payment, so a successful_payment delivered again is
-- not confirmed twice, and one whose confirmation failed is on the retry.

-- +goose Up
ALTER TABLE invoices ADD COLUMN announced_at timestamptz,
    ADD CONSTRAINT invoices_announced_when_paid CHECK (announced_at IS NULL OR status = 'paid');
-- Payments made before this column were announced when they were applied
-- (or, lost then, are too old to announce now: the sender's sent-log may no
-- longer hold their dedup ids).
UPDATE invoices SET announced_at = paid_at WHERE status = 'paid';
-- The payment-watcher's poll reads the paid, unannounced invoices of Crypto
-- Pay each time, oldest payment first; normally there are none.
CREATE INDEX invoices_unannounced ON invoices (provider, paid_at) WHERE status = 'paid' AND announced_at IS NULL;

-- +goose Down
DROP INDEX invoices_unannounced;
ALTER TABLE invoices DROP COLUMN announced_at;
