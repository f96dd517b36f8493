-- +goose Up

-- Telegram users who started the bot. The id is Telegram's own user id.
CREATE TABLE users (
    id            bigint PRIMARY KEY,
    chat_id       bigint,
    username      text,
    first_name    text,
    -- language_code is what Telegram reports; language is what the bot speaks to them.
    language_code text,
    language      text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'ru')),
    -- start_param is the deep-link payload of the first /start (where the user came from).
    start_param   text,
    -- blocked_at is set when Telegram answers 403: the user blocked the bot.
    blocked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The bot-handler's inbox: an update seen here was handled, and a redelivery of it is
-- acknowledged without effect.
CREATE TABLE processed_updates (
    bot_id     bigint NOT NULL,
    update_id  bigint NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, update_id)
);

-- Old inbox rows are pruned by age.
CREATE INDEX processed_updates_handled_at_idx ON processed_updates (handled_at);

-- +goose Down
DROP TABLE processed_updates;
DROP TABLE users;
