-- Every movement of money or access is one row of the ledger: a payment of a
-- plan, a top-up of the balance, a purchase from the balance, a trial, a
-- refund (and, as they come, promo codes, referral rewards, renewals and
-- admins' grants). A row is never changed nor deleted (ledger_append_only);
-- a mistake is undone by a row of its own, such as a refund.
--
-- op_key names the operation ("payment:42", "purchase:callback:9f1c"): it is
-- unique, so an operation reported twice, by a webhook and a poll, two
-- replicas or a redelivery, is one row, and its effects (in the same
-- transaction) happen once.
--
-- amount is what the row adds to (or, negative, takes from) the user's
-- balance in currency, in minor units (cents of USD, whole XTR stars); money
-- what the user paid a provider (or, negative, got back) for it, in the same
-- units: revenue. duration is the access the row added to (or took from)
-- subscription_id, the period it extended: the period records, through its
-- ledger rows, what paid for every extension.
--
-- balances holds each user's balance per currency, the sum of their rows'
-- amounts: ledger_to_balance adds each row's amount in the row's own
-- transaction, and balances_amount_check refuses a balance below zero, so a
-- purchase the balance cannot pay fails whole, however many run at once.

-- +goose Up
CREATE TABLE ledger (
    id              bigserial PRIMARY KEY,
    op_key          text NOT NULL UNIQUE CHECK (op_key <> ''),
    user_id         bigint NOT NULL REFERENCES users (id),
    kind            text NOT NULL CHECK (kind IN ('payment', 'topup', 'purchase', 'trial', 'refund', 'promo', 'referral', 'renewal', 'grant')),
    currency        text CHECK (currency IN ('USD', 'XTR')),
    amount          bigint NOT NULL DEFAULT 0,
    money           bigint NOT NULL DEFAULT 0,
    duration        interval NOT NULL DEFAULT '0',
    subscription_id bigint REFERENCES subscriptions (id),
    invoice_id      bigint REFERENCES invoices (id),
    -- what the row bought or undid, for the user's history: a plan id, a
    -- promo code, the op_key of the row a refund reverses.
    ref             text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    CHECK (currency IS NOT NULL OR (amount = 0 AND money = 0)),
    CHECK (duration = interval '0' OR subscription_id IS NOT NULL),
    CHECK (extract(year FROM duration) = 0 AND extract(month FROM duration) = 0)
);

-- A user's history, newest first, and their balance's sum, read by index.
CREATE INDEX ledger_user_id ON ledger (user_id, id);
-- What paid for a period's extensions.
CREATE INDEX ledger_subscription_id ON ledger (subscription_id) WHERE subscription_id IS NOT NULL;
-- Revenue by day and source for /stats.
CREATE INDEX ledger_created_at ON ledger (created_at) WHERE money <> 0;

CREATE TABLE balances (
    user_id    bigint NOT NULL REFERENCES users (id),
    currency   text NOT NULL CHECK (currency IN ('USD', 'XTR')),
    amount     bigint NOT NULL CHECK (amount >= 0),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, currency)
);

-- +goose StatementBegin
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger row %: the ledger is append-only', OLD.id USING ERRCODE = 'check_violation';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- +goose StatementBegin
CREATE FUNCTION ledger_to_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An update first: an upsert would check its proposed row, a negative
    -- amount, against balances_amount_check before finding the balance.
    UPDATE balances SET amount = amount + NEW.amount, updated_at = NEW.created_at
    WHERE user_id = NEW.user_id AND currency = NEW.currency;
    IF NOT FOUND THEN
        -- The user's first row in the currency; a concurrent first row
        -- makes this one add to it.
        INSERT INTO balances AS b (user_id, currency, amount, updated_at)
        VALUES (NEW.user_id, NEW.currency, NEW.amount, NEW.created_at)
        ON CONFLICT (user_id, currency) DO UPDATE
            SET amount = b.amount + EXCLUDED.amount, updated_at = EXCLUDED.updated_at;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_to_balance AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.amount <> 0) EXECUTE FUNCTION ledger_to_balance();

-- A top-up is an order too: of an amount to add to the balance rather than
-- of a plan. It has no plan nor duration, and only the price of its
-- provider, which is what it credits: cents for Crypto Pay, stars for Stars.
ALTER TABLE invoices
    ADD COLUMN purpose text NOT NULL DEFAULT 'plan' CHECK (purpose IN ('plan', 'topup')),
    ALTER COLUMN plan_id DROP NOT NULL,
    ALTER COLUMN duration DROP NOT NULL,
    ALTER COLUMN price_usd DROP NOT NULL,
    ALTER COLUMN price_stars DROP NOT NULL,
    ADD CONSTRAINT invoices_purpose_fields CHECK (
        purpose = 'plan' AND plan_id IS NOT NULL AND duration IS NOT NULL
            AND price_usd IS NOT NULL AND price_stars IS NOT NULL
        OR purpose = 'topup' AND plan_id IS NULL AND duration IS NULL AND (
            provider = 'cryptopay' AND price_usd IS NOT NULL AND price_stars IS NULL
            OR provider = 'stars' AND price_stars IS NOT NULL AND price_usd IS NULL));

