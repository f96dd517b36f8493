-- Rich broadcasts: an admin's /broadcast is a draft first, previewed to the
-- admin, and goes out only when the admin confirms it (Send, or Send as a
-- paid broadcast). The draft is keyed by its update as before, so a
-- redelivered /broadcast finds it; confirming is one conditional update of
-- state draft → sending, so a confirmation pressed twice or redelivered
-- starts one broadcast. The recipients are fixed at confirmation
-- (broadcast_recipients are written then, with total), not when the draft
-- is made: a draft left for an hour goes to the audience of its sending.
--
-- A broadcast may carry a photo (a Telegram file_id; text is then its
-- caption) and inline buttons (jsonb rows of {text, url} or
-- {text, callback}). paid is Telegram's allow_paid_broadcast, chosen at
-- confirmation. cancelled_at (00020) on a draft is the admin's Cancel of
-- the preview: it can no longer be confirmed.
--
-- Rows made before this migration were sent at once: they are 'sending',
-- confirmed when they were made; so is a row inserted without a state (by
-- a bot-handler of before, still running during a rollout): the trigger
-- broadcasts_sent_at_once confirms it as it is made.

-- +goose Up
ALTER TABLE broadcasts
    ADD COLUMN state        text NOT NULL DEFAULT 'sending' CHECK (state IN ('draft', 'sending')),
    ADD COLUMN photo        text NOT NULL DEFAULT '',
    ADD COLUMN buttons      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(buttons) = 'array'),
    ADD COLUMN paid         boolean NOT NULL DEFAULT false,
    ADD COLUMN confirmed_at timestamptz;

UPDATE broadcasts SET confirmed_at = created_at;

ALTER TABLE broadcasts
    ADD CONSTRAINT broadcasts_confirmed_when_sending CHECK ((state = 'sending') = (confirmed_at IS NOT NULL));

ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_segment_check;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_segment_check
    CHECK (segment IN ('all', 'active', 'expired', 'trial', 'never_paid', 'lang:en', 'lang:ru'));

-- +goose StatementBegin
CREATE FUNCTION broadcasts_sent_at_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'sending' AND NEW.confirmed_at IS NULL THEN
        NEW.confirmed_at := COALESCE(NEW.created_at, now());
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER broadcasts_sent_at_once BEFORE INSERT ON broadcasts
    FOR EACH ROW EXECUTE FUNCTION broadcasts_sent_at_once();

-- +goose Down
DROP TRIGGER broadcasts_sent_at_once ON broadcasts;
DROP FUNCTION broadcasts_sent_at_once();
DELETE FROM broadcast_recipients r USING broadcasts b WHERE r.broadcast_id = b.id
    AND (b.state = 'draft' OR b.segment NOT IN ('all', 'active', 'expired'));
DELETE FROM broadcasts WHERE state = 'draft' OR segment NOT IN ('all', 'active', 'expired');
ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_segment_check;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_segment_check CHECK (segment IN ('all', 'active', 'expired'));
ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_confirmed_when_sending;
ALTER TABLE broadcasts
    DROP COLUMN confirmed_at,
    DROP COLUMN paid,
    DROP COLUMN buttons,
    DROP COLUMN photo,
    DROP COLUMN state;
