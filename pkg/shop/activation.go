package shop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// PendingActivations returns up to limit active, unexpired periods whose
// access needs the panel: those with no access yet (or whose access was
// revoked while they were renewed, see ErrRenewed), and those whose panel
// expiry is behind the period's (paid for again: Activate extends them).
// Least recently changed first.
func (s *Shop) PendingActivations(ctx context.Context, limit int) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, subscriptionSelect+`
		WHERE s.status = 'active' AND s.expires_at > $1
		  AND (a.id IS NULL OR a.revoked_at IS NOT NULL OR a.expires_at < s.expires_at)
		  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.banned_at IS NOT NULL)
		ORDER BY s.updated_at, s.id LIMIT $2`, s.now(), limit)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to activate: %w", err)
	}
	subs, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to activate: %w", err)
	}
	return subs, nil
}

// Activate makes the panel match an active period and returns its access:
// it enables the user's account until the period's end, creating the account
// on the first period (vpn.Panel.CreateAccount adopts one of the same name,
// so a create whose answer was lost, or a concurrent one, makes no second
// account), and records it; or it extends the account on the panel when the
// period was paid for beyond the panel's expiry. A user keeps one account,
// and so one link, across periods. An activated, current period is returned
// as it is, without calling the panel.
//
// The panel is called with no connection held: Activate reads, calls, then
// records in one statement that re-checks the period. A panel error is
// returned wrapped and leaves the database unchanged; the caller retries
// later. A revoked or expired period is ErrNotActive.
func (s *Shop) Activate(ctx context.Context, subscriptionID int64, f *vpn.Fleet) (Access, error) {
	sub, err := subscriptionByID(ctx, s.pool, subscriptionID)
	if err != nil {
		return Access{}, fmt.Errorf("activating subscription %d: %w", subscriptionID, err)
	}
	if sub.Status != StatusActive || !s.now().Before(sub.ExpiresAt) {
		return Access{}, fmt.Errorf("activating subscription %d (%s until %s): %w",
			sub.ID, sub.Status, sub.ExpiresAt.Format(time.RFC3339), ErrNotActive)
	}
	if at, err := s.Banned(ctx, sub.UserID); err != nil || at != nil {
		return Access{}, fmt.Errorf("activating subscription %d: %w", sub.ID, cmp.Or(err, ErrBanned))
	}
	a := sub.Access
	switch {
	case a == nil || a.RevokedAt != nil:
		err = s.enable(ctx, sub, f)
	case a.ExpiresAt != nil && a.ExpiresAt.Before(sub.ExpiresAt):
		err = s.extend(ctx, sub, f)
	default:
		return *a, nil
	}
	if err != nil {
		return Access{}, fmt.Errorf("activating subscription %d: %w", sub.ID, err)
	}
	sub, err = subscriptionByID(ctx, s.pool, subscriptionID)
	if err == nil && sub.Access == nil {
		err = errors.New("no access recorded") // cannot happen: recorded, or enable failed
	}
	if err != nil {
		return Access{}, fmt.Errorf("reading the access of subscription %d: %w", subscriptionID, err)
	}
	return *sub.Access, nil
}

// Account is a user's account on a panel, as recorded.
type Account struct {
	Panel      string
	Name       string
	ExternalID string
	// URL is the link the panel gave the account; with dynamic keys, an
	// Outline account's ss:// key, which its user's dynamic key serves.
	URL string
}

// Ref addresses the account on its panel.
func (a Account) Ref() vpn.Ref { return vpn.Ref{ID: a.ExternalID, Name: a.Name} }

// UserAccount returns the user's recorded panel account, or nil when the
// user has none yet.
func (s *Shop) UserAccount(ctx context.Context, userID int64) (*Account, error) {
	p, err := s.placement(ctx, userID)
	if p == nil || err != nil {
		return nil, err
	}
	return &p.Account, nil
}

// placed is a user's account record as activation acts on it, with its
// version: the row's xmin, which any change of it (a new link, a move, a
// link reconciliation found changed on the panel) makes new; and how many
// times it had been disabled (disable).
type placed struct {
	Account
	version  int64
	disables int64
}

