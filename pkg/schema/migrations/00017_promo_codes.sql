-- Promo codes: admins make them (/promo), users enter them. A code gives one
-- of four things: a percent or a fixed amount off the user's next order of a
-- plan, days of access, or a credit to the USD balance.
--
-- Each entry of a code by a user is one promo_uses row, counted in
-- promo_codes.uses in the same transaction: the UPDATE that counts it is
-- conditional on uses < max_uses, and promo_codes_uses_check refuses one
-- more in any case, so a code is never used more than its limit however many
-- enter it at once (they queue on the code's row). A user's uses of a code
-- are numbered 1, 2, … (n), unique per user and code, and promo_uses_rules
-- refuses a number above the code's per_user: a
-- user never uses a code more often than that, whatever runs at once.
--
-- Days and credit are given at once: the use is spent by the ledger row that
-- gives them (spent_op, "promo:<code id>:<user>:<n>"), in its transaction. A
-- discount is held until the user pays for an order of a plan: every order
-- made meanwhile copies the discounted prices and the use (invoices.
-- promo_use_id), which then cannot change, and the first payment of such an
-- order (or purchase from the balance) spends the use. A user holds one
-- discount at a time (promo_uses_one_held).
--
-- A code's terms never change once made; it can only be switched off
-- (disabled_at), after which nobody can enter it. Discounts held already stay.

-- +goose Up
CREATE TABLE promo_codes (
    id            bigserial PRIMARY KEY,
    -- what users type, in capitals; they type it in any case. A deep link
    -- (/start promo_<code>) carries it, so it is made of what one may hold.
    code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    kind          text NOT NULL CHECK (kind IN ('percent', 'fixed', 'days', 'credit')),
    -- percent: the share off both prices of a plan.
    percent       int CHECK (percent BETWEEN 1 AND 99),
    -- fixed: cents off the USD price; the Stars price loses the same share.
    off_usd       bigint CHECK (off_usd > 0),
    -- days: the access given.
    duration      interval CHECK (duration > interval '0'
                                  AND extract(year FROM duration) = 0 AND extract(month FROM duration) = 0),
    -- credit: cents added to the USD balance.
    credit_usd    bigint CHECK (credit_usd > 0),
    -- NULL: no limit.
    max_uses      int CHECK (max_uses > 0),
    uses          int NOT NULL DEFAULT 0 CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
    per_user      int NOT NULL DEFAULT 1 CHECK (per_user > 0),
    -- NULL: never.
    expires_at    timestamptz,
    -- only for users with no payment nor purchase in the ledger.
    first_only    boolean NOT NULL DEFAULT false,
    disabled_at   timestamptz,
    created_by    bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT promo_codes_kind_fields CHECK (
        kind = 'percent' AND percent IS NOT NULL AND off_usd IS NULL AND duration IS NULL AND credit_usd IS NULL
        OR kind = 'fixed' AND off_usd IS NOT NULL AND percent IS NULL AND duration IS NULL AND credit_usd IS NULL
        OR kind = 'days' AND duration IS NOT NULL AND percent IS NULL AND off_usd IS NULL AND credit_usd IS NULL
        OR kind = 'credit' AND credit_usd IS NOT NULL AND percent IS NULL AND off_usd IS NULL AND duration IS NULL)
);

CREATE TABLE promo_uses (
    id          bigserial PRIMARY KEY,
    code_id     bigint NOT NULL REFERENCES promo_codes (id),
    user_id     bigint NOT NULL REFERENCES users (id),
    n           int NOT NULL CHECK (n > 0),
    -- the request that entered the code (a message), so that its retry
    -- finds this use rather than making another.
    request_id  text NOT NULL UNIQUE CHECK (request_id <> ''),
    -- the ledger row that spent the use: what it gave, or the payment or
    -- purchase its discount went to; NULL while a discount is held. The
    -- row is written in the same transaction, after or before the use.
    spent_op    text UNIQUE REFERENCES ledger (op_key) DEFERRABLE INITIALLY DEFERRED,
    spent_at    timestamptz,
    created_at  timestamptz NOT NULL,
    UNIQUE (code_id, user_id, n),
    CHECK ((spent_op IS NULL) = (spent_at IS NULL))
);

CREATE UNIQUE INDEX promo_uses_one_held ON promo_uses (user_id) WHERE spent_op IS NULL;

ALTER TABLE invoices
    ADD COLUMN promo_use_id bigint REFERENCES promo_uses (id),
    ADD CONSTRAINT invoices_promo_plan CHECK (promo_use_id IS NULL OR purpose = 'plan');

-- +goose StatementBegin
CREATE FUNCTION promo_codes_terms_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code <> OLD.code OR NEW.kind <> OLD.kind OR NEW.percent IS DISTINCT FROM OLD.percent
       OR NEW.off_usd IS DISTINCT FROM OLD.off_usd OR NEW.duration IS DISTINCT FROM OLD.duration
       OR NEW.credit_usd IS DISTINCT FROM OLD.credit_usd OR NEW.max_uses IS DISTINCT FROM OLD.max_uses
       OR NEW.per_user <> OLD.per_user OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
       OR NEW.first_only <> OLD.first_only OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'promo code %: its terms cannot change', OLD.code USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.uses < OLD.uses THEN
        RAISE EXCEPTION 'promo code %: its uses cannot be given back', OLD.code USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS DISTINCT FROM OLD.disabled_at THEN
        RAISE EXCEPTION 'promo code %: a code switched off stays off', OLD.code USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER promo_codes_terms_immutable BEFORE UPDATE ON promo_codes
    FOR EACH ROW EXECUTE FUNCTION promo_codes_terms_immutable();

-- A use is of one user and code, within the code's per_user, numbered
-- once, spent once, and kept.
-- +goose StatementBegin
CREATE FUNCTION promo_uses_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'promo use %: uses are kept', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.code_id <> OLD.code_id OR NEW.user_id <> OLD.user_id OR NEW.n <> OLD.n
       OR NEW.request_id <> OLD.request_id OR NEW.created_at <> OLD.created_at
       OR (OLD.spent_op IS NOT NULL AND (NEW.spent_op IS DISTINCT FROM OLD.spent_op
                                         OR NEW.spent_at IS DISTINCT FROM OLD.spent_at))) THEN
        RAISE EXCEPTION 'promo use %: only a held use can change, by being spent', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.n > (SELECT per_user FROM promo_codes WHERE id = NEW.code_id) THEN
        RAISE EXCEPTION 'promo use % of user %: over the per-user limit of code %', NEW.n, NEW.user_id, NEW.code_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER promo_uses_rules BEFORE INSERT OR UPDATE OR DELETE ON promo_uses
    FOR EACH ROW EXECUTE FUNCTION promo_uses_rules();

-- The order's fields now include its promo use: a discounted order stays
-- discounted by the use it was made with.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id <> OLD.user_id OR NEW.plan_id IS DISTINCT FROM OLD.plan_id OR NEW.provider <> OLD.provider
       OR NEW.purpose <> OLD.purpose
       OR NEW.price_usd IS DISTINCT FROM OLD.price_usd OR NEW.price_stars IS DISTINCT FROM OLD.price_stars
       OR NEW.duration IS DISTINCT FROM OLD.duration OR NEW.created_at <> OLD.created_at
       OR NEW.promo_use_id IS DISTINCT FROM OLD.promo_use_id THEN
        RAISE EXCEPTION 'invoice %: the order (user, plan, provider, price, duration, promo code) cannot change', OLD.id
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

-- +goose Down
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
-- Orders made at a discount keep their prices; which code gave it is lost.
ALTER TABLE invoices
    DROP CONSTRAINT invoices_promo_plan,
    DROP COLUMN promo_use_id;
DROP TABLE promo_uses;
DROP TABLE promo_codes;
DROP FUNCTION promo_uses_rules();
DROP FUNCTION promo_codes_terms_immutable();
