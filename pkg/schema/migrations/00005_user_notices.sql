-- +goose Up

-- A notice about a user rather than a period (the trial-notifier's "you have
-- not tried the VPN yet"), sent at most once per (user, kind): the primary
-- key is the claim, so replicas racing for one user insert one row.
CREATE TABLE user_notices (
    user_id bigint NOT NULL REFERENCES users (id),
    kind    text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- The trial-notifier scans trials by expiry, also once they are revoked
-- (trial ended), which subscriptions_active_expires_at does not cover, and
-- users by registration time (never started a trial).
CREATE INDEX subscriptions_trial_expires_at ON subscriptions (expires_at) WHERE kind = 'trial';
CREATE INDEX users_created_at ON users (created_at);

-- +goose Down
DROP INDEX users_created_at;
DROP INDEX subscriptions_trial_expires_at;
DROP TABLE user_notices;
