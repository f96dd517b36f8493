-- +goose Up

-- The sender's sent-log: a SendMessage command whose dedup id is here was
-- sent, so a redelivery (the sender died between Telegram's answer and the
-- ack) or a re-publish past the stream's duplicate window sends nothing. The
-- sender checks before sending and inserts after Telegram accepted.
CREATE TABLE sent_messages (
    dedup_id            text PRIMARY KEY,
    chat_id             bigint NOT NULL,
    -- The id Telegram gave the message, to edit or delete it later.
    telegram_message_id bigint,
    sent_at             timestamptz NOT NULL DEFAULT now()
);

-- Old rows are pruned by age.
CREATE INDEX sent_messages_sent_at_idx ON sent_messages (sent_at);

-- +goose Down
DROP TABLE sent_messages;
