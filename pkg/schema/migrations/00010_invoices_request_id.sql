-- The request that made an order: the bot-handler's id of the button press
-- (Telegram's callback query id). The update of a press is retried whole when
-- its reply fails (a 429 on the screen's edit), after the order was made; the
-- retry finds the press's order by this id instead of making a second one,
-- and shows the same Crypto Pay link or Stars invoice, so a user who pays
-- whatever they were shown is charged once. NULL for orders made by no
-- particular request.

-- +goose Up
ALTER TABLE invoices ADD COLUMN request_id text;
-- One order per request: CreateOrderOnce inserts with ON CONFLICT on it.
CREATE UNIQUE INDEX invoices_request_id ON invoices (request_id) WHERE request_id IS NOT NULL;

-- +goose Down
DROP INDEX invoices_request_id;
ALTER TABLE invoices DROP COLUMN request_id;
