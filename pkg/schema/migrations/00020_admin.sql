-- Running the shop from Telegram: who may do what, what they did, and bans.
--
-- admin_roles holds the roles an owner grants in the bot (admin: user
-- actions and broadcasts; support: read-only lookups). Owners are not
-- rows: they are the ADMIN_IDS of the configuration, so no row can lock an
-- owner out and a leaked database cannot make one.
--
-- admin_audit is every admin action, one row each, never changed: who did
-- it, what, to whom, the state before and after, and the update that caused
-- it. op_key is the action's own key (the confirmation it was pressed on),
-- unique, so an action pressed twice or redelivered is one row, written in
-- the action's own transaction: an action is done and recorded, or neither.
--
-- users.banned_at is a ban in force; activation disables a banned user's
-- panel account and marks it suspended (vpn_accounts.suspended_at), and
-- enables it again after an unban while a period is live.
--
-- broadcasts.cancelled_at is when an admin cancelled a running broadcast:
-- the sender drops its messages not yet sent.

-- +goose Up
CREATE TABLE admin_roles (
    user_id    bigint PRIMARY KEY,
    role       text NOT NULL CHECK (role IN ('admin', 'support')),
    granted_by bigint NOT NULL,
    granted_at timestamptz NOT NULL
);

CREATE TABLE admin_audit (
    id         bigserial PRIMARY KEY,
    op_key     text NOT NULL UNIQUE CHECK (op_key <> ''),
    admin_id   bigint NOT NULL,
    action     text NOT NULL CHECK (action <> ''),
    target_id  bigint,
    before     jsonb,
    after      jsonb,
    note       text NOT NULL DEFAULT '',
    update_id  bigint,
    created_at timestamptz NOT NULL
);

-- /audit: the latest actions, and the latest about one user.
CREATE INDEX admin_audit_created ON admin_audit (id DESC);
CREATE INDEX admin_audit_target ON admin_audit (target_id, id DESC) WHERE target_id IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit row %: the audit trail is append-only', OLD.id USING ERRCODE = 'check_violation';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER admin_audit_append_only BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();

ALTER TABLE users ADD COLUMN banned_at timestamptz;
-- Bans in force, for activation and the workers that skip banned users.
CREATE INDEX users_banned ON users (id) WHERE banned_at IS NOT NULL;

ALTER TABLE vpn_accounts ADD COLUMN suspended_at timestamptz;

ALTER TABLE broadcasts ADD COLUMN cancelled_at timestamptz;

-- +goose Down
ALTER TABLE broadcasts DROP COLUMN cancelled_at;
ALTER TABLE vpn_accounts DROP COLUMN suspended_at;
DROP INDEX users_banned;
ALTER TABLE users DROP COLUMN banned_at;
DROP TABLE admin_audit;
DROP FUNCTION admin_audit_append_only();
DROP TABLE admin_roles;
