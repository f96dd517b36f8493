-- The per-chat sending budget every service that sends as the bot shares
-- (the bot-handler's replies, the sender's notifications), so that together
-- they stay within Telegram's per-chat limit. One row per chat that was ever
-- sent to: tat is the generic cell rate algorithm's theoretical arrival time,
-- the moment the chat's budget is full again. A send reserves its slot with
-- one upsert (pkg/telegram/chatpace) that moves tat on by one interval and
-- returns how long to wait.
--
-- UNLOGGED: the budget is worth only the last few seconds. After a crash of
-- PostgreSQL the table comes back empty and every chat starts with a full
-- budget, which is what Telegram's own limiter holds by then; skipping the
-- write-ahead log spares it a record per message sent.

-- +goose Up
CREATE UNLOGGED TABLE telegram_chat_pace (
    chat_id bigint PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- +goose Down
DROP TABLE telegram_chat_pace;
