-- How many times the account was disabled on its panel by a revocation
-- (or a disable of an unpaid account), counted after each panel call.
-- Activation reads it with the account before enabling it on the panel,
-- and records the period's access only if it is unchanged: a disable that
-- may have reached the panel after the enable makes the activation try
-- again, so the account ends enabled whichever order the two calls took.

-- +goose Up
ALTER TABLE vpn_accounts ADD COLUMN disables bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE vpn_accounts DROP COLUMN disables;