// placement reads the user's account record, or nil when there is none.
func (s *Shop) placement(ctx context.Context, userID int64) (*placed, error) {
	var p placed
	err := s.pool.QueryRow(ctx, `SELECT panel, name, external_id, access_url, xmin::text::bigint, disables FROM vpn_accounts WHERE user_id = $1`,
		userID).Scan(&p.Panel, &p.Name, &p.ExternalID, &p.URL, &p.version, &p.disables)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the panel account of user %d: %w", userID, err)
	}
	return &p, nil
}

// errAccountChanged is an account record changed between an activation's
// reading it and its panel call's answer (a new link, a move): what the
// panel answered may be the old account, so nothing is recorded and the
// activation is tried again.
var errAccountChanged = errors.New("the account was changed meanwhile (a new link or a move); retrying")

// errAccountDisabled is an account disabled on its panel between an
// activation's reading it and its recording the access: the disable may
// have reached the panel after the enable, so nothing is recorded and the
// activation is tried again.
var errAccountDisabled = errors.New("the account was disabled meanwhile; retrying")

// recordAccessSQL records the period's access, unless the period stopped
// being active meanwhile (then it returns no row). A live access recorded by
// a concurrent activation is kept (it is the same account); one revoked
// while the period was renewed is replaced, keeping its created_at when the
// link is the same, so that the key the user has is not sent to them again
// (a key is delivered once per access created_at).
const recordAccessSQL = `
INSERT INTO vpn_accesses AS a (subscription_id, panel, external_id, access_url, expires_at, created_at)
SELECT s.id, $2, $3, $4, $5, $6 FROM subscriptions s WHERE s.id = $1 AND s.status = 'active'
ON CONFLICT (subscription_id) DO UPDATE
	SET panel = EXCLUDED.panel, external_id = EXCLUDED.external_id, access_url = EXCLUDED.access_url,
	    expires_at = EXCLUDED.expires_at, revoked_at = NULL,
	    created_at = CASE WHEN a.access_url = EXCLUDED.access_url THEN a.created_at ELSE EXCLUDED.created_at END
	WHERE a.revoked_at IS NOT NULL
RETURNING true`

// enableAttempts bounds the enables of one activation that disables keep
// undoing; past them the activation fails and is tried again later.
const enableAttempts = 3

// enable makes the user's account work until the period's end, creating it
// if the user has none (or the panel lost it), and records the period's
// access.
func (s *Shop) enable(ctx context.Context, sub Subscription, f *vpn.Fleet) error {
	want := vpn.State{Enabled: true, ExpiresAt: sub.ExpiresAt}
	var (
		acc      vpn.Account
		p        *vpn.Member
		recorded bool
		err      error
	)
	// An account disabled meanwhile is enabled again: that disable's panel
	// call is over, so this one comes after it.
	for range enableAttempts {
		var rec *placed
		acc, p, rec, err = s.ensureAccount(ctx, sub.UserID, f, want)
		if err != nil {
			return err
		}
		recorded, err = s.record(ctx, sub, p, rec, acc)
		if !errors.Is(err, errAccountDisabled) {
			break
		}
	}
	if errors.Is(err, ErrBanned) {
		return s.unenable(ctx, sub, acc.Ref(), p)
	}
	if err != nil || recorded {
		return err
	}
	// No row: recorded by a concurrent activation, or the period was revoked
	// after we read it. In the second case nobody will disable the account
	// just enabled, so do it here.
	cur, err := subscriptionByID(ctx, s.pool, sub.ID)
	if err != nil {
		return fmt.Errorf("re-reading the subscription: %w", err)
	}
	if cur.Status == StatusActive {
		return nil
	}
	if err := s.disable(ctx, cur.UserID, cur.ID, acc.Ref(), cur.ExpiresAt, p); err != nil {
		return fmt.Errorf("disabling account %s enabled for a period revoked meanwhile: %w", acc.Name, err)
	}
	return ErrNotActive
}

