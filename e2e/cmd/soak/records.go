package main

import (
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// Records is everything the checks judge, gathered once the system has
// drained: what the users did, what the schedule did, and what the database,
// the sandboxes, the streams and the services' logs say happened. The checks
// read nothing else, so a test can hand them a broken set.
type Records struct {
	Seed   int64
	Length time.Duration // of the drive
	// Start and DriveEnd bound the drive; Drained is when the drain ended.
	Start, DriveEnd, Drained time.Time
	// DrainLeft is what was still in flight when the drain gave up; empty
	// when the system drained.
	DrainLeft []string
	Timing    Timing

	Plan     []Fault
	Applied  []Applied
	Restarts []Restart

	Updates    []Update
	Payments   []PaidRecord
	Periods    []Period
	Accesses   []Access
	SentLog    []Sent
	Broadcasts []Broadcast
	// ProviderInvoices are the invoices Crypto Pay made, as its sandbox
	// shows them; Orders are the shop's Crypto Pay orders.
	ProviderInvoices []ProviderInvoice
	Orders           []Order
	// Chats are the bot's messages in every chat, as the sandbox shows them.
	Chats map[int64][]sandboxtg.Message

	// Ledger is what the checks found of the ledger's invariants.
	Ledger LedgerFacts
	// Admin is what the admin's actions on users' cards left.
	Admin AdminFacts

	// Panels are the VPN panels' names, as VPN_PANELS gives them.
	Panels []string
	Panel  PanelView
	// PanelKeys are the keys working on the panels at the end (a revoked
	// user's key stays on its panel, blocked).
	PanelKeys []PanelKey
	// Floods are the sandbox's refusals by its flood limits; Injected429
	// the 429s the schedule injected.
	Floods      []sandboxtg.Flood
	Injected429 int
	DLQ         []bus.DLQEntry
	Logs        LogFacts
	// Missed counts the screens users waited for in vain, by what.
	Missed map[string]int
}

// Timing is the system's settings the checks measure against.
type Timing struct {
	Trial          time.Duration // TRIAL_DURATION
	Grace          time.Duration // EXPIRY_GRACE
	WorkerInterval time.Duration // WORKER_INTERVAL
	CallbackMaxAge time.Duration // CALLBACK_MAX_AGE
	Partitions     int           // UPDATE_PARTITIONS
	SenderInFlight int           // the sender's concurrent sends
}

// Update is an update a user sent, and what became of it.
type Update struct {
	SentUpdate
	// Answers are when the bot answered it (the sandbox's record).
	Answers []time.Time
	// Stale is set when the bot-handler skipped it as older than
	// CALLBACK_MAX_AGE (its CALLBACK_STALE log line).
	Stale bool
	// DeadLetter is why it went to the DLQ, if it did.
	DeadLetter string
}

// PaidRecord is a user's payment and the shop's invoice it paid (0 when no
// paid invoice matches it).
type PaidRecord struct {
	Payment
	Invoice int64
}

// Grant is a ledger row that extended, started or (negative For, a
// refund) shortened a period: the trial, a paid invoice (Invoice), a
// purchase from the balance, a renewal, a promo code or a referral reward,
// at the time the shop used.
type Grant struct {
	At      time.Time
	For     time.Duration
	Invoice int64
	// Kind is the ledger row's kind (shop.LedgerTrial, …), Key its op key.
	Kind, Key string
}

// Period is a subscription period from the database, with its grants in
// order.
type Period struct {
	ID, User        int64
	Kind, Status    string
	Starts, Expires time.Time
	Revoked         time.Time // zero while active
	Grants          []Grant
}

// Access is the VPN access of a period.
type Access struct {
	Period, User int64
	URL          string
	Key          KeyID
	Created      time.Time
	Revoked      time.Time // zero while live
}

// KeyID names a key across the panels: the panel's name, as VPN_PANELS
// gives it and vpn_accesses and vpn_accounts record it, and the key's id
// there. The panels name a user's key alike ("vpnbot_u42"), so an id alone
// names no key.
type KeyID struct {
	Panel, ID string
}

func (k KeyID) String() string { return k.Panel + "/" + k.ID }

// PanelKey is a key working on a panel.
type PanelKey struct {
	KeyID
	// Name is the account's name on the panel, vpn.AccountName's
	// "vpnbot_u<user id>".
	Name string
}

// Sent is a row of the sender's sent-log.
type Sent struct {
	DedupID   string
	Chat      int64
	MessageID int64 // 0 when Telegram's id was not recorded
	At        time.Time
}

// ProviderInvoice is an invoice Crypto Pay made for the bot.
type ProviderInvoice struct {
	ID      int64
	Created time.Time
}

// Order is one of the shop's Crypto Pay orders (a row of invoices).
type Order struct {
	ID       int64
	User     int64
	Plan     string
	External int64 // the Crypto Pay invoice attached to it; 0 while none
	// OnOffer is true for an order still shown to a press: pending and not
	// superseded by a newer one.
	OnOffer bool
}

// Broadcast is an admin's broadcast and its recipients.
type Broadcast struct {
	ID         int64
	Recipients []int64
}

// LogFacts are what the services logged that the checks count.
type LogFacts struct {
	// SentNotRecorded counts the sender's SENT_NOT_RECORDED: sent, but the
	// sent-log insert failed.
	SentNotRecorded int
	// FloodWaits counts FLOOD_WAIT lines: 429s the services met.
	FloodWaits int
	// AppliedBy counts the payment-watcher's PAYMENT_APPLIED by source
	// (webhook, poll).
	AppliedBy map[string]int
}

// LedgerFacts are the ledger's invariants as the database shows them at the
// end, each list naming what broke one (empty when it held).
type LedgerFacts struct {
	// Rows counts the ledger's rows by kind.
	Rows map[string]int
	// Mismatched are the balances that differ from the sum of their rows.
	Mismatched []string
	// Negative are the balances below zero.
	Negative []string
	// Unrecorded are the paid invoices without their payment's row;
	// Unpaid the payment rows of invoices not paid.
	Unrecorded, Unpaid []int64
	// Balances is the sum of the balances, by currency.
	Balances map[string]int64
	// Referrals are the referral rewards missing, wrong or given without
	// a qualifying payment (shop.ReferralProblems).
	Referrals []string
	// Promos are the promo codes used over a limit, or whose uses and
	// counts disagree (shop.PromoUsage.Violation).
	Promos []string
	// RepeatedRenewals counts renewals of a period within the cycle an
	// earlier renewal of it paid for (shop.RepeatedRenewals).
	RepeatedRenewals int
}
