-- Auto-renewal: a user may have their period renewed from their balance
-- before it ends, with a plan they pick. One row per user who ever turned it
-- on; enabled is what the next charge obeys, so turning it off stops it.
--
-- plan_id is the plan the user picked; NULL, or a plan no longer offered,
-- means the default, decided when it is needed (auto_renewal_plan): the plan
-- of the user's last payment, purchase or renewal that is still offered,
-- else the cheapest on offer. A user who buys a longer plan by hand thus
-- renews with it, unless they picked one.
--
-- A renewal is a ledger row of kind 'renewal' keyed
-- "renewal:<subscription>:<expiry, unix seconds>": once per period and
-- expiry, and the expiry it moves makes the next cycle's key.

-- +goose Up
CREATE TABLE auto_renewals (
    user_id    bigint PRIMARY KEY REFERENCES users (id),
    enabled    boolean NOT NULL,
    plan_id    text REFERENCES plans (id),
    updated_at timestamptz NOT NULL
);

-- The users to renew, few among all, are read through this.
CREATE INDEX auto_renewals_enabled ON auto_renewals (user_id) WHERE enabled;

-- A renewal's receipt is claimed (notifications_sent, kind 'renewed') in the
-- renewal's own transaction and published after it; the receipts whose
-- claim was abandoned are found through this, as few as the renewals in
-- flight, without reading every notice.
CREATE INDEX notifications_sent_renewed_pending ON notifications_sent (sent_at)
    WHERE kind = 'renewed' AND pending_pid IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION auto_renewal_plan(p_user bigint, p_chosen text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT id FROM plans WHERE id = p_chosen AND active),
        (SELECT p.id FROM ledger l JOIN plans p ON p.id = l.ref AND p.active
         WHERE l.user_id = p_user AND l.kind IN ('payment', 'purchase', 'renewal')
         ORDER BY l.id DESC LIMIT 1),
        (SELECT id FROM plans WHERE active ORDER BY price_usd, price_stars, sort, id LIMIT 1))
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX notifications_sent_renewed_pending;
DROP FUNCTION auto_renewal_plan(bigint, text);
DROP TABLE auto_renewals;