// record records, in one transaction holding the user's account row, the
// account as the panel answered (on m, where rec placed it) and the
// period's access to it; recorded is false when the period stopped being
// active, or a concurrent activation recorded its access first. A new link
// or a move of the account (Rotate) waits for the row, and so finds this
// access to give the new link to; one that came first, between reading rec
// and the panel's answer, is errAccountChanged unless the record is what
// the panel answered (a concurrent activation recorded the same account).
func (s *Shop) record(ctx context.Context, sub Subscription, m *vpn.Member, rec *placed, acc vpn.Account) (recorded bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			cur   placed
			token string
		)
		err := tx.QueryRow(ctx, `SELECT panel, external_id, access_url, xmin::text::bigint, disables, link_token FROM vpn_accounts
			WHERE user_id = $1 FOR UPDATE`, sub.UserID).Scan(&cur.Panel, &cur.ExternalID, &cur.URL, &cur.version, &cur.disables, &token)
		if err != nil {
			return fmt.Errorf("locking the account of user %d: %w", sub.UserID, err)
		}
		if cur.disables != rec.disables {
			return fmt.Errorf("recording account %s on %s: %w", acc.Name, m.Name(), errAccountDisabled)
		}
		if is, err := banned(ctx, tx, sub.UserID); err != nil || is {
			return cmp.Or(err, ErrBanned)
		}
		same := cur.Panel == m.Name() && cur.ExternalID == acc.ID && cur.URL == acc.URL
		if !same && (cur.Panel != m.Name() || cur.version != rec.version) {
			return fmt.Errorf("recording account %s on %s: %w", acc.Name, m.Name(), errAccountChanged)
		}
		now := s.now()
		if !same {
			if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET name = $2, external_id = $3, access_url = $4, updated_at = $5
				WHERE user_id = $1`, sub.UserID, acc.Name, acc.ID, acc.URL, now); err != nil {
				return fmt.Errorf("recording account %s: %w", acc.Name, err)
			}
		}
		link := acc.URL
		if s.dynamic(m) {
			link = s.cfg.DynamicKeys.Link(token)
		}
		err = tx.QueryRow(ctx, recordAccessSQL, sub.ID, m.Name(), acc.ID, link, panelExpiry(acc), now).Scan(&recorded)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("recording the access of account %s: %w", acc.Name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET suspended_at = NULL
			WHERE user_id = $1 AND suspended_at IS NOT NULL`, sub.UserID); err != nil {
			return fmt.Errorf("recording account %s no longer suspended: %w", acc.Name, err)
		}
		return nil
	})
	return recorded, err
}

// dynamic reports whether the users of accounts on m get dynamic keys.
func (s *Shop) dynamic(m *vpn.Member) bool {
	return s.cfg.DynamicKeys.Enabled() && m.Kind() == vpn.KindOutline
}

// panelExpiry is the expiry an access records of its account: nil on a
// panel that keeps none.
func panelExpiry(acc vpn.Account) *time.Time {
	if acc.ExpiresAt.IsZero() {
		return nil
	}
	return &acc.ExpiresAt
}

// ensureAccount returns the user's account in state want, and its panel:
// the recorded one set to it, or, when the user has none yet or the panel
// lost it, one created (or adopted) and set to it. A user with no account is
// placed on a panel of the fleet, in the location they chose if any
// (vpn.Fleet.PlaceFor), and the placement claimed in the database first
// (claimPlacement), so that activations of the user running at once (other
// replicas, a retry) all make the account on the panel the first chose,
// never one on each. An account not made yet on a panel that fails is
// placed again at once, which with failover is another panel, as the failure
// marked this one down. A user with an account stays on its panel, which
// keeps their link. It returns too the record it acted on, whose version
// record checks.
func (s *Shop) ensureAccount(ctx context.Context, userID int64, f *vpn.Fleet, want vpn.State) (vpn.Account, *vpn.Member, *placed, error) {
	rec, err := s.placement(ctx, userID)
	if err != nil {
		return vpn.Account{}, nil, nil, err
	}
	if rec == nil {
		if rec, err = s.claimPlacement(ctx, userID, f); err != nil {
			return vpn.Account{}, nil, nil, err
		}
	}
	var tried []string
	for {
		m, ok := f.Member(rec.Panel)
		if !ok {
			return vpn.Account{}, nil, nil, fmt.Errorf("the account %s of user %d is on panel %s, which is not configured", rec.Name, userID, rec.Panel)
		}
		acc, err := s.accountOn(ctx, userID, m, rec, want)
		if err == nil || rec.made() || !errors.Is(err, vpn.ErrUnavailable) {
			return acc, m, rec, err
		}
		tried = append(tried, m.Name())
		moved, perr := s.placeAgain(ctx, userID, f, rec, tried)
		if perr != nil || moved == nil {
			return vpn.Account{}, m, nil, errors.Join(err, perr) // no other panel to try
		}
		rec = moved
	}
}

// made reports whether the account was made on its panel: not a placement
// claimed and not yet carried out.
func (a Account) made() bool { return a.ExternalID != "" }

