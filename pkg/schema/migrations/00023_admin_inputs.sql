-- What an admin's next text answers. The user card's "balance" and
-- "message" buttons ask for an amount or a text: the press records the
-- question here (one open question per admin: a new press replaces it),
-- and the admin's next plain text within a few minutes answers it. The
-- answering update's id is kept with its text, so that update redelivered
-- answers the same question again, a later text does not, and the yes of
-- the confirmation that follows finds the text it confirms (a message is
-- longer than a button's data).

-- +goose Up
CREATE TABLE admin_inputs (
    admin_id      bigint PRIMARY KEY,
    action        text NOT NULL CHECK (action IN ('grant_balance', 'message')),
    target_id     bigint NOT NULL REFERENCES users (id),
    asked_at      timestamptz NOT NULL DEFAULT now(),
    answer_update bigint,
    answer        text,
    CHECK ((answer_update IS NULL) = (answer IS NULL))
);

-- +goose Down
DROP TABLE admin_inputs;
