package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/notify"
)

// kindRevokeClaim is the notifications_sent kind of a revocation claim: the
// row's sent_at is when a replica took the period (whose expiry is the
// row's expires_at) to revoke it, and its pending_pid the database session
// (pg_backend_pid) that took it. It is kept after the revocation, so a
// replica that listed the period before it was revoked does not revoke it
// again. It is taken over once its session has ended (its replica died, or
// closed the connection) or it is older than the claim's lifetime (its
// replica hangs); a claim from before pending_pid has no session and waits
// for the lifetime.
const kindRevokeClaim = "revoke_claim"

// Store runs the worker's statements on a pool.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// claimRevocationSQL takes a period for revocation, recording this session,
// unless another replica holds it: its claim was made at or after $5 (the
// oldest claim still held) by a session still connected. The take-over is
// the conflicting insert's update, whose condition is checked once the row
// is locked, on the row as the last taker left it: of replicas racing for a
// period, claimed or abandoned, exactly one gets true.
//
// The server ends a session when its process dies, so the claims of a
// killed replica are taken by the next iteration of any replica rather than
// after the lifetime, which would keep their keys alive that much longer.
// A session also ends when the pool closes its connection, as it may with
// an idle one while its replica is still revoking (a slow panel call): then
// two replicas revoke the period, which shop.Revoke allows; its notice is
// claimed apart (claimNoticesSQL), so it is still sent once.
const claimRevocationSQL = `
INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at, pending_pid)
VALUES ($1, $2, $3, $4, pg_backend_pid())
ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE
	SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
	WHERE n.sent_at < $5 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity))
RETURNING true`

// ClaimRevocation takes the period of subscriptionID ending at expiresAt for
// revocation by this replica, now; a claim made before heldSince, or by a
// session that has ended, is taken over. False means another replica holds
// it.
func (s *Store) ClaimRevocation(ctx context.Context, subscriptionID int64, expiresAt, now, heldSince time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, claimRevocationSQL, subscriptionID, kindRevokeClaim, expiresAt, now, heldSince).Scan(&ok)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claiming subscription %d for revocation: %w", subscriptionID, err)
	}
	return true, nil
}

// ReleaseRevocation gives up a claim whose revocation failed, so that the
// next iteration of any replica retries at once.
func (s *Store) ReleaseRevocation(ctx context.Context, subscriptionID int64, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
		subscriptionID, kindRevokeClaim, expiresAt)
	if err != nil {
		return fmt.Errorf("releasing the revocation claim of subscription %d: %w", subscriptionID, err)
	}
	return nil
}

// Notice is a user to tell that their period's key was revoked.
type Notice struct {
	SubscriptionID int64
	UserID         int64
	ChatID         int64
	Language       string
	ExpiresAt      time.Time
	// Trial is whether the period was a trial nobody paid for, which the
	// notice says.
	Trial bool
}

// claimNoticesSQL selects the periods revoked since $2 whose user has not
// been told, and claims them in the same statement: a replica gets back only
// the rows its INSERT made (or took over), so two replicas never both get
// one. Skipped, and so never claimed: users who blocked the bot or have no
// chat, and users who already have a new active period (they paid again;
// "your key no longer works" would be wrong about the key they hold).
//
// A claim stays pending (pending_pid, the claiming database session) until
// MarkNoticesPublished. A pending claim whose session is gone (its replica
// died before publishing) or made before $5 (its replica hangs) was
// abandoned: it is taken over by a conflicting insert that updates the row
// only if it is still abandoned once its lock is had.
//
// It is claimed whatever the period was told at its expiry (the
// trial-notifier's trial_ended, the reminders' paid_ended): those say when
// the key will stop, this one that it has.
const claimNoticesSQL = `
WITH due AS (
	SELECT s.id, s.user_id, u.chat_id, u.language, s.expires_at, s.kind = 'trial' AS trial
	FROM subscriptions s
	JOIN users u ON u.id = s.user_id
	WHERE s.status = 'revoked' AND s.revoked_at > $2
	  AND u.chat_id IS NOT NULL AND u.blocked_at IS NULL AND u.banned_at IS NULL
	  AND NOT EXISTS (SELECT 1 FROM subscriptions a WHERE a.user_id = s.user_id AND a.status = 'active')
	  AND NOT EXISTS (SELECT 1 FROM notifications_sent n
	                  WHERE n.subscription_id = s.id AND n.kind = $1 AND n.expires_at = s.expires_at
	                    AND (n.pending_pid IS NULL
	                         OR (n.sent_at >= $5 AND n.pending_pid = ANY(ARRAY(SELECT pid FROM pg_stat_activity)))))
	ORDER BY s.revoked_at, s.id
	LIMIT $4
), claimed AS (
	INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at, pending_pid)
	SELECT id, $1, expires_at, $3, pg_backend_pid() FROM due
	ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE
		SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
		WHERE n.pending_pid IS NOT NULL
		  AND (n.sent_at < $5 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
	RETURNING subscription_id
)
SELECT d.id, d.user_id, d.chat_id, d.language, d.expires_at, d.trial
FROM due d JOIN claimed c ON c.subscription_id = d.id
ORDER BY d.id`

