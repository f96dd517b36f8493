-- The sales feed (the reminders worker, with ADMIN_FEED_CHAT set): every
-- trial, payment, top-up, purchase, renewal and refund of the ledger, and
-- the bans and other admin actions of admin_audit, posted once each to the
-- seller's chat, a line per event, many lines a message; and a summary of
-- each UTC day.
--
-- feed_state is where a chat's feed starts scanning: set a day back when
-- the feed is first switched on for the chat (the whole history is not
-- posted), then moved forward, behind the clock by the longest an event can
-- take to commit, as events are posted.
--
-- feed_messages is each message, claimed before it is handed to the sender
-- (published_at NULL until the OUTBOX acked it): its text is kept, so a
-- message whose publish was lost is published again word for word under
-- the same dedup_id, and the OUTBOX and the sender's sent-log make it one.
-- A summary is a message with no events, its dedup_id naming its day.
--
-- feed_events is each event posted, keyed by its source's row: ledger and
-- admin_audit ids are bigserials that can commit out of order, so the feed
-- keeps no "last id" cursor but claims each row, in the transaction that
-- claims its message.

-- +goose Up
CREATE TABLE feed_state (
    chat_id bigint PRIMARY KEY,
    since   timestamptz NOT NULL
);

CREATE TABLE feed_messages (
    id           bigserial PRIMARY KEY,
    dedup_id     text NOT NULL UNIQUE CHECK (dedup_id <> ''),
    chat_id      bigint NOT NULL CHECK (chat_id <> 0),
    text         text NOT NULL CHECK (text <> ''),
    events       integer NOT NULL CHECK (events >= 0),
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);

-- The messages still to hand to the sender, oldest first.
CREATE INDEX feed_messages_unpublished ON feed_messages (id) WHERE published_at IS NULL;

CREATE TABLE feed_events (
    source     text NOT NULL CHECK (source IN ('ledger', 'audit')),
    event_id   bigint NOT NULL,
    message_id bigint NOT NULL REFERENCES feed_messages (id),
    PRIMARY KEY (source, event_id)
);

-- The events since a time, in the feed's order, read by index.
CREATE INDEX ledger_feed ON ledger (created_at, id);
CREATE INDEX admin_audit_feed ON admin_audit (created_at, id);

-- +goose Down
DROP INDEX admin_audit_feed;
DROP INDEX ledger_feed;
DROP TABLE feed_events;
DROP TABLE feed_messages;
DROP TABLE feed_state;
