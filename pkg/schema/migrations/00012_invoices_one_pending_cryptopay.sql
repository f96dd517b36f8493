-- One Crypto Pay order per user and plan while it can be paid: every press
-- of the plan's Crypto Pay button shows its link, instead of making a new
-- order and a new invoice at Crypto Pay each time (the first one left
-- payable, and unseen, until it expires).
--
-- superseded_at is when a newer order of the same user and plan took the
-- place of one whose time to be paid ran short (pkg/shop reuses an order
-- for the first half of its INVOICE_TTL). A superseded order stays
-- 'pending' until Crypto Pay says it expired: the payment-watcher goes on
-- polling it, so a payment made on its link in its last moments is still
-- applied. It is only never offered again.
--
-- external_claimed_at and external_claim_pid mark the order's Crypto Pay
-- invoice as being made, since when and by which database session
-- (pg_backend_pid), so that of two requests showing one order (two
-- bot-handler replicas, a redelivered press) one makes it while the other
-- waits for its link. A claim whose session is gone, or older than the
-- claimant's deadline, is taken over.

-- +goose Up
ALTER TABLE invoices
    ADD COLUMN superseded_at timestamptz,
    ADD COLUMN external_claimed_at timestamptz,
    ADD COLUMN external_claim_pid integer;

-- Orders made before, one per press, may be several pending for one user
-- and plan: all but the newest are superseded, and stay pending for the
-- payment-watcher to settle.
UPDATE invoices i SET superseded_at = now()
WHERE provider = 'cryptopay' AND status = 'pending'
  AND EXISTS (SELECT 1 FROM invoices n
              WHERE n.user_id = i.user_id AND n.plan_id = i.plan_id AND n.provider = 'cryptopay'
                AND n.status = 'pending' AND n.id > i.id);

-- At most one order on offer (pending, not superseded) per user and plan:
-- the shop inserts with ON CONFLICT on it, so two presses racing each
-- other make one order.
CREATE UNIQUE INDEX invoices_one_pending_cryptopay ON invoices (user_id, plan_id)
    WHERE provider = 'cryptopay' AND status = 'pending' AND superseded_at IS NULL;

-- +goose Down
DROP INDEX invoices_one_pending_cryptopay;
ALTER TABLE invoices
    DROP COLUMN external_claim_pid,
    DROP COLUMN external_claimed_at,
    DROP COLUMN superseded_at;
