package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/botui"
)

// Store runs the bot-handler's statements on a connection pool.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// StartingUser is what a /start tells about the user who sent it.
type StartingUser struct {
	ID           int64
	ChatID       int64
	Username     string
	FirstName    string
	LanguageCode string
	// Language is the bot language to give a user seen for the first time.
	Language string
	// StartParam is the /start payload (a referral or campaign tag), kept
	// only from the user's very first /start.
	StartParam string
}

// The language and start parameter are written only by the INSERT branch:
// a returning user keeps the language they have (/language changes it) and
// the campaign that brought them in. A /start also means the user can be
// written to again, so it clears blocked_at.
const upsertUserSQL = `
INSERT INTO users (id, chat_id, username, first_name, language_code, language, start_param)
VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), $6, NULLIF($7, ''))
ON CONFLICT (id) DO UPDATE SET
	chat_id       = EXCLUDED.chat_id,
	username      = EXCLUDED.username,
	first_name    = EXCLUDED.first_name,
	language_code = EXCLUDED.language_code,
	blocked_at    = NULL,
	updated_at    = now()
RETURNING language`

// UpsertStartingUser records the user of a /start in one statement and
// returns the language to talk to them in.
func (s *Store) UpsertStartingUser(ctx context.Context, u StartingUser) (string, error) {
	var lang string
	err := s.pool.QueryRow(ctx, upsertUserSQL,
		u.ID, u.ChatID, u.Username, u.FirstName, u.LanguageCode, u.Language, u.StartParam,
	).Scan(&lang)
	if err != nil {
		return "", fmt.Errorf("upserting user %d: %w", u.ID, err)
	}
	return lang, nil
}

// UserLanguage returns the stored language of a user; found is false for a
// user who never sent /start.
func (s *Store) UserLanguage(ctx context.Context, userID int64) (lang string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT language FROM users WHERE id = $1`, userID).Scan(&lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading language of user %d: %w", userID, err)
	}
	return lang, true, nil
}

// SetLanguage stores the language a user chose; found is false for a user
// who never sent /start.
func (s *Store) SetLanguage(ctx context.Context, userID int64, lang string) (found bool, err error) {
	tag, err := s.pool.Exec(ctx,
		`UPDATE users SET language = $2, updated_at = now() WHERE id = $1`, userID, lang)
	if err != nil {
		return false, fmt.Errorf("setting language of user %d: %w", userID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// MarkBlocked records that a user blocked the bot, so nothing is sent to them
// until they /start again. The first time they were seen blocked is kept.
func (s *Store) MarkBlocked(ctx context.Context, userID int64) error {
	_, err := s.pool.Exec(ctx,
		`UPDATE users SET blocked_at = now(), updated_at = now() WHERE id = $1 AND blocked_at IS NULL`, userID)
	if err != nil {
		return fmt.Errorf("marking user %d blocked: %w", userID, err)
	}
	return nil
}

// InboxRead is what is read of an update before the bot acts on it.
type InboxRead struct {
	// Done is whether the bot already handled the update.
	Done bool
	// BannedAt is since when the update's user is banned; nil when they
	// are not, or are not known yet.
	BannedAt *time.Time
}

// ReadInbox reports whether the bot already handled the update and, in
// the same round trip, the ban of its user (userID 0: none), which every
// update of a person needs before any route (the bot's ban gate).
func (s *Store) ReadInbox(ctx context.Context, botID, updateID, userID int64) (InboxRead, error) {
	var r InboxRead
	err := s.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM processed_updates WHERE bot_id = $1 AND update_id = $2),
       (SELECT banned_at FROM users WHERE id = $3)`,
		botID, updateID, userID).Scan(&r.Done, &r.BannedAt)
	if err != nil {
		return InboxRead{}, fmt.Errorf("checking inbox for update %d: %w", updateID, err)
	}
	return r, nil
}

// MarkProcessed records the update as handled. Recording it twice is not an
// error: two deliveries of one update may race to the end.
func (s *Store) MarkProcessed(ctx context.Context, botID int64, updateID int64) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO processed_updates (bot_id, update_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		botID, updateID)
	if err != nil {
		return fmt.Errorf("recording update %d in the inbox: %w", updateID, err)
	}
	return nil
}

// Locations is what a user is shown of the fleet's locations.
type Locations struct {
	// Offered are the locations the user may choose among, in the fleet's
	// order (botui.Offered): none when there is no choice.
	Offered []string
	// Chosen is the location the user chose; "" for none.
	Chosen string
	// Key is the location of the panel the user's account is on; "" when
	// they have none.
	Key string
}

// locationsSQL reads the fleet's locations as activation published them
// (vpn_panels), in the order of their first panel, with the user's choice
// and the location of their account.
const locationsSQL = `
SELECT coalesce((SELECT array_agg(location ORDER BY first)
                 FROM (SELECT location, min(position) AS first FROM vpn_panels GROUP BY location) l), '{}'),
       coalesce((SELECT location FROM users WHERE id = $1), ''),
       coalesce((SELECT p.location FROM vpn_accounts c JOIN vpn_panels p ON p.name = c.panel WHERE c.user_id = $1), '')`

// Locations returns the locations offered to the user, their choice, and
// where their account is.
func (s *Store) Locations(ctx context.Context, userID int64) (Locations, error) {
	var (
		l   Locations
		all []string
	)
	if err := s.pool.QueryRow(ctx, locationsSQL, userID).Scan(&all, &l.Chosen, &l.Key); err != nil {
		return Locations{}, fmt.Errorf("reading the locations of user %d: %w", userID, err)
	}
	l.Offered = botui.Offered(all)
	return l, nil
}

// SetLocation stores the location a user chose; found is false for a user
// who never sent /start.
func (s *Store) SetLocation(ctx context.Context, userID int64, location string) (found bool, err error) {
	tag, err := s.pool.Exec(ctx,
		`UPDATE users SET location = $2, updated_at = now() WHERE id = $1`, userID, location)
	if err != nil {
		return false, fmt.Errorf("setting the location of user %d: %w", userID, err)
	}
	return tag.RowsAffected() == 1, nil
}
