package shop

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/ssconf"
)

// Defaults of Config.
const (
	DefaultTrialDuration    = 72 * time.Hour
	DefaultInvoiceTTL       = time.Hour
	DefaultExternalClaimTTL = 30 * time.Second
)

// Payment providers, as stored in invoices.provider.
const (
	ProviderCryptoPay = "cryptopay"
	ProviderStars     = "stars"
)

// Subscription kinds and statuses, as stored.
const (
	KindTrial = "trial"
	KindPaid  = "paid"

	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// Invoice purposes, as stored: an order of a plan, or of an amount to add to
// the balance.
const (
	PurposePlan  = "plan"
	PurposeTopUp = "topup"
)

// Invoice statuses, as stored.
const (
	InvoicePending = "pending"
	InvoicePaid    = "paid"
	InvoiceExpired = "expired"
)

// Errors the callers tell apart. Each is returned wrapped.
var (
	// ErrUnknownPlan: no active plan has that id.
	ErrUnknownPlan = errors.New("unknown plan")
	// ErrUnknownUser: the user never started the bot (no users row).
	ErrUnknownUser = errors.New("unknown user")
	// ErrUnknownInvoice: no invoice has that id (or provider invoice id).
	ErrUnknownInvoice = errors.New("unknown invoice")
	// ErrUnknownSubscription: no subscription has that id.
	ErrUnknownSubscription = errors.New("unknown subscription")
	// ErrUnknownProvider: the payment provider is neither cryptopay nor stars.
	ErrUnknownProvider = errors.New("unknown payment provider")
	// ErrTrialUsed: the user has taken their one trial already (perhaps by a
	// press a moment ago).
	ErrTrialUsed = errors.New("trial already used")
	// ErrAlreadySubscribed: the user has a running subscription, so a trial
	// would add nothing; the trial is not spent.
	ErrAlreadySubscribed = errors.New("already subscribed")
	// ErrCheckoutMismatch: a Telegram Stars checkout does not match a pending
	// order of that user at that price in XTR; the pre-checkout is refused.
	ErrCheckoutMismatch = errors.New("checkout does not match the order")
	// ErrChargeConflict: a payment came with a charge id other than the one
	// that already paid the invoice (or one already used for another
	// invoice). Money was taken that bought nothing: log it and refund it.
	ErrChargeConflict = errors.New("invoice already paid by another charge")
	// ErrRequestConflict: CreateOrderOnce was given a request id whose
	// order is of another user, plan or provider.
	ErrRequestConflict = errors.New("request id names another order")
	// ErrExternalConflict: the invoice is already attached to another
	// provider invoice.
	ErrExternalConflict = errors.New("invoice already attached to another provider invoice")
	// ErrOrderOnOffer: CreateOrder or CreateOrderOnce was asked for a Crypto
	// Pay order of a plan the user has one on offer of already; CryptoPayOrder
	// shows that one.
	ErrOrderOnOffer = errors.New("a Crypto Pay order of the plan is on offer already")
	// ErrNotActive: the subscription is revoked or expired, so it gets no
	// VPN access.
	ErrNotActive = errors.New("subscription not active")
	// ErrRenewed: a subscription was paid for while its access was being
	// revoked. It stays active; its access is marked revoked, as it is on the
	// panel, and PendingActivations lists it again to create a new one.
	ErrRenewed = errors.New("subscription renewed while being revoked")
)

// Config tunes a Shop. Zero fields take their defaults.
type Config struct {
	// TrialDuration is the length of the free trial (default 72h).
	TrialDuration time.Duration
	// InvoiceTTL is how long an order can be paid before it expires (default 1h).
	InvoiceTTL time.Duration
	// ExternalClaimTTL is how long a request making an order's provider
	// invoice (CryptoPayOrder) keeps other requests for that order waiting
	// while its database session lives: its deadline, after which its call
	// to the provider was given up (default 30s).
	ExternalClaimTTL time.Duration
	// DynamicKeys, when enabled, gives an Outline account's user its
	// dynamic key (ssconf.Settings.Link of the account's token) as their
	// link, instead of the panel's ss:// key, which stays on the account
	// for the key server to answer with. It must be valid.
	DynamicKeys ssconf.Settings
	// TopUpUSD and TopUpXTR bound a top-up of the balance, in cents and
	// stars (default DefaultTopUpUSD, DefaultTopUpXTR).
	TopUpUSD, TopUpXTR Limits
	// Referrals are what a payment of an invitee gives them and their
	// inviter; the zero value gives nothing (the services read theirs
	// with ReferralEnv, whose defaults give the inviter a week).
	Referrals Referrals
	// NowFunc is the clock (default time.Now); tests move it.
	NowFunc func() time.Time
}

// Shop runs the domain operations on a connection pool.
type Shop struct {
	pool *pgxpool.Pool
	cfg  Config
}

// New returns a shop over pool.
func New(pool *pgxpool.Pool, cfg Config) *Shop {
	// Whole seconds, like every time the shop stores (see now).
	cfg.TrialDuration = cfg.TrialDuration.Truncate(time.Second)
	if cfg.TrialDuration <= 0 {
		cfg.TrialDuration = DefaultTrialDuration
	}
	if cfg.InvoiceTTL <= 0 {
		cfg.InvoiceTTL = DefaultInvoiceTTL
	}
	if cfg.ExternalClaimTTL <= 0 {
		cfg.ExternalClaimTTL = DefaultExternalClaimTTL
	}
	if cfg.TopUpUSD == (Limits{}) {
		cfg.TopUpUSD = DefaultTopUpUSD
	}
	if cfg.TopUpXTR == (Limits{}) {
		cfg.TopUpXTR = DefaultTopUpXTR
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &Shop{pool: pool, cfg: cfg}
}

// now is the current time in whole seconds. Every time the shop stores is
// derived from it, so an expiry is whole seconds too and survives exactly a
// round trip through a panel that keeps milliseconds (Remnawave): the access
// expiry read back compares equal to the period's, and is not "behind" it.
func (s *Shop) now() time.Time {
	return s.cfg.NowFunc().UTC().Truncate(time.Second)
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Constraint names of the schema that operations translate into errors.
const (
	constraintChargeID   = "invoices_charge_id_key"
	constraintExternalID = "invoices_provider_external_id_key"
	constraintOneOnOffer = "invoices_one_pending_cryptopay"
)

// pgError returns the PostgreSQL error in err, if any.
func pgError(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

// isForeignKeyViolation reports whether err is a foreign key violation
// (SQLSTATE 23503), which here means a user that does not exist.
func isForeignKeyViolation(err error) bool {
	e := pgError(err)
	return e != nil && e.Code == "23503"
}

// isCheckViolation reports whether err violates the check constraint named.
func isCheckViolation(err error, constraint string) bool {
	e := pgError(err)
	return e != nil && e.Code == "23514" && e.ConstraintName == constraint
}

// isUniqueViolation reports whether err violates the unique constraint named.
func isUniqueViolation(err error, constraint string) bool {
	e := pgError(err)
	return e != nil && e.Code == "23505" && e.ConstraintName == constraint
}

// inUTC puts times read from the database (which pgx gives in the local
// zone) in UTC, as the shop hands out every time.
func inUTC(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC()
	}
}

// inUTCOpt is inUTC for optional times.
func inUTCOpt(ts ...**time.Time) {
	for _, t := range ts {
		if *t != nil {
			*t = new((*t).UTC())
		}
	}
}