// accountOn makes the user's recorded account rec on m what want says:
// set, or created (adopted) when the panel lacks it or it was only claimed.
func (s *Shop) accountOn(ctx context.Context, userID int64, m *vpn.Member, rec *placed, want vpn.State) (vpn.Account, error) {
	if !rec.made() {
		return s.createAccount(ctx, userID, m, want)
	}
	acc, err := m.SetAccount(ctx, rec.Ref(), want)
	if err == nil {
		return acc, nil
	}
	if !errors.Is(err, vpn.ErrNotFound) {
		return vpn.Account{}, fmt.Errorf("enabling account %s: %w", rec.Name, err)
	}
	return s.createAccount(ctx, userID, m, want)
}

// claimPlacementSQL records where a new user's account goes before it is
// made: an account row with no id and link yet, unless one is there.
const claimPlacementSQL = `
INSERT INTO vpn_accounts (user_id, panel, name, external_id, access_url, created_at, updated_at)
VALUES ($1, $2, $3, '', '', $4, $4)
ON CONFLICT DO NOTHING`

// claimPlacement places a user who has no account and returns the
// account's record: the placement this call claimed, or the one a
// concurrent activation claimed first. A crash before the account is made
// leaves the claim, which the next activation of the period carries out.
func (s *Shop) claimPlacement(ctx context.Context, userID int64, f *vpn.Fleet) (*placed, error) {
	err := s.placing(ctx, userID, f, func(tx pgx.Tx, m *vpn.Member) error {
		if _, err := tx.Exec(ctx, claimPlacementSQL, userID, m.Name(), m.AccountName(userID), s.now()); err != nil {
			return fmt.Errorf("claiming a place on %s for user %d: %w", m.Name(), userID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.claimed(ctx, userID)
}

// placing chooses the panel of the user's new account and records it with
// claim, in one transaction under the placement lock: placements (of any
// replica) queue, and each counts the accounts the ones before it claimed,
// so the panels' weights hold however many activations run at once.
// Placements are one per new user, so the queue is short.
func (s *Shop) placing(ctx context.Context, userID int64, f *vpn.Fleet, claim func(tx pgx.Tx, m *vpn.Member) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('vpn_placement:' || current_schema(), 0))`); err != nil {
			return fmt.Errorf("waiting to place user %d: %w", userID, err)
		}
		m, err := s.place(ctx, tx, userID, f)
		if err != nil {
			return err
		}
		return claim(tx, m)
	})
}

// placeAgain moves the claim rec, on a panel that could not make the
// account, to the panel placement now chooses among those not tried, and
// returns the record then: another activation may have made the account
// meanwhile, and then it stays. nil when placement has no other panel.
func (s *Shop) placeAgain(ctx context.Context, userID int64, f *vpn.Fleet, rec *placed, tried []string) (*placed, error) {
	errTried := errors.New("placement chose a panel tried already")
	err := s.placing(ctx, userID, f, func(tx pgx.Tx, m *vpn.Member) error {
		if slices.Contains(tried, m.Name()) {
			return errTried
		}
		if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET panel = $3, name = $4, updated_at = $5
			WHERE user_id = $1 AND panel = $2 AND external_id = ''`,
			userID, rec.Panel, m.Name(), m.AccountName(userID), s.now()); err != nil {
			return fmt.Errorf("placing user %d on %s instead of %s: %w", userID, m.Name(), rec.Panel, err)
		}
		return nil
	})
	if errors.Is(err, vpn.ErrNoPanel) || errors.Is(err, errTried) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.claimed(ctx, userID)
}

// claimed reads the user's account record, which a claim made sure of.
func (s *Shop) claimed(ctx context.Context, userID int64) (*placed, error) {
	rec, err := s.placement(ctx, userID)
	if err == nil && rec == nil {
		err = errors.New("no account row after claiming one") // cannot happen: rows are never deleted
	}
	if err != nil {
		return nil, fmt.Errorf("reading the placement of user %d: %w", userID, err)
	}
	return rec, nil
}