// ClaimNotices claims up to limit notices of periods revoked after since,
// pending from now; a pending claim made before heldSince, or by a session
// that has ended, is taken over. The caller publishes each and records it
// with MarkNoticesPublished, or releases it.
func (s *Store) ClaimNotices(ctx context.Context, since, now, heldSince time.Time, limit int) ([]Notice, error) {
	rows, err := s.pool.Query(ctx, claimNoticesSQL, notify.KindKeyRevoked, since, now, limit, heldSince)
	if err != nil {
		return nil, fmt.Errorf("claiming expiry notices: %w", err)
	}
	notices, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) {
		var n Notice
		err := row.Scan(&n.SubscriptionID, &n.UserID, &n.ChatID, &n.Language, &n.ExpiresAt, &n.Trial)
		n.ExpiresAt = n.ExpiresAt.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming expiry notices: %w", err)
	}
	return notices, nil
}

// MarkNoticesPublished records that notices were handed to the sender at
// now: their claims are no longer pending, and no claim takes them over.
func (s *Store) MarkNoticesPublished(ctx context.Context, notices []Notice, now time.Time) error {
	if len(notices) == 0 {
		return nil
	}
	ids := make([]int64, len(notices))
	expiries := make([]time.Time, len(notices))
	for i, n := range notices {
		ids[i], expiries[i] = n.SubscriptionID, n.ExpiresAt
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE notifications_sent n SET pending_pid = NULL, sent_at = $4
		FROM unnest($2::bigint[], $3::timestamptz[]) AS p(subscription_id, expires_at)
		WHERE n.subscription_id = p.subscription_id AND n.kind = $1 AND n.expires_at = p.expires_at
		  AND n.pending_pid IS NOT NULL`, notify.KindKeyRevoked, ids, expiries, now)
	if err != nil {
		return fmt.Errorf("recording %d expiry notices as published: %w", len(notices), err)
	}
	return nil
}

// ReleaseNotice drops the claim of a notice that could not be published, so
// that the next iteration tries again.
func (s *Store) ReleaseNotice(ctx context.Context, n Notice) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
		n.SubscriptionID, notify.KindKeyRevoked, n.ExpiresAt)
	if err != nil {
		return fmt.Errorf("releasing the expiry notice of subscription %d: %w", n.SubscriptionID, err)
	}
	return nil
}

// Overdue is what expiry-cleanup has yet to revoke, as the database holds
// it: the live accesses of active periods that ended before a cutoff (their
// expiry + grace is past).
type Overdue struct {
	Accesses int
	// Oldest is the earliest expiry among them; zero when there are none.
	Oldest time.Time
}

// overdueSQL reads the active periods ended by $1 through
// subscriptions_active_expires_at and probes each one's live access in
// vpn_accesses_unrevoked, so its cost grows with the overdue periods, not
// with the tables (BenchmarkOverdue: 0.6 ms for 100 overdue among 100,000
// periods). The LATERAL subquery, which its LIMIT keeps from being turned
// into a join, is what makes it probe: as a join, the planner hashes every
// live access instead, because it overestimates the overdue periods (it
// cannot know that few active ones have expired). A revoked period whose
// access an activation racing the revocation recorded is not counted: the
// next iteration revokes it (shop.ExpiredUnrevoked), and the panel
// reconciliation any it misses.
const overdueSQL = `
SELECT count(*), min(s.expires_at)
FROM subscriptions s
CROSS JOIN LATERAL (SELECT 1 FROM vpn_accesses a WHERE a.subscription_id = s.id AND a.revoked_at IS NULL LIMIT 1) a
WHERE s.status = 'active' AND s.expires_at <= $1`

// Overdue counts the live accesses of active periods that ended by cutoff.
func (s *Store) Overdue(ctx context.Context, cutoff time.Time) (Overdue, error) {
	var (
		o      Overdue
		oldest *time.Time
	)
	if err := s.pool.QueryRow(ctx, overdueSQL, cutoff).Scan(&o.Accesses, &oldest); err != nil {
		return Overdue{}, fmt.Errorf("counting the accesses overdue for revocation: %w", err)
	}
	if oldest != nil {
		o.Oldest = oldest.UTC()
	}
	return o, nil
}

// Account is what the database says of a panel account.
type Account struct {
	UserID     int64
	Name       string
	ExternalID string
	URL        string
	// SubscriptionID is the user's active period; 0 when there is none, and
	// the account should be disabled.
	SubscriptionID int64
	// ExpiresAt is that period's expiry.
	ExpiresAt time.Time
	// Live is whether the period's access is recorded live on this panel;
	// until it is, the account is activation's to set.
	Live bool
	// Settled is false while activation has yet to set the period's new
	// expiry on the panel (paid for again).
	Settled bool
}

// accountsSQL reads the recorded accounts named $2 on panel $1, each with
// its user's active period, if any, and that period's live access. A banned
// user's period pays for nothing: their account is to be disabled.
const accountsSQL = `
SELECT c.user_id, c.name, c.external_id, c.access_url,
       coalesce(s.id, 0), coalesce(s.expires_at, 'epoch'), a.subscription_id IS NOT NULL,
       coalesce(a.expires_at IS NULL OR a.expires_at >= s.expires_at, false)
FROM vpn_accounts c
LEFT JOIN subscriptions s ON s.user_id = c.user_id AND s.status = 'active'
	AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id AND u.banned_at IS NOT NULL)
LEFT JOIN vpn_accesses a ON a.subscription_id = s.id AND a.revoked_at IS NULL AND a.panel = c.panel
WHERE c.panel = $1 AND c.name = ANY($2)`

// Accounts returns the recorded accounts among names on panel, by name.
func (s *Store) Accounts(ctx context.Context, panel string, names []string) (map[string]Account, error) {
	rows, err := s.pool.Query(ctx, accountsSQL, panel, names)
	if err != nil {
		return nil, fmt.Errorf("reading the recorded panel accounts: %w", err)
	}
	out := make(map[string]Account, len(names))
	var a Account
	_, err = pgx.ForEachRow(rows, []any{&a.UserID, &a.Name, &a.ExternalID, &a.URL,
		&a.SubscriptionID, &a.ExpiresAt, &a.Live, &a.Settled}, func() error {
		a.ExpiresAt = a.ExpiresAt.UTC()
		out[a.Name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the recorded panel accounts: %w", err)
	}
	return out, nil
}

// Unlisted returns up to limit periods whose account on panel should be
// working but was not among listed, the names a complete listing of the
// panel returned: active periods ending after until whose access was
// recorded live before since (the listing's start). Accounts recorded under
// the per-period names of older versions ("vpnbot-<period>",
// "vpnbot_<period>", kept by the migration to accounts) are left out: a
// listing of this bot's accounts holds the "_u<user id>" names only, so
// they would be judged missing on every pass.
func (s *Store) Unlisted(ctx context.Context, panel string, listed []string, since, until time.Time, limit int) ([]Account, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.user_id, c.name, c.external_id, c.access_url, s.id, s.expires_at
		FROM vpn_accounts c
		JOIN subscriptions s ON s.user_id = c.user_id AND s.status = 'active' AND s.expires_at > $4
		JOIN vpn_accesses a ON a.subscription_id = s.id AND a.revoked_at IS NULL AND a.panel = c.panel
		WHERE c.panel = $1 AND a.created_at < $3 AND c.updated_at < $3 AND NOT (c.name = ANY($2))
		  AND c.name ~ '_u[0-9]+$'
		ORDER BY s.id LIMIT $5`, panel, listed, since, until, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the accounts missing from the panel: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) {
		a := Account{Live: true, Settled: true}
		err := row.Scan(&a.UserID, &a.Name, &a.ExternalID, &a.URL, &a.SubscriptionID, &a.ExpiresAt)
		a.ExpiresAt = a.ExpiresAt.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the accounts missing from the panel: %w", err)
	}
	return out, nil
}

// RecordLink records the id and link the panel reports for a user's
// account, on the account and on its live access: someone gave it a new
// link on the panel. An access that carries a dynamic key (not the
// account's old link) keeps it: the key server answers it with the new one.
func (s *Store) RecordLink(ctx context.Context, a Account, id, url string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET external_id = $3, access_url = $4, updated_at = now()
			WHERE user_id = $1 AND name = $2`, a.UserID, a.Name, id, url); err != nil {
			return fmt.Errorf("recording the new link of account %s: %w", a.Name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE vpn_accesses
			SET external_id = $3, access_url = CASE WHEN access_url = $5 THEN $4 ELSE access_url END
			WHERE subscription_id = $1 AND external_id = $2 AND revoked_at IS NULL`,
			a.SubscriptionID, a.ExternalID, id, url, a.URL); err != nil {
			return fmt.Errorf("recording the new link of account %s: %w", a.Name, err)
		}
		return nil
	})
}
