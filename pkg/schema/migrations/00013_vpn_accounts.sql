-- A user's account on the VPN panel: one per user for life, so that the user
-- keeps one link (one subscription URL, one key) across renewals, lapses and
-- re-purchases. A period's access (vpn_accesses) is this account enabled
-- until the period ends; revocation disables the account instead of deleting
-- it, and the next period enables it again.
--
-- name is the account's name on the panel ("vpnbot_u42"), which the panel
-- enforces as unique, so a create whose answer was lost is found by name and
-- adopted. external_id is the panel's own identifier (Remnawave 3's numeric
-- id, an Outline key id) and access_url the link: both change when the user
-- asks for a new link (rotation), and a live access copies them.
-- rotate_requested_at is when the user asked for a new link (a leaked one):
-- activation rotates the account on the panel and clears it.

-- +goose Up
CREATE TABLE vpn_accounts (
    user_id     bigint PRIMARY KEY REFERENCES users (id),
    panel       text NOT NULL,
    name        text NOT NULL,
    external_id text NOT NULL,
    access_url  text NOT NULL,
    rotate_requested_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (panel, name)
);
CREATE INDEX vpn_accounts_rotate_requested ON vpn_accounts (rotate_requested_at) WHERE rotate_requested_at IS NOT NULL;

-- The panel users and keys of periods live when accounts came in become
-- their users' accounts, under the names the per-period adapters gave them
-- (the default prefix, the only one they were configured with): the
-- Remnawave username "vpnbot_<period>", the Outline key id "vpnbot-<period>".
INSERT INTO vpn_accounts (user_id, panel, name, external_id, access_url, created_at, updated_at)
SELECT DISTINCT ON (s.user_id) s.user_id, a.panel,
       CASE a.panel WHEN 'outline' THEN 'vpnbot-' ELSE 'vpnbot_' END || a.subscription_id,
       a.external_id, a.access_url, a.created_at, a.created_at
FROM vpn_accesses a JOIN subscriptions s ON s.id = a.subscription_id
WHERE a.revoked_at IS NULL
ORDER BY s.user_id, a.id DESC;

-- +goose Down
DROP TABLE vpn_accounts;
