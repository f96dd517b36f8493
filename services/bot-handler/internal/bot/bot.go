package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// ErrRejected marks an update that retrying cannot help: Telegram refused
// what the handler sent (a 4xx other than 429), or the update asks for what
// can never be done (a key too long for a QR code, an invalid broadcast).
var ErrRejected = errors.New("update rejected")

// Event names of this package's log lines that on-call searches for.
const (
	// EventFloodWait is Telegram's flood control (429 with retry_after): the
	// update is retried no sooner than Telegram asked.
	EventFloodWait = "FLOOD_WAIT"
	// EventUserBlocked is a 403 in a private chat: the user blocked the bot.
	EventUserBlocked = "USER_BLOCKED"
)

// Kinds of update, as Process reports them for logs.
const (
	KindStart    = "start"
	KindHelp     = "help"
	KindLanguage = "language"
	KindAdmin    = "admin"
	KindCallback = "callback"
	KindCheckout = "checkout"
	KindPayment  = "payment"
	KindOther    = "other"
	KindIgnored  = "ignored"
)

const (
	// getMeTimeout bounds one getMe attempt at start.
	getMeTimeout = 10 * time.Second
	// getMeFirstDelay and getMeMaxDelay shape the backoff between attempts.
	getMeFirstDelay = 500 * time.Millisecond
	getMeMaxDelay   = 30 * time.Second
	// maxStartParam is the longest deep-link payload Telegram allows; a
	// longer one was typed by hand and is cut rather than stored whole.
	maxStartParam = 64
)

// Users is what the handlers remember about the people they talk to.
type Users interface {
	UpsertStartingUser(ctx context.Context, u store.StartingUser) (language string, err error)
	UserLanguage(ctx context.Context, userID int64) (language string, found bool, err error)
	SetLanguage(ctx context.Context, userID int64, language string) (found bool, err error)
	Locations(ctx context.Context, userID int64) (store.Locations, error)
	SetLocation(ctx context.Context, userID int64, location string) (found bool, err error)
	MarkBlocked(ctx context.Context, userID int64) error
	// NoticeOnce sends a notice once (a ban's, banned.go).
	NoticeOnce(ctx context.Context, userID int64, kind string, send func() error) (sent bool, err error)
	// The user card's questions that an admin's next text answers
	// (cardinput.go).
	AskInput(ctx context.Context, adminID int64, action string, targetID int64) error
	CancelInput(ctx context.Context, adminID int64) error
	OpenInput(ctx context.Context, adminID, updateID int64, ttl time.Duration) (in store.Input, found bool, err error)
	AnswerInput(ctx context.Context, adminID, updateID int64, in store.Input, text string) (answered bool, err error)
	InputAnswer(ctx context.Context, adminID, updateID int64, in store.Input) (text string, found bool, err error)
}

