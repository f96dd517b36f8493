-- Who invited whom. A user's invite link is t.me/<bot>?start=ref_<their
-- id>; a new user whose first /start carried it (users.start_param, which
-- only the first /start writes) is that user's invitee.
--
-- invitee is the primary key: one inviter per user, and a row is never
-- changed but to record the invitee's first payment (referrals_immutable).
-- No one invites themselves (the CHECK), and shop.RecordReferral inserts
-- a row only when the inviter started the bot before the invitee (by
-- users.created_at, then id): every inviter chain goes back in time, so no
-- chain comes back to a user in it. That rules out cycles with one
-- comparison rather than a walk up the chain, and holds however many
-- referrals are recorded at once, which a walk reading committed rows
-- would not.
--
-- first_invoice_id is the invitee's first payment to a provider since
-- they were invited: the one a first-payment reward is given for, and
-- what makes them count as paid on their inviter's invite screen.
-- ApplyPayment sets it under the row's lock, so of two first payments at
-- once one is the first.

-- +goose Up
CREATE TABLE referrals (
    invitee          bigint PRIMARY KEY REFERENCES users (id),
    inviter          bigint NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL,
    first_invoice_id bigint REFERENCES invoices (id),
    CHECK (invitee <> inviter)
);

-- An inviter's invitees, for their invite screen.
CREATE INDEX referrals_inviter ON referrals (inviter);

-- +goose StatementBegin
CREATE FUNCTION referrals_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.invitee <> OLD.invitee OR NEW.inviter <> OLD.inviter
       OR NEW.created_at <> OLD.created_at
       OR (OLD.first_invoice_id IS NOT NULL AND NEW.first_invoice_id IS DISTINCT FROM OLD.first_invoice_id) THEN
        RAISE EXCEPTION 'referral of user %: the inviter and the first payment cannot change', OLD.invitee
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER referrals_immutable BEFORE UPDATE OR DELETE ON referrals
    FOR EACH ROW EXECUTE FUNCTION referrals_immutable();

-- +goose Down
DROP TABLE referrals;
DROP FUNCTION referrals_immutable();