-- One Crypto Pay top-up on offer per user and amount, as one order per plan.
CREATE UNIQUE INDEX invoices_one_pending_cryptopay_topup ON invoices (user_id, price_usd)
    WHERE purpose = 'topup' AND provider = 'cryptopay' AND status = 'pending' AND superseded_at IS NULL;

-- The order's fields, nullable now, compared as values that may be NULL.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id <> OLD.user_id OR NEW.plan_id IS DISTINCT FROM OLD.plan_id OR NEW.provider <> OLD.provider
       OR NEW.purpose <> OLD.purpose
       OR NEW.price_usd IS DISTINCT FROM OLD.price_usd OR NEW.price_stars IS DISTINCT FROM OLD.price_stars
       OR NEW.duration IS DISTINCT FROM OLD.duration OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'invoice %: the order (user, plan, provider, price, duration) cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    -- A payment is final: a paid invoice is never pending or expired again, and
    -- the charge and the period it paid for stay recorded.
    IF OLD.status = 'paid' AND (NEW.status <> 'paid' OR NEW.paid_at IS DISTINCT FROM OLD.paid_at
       OR NEW.charge_id IS DISTINCT FROM OLD.charge_id
       OR (OLD.subscription_id IS NOT NULL AND NEW.subscription_id IS DISTINCT FROM OLD.subscription_id)) THEN
        RAISE EXCEPTION 'invoice %: a paid invoice cannot change its payment', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    -- The provider's invoice, once attached, is the one the user pays.
    IF OLD.external_id IS NOT NULL AND NEW.external_id IS DISTINCT FROM OLD.external_id THEN
        RAISE EXCEPTION 'invoice %: the provider invoice cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- Payments made before the ledger are its first rows, so that every user's
-- history and revenue starts complete. They moved no balance.
INSERT INTO ledger (op_key, user_id, kind, currency, money, duration, subscription_id, invoice_id, ref, created_at)
SELECT 'payment:' || id, user_id, 'payment',
       CASE provider WHEN 'cryptopay' THEN 'USD' ELSE 'XTR' END,
       CASE provider WHEN 'cryptopay' THEN (price_usd * 100)::bigint ELSE price_stars END,
       CASE WHEN subscription_id IS NULL THEN interval '0' ELSE duration END,
       subscription_id, id, plan_id, paid_at
FROM invoices WHERE status = 'paid' ORDER BY paid_at, id;

-- +goose Down
-- Top-ups have no plan to go back to: they must be removed by hand first.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM invoices WHERE purpose <> 'plan') THEN
        RAISE EXCEPTION 'top-up orders exist; invoices cannot lose their purpose'
            USING ERRCODE = 'check_violation';
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX invoices_one_pending_cryptopay_topup;
ALTER TABLE invoices
    DROP CONSTRAINT invoices_purpose_fields,
    DROP COLUMN purpose,
    ALTER COLUMN plan_id SET NOT NULL,
    ALTER COLUMN duration SET NOT NULL,
    ALTER COLUMN price_usd SET NOT NULL,
    ALTER COLUMN price_stars SET NOT NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id <> OLD.user_id OR NEW.plan_id <> OLD.plan_id OR NEW.provider <> OLD.provider
       OR NEW.price_usd <> OLD.price_usd OR NEW.price_stars <> OLD.price_stars
       OR NEW.duration <> OLD.duration OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'invoice %: the order (user, plan, provider, price, duration) cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'paid' AND (NEW.status <> 'paid' OR NEW.paid_at IS DISTINCT FROM OLD.paid_at
       OR NEW.charge_id IS DISTINCT FROM OLD.charge_id
       OR (OLD.subscription_id IS NOT NULL AND NEW.subscription_id IS DISTINCT FROM OLD.subscription_id)) THEN
        RAISE EXCEPTION 'invoice %: a paid invoice cannot change its payment', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.external_id IS NOT NULL AND NEW.external_id IS DISTINCT FROM OLD.external_id THEN
        RAISE EXCEPTION 'invoice %: the provider invoice cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
DROP TABLE balances;
DROP TABLE ledger;
DROP FUNCTION ledger_to_balance();
DROP FUNCTION ledger_append_only();