// Shop is the domain operations the flows call (shop.Shop).
type Shop interface {
	StartTrial(ctx context.Context, userID int64) (shop.Subscription, error)
	Plans(ctx context.Context) ([]shop.Plan, error)
	PlansFor(ctx context.Context, userID int64) ([]shop.Plan, *shop.Discount, error)
	PlanFor(ctx context.Context, userID int64, planID string) (shop.Plan, *shop.Discount, error)
	Plan(ctx context.Context, id string) (shop.Plan, error)
	RunningTrial(ctx context.Context, userID int64) (*shop.Subscription, error)
	CreateOrderOnce(ctx context.Context, requestID string, userID int64, planID, provider string) (shop.Invoice, error)
	CryptoPayOrder(ctx context.Context, userID int64, planID string, create shop.CreateExternalFunc) (shop.Invoice, error)
	ValidateCheckout(ctx context.Context, userID int64, payload, currency string, total int) (shop.Invoice, error)
	ApplyStarsPayment(ctx context.Context, userID int64, payload, chargeID string, total int) (shop.Subscription, bool, error)
	StarsAnnounced(ctx context.Context, payload string) (bool, error)
	MarkStarsAnnounced(ctx context.Context, payload string) error
	ActiveSubscription(ctx context.Context, userID int64) (*shop.Subscription, error)
	RequestNewLink(ctx context.Context, userID int64) (found bool, err error)
	Stats(ctx context.Context) (shop.Stats, error)
	Invoice(ctx context.Context, id int64) (shop.Invoice, error)
	UserInfo(ctx context.Context, userID int64) (shop.UserInfo, error)
	Balances(ctx context.Context, userID int64) ([]shop.Balance, error)
	Balance(ctx context.Context, userID int64, currency string) (int64, error)
	History(ctx context.Context, userID int64, limit int) ([]shop.Entry, error)
	Orders(ctx context.Context, userID int64, limit int) ([]shop.Order, error)
	BuyFromBalance(ctx context.Context, opKey string, userID int64, planID, currency string) (shop.Purchase, bool, error)
	TopUpLimits(currency string) (shop.Limits, error)
	CreateStarsTopUpOnce(ctx context.Context, requestID string, userID, stars int64) (shop.Invoice, error)
	CryptoPayTopUp(ctx context.Context, userID, cents int64, create shop.CreateExternalFunc) (shop.Invoice, error)
	RecordReferral(ctx context.Context, invitee, inviter int64) (recorded bool, err error)
	ReferralStats(ctx context.Context, userID int64) (shop.ReferralStats, error)
	Referrals() shop.Referrals
	RedeemPromo(ctx context.Context, requestID string, userID int64, code string) (shop.Redemption, bool, error)
	CreatePromo(ctx context.Context, n shop.NewPromo) (shop.Promo, error)
	Promo(ctx context.Context, code string) (shop.Promo, error)
	Promos(ctx context.Context, limit int) ([]shop.Promo, error)
	SwitchOffPromo(ctx context.Context, code string) (shop.Promo, error)
	// Auto-renewal from the balance (autorenew.go).
	AutoRenewal(ctx context.Context, userID int64) (shop.AutoRenewal, error)
	SetAutoRenew(ctx context.Context, userID int64, on bool, planID string) (shop.AutoRenewal, error)
	CreateRenewalTopUpOnce(ctx context.Context, requestID string, userID int64) (shop.Invoice, error)
	// Running the shop from Telegram (roles.go, usercard.go, audit.go, banned.go).
	Role(ctx context.Context, userID int64) (string, error)
	Roles(ctx context.Context) ([]shop.RoleGrant, error)
	SetRole(ctx context.Context, act shop.Act, userID int64, role string) (shop.AdminResult, error)
	FindUser(ctx context.Context, query string) (int64, error)
	UserCard(ctx context.Context, userID int64) (shop.UserCard, error)
	Banned(ctx context.Context, userID int64) (*time.Time, error)
	Ban(ctx context.Context, act shop.Act, userID int64) (shop.AdminResult, error)
	Unban(ctx context.Context, act shop.Act, userID int64) (shop.AdminResult, error)
	AdminExtend(ctx context.Context, act shop.Act, userID int64, d time.Duration) (shop.AdminResult, error)
	AdminEndNow(ctx context.Context, act shop.Act, userID int64) (shop.AdminResult, error)
	AdminGrantBalance(ctx context.Context, act shop.Act, userID int64, currency string, amount int64) (shop.AdminResult, error)
	AdminReissue(ctx context.Context, act shop.Act, userID int64) (shop.AdminResult, error)
	AdminRefund(ctx context.Context, act shop.Act, invoiceID int64) (shop.AdminResult, error)
	AdminMessage(ctx context.Context, act shop.Act, userID int64, text string) (shop.AdminResult, error)
	Audit(ctx context.Context, targetID int64, limit int) ([]shop.AuditEntry, error)
}

// Invoicer creates Crypto Pay invoices (cryptopay.Client).
type Invoicer interface {
	CreateInvoice(ctx context.Context, in cryptopay.CreateInvoice) (cryptopay.Invoice, error)
}

// PaymentChecks asks the payment-watcher to check a Crypto Pay order now
// (events.CheckPayment).
type PaymentChecks interface {
	CheckPayment(ctx context.Context, invoiceID int64) (status string, err error)
}

// Activations asks the activation worker to create a period's VPN access.
type Activations interface {
	RequestActivation(ctx context.Context, sub shop.Subscription, reason string, at time.Time) error
}

