-- +goose Up

-- An admin's /broadcast: one message to a segment of users, sent by the
-- sender at broadcast priority with dedup ids "broadcast:<id>:<user id>".
-- The update that asked for it is unique: a redelivered /broadcast (the
-- replica died after publishing, the admin's answer failed) finds its
-- broadcast again instead of starting a second one.
CREATE TABLE broadcasts (
    id         bigserial PRIMARY KEY,
    bot_id     bigint NOT NULL,
    update_id  bigint NOT NULL,
    admin_id   bigint NOT NULL,
    segment    text NOT NULL CHECK (segment IN ('all', 'active', 'expired')),
    text       text NOT NULL CHECK (text <> ''),
    -- total is the number of recipients, fixed when the broadcast is made.
    total      int NOT NULL CHECK (total >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bot_id, update_id)
);

-- Who a broadcast goes to, fixed when it is made: a retry publishes to the
-- same people even if the segment changed since, and the progress counts
-- (sent, blocked, waiting) are over these people, not over whoever is in
-- the segment now.
CREATE TABLE broadcast_recipients (
    broadcast_id bigint NOT NULL REFERENCES broadcasts (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (broadcast_id, user_id)
);

-- +goose Down
DROP TABLE broadcast_recipients;
DROP TABLE broadcasts;
