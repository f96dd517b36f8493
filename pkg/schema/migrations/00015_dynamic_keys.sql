-- Outline dynamic access keys: an Outline user gets the link
-- ssconf://<key server>/k/<link_token> instead of the panel's ss:// key,
-- and the key server answers it with the key access_url holds now. The
-- link then outlives the key: a key the panel lost and the bot made again
-- is served under the same link, and the user never imports a new one.
--
-- link_token is random (122 bits from gen_random_uuid), made by the
-- default when the account is recorded (and here for the accounts already
-- there), and made anew when the user asks for a new link (rotation), so
-- that the old link stops answering.

-- +goose Up
ALTER TABLE vpn_accounts
    ADD COLUMN link_token text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    ADD CONSTRAINT vpn_accounts_link_token_key UNIQUE (link_token);

-- +goose Down
ALTER TABLE vpn_accounts DROP COLUMN link_token;
