-- Periods revoked lately, for expiry-cleanup's check of accesses that an
-- activation racing the revocation left on the panel (shop.ExpiredUnrevoked):
-- without it that check reads every revoked period.

-- +goose Up
CREATE INDEX subscriptions_recently_revoked ON subscriptions (revoked_at) WHERE status = 'revoked';

-- +goose Down
DROP INDEX subscriptions_recently_revoked;
