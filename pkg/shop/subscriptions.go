package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Subscription is one period of continuous access of a user.
type Subscription struct {
	ID     int64
	UserID int64
	// Kind is KindTrial for a trial period until it is paid for, then
	// KindPaid: a trial paid for before it ran out goes on as one period
	// (same key), which the user sees as their paid subscription.
	Kind string
	// Status is StatusActive until the period's access is revoked. An active
	// period may be past ExpiresAt: it waits out the grace before revocation,
	// and a payment in that time extends it from now.
	Status    string
	StartsAt  time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	// UpdatedAt is when the period last changed: granted (a trial taken, a
	// payment applied), extended, shortened by a refund, or revoked. For a
	// period waiting for its activation, it is when the wait began.
	UpdatedAt time.Time
	// Access is the period's VPN access; nil until it is activated.
	Access *Access
	// TraceParent is the W3C traceparent of the sampled span that last
	// granted the period time (a payment applied, a trial taken), or "":
	// its activation and key continue that trace.
	TraceParent string
}

// Access is the VPN access of a period: the user's panel account, enabled
// until the period ends.
type Access struct {
	// Panel is the provisioner's name (outline, remnawave).
	Panel string
	// Name is the user's account name on the panel; empty for an access
	// whose user has no account recorded (one revoked before accounts).
	Name       string
	ExternalID string
	// URL is what the user puts in their VPN app.
	URL string
	// ExpiresAt is the expiry set on the panel; nil for a panel without one
	// (Outline), whose keys live until revoked.
	ExpiresAt *time.Time
	CreatedAt time.Time
	// RevokedAt is set once the access is removed from the panel: a key to
	// show a user has none.
	RevokedAt *time.Time
}

// subscriptionSelect reads periods with their access; callers add WHERE,
// ORDER BY and LIMIT.
const subscriptionSelect = `
SELECT s.id, s.user_id, s.kind, s.status, s.starts_at, s.expires_at, s.revoked_at, s.updated_at, coalesce(s.trace_parent, ''),
       a.panel, c.name, a.external_id, a.access_url, a.expires_at, a.created_at, a.revoked_at
FROM subscriptions s
LEFT JOIN vpn_accesses a ON a.subscription_id = s.id
LEFT JOIN vpn_accounts c ON c.user_id = s.user_id AND c.panel = a.panel`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var sub Subscription
	var panel, name, externalID, url *string
	var accessExpires, accessCreated, accessRevoked *time.Time
	err := row.Scan(&sub.ID, &sub.UserID, &sub.Kind, &sub.Status, &sub.StartsAt, &sub.ExpiresAt, &sub.RevokedAt, &sub.UpdatedAt, &sub.TraceParent,
		&panel, &name, &externalID, &url, &accessExpires, &accessCreated, &accessRevoked)
	if err != nil {
		return Subscription{}, err
	}
	inUTC(&sub.StartsAt, &sub.ExpiresAt, &sub.UpdatedAt)
	inUTCOpt(&sub.RevokedAt, &accessExpires, &accessCreated, &accessRevoked)
	if panel != nil {
		sub.Access = &Access{
			Panel: *panel, ExternalID: *externalID, URL: *url,
			ExpiresAt: accessExpires, CreatedAt: *accessCreated, RevokedAt: accessRevoked,
		}
		if name != nil {
			sub.Access.Name = *name
		}
	}
	return sub, nil
}

func collectSubscriptions(rows pgx.Rows) ([]Subscription, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Subscription, error) { return scanSubscription(row) })
}

// ActiveSubscription returns the user's active period, or nil when there is
// none. It may be past its expiry (see Subscription.Status).
func (s *Shop) ActiveSubscription(ctx context.Context, userID int64) (*Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx,
		subscriptionSelect+` WHERE s.user_id = $1 AND s.status = 'active'`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the active subscription of user %d: %w", userID, err)
	}
	return &sub, nil
}

// Subscription returns the period with the id, or ErrUnknownSubscription.
func (s *Shop) Subscription(ctx context.Context, id int64) (Subscription, error) {
	sub, err := subscriptionByID(ctx, s.pool, id)
	if err != nil {
		return Subscription{}, fmt.Errorf("reading subscription %d: %w", id, err)
	}
	return sub, nil
}

func subscriptionByID(ctx context.Context, q querier, id int64) (Subscription, error) {
	sub, err := scanSubscription(q.QueryRow(ctx, subscriptionSelect+` WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, ErrUnknownSubscription
	}
	return sub, err
}

// grantSQL gives a user $4 more access, starting at $3: it extends their
// active period from GREATEST($3, expires_at), or, when they have none,
// starts a new one of kind $2. The partial unique index on active periods is
// the conflict target, so concurrent grants to one user serialize on that row
// and each adds its own duration.
//
// $5 restricts the extension to periods that have expired by $3 (a trial must
// not be added to a running subscription): a conflict that fails it returns
// no row and changes nothing.
//
// $6 is the traceparent of the grant's span, NULL when it is not sampled.
const grantSQL = `
INSERT INTO subscriptions AS s (user_id, kind, status, starts_at, expires_at, created_at, updated_at, trace_parent)
VALUES ($1, $2, 'active', $3, $3::timestamptz + $4::interval, $3, $3, $6)
ON CONFLICT (user_id) WHERE status = 'active' DO UPDATE
	SET expires_at = GREATEST(EXCLUDED.starts_at, s.expires_at) + $4::interval,
	    kind = CASE WHEN EXCLUDED.kind = 'paid' THEN 'paid' ELSE s.kind END,
	    updated_at = EXCLUDED.updated_at,
	    trace_parent = EXCLUDED.trace_parent
	WHERE NOT $5 OR s.expires_at <= EXCLUDED.starts_at
RETURNING s.id`

// grant runs grantSQL; found is false when $5 refused the extension.
func grant(ctx context.Context, q querier, userID int64, kind string, now time.Time, d time.Duration, onlyExpired bool) (id int64, found bool, err error) {
	err = q.QueryRow(ctx, grantSQL, userID, kind, now, d, onlyExpired, traceParent(ctx)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if isForeignKeyViolation(err) {
		return 0, false, ErrUnknownUser
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// traceParent is the W3C traceparent of ctx's span when it is sampled, for
// a period to keep; nil (NULL) otherwise, as with tracing off.
func traceParent(ctx context.Context) *string {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	tp := carrier.Get("traceparent")
	return &tp
}