// createAccount creates (or adopts) the user's account on m in state want.
func (s *Shop) createAccount(ctx context.Context, userID int64, m *vpn.Member, want vpn.State) (vpn.Account, error) {
	acc, err := m.CreateAccount(ctx, vpn.Owner{UserID: userID, Note: fmt.Sprintf("vpnbot user %d", userID)}, want)
	if err != nil {
		return vpn.Account{}, fmt.Errorf("creating the account of user %d: %w", userID, err)
	}
	if acc.Matches(want) {
		return acc, nil
	}
	// Adopted as the panel had it: make it what the period needs.
	set, err := m.SetAccount(ctx, acc.Ref(), want)
	if err != nil {
		return vpn.Account{}, fmt.Errorf("enabling adopted account %s: %w", acc.Name, err)
	}
	return set, nil
}

// place chooses the panel of a new account of the user: in the location
// they chose, by the accounts each panel holds.
func (s *Shop) place(ctx context.Context, q querier, userID int64, f *vpn.Fleet) (*vpn.Member, error) {
	counts, err := panelCounts(ctx, q)
	if err != nil {
		return nil, err
	}
	location, err := chosenLocation(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	return f.PlaceFor(location, counts)
}

// panelCounts returns how many accounts each panel holds, by panel name.
func panelCounts(ctx context.Context, q querier) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT panel, count(*) FROM vpn_accounts GROUP BY panel`)
	if err != nil {
		return nil, fmt.Errorf("counting the accounts of each panel: %w", err)
	}
	counts := map[string]int{}
	var (
		name string
		n    int
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		counts[name] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("counting the accounts of each panel: %w", err)
	}
	return counts, nil
}

// chosenLocation returns the location the user chose, "" for none.
func chosenLocation(ctx context.Context, q querier, userID int64) (string, error) {
	var location *string
	err := q.QueryRow(ctx, `SELECT location FROM users WHERE id = $1`, userID).Scan(&location)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("reading the location user %d chose: %w", userID, err)
	}
	if location == nil {
		return "", nil
	}
	return *location, nil
}

// extend moves the account's expiry on the panel to the period's and records it.
func (s *Shop) extend(ctx context.Context, sub Subscription, f *vpn.Fleet) error {
	a := sub.Access
	m, ok := f.Member(a.Panel)
	if !ok {
		return fmt.Errorf("extending access %s: it is on panel %s, which is not configured", a.ExternalID, a.Panel)
	}
	ref := vpn.Ref{ID: a.ExternalID, Name: a.Name}
	_, err := m.SetAccount(ctx, ref, vpn.State{Enabled: true, ExpiresAt: sub.ExpiresAt})
	if err != nil {
		return fmt.Errorf("extending access %s on %s to %s: %w", a.ExternalID, m.Name(), sub.ExpiresAt.Format(time.RFC3339), err)
	}
	if at, err := s.Banned(ctx, sub.UserID); err != nil || at != nil {
		if err != nil {
			return fmt.Errorf("extending access %s: %w", a.ExternalID, err)
		}
		return s.unenable(ctx, sub, ref, m)
	}
	// Only forward: a concurrent activation that extended further wins.
	_, err = s.pool.Exec(ctx, `
		UPDATE vpn_accesses SET expires_at = $3
		WHERE subscription_id = $1 AND external_id = $2 AND revoked_at IS NULL AND expires_at < $3`,
		sub.ID, a.ExternalID, sub.ExpiresAt)
	if err != nil {
		return fmt.Errorf("recording the new expiry of access %s: %w", a.ExternalID, err)
	}
	return nil
}

// raceWindow bounds how long after its revocation a period is checked for
// an access that an activation racing the revocation recorded: such a race
// shows within seconds. Older strays on the panel are the reconciliation
// pass's (it compares the panel with the database).
const raceWindow = 7 * 24 * time.Hour

// ExpiredUnrevoked returns up to limit periods whose access is due for
// revocation: active ones expired for longer than grace, and periods
// revoked within raceWindow whose access is still on the panel (recorded by
// an activation that raced the revocation). Earliest expiry first. Both
// branches read indexes only (BenchmarkSelectionQueries checks it over
// 100,000 periods).
func (s *Shop) ExpiredUnrevoked(ctx context.Context, grace time.Duration, limit int) ([]Subscription, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, subscriptionSelect+`
		WHERE s.id IN (
			(SELECT id FROM subscriptions WHERE status = 'active' AND expires_at <= $1
			 ORDER BY expires_at, id LIMIT $2)
			UNION ALL
			(SELECT y.id FROM subscriptions y
			 JOIN vpn_accesses x ON x.subscription_id = y.id AND x.revoked_at IS NULL
			 WHERE y.status = 'revoked' AND y.revoked_at > $3 LIMIT $2))
		ORDER BY s.expires_at, s.id LIMIT $2`, now.Add(-grace), limit, now.Add(-raceWindow))
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to revoke: %w", err)
	}
	subs, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to revoke: %w", err)
	}
	return subs, nil
}

// Revoke ends a period: it disables the user's account on the panel (the
// account, and so the user's link, stays for their next period), then marks
// the access and the period revoked in one short transaction. It is
// idempotent. A panel error is returned wrapped and changes nothing: the
// period stays active and the caller retries later.
//
// The period is marked revoked only if its expiry is what Revoke read before
// calling the panel. If a payment extended it meanwhile, it stays active, its
// access is marked revoked (as it now is on the panel) so that activation
// enables it again, and Revoke returns ErrRenewed.
func (s *Shop) Revoke(ctx context.Context, subscriptionID int64, f *vpn.Fleet) error {
	sub, err := subscriptionByID(ctx, s.pool, subscriptionID)
	if err != nil {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, err)
	}
	a := sub.Access
	live := a != nil && a.RevokedAt == nil
	if live {
		m, ok := f.Member(a.Panel)
		if !ok {
			return fmt.Errorf("revoking subscription %d: its access %s is on panel %s, which is not configured",
				sub.ID, a.ExternalID, a.Panel)
		}
		if err := s.disable(ctx, sub.UserID, sub.ID, vpn.Ref{ID: a.ExternalID, Name: a.Name}, sub.ExpiresAt, m); err != nil {
			return fmt.Errorf("revoking access %s of subscription %d on %s: %w", a.ExternalID, sub.ID, m.Name(), err)
		}
	}
	now := s.now()
	renewed := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if live {
			if _, err := tx.Exec(ctx, `UPDATE vpn_accesses SET revoked_at = $3
				WHERE subscription_id = $1 AND external_id = $2 AND revoked_at IS NULL`,
				sub.ID, a.ExternalID, now); err != nil {
				return fmt.Errorf("marking access %s revoked: %w", a.ExternalID, err)
			}
		}
		if sub.Status != StatusActive {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE subscriptions SET status = 'revoked', revoked_at = $3, updated_at = $3
			WHERE id = $1 AND status = 'active' AND expires_at = $2`, sub.ID, sub.ExpiresAt, now)
		if err != nil {
			return fmt.Errorf("marking the subscription revoked: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// Revoked by a concurrent call, or extended by a payment.
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM subscriptions WHERE id = $1`, sub.ID).Scan(&status); err != nil {
				return fmt.Errorf("re-reading the subscription: %w", err)
			}
			renewed = status == StatusActive
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, err)
	}
	if renewed {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, ErrRenewed)
	}
	return nil
}

// disable disables a user's account on the panel (at expiry expires), unless
// a period of the user other than except is active (and the user is not
// banned): the account is theirs
// for life, so a revoked period's late revocation must not stop the next
// period's access. A missing account is already off.
//
// The check and the panel call cannot be one step, so a new period's
// activation may enable the account between them and be undone by the
// disable. Afterwards, then, the account's disables are counted and any
// live access of another active period of the user is marked revoked,
// which makes activation enable the account again; an activation that read
// the account before and records after finds the count changed and tries
// again. Whichever order the two panel calls took, the account ends
// enabled.
func (s *Shop) disable(ctx context.Context, userID, except int64, ref vpn.Ref, expires time.Time, m *vpn.Member) error {
	var other bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subscriptions
		WHERE user_id = $1 AND id <> $2 AND status = 'active')
		AND NOT EXISTS (SELECT 1 FROM users WHERE id = $1 AND banned_at IS NOT NULL)`, userID, except).Scan(&other)
	if err != nil {
		return fmt.Errorf("checking for another period of user %d: %w", userID, err)
	}
	if other {
		return nil
	}
	_, err = m.SetAccount(ctx, ref, vpn.State{Enabled: false, ExpiresAt: expires})
	if err != nil && !errors.Is(err, vpn.ErrNotFound) {
		return fmt.Errorf("disabling account %s on %s: %w", refName(ref), m.Name(), err)
	}
	// Holding the account's row, as an activation recording its access
	// does: one recorded before is marked here, and one not yet recorded
	// finds the count changed and tries again.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET disables = disables + 1 WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("counting the disable: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE vpn_accesses a SET revoked_at = $3
			FROM subscriptions s
			WHERE a.subscription_id = s.id AND s.user_id = $1 AND s.id <> $2 AND s.status = 'active' AND a.revoked_at IS NULL`,
			userID, except, s.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("marking the user's next period to be enabled again: %w", err)
	}
	return nil
}

// DisableAccount disables the account of a user who has no active period
// (an account found enabled on the panel that nothing pays for), with the
// same care as a revocation: if a period of the user starts meanwhile, its
// activation enables the account again. A user with an active period is
// left alone.
func (s *Shop) DisableAccount(ctx context.Context, userID int64, ref vpn.Ref, expires time.Time, m *vpn.Member) error {
	if err := s.disable(ctx, userID, 0, ref, expires, m); err != nil {
		return fmt.Errorf("disabling the account of user %d: %w", userID, err)
	}
	return nil
}

// Reactivate makes the panel match an active period again when its account
// went missing from the panel (deleted behind the bot's back): the access is
// marked revoked and the period activated, which re-creates the account
// under the same name. The user's link is then the new account's.
func (s *Shop) Reactivate(ctx context.Context, subscriptionID int64, f *vpn.Fleet) (Access, error) {
	if _, err := s.pool.Exec(ctx, `UPDATE vpn_accesses SET revoked_at = $2
		WHERE subscription_id = $1 AND revoked_at IS NULL`, subscriptionID, s.now()); err != nil {
		return Access{}, fmt.Errorf("reactivating subscription %d: %w", subscriptionID, err)
	}
	return s.Activate(ctx, subscriptionID, f)
}

// refName names an account for errors: its name, or its id.
func refName(r vpn.Ref) string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// RequestNewLink records that the user asked for a new link (theirs leaked):
// activation rotates their account on its panel (Rotate), and the new link
// is delivered like a new key. found is false for a user with no account
// (or one only placed, not made yet).
// Asking again before it is done asks once.
func (s *Shop) RequestNewLink(ctx context.Context, userID int64) (found bool, err error) {
	found, err = requestNewLink(ctx, s.pool, userID, s.now())
	if err != nil {
		return false, fmt.Errorf("requesting a new link for user %d: %w", userID, err)
	}
	return found, nil
}

func requestNewLink(ctx context.Context, q querier, userID int64, now time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE vpn_accounts SET rotate_requested_at = coalesce(rotate_requested_at, $2)
		WHERE user_id = $1 AND external_id <> ''`, userID, now)
	return tag.RowsAffected() == 1, err
}

