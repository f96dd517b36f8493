-- A plan lasts any length of time, not only whole days: make run's demo sells
-- a 20-minute plan whose reminders, expiry and revocation a newcomer watches
-- in one sitting. plans.duration and the duration an invoice copies
-- from its plan become intervals, filled from the days they held.
--
-- duration_days is converted in place rather than kept beside duration: two
-- columns saying one thing would need a trigger to agree, and a reader of the
-- wrong one would sell the wrong length. The shop (pkg/shop) is the only
-- reader; the migrate job runs before the services that use it.
--
-- The shop reads a duration as exact time, a day as 24 hours (as the days
-- were), so a period is as long in every time zone. A month has no such
-- length, so a duration holds none: '30 days', '20 minutes', not '1 month'.

-- +goose Up
ALTER TABLE plans
    DROP CONSTRAINT plans_duration_days_check,
    ALTER COLUMN duration_days TYPE interval USING make_interval(days => duration_days);
ALTER TABLE plans RENAME COLUMN duration_days TO duration;
ALTER TABLE plans ADD CONSTRAINT plans_duration_check
    CHECK (duration > interval '0' AND extract(year FROM duration) = 0 AND extract(month FROM duration) = 0);

ALTER TABLE invoices
    DROP CONSTRAINT invoices_duration_days_check,
    ALTER COLUMN duration_days TYPE interval USING make_interval(days => duration_days);
ALTER TABLE invoices RENAME COLUMN duration_days TO duration;
ALTER TABLE invoices ADD CONSTRAINT invoices_duration_check
    CHECK (duration > interval '0' AND extract(year FROM duration) = 0 AND extract(month FROM duration) = 0);

-- The same rules as 00002_shop's, over duration.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id <> OLD.user_id OR NEW.plan_id <> OLD.plan_id OR NEW.provider <> OLD.provider
       OR NEW.price_usd <> OLD.price_usd OR NEW.price_stars <> OLD.price_stars
       OR NEW.duration <> OLD.duration OR NEW.created_at <> OLD.created_at THEN
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

-- +goose Down
-- Whole days only: a plan or invoice of a shorter or odd length (make run's
-- demo plan) has no number of days to go back to, and rounding it would
-- change what an order grants. Such rows must be removed by hand first.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM plans WHERE extract(epoch FROM duration) % 86400 <> 0)
       OR EXISTS (SELECT 1 FROM invoices WHERE extract(epoch FROM duration) % 86400 <> 0) THEN
        RAISE EXCEPTION 'a plan or invoice lasts other than whole days; duration_days cannot hold it'
            USING ERRCODE = 'check_violation';
    END IF;
END
$$;
-- +goose StatementEnd

ALTER TABLE invoices DROP CONSTRAINT invoices_duration_check;
ALTER TABLE invoices RENAME COLUMN duration TO duration_days;
ALTER TABLE invoices
    ALTER COLUMN duration_days TYPE int USING (extract(epoch FROM duration_days) / 86400)::int,
    ADD CONSTRAINT invoices_duration_days_check CHECK (duration_days > 0);

ALTER TABLE plans DROP CONSTRAINT plans_duration_check;
ALTER TABLE plans RENAME COLUMN duration TO duration_days;
ALTER TABLE plans
    ALTER COLUMN duration_days TYPE int USING (extract(epoch FROM duration_days) / 86400)::int,
    ADD CONSTRAINT plans_duration_days_check CHECK (duration_days > 0);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION invoices_order_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
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