// Config is what a Bot needs.
type Config struct {
	// Client is the bot's Bot API client: every call telebot makes goes
	// through it.
	Client *telegram.Client
	Users  Users
	Shop   Shop
	// CryptoPay creates Crypto Pay invoices; nil hides the Crypto Pay button
	// (Stars only).
	CryptoPay Invoicer
	// CryptoAssets are the assets a Crypto Pay invoice accepts.
	CryptoAssets []string
	// PaymentChecks answers "I paid"; nil hides the button's answer behind
	// "checked automatically".
	PaymentChecks PaymentChecks
	Activations   Activations
	// Broadcasts records admins' broadcasts; Outbox queues their messages.
	Broadcasts Broadcasts
	Outbox     Outbox
	// BroadcastRate is the sender's rate (SENDER_RATE), messages a second,
	// for a broadcast's time to send (default DefaultBroadcastRate).
	BroadcastRate float64
	// AdminIDs are the owners: the Telegram user ids that may do anything,
	// and name admins and support (/role).
	AdminIDs []int64
	// Support is the support contact shown to users, e.g. "@vpnbot_support".
	Support string
	// Channel is the channel users must join (channelgate.New); nil
	// requires none.
	Channel *channelgate.Checker
	// AppURL is the Mini App's URL: the menu's first button and the bot's
	// menu button open it. "" for none.
	AppURL string
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
	Log     zerolog.Logger
}

// Bot handles updates; one Bot serves any number of concurrent updates.
type Bot struct {
	client       *telegram.Client
	users        Users
	shop         Shop
	cryptoPay    Invoicer
	cryptoAssets []string
	checks       PaymentChecks
	activations  Activations
	broadcasts   Broadcasts
	outbox       Outbox
	bcastRate    float64
	admins       map[int64]bool
	support      string
	channel      *channelgate.Checker
	appURL       string
	nowFunc      func() time.Time
	log          zerolog.Logger
	me           *tele.User
}