// PendingRotations returns up to limit users who asked for a new link,
// longest waiting first; a banned user's request waits for the unban.
func (s *Shop) PendingRotations(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.user_id FROM vpn_accounts c WHERE c.rotate_requested_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id AND u.banned_at IS NOT NULL)
		ORDER BY c.rotate_requested_at, c.user_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing requested link rotations: %w", err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing requested link rotations: %w", err)
	}
	return users, nil
}

// Rotate gives the user's account a new link on its panel, the old one
// stopping at once, and records it: on the account, and on the live access
// of the user's active period as a new access (created now), which the
// activation worker then delivers. With dynamic keys the account's token
// is made anew as well, so the old dynamic key no longer answers and the
// access carries the new one. The request is cleared unless the user asked
// again meanwhile. A panel error changes nothing; the caller retries.
//
// A user who chose a location the fleet offers (users.location), other than
// their account's, gets the new link there: the account moves (move). A
// user's link is theirs for life, so a choice of location takes effect on a
// new link, which they ask for knowing the old one stops. When the chosen
// location has no room, the link is made new where it is.
func (s *Shop) Rotate(ctx context.Context, userID int64, f *vpn.Fleet) (Account, error) {
	var (
		rec       Account
		requested *time.Time
		location  *string
	)
	err := s.pool.QueryRow(ctx, `SELECT c.panel, c.name, c.external_id, c.access_url, c.rotate_requested_at, u.location
		FROM vpn_accounts c JOIN users u ON u.id = c.user_id WHERE c.user_id = $1`, userID).
		Scan(&rec.Panel, &rec.Name, &rec.ExternalID, &rec.URL, &requested, &location)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("rotating the link of user %d: %w", userID, ErrUnknownUser)
	}
	if err != nil {
		return Account{}, fmt.Errorf("rotating the link of user %d: %w", userID, err)
	}
	m, ok := f.Member(rec.Panel)
	if !ok {
		return Account{}, fmt.Errorf("rotating the link of user %d: the account is on panel %s, which is not configured", userID, rec.Panel)
	}
	to, err := s.moveTarget(ctx, f, m, location)
	if err != nil {
		return Account{}, fmt.Errorf("rotating the link of user %d: %w", userID, err)
	}
	var acc vpn.Account
	moved := to != nil
	if moved {
		acc, err = s.move(ctx, userID, rec, m, to)
	} else {
		to = m
		acc, err = m.RotateAccount(ctx, rec.Ref())
	}
	if err != nil {
		return Account{}, fmt.Errorf("rotating the link of user %d: %w", userID, err)
	}
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A new token too: the old dynamic key stops answering, like the
		// old panel key.
		var token string
		if err := tx.QueryRow(ctx, `UPDATE vpn_accounts SET panel = $6, name = $7, external_id = $2, access_url = $3, updated_at = $4,
				link_token = DEFAULT,
				rotate_requested_at = CASE WHEN rotate_requested_at = $5 THEN NULL ELSE rotate_requested_at END
			WHERE user_id = $1 RETURNING link_token`, userID, acc.ID, acc.URL, now, requested, to.Name(), acc.Name).Scan(&token); err != nil {
			return err
		}
		link := acc.URL
		if s.dynamic(to) {
			link = s.cfg.DynamicKeys.Link(token)
		}
		// A key is delivered once per access created_at, which the shop
		// keeps to the second: the new one is later, even within a second.
		// A moved account's expiry is the new panel's (none on Outline).
		_, err := tx.Exec(ctx, `UPDATE vpn_accesses a SET panel = $6, external_id = $2, access_url = $3,
				created_at = GREATEST($4, a.created_at + interval '1 second'),
				expires_at = CASE WHEN $7 THEN $8 ELSE a.expires_at END
			FROM subscriptions s
			WHERE a.subscription_id = s.id AND s.user_id = $1 AND s.status = 'active' AND a.revoked_at IS NULL
			  AND a.panel = $5`, userID, acc.ID, link, now, rec.Panel, to.Name(), moved, panelExpiry(acc))
		return err
	})
	if err != nil {
		return Account{}, fmt.Errorf("recording the new link of user %d: %w", userID, err)
	}
	rec.Panel, rec.Name, rec.ExternalID, rec.URL = to.Name(), acc.Name, acc.ID, acc.URL
	return rec, nil
}

