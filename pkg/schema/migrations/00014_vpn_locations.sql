-- The fleet's panels as the activation worker has them configured, so that
-- services holding no panel credentials (the bot-handler) know which
-- locations are offered and where a panel is. Activation writes the table at
-- start, removing the panels no longer configured. location is the label
-- users choose by ('' when the panel has none); position is the panel's
-- place in VPN_PANELS, which orders the locations as configured.
--
-- users.location is the location the user chose for their key; NULL is no
-- preference. A new account is placed there; an existing one moves there
-- when the user asks for a new link.

-- +goose Up
CREATE TABLE vpn_panels (
    name       text PRIMARY KEY,
    kind       text NOT NULL,
    location   text NOT NULL,
    weight     integer NOT NULL,
    capacity   integer NOT NULL,
    position   integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE users ADD COLUMN location text;

-- +goose Down
ALTER TABLE users DROP COLUMN location;
DROP TABLE vpn_panels;