// New returns a bot that knows who it is: it asks Telegram (getMe), retrying
// with backoff until Telegram answers or ctx is done, because commands
// addressed as /cmd@botname are recognised by the bot's username.
func New(ctx context.Context, cfg Config) (*Bot, error) {
	admins := make(map[int64]bool, len(cfg.AdminIDs))
	for _, id := range cfg.AdminIDs {
		admins[id] = true
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	b := &Bot{
		client:       cfg.Client,
		users:        cfg.Users,
		shop:         cfg.Shop,
		cryptoPay:    cfg.CryptoPay,
		cryptoAssets: cfg.CryptoAssets,
		checks:       cfg.PaymentChecks,
		activations:  cfg.Activations,
		broadcasts:   cfg.Broadcasts,
		outbox:       cfg.Outbox,
		bcastRate:    cfg.BroadcastRate,
		admins:       admins,
		support:      cfg.Support,
		channel:      cfg.Channel,
		appURL:       cfg.AppURL,
		nowFunc:      cfg.NowFunc,
		log:          cfg.Log,
	}
	if err := b.identify(ctx); err != nil {
		return nil, err
	}
	b.setMenuButton(ctx)
	return b, nil
}

// setMenuButton makes the bot's menu button, beside the message field,
// open the Mini App, or with none Telegram's default (the commands), so a
// bot whose app was taken away keeps no button to nothing. Every replica
// sets the same at its start. A failure is logged, not fatal: the menu's
// own button opens the app all the same.
func (b *Bot) setMenuButton(ctx context.Context) {
	button := map[string]any{"type": "default"}
	if b.appURL != "" {
		button = map[string]any{"type": "web_app", "text": botui.TextsIn(botui.English).BtnOpenApp,
			"web_app": map[string]any{"url": b.appURL}}
	}
	ctx, cancel := context.WithTimeout(ctx, getMeTimeout)
	defer cancel()
	if err := b.client.Call(ctx, "setChatMenuButton", map[string]any{"menu_button": button}, nil); err != nil {
		b.log.Warn().Ctx(ctx).Err(b.client.Redact(err)).Msg("setting the bot's menu button failed; the menu still opens the app")
	}
}

func (b *Bot) identify(ctx context.Context) error {
	delay := retry.Backoff{Min: getMeFirstDelay, Max: getMeMaxDelay}
	for attempt := 1; ; attempt++ {
		me, err := b.getMe(ctx)
		if err == nil {
			b.me = me
			b.log.Info().Ctx(ctx).Int64("bot_id", me.ID).Str("username", me.Username).Msg("bot identified")
			return nil
		}
		wait := delay.Next()
		b.log.Warn().Ctx(ctx).Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("asking Telegram who the bot is failed")
		if !retry.Sleep(ctx, wait) {
			return fmt.Errorf("asking Telegram who the bot is: %w", errors.Join(ctx.Err(), err))
		}
	}
}

// getMe is who the bot is, as telebot needs it to know commands addressed
// to it.
func (b *Bot) getMe(ctx context.Context) (*tele.User, error) {
	ctx, cancel := context.WithTimeout(ctx, getMeTimeout)
	defer cancel()
	me, err := b.client.GetMe(ctx)
	if err != nil {
		return nil, err
	}
	return &tele.User{ID: me.ID, IsBot: me.IsBot, Username: me.Username}, nil
}

// telebot returns a throwaway telebot.Bot whose requests carry ctx.
func (b *Bot) telebot(ctx context.Context, onError func(error, tele.Context)) (*tele.Bot, error) {
	apiURL, token := b.client.Endpoint()
	tb, err := tele.NewBot(tele.Settings{
		URL:         apiURL,
		Token:       token,
		Updates:     1, // the update channel is never used: updates come from the stream
		Offline:     true,
		Synchronous: true,
		OnError:     onError,
		Client:      b.client.HTTPClient(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the telebot client: %w", err)
	}
	tb.Me = b.me
	return tb, nil
}

// run is one update being processed: the context its handlers work under and
// the route they took.
type run struct {
	ctx  context.Context
	kind string
	err  error
}

// routeUser wraps a handler of an update that comes from a user without a
// chat (a pre-checkout query).
func (r *run) routeUser(kind string, h func(ctx context.Context, c tele.Context) error) tele.HandlerFunc {
	return func(c tele.Context) error {
		if c.Sender() == nil {
			return nil
		}
		r.kind = kind
		return h(r.ctx, c)
	}
}

// Process handles one update under ctx and returns the kind of update it
// was. Errors wrap ErrRejected when retrying cannot help; any other error is
// worth retrying. Error texts never contain the bot token. A handler's panic
// is not recovered: it reaches the consumer, which dead-letters the update
// with its stack.
//
// Process reads the ban of the update's user itself; ProcessBanned takes
// it as an earlier read found it (the inbox's, in the same round trip).
func (b *Bot) Process(ctx context.Context, u tele.Update) (kind string, err error) {
	var bannedAt *time.Time
	if user := UpdateUser(u); user != nil {
		bannedAt, err = b.shop.Banned(ctx, user.ID)
		if err != nil && !errors.Is(err, shop.ErrUnknownUser) {
			return "", err
		}
	}
	return b.ProcessBanned(ctx, u, bannedAt)
}

// ProcessBanned is Process for an update whose user is banned since
// bannedAt (nil: not banned, or not known yet).
func (b *Bot) ProcessBanned(ctx context.Context, u tele.Update, bannedAt *time.Time) (kind string, err error) {
	r := &run{ctx: ctx, kind: KindIgnored}
	tb, err := b.telebot(ctx, func(err error, _ tele.Context) { r.err = err })
	if err != nil {
		return "", err
	}
	b.routes(tb, r)
	if gated, err := b.banGate(ctx, tb, u, bannedAt); gated || err != nil {
		return KindBanned, b.client.Redact(classify(err))
	}
	// Synchronous: the handler has returned, and r.err is set, when ProcessUpdate returns.
	tb.ProcessUpdate(u)
	return r.kind, b.client.Redact(classify(r.err))
}

// classify marks the errors that retrying cannot fix.
func classify(err error) error {
	if e, ok := telegram.AsError(err); ok && !e.Retryable() {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return err
}

// route wraps a handler: it records the route taken and gives the handler
// the update's context. The bot talks to people one to one, so it stays
// silent in groups and channels.
func (r *run) route(kind string, h func(ctx context.Context, c tele.Context) error) tele.HandlerFunc {
	return func(c tele.Context) error {
		if c.Chat() == nil || c.Chat().Type != tele.ChatPrivate || c.Sender() == nil {
			return nil
		}
		r.kind = kind
		return h(r.ctx, c)
	}
}
