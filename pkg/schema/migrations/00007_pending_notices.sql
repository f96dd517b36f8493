-- Notices claimed but not yet handed to the sender. A worker claims a notice
-- (its notifications_sent or user_notices row) before publishing it, so that
-- replicas never send it twice; pending_pid marks the row as claimed and not
-- yet published, by the database session (pg_backend_pid) that claimed it.
-- The worker clears it once the OUTBOX acknowledged the message. A pending
-- claim whose session is gone (its process died between claiming and
-- publishing) or that is older than the claim's lifetime is taken over by the
-- next claim of that worker, which publishes it again under the same dedup id.
-- NULL, as for every row before this migration, means there is nothing left
-- to publish.
--
-- Pending rows are found through the tables' primary keys, by the same
-- lookup that tells a claimed notice from an unclaimed one: no index of
-- their own.

-- +goose Up
ALTER TABLE notifications_sent ADD COLUMN pending_pid integer;
ALTER TABLE user_notices ADD COLUMN pending_pid integer;

-- +goose Down
ALTER TABLE user_notices DROP COLUMN pending_pid;
ALTER TABLE notifications_sent DROP COLUMN pending_pid;
