-- +goose Up

-- What can be bought. Plans are data: prices change here, not in code. An
-- order copies the plan's price and duration, so a later change never alters
-- an invoice already shown to a user.
CREATE TABLE plans (
    id            text PRIMARY KEY,
    title_en      text NOT NULL,
    title_ru      text NOT NULL,
    duration_days int NOT NULL CHECK (duration_days > 0),
    -- price_usd is what Crypto Pay charges (in fiat USD, paid in any accepted asset).
    price_usd     numeric(10, 2) NOT NULL CHECK (price_usd > 0),
    -- price_stars is what Telegram Stars (XTR) charges.
    price_stars   int NOT NULL CHECK (price_stars > 0),
    -- An inactive plan is no longer offered; invoices already made for it stay valid.
    active        boolean NOT NULL DEFAULT true,
    sort          int NOT NULL DEFAULT 0
);

INSERT INTO plans (id, title_en, title_ru, duration_days, price_usd, price_stars, sort) VALUES
    ('m1',  '1 month',   '1 месяц',   30,  4.99,  250,  10),
    ('m3',  '3 months',  '3 месяца',  90,  12.99, 650,  20),
    ('m12', '12 months', '12 месяцев', 365, 39.99, 2000, 30);

-- One free trial per Telegram user, ever: the primary key is the rule, so two
-- presses racing each other cannot both insert.
CREATE TABLE trials (
    user_id    bigint PRIMARY KEY REFERENCES users (id),
    started_at timestamptz NOT NULL
);

-- A subscription row is one period of continuous access. Paying while a period
-- is active (even past its expiry, until it is revoked) extends that row from
-- max(now, expires_at); once revoked, the next purchase starts a new row.
CREATE TABLE subscriptions (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    -- kind is 'trial' for a trial period until it is paid for, then 'paid' (pkg/shop).
    kind       text NOT NULL CHECK (kind IN ('trial', 'paid')),
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    starts_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > starts_at),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

-- At most one active period per user: purchases insert with ON CONFLICT on
-- this index, so concurrent payments of one user extend one row.
CREATE UNIQUE INDEX subscriptions_one_active_per_user ON subscriptions (user_id) WHERE status = 'active';
-- The activation and expiry workers scan active periods by expiry.
CREATE INDEX subscriptions_active_expires_at ON subscriptions (expires_at) WHERE status = 'active';
CREATE INDEX subscriptions_user_id ON subscriptions (user_id, id);

-- The VPN access of a period: at most one per period (the unique key is what
-- makes concurrent activations record one access).
CREATE TABLE vpn_accesses (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL UNIQUE REFERENCES subscriptions (id),
    -- panel names the provisioner (outline, remnawave) that holds the access.
    panel           text NOT NULL,
    external_id     text NOT NULL,
    access_url      text NOT NULL,
    -- expires_at is the expiry set on the panel; NULL for panels without one
    -- (Outline), whose keys live until revoked.
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Accesses still on a panel, for the expiry worker's reconciliation.
CREATE INDEX vpn_accesses_unrevoked ON vpn_accesses (subscription_id) WHERE revoked_at IS NULL;

-- An order for one plan at one price by one user, paid at most once.
CREATE TABLE invoices (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    plan_id         text NOT NULL REFERENCES plans (id),
    provider        text NOT NULL CHECK (provider IN ('cryptopay', 'stars')),
    -- The order, copied from the plan when it was made and never changed after
    -- (invoices_order_immutable): paying an old invoice grants what it offered.
    price_usd       numeric(10, 2) NOT NULL CHECK (price_usd > 0),
    price_stars     int NOT NULL CHECK (price_stars > 0),
    duration_days   int NOT NULL CHECK (duration_days > 0),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'expired')),
    -- external_id is the provider's invoice id (Crypto Pay invoice_id).
    external_id     text,
    pay_url         text,
    -- charge_id is Telegram's payment charge id: one charge pays one invoice.
    charge_id       text UNIQUE,
    paid_at         timestamptz,
    -- subscription_id is the period the payment extended or started.
    subscription_id bigint REFERENCES subscriptions (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    UNIQUE (provider, external_id),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);

-- The payment poller reads pending invoices oldest first.
CREATE INDEX invoices_pending ON invoices (provider, created_at) WHERE status = 'pending';
CREATE INDEX invoices_user_id ON invoices (user_id, id);
-- Admin statistics count today's payments.
CREATE INDEX invoices_paid_at ON invoices (paid_at) WHERE status = 'paid';

-- +goose StatementBegin
CREATE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id <> OLD.user_id OR NEW.plan_id <> OLD.plan_id OR NEW.provider <> OLD.provider
       OR NEW.price_usd <> OLD.price_usd OR NEW.price_stars <> OLD.price_stars
       OR NEW.duration_days <> OLD.duration_days OR NEW.created_at <> OLD.created_at THEN
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

CREATE TRIGGER invoices_order_immutable BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_order_immutable();

-- A reminder or notice goes out at most once per (period, kind, expiry): a
-- period extended to a new expiry is reminded again.
CREATE TABLE notifications_sent (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    kind            text NOT NULL,
    expires_at      timestamptz NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, kind, expires_at)
);

-- +goose Down
DROP TABLE notifications_sent;
DROP TABLE invoices;
DROP FUNCTION invoices_order_immutable();
DROP TABLE vpn_accesses;
DROP TABLE subscriptions;
DROP TABLE trials;
DROP TABLE plans;