// moveTarget returns the panel a rotating account moves to: one of the
// location the user chose, when the fleet offers it and the account is
// elsewhere; nil when the account stays (no choice, the same location, or
// no room there).
func (s *Shop) moveTarget(ctx context.Context, f *vpn.Fleet, from *vpn.Member, location *string) (*vpn.Member, error) {
	if location == nil || *location == from.Location() || !slices.Contains(f.Locations(), *location) {
		return nil, nil
	}
	counts, err := panelCounts(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	to, err := f.Place(*location, counts)
	if errors.Is(err, vpn.ErrNoPanel) {
		return nil, nil
	}
	return to, err
}

// move makes the user's account anew on panel to, in the state their
// periods give it, then deletes it from panel from: the old link stops as a
// rotated one does. A retry after a failure part-way adopts the account
// made on to and finds the old one gone.
func (s *Shop) move(ctx context.Context, userID int64, rec Account, from, to *vpn.Member) (vpn.Account, error) {
	var (
		want   vpn.State
		status string
	)
	err := s.pool.QueryRow(ctx, `SELECT status, expires_at FROM subscriptions WHERE user_id = $1
		ORDER BY status = 'active' DESC, expires_at DESC LIMIT 1`, userID).Scan(&status, &want.ExpiresAt)
	if err != nil {
		return vpn.Account{}, fmt.Errorf("reading the period of the account to move: %w", err)
	}
	want.Enabled = status == StatusActive
	acc, err := s.createAccount(ctx, userID, to, want)
	if err != nil {
		return vpn.Account{}, fmt.Errorf("moving account %s from %s to %s: %w", rec.Name, from.Name(), to.Name(), err)
	}
	if err := from.DeleteAccount(ctx, rec.Ref()); err != nil && !errors.Is(err, vpn.ErrNotFound) {
		return vpn.Account{}, fmt.Errorf("deleting account %s from %s after its move to %s: %w", rec.Name, from.Name(), to.Name(), err)
	}
	return acc, nil
}
