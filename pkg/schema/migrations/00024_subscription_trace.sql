-- The trace of what last granted a period its time: the W3C traceparent of
-- the span that applied the payment (or the trial, the admin's grant),
-- when that span was sampled. The activation worker makes the period's
-- access and sends its key in that trace, so one trace runs from a
-- payment's webhook to the key message whichever of the payment's wake-up
-- and the worker's poll finds the period first. NULL with tracing off.

-- +goose Up
ALTER TABLE subscriptions ADD COLUMN trace_parent text;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN trace_parent;
