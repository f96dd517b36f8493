package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// UpdateKind is the kind of update a user's action sent the bot.
type UpdateKind string

// The kinds of updates the users send whose answers the soak counts (a
// successful_payment is confirmed by a message of its own: see Payment).
const (
	UpdateMessage  UpdateKind = "message"
	UpdateCallback UpdateKind = "callback_query"
	UpdateCheckout UpdateKind = "pre_checkout_query"
)

// SentUpdate is an update a user's action sent.
type SentUpdate struct {
	ID   int64
	Chat int64
	Kind UpdateKind
	What string // the text, the button's data, or the invoice
	At   time.Time
}

// How a payment was made.
const (
	PayWebhook = "crypto-pay (webhook)" // on Crypto Pay's pay page, which calls our webhook
	PayPoll    = "crypto-pay (poll)"    // webhook lost: the payment-watcher's poll finds it
	PayStars   = "stars"
	PaySeeded  = "seeded" // before the soak began (an existing customer's)
)

// Payment is a payment a user made.
type Payment struct {
	User     int64
	Provider string // shop.ProviderCryptoPay or shop.ProviderStars
	How      string
	// External is Crypto Pay's invoice id, or Telegram's charge id; for a
	// seeded payment, the shop's invoice id.
	External string
	At       time.Time
	// TopUp is the stars a top-up added to the balance; 0 for a plan.
	TopUp int64
}

// journal is what the users did, written by all of them.
type journal struct {
	mu       sync.Mutex
	updates  []SentUpdate
	payments []Payment
	// missed counts the screens users waited for in vain (the drive goes
	// on; the checks judge the updates): what a user saw, not a verdict.
	missed map[string]int
	// presses are the admin's actions on users' cards; ban is when the
	// abuser was banned.
	presses []AdminPress
	ban     BanWindow
	// previews are the admin's chat's broadcast previews.
	previews []int64
}

func (j *journal) preview(messageID int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.previews = append(j.previews, messageID)
}

func (j *journal) banFrom(t time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ban.From = t
}

func (j *journal) banTo(t time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ban.To = t
}

func (j *journal) update(u SentUpdate) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.updates = append(j.updates, u)
}

func (j *journal) paid(p Payment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.payments = append(j.payments, p)
}

func (j *journal) miss(what string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.missed[what]++
}

// Users' ids: the admin, the existing customers from firstCustomer, and the
// newcomers from firstNewcomer.
const (
	adminID       = 900_001
	firstCustomer = 200_001
	firstNewcomer = 100_001
)

// The users' pace.
const (
	// newcomers arrive, evenly, over arrivalShare of the drive.
	newcomers    = 40
	arrivalShare = 0.8
	// thinkMin and thinkMax bound the pause between a user's actions.
	thinkMin = 4 * time.Second
	thinkMax = 15 * time.Second
	// reactMin and reactMax bound the time a person takes to read a screen
	// and find the next button on it.
	reactMin = 700 * time.Millisecond
	reactMax = 2500 * time.Millisecond
	// screenWait is how long a user waits for a screen before giving up on
	// what they were doing: above the bot-handler's own deadline (25 s) and
	// a redelivery after a killed replica's AckWait (30 s).
	screenWait = 75 * time.Second
	// buyAgainAfter is the least time between one user's purchases.
	buyAgainAfter = time.Minute
	// broadcasts is how many the admin sends, spread over the drive.
	broadcasts = 3
	// pollEvery paces a user's look at the chat while waiting.
	pollEvery = 250 * time.Millisecond
	// topUpStars is what a newcomer adds to their balance at a time.
	topUpStars = 50
	// invitedEvery: every invitedEvery-th newcomer comes by the invite
	// link of the newcomer invitedBy places before them.
	invitedEvery = 3
	invitedBy    = 7
	// soakPromo is the promo code the admin makes at the start, a balance
	// credit that fewer newcomers may use than try to.
	soakPromo      = "SOAK"
	soakPromoLimit = 10
)

// driver runs the users.
type driver struct {
	st   *localstack.Stack
	pool *pgxpool.Pool // the soak's own, straight to the database
	http *http.Client
	seed int64
	j    *journal
	log  zerolog.Logger
}

// drive runs every user until ctx ends (the end of the drive), then waits for
// them to stop.
func (d *driver) drive(ctx context.Context, length time.Duration) {
	var wg sync.WaitGroup
	start := time.Now()
	ban, unban := make(chan struct{}), make(chan struct{})
	wg.Go(func() { d.user(adminID).admin(ctx, start, length, d.adminSteps(ban, unban)) })
	wg.Go(func() { d.user(abuserID).abuser(ctx, ban, unban) })
	for i, p := range personas {
		at := time.Duration(float64(length) * (customerFirst + (customerLast-customerFirst)*float64(i)/float64(len(personas)-1)))
		wg.Go(func() { d.user(firstCustomer+int64(i)).customer(ctx, p, start.Add(at)) })
	}
	every := time.Duration(float64(length) * arrivalShare / newcomers)
	for i := range newcomers {
		if !sleepUntil(ctx, start.Add(time.Duration(i)*every)) {
			break
		}
		var inviter int64
		if i >= invitedBy && i%invitedEvery == 0 {
			inviter = firstNewcomer + int64(i-invitedBy)
		}
		wg.Go(func() { d.user(firstNewcomer+int64(i)).newcomer(ctx, inviter) })
	}
	wg.Wait()
}

// user is one simulated Telegram user; its choices come from the seed.
type user struct {
	*driver
	id  int64
	rng *rand.Rand
	// screen is the message the user navigates on: the bot's reply to
	// their last /start, edited by every press. The users press buttons
	// only there, never on the messages the workers send (whose buttons
	// would have the bot edit them), so that each message the sender sent
	// stays as it was sent and a repeat of it is found by its content.
	screen sandboxtg.Message
	bought time.Time
}

func (d *driver) user(id int64) *user {
	return &user{driver: d, id: id, rng: rand.New(rand.NewPCG(uint64(d.seed), uint64(id)))}
}

// newcomer is a new user: /start (by an invite link when inviter is
// set), most take the trial, then they look around, ask, top up their
// balance, and some buy, with money or from the balance, until the drive
// ends.
func (u *user) newcomer(ctx context.Context, inviter int64) {
	first := "/start"
	if inviter != 0 {
		first += " " + shop.InviteParam(inviter)
	}
	if !u.startWith(ctx, first) {
		return
	}
	if u.rng.Float64() < 0.75 {
		u.press(ctx, botui.ActionTrial, "the trial's confirmation", nil)
	}
	for u.think(ctx) {
		switch n := u.rng.IntN(100); {
		case n < 25:
			u.subscription(ctx)
		case n < 40:
			if time.Since(u.bought) > buyAgainAfter {
				u.buy(ctx, u.payHow())
			}
		case n < 50:
			u.start(ctx)
		case n < 60:
			u.say(ctx, "/help")
		case n < 70:
			u.say(ctx, fmt.Sprintf("is my VPN working? (%d)", u.rng.IntN(1000)))
		case n < 80:
			if u.menu(ctx) {
				u.press(ctx, botui.ActionPlans, "the plans", withButton(botui.Callback(botui.ActionPlan, localstack.DemoPlanID)))
			}
		case n < 85:
			u.topUp(ctx)
		case n < 90:
			if time.Since(u.bought) > buyAgainAfter {
				u.buyFromBalance(ctx)
			}
		case n < 93:
			u.say(ctx, strings.ToLower(soakPromo))
		case n < 97:
			u.autoRenew(ctx)
		}
	}
}

// persona is an existing customer: a trial or a paid demo period that falls
// due during the drive, and what they do about it.
type persona struct {
	kind string // shop.KindTrial or shop.KindPaid
	// renew is when they buy the demo plan, relative to their period's
	// expiry; renewNever lets it lapse.
	renew time.Duration
	how   string
	// autoRenew has them turn auto-renewal on, with a balance that pays
	// for it: the reminders worker renews them before each expiry.
	autoRenew bool
}

const renewNever = time.Duration(-1 << 62)

// personas cover the renewals that matter: before the expiry (the period is
// extended from its end), in the grace minute (from now, the key kept),
// after the revocation (a new period and a new key), and none.
var personas = []persona{
	{kind: shop.KindTrial, renew: renewNever},
	{kind: shop.KindTrial, renew: -40 * time.Second, how: PayWebhook},
	{kind: shop.KindPaid, renew: 20 * time.Second, how: PayStars},
	{kind: shop.KindPaid, renew: localstack.DemoGrace + 45*time.Second, how: PayPoll},
	{kind: shop.KindPaid, renew: renewNever},
	{kind: shop.KindTrial, renew: 25 * time.Second, how: PayPoll},
	{kind: shop.KindPaid, renew: -30 * time.Second, how: PayWebhook},
	{kind: shop.KindTrial, renew: localstack.DemoGrace + 40*time.Second, how: PayStars},
	{kind: shop.KindPaid, renew: renewNever, autoRenew: true},
	{kind: shop.KindTrial, renew: renewNever, autoRenew: true},
}

// The customers' periods expire between these shares of the drive.
const (
	customerFirst = 0.2
	customerLast  = 0.7
)

// customer is an existing customer whose period expires at expires: they
// /start, their period is seeded as if they had it for a while, and they
// renew as their persona does.
func (u *user) customer(ctx context.Context, p persona, expires time.Time) {
	if !u.start(ctx) {
		return
	}
	if err := u.seedPeriod(ctx, p.kind, expires); err != nil {
		u.log.Error().Err(err).Int64("user_id", u.id).Msg("seeding the customer's period")
		u.j.miss("a seeded period")
		return
	}
	if p.autoRenew {
		if err := u.seedAutoRenew(ctx, expires); err != nil {
			u.log.Error().Err(err).Int64("user_id", u.id).Msg("seeding the customer's auto-renewal")
			u.j.miss("a seeded auto-renewal")
			return
		}
	}
	if p.renew == renewNever {
		for u.think(ctx) {
			if u.rng.IntN(3) == 0 {
				u.subscription(ctx)
			}
		}
		return
	}
	if sleepUntil(ctx, expires.Add(p.renew)) {
		u.buy(ctx, p.how)
	}
}

// seedPeriod gives the user a period of kind that expires at expires, made by the
// shop as it would have been made then: a trial taken, or the demo plan
// bought with Stars and confirmed, DemoTrial or DemoPlanDuration ago.
func (u *user) seedPeriod(ctx context.Context, kind string, expires time.Time) error {
	length := localstack.DemoTrial
	if kind == shop.KindPaid {
		length = localstack.DemoPlanDuration
	}
	then := expires.Add(-length)
	sh := shop.New(u.pool, shop.Config{TrialDuration: localstack.DemoTrial, NowFunc: func() time.Time { return then }})
	if kind == shop.KindTrial {
		_, err := sh.StartTrial(ctx, u.id)
		return err
	}
	inv, err := sh.CreateOrderOnce(ctx, "soak-seed:"+strconv.FormatInt(u.id, 10), u.id, localstack.DemoPlanID, shop.ProviderStars)
	if err != nil {
		return err
	}
	if _, _, err := sh.ApplyPayment(ctx, inv.ID, ""); err != nil {
		return err
	}
	u.j.paid(Payment{User: u.id, Provider: shop.ProviderStars, How: PaySeeded, External: strconv.FormatInt(inv.ID, 10), At: then})
	return sh.MarkAnnounced(ctx, inv.ID)
}

// seedAutoRenew gives the user a balance of topUpStars, topped up with
// Stars when their period began, and auto-renewal of the demo plan.
func (u *user) seedAutoRenew(ctx context.Context, expires time.Time) error {
	then := expires.Add(-localstack.DemoPlanDuration)
	sh := shop.New(u.pool, shop.Config{NowFunc: func() time.Time { return then }})
	id := strconv.FormatInt(u.id, 10)
	inv, err := sh.CreateStarsTopUpOnce(ctx, "soak-seed-topup:"+id, u.id, topUpStars)
	if err != nil {
		return err
	}
	if _, _, err := sh.ApplyPayment(ctx, inv.ID, "soak-seed-topup-"+id); err != nil {
		return err
	}
	u.j.paid(Payment{User: u.id, Provider: shop.ProviderStars, How: PaySeeded, External: strconv.FormatInt(inv.ID, 10), At: then, TopUp: topUpStars})
	if err := sh.MarkAnnounced(ctx, inv.ID); err != nil {
		return err
	}
	_, err = sh.SetAutoRenew(ctx, u.id, true, localstack.DemoPlanID)
	return err
}

// admin is the bot's admin: /start, then a broadcast to everyone at even
// times of the drive, sent from its preview, and /stats; and between them
// the actions on users' cards of steps, each at its share of the drive.
func (u *user) admin(ctx context.Context, start time.Time, length time.Duration, steps []adminStep) {
	if !u.start(ctx) {
		return
	}
	u.say(ctx, fmt.Sprintf("/promo new %s credit 0.50 limit %d", soakPromo, soakPromoLimit))
	for k := 1; k <= broadcasts; k++ {
		share := float64(k) / (broadcasts + 1)
		steps = append(steps, adminStep{share, func(ctx context.Context, u *user) {
			after := u.newest()
			u.say(ctx, fmt.Sprintf("/broadcast all Soak notice #%d (seed %d): the VPN keeps working.", k, u.seed))
			u.sendBroadcast(ctx, after)
			u.say(ctx, "/stats")
		}})
	}
	slices.SortStableFunc(steps, func(a, b adminStep) int { return cmp.Compare(a.at, b.at) })
	for _, s := range steps {
		if !sleepUntil(ctx, start.Add(time.Duration(float64(length)*s.at))) {
			return
		}
		s.do(ctx, u)
	}
}

// sendBroadcast presses Send under the preview of the admin's broadcast:
// the bot's first message after after that offers it.
func (u *user) sendBroadcast(ctx context.Context, after int64) {
	summary, ok := u.await(ctx, "a broadcast's preview", func(m sandboxtg.Message) bool {
		return m.ID > after && broadcastSendData(m) != ""
	})
	if !ok {
		return
	}
	u.screen = summary
	// The preview, before the summary: the bot-handler's copy of what the
	// sender will send the admin too.
	for _, m := range u.st.Sandbox.Messages(u.id) {
		if m.ID > after && m.ID < summary.ID && m.ReplyTo == 0 {
			u.j.preview(m.ID)
		}
	}
	u.press(ctx, broadcastSendData(summary), "the broadcast's status", nil)
}

// broadcastSendData is the data of a message's Send button, or "".
func broadcastSendData(m sandboxtg.Message) string {
	for _, row := range m.Buttons {
		for _, b := range row {
			if action, _, _ := botui.ParseCallback(b.Data); action == botui.ActionBroadcastSend {
				return b.Data
			}
		}
	}
	return ""
}

// think pauses between actions; false once the drive is over.
func (u *user) think(ctx context.Context) bool {
	return sleepUntil(ctx, time.Now().Add(thinkMin+randDur(u.rng, thinkMax-thinkMin)))
}

// react is the pause before a press; false once the drive is over.
func (u *user) react(ctx context.Context) bool {
	return sleepUntil(ctx, time.Now().Add(reactMin+randDur(u.rng, reactMax-reactMin)))
}

// payHow picks how a newcomer pays.
func (u *user) payHow() string {
	switch n := u.rng.IntN(10); {
	case n < 4:
		return PayWebhook
	case n < 6:
		return PayPoll
	case n < 8:
		return PayStars
	}
	return PayMiniApp
}

// start sends /start and takes the bot's welcome as the screen.
func (u *user) start(ctx context.Context) bool { return u.startWith(ctx, "/start") }

// startWith is start with the command text, which may carry a deep link's
// parameter.
func (u *user) startWith(ctx context.Context, command string) bool {
	after := u.newest()
	u.send(ctx, command)
	m, ok := u.await(ctx, "the welcome", func(m sandboxtg.Message) bool {
		return m.ID > after && m.ReplyTo != 0 && m.HasButton(botui.ActionSubscription)
	})
	if ok {
		u.screen = m
	}
	return ok
}

// say writes text and waits for the bot's reply to it.
func (u *user) say(ctx context.Context, text string) {
	after := u.newest()
	u.send(ctx, text)
	u.await(ctx, "a reply to "+text, func(m sandboxtg.Message) bool { return m.ID > after && m.ReplyTo != 0 })
}

// menu brings the main menu onto the screen: by its button, else /start.
func (u *user) menu(ctx context.Context) bool {
	if u.screen.HasButton(botui.ActionMenu) {
		return u.press(ctx, botui.ActionMenu, "the menu", withButton(botui.ActionSubscription))
	}
	return u.start(ctx)
}

// subscription opens My subscription from the menu.
func (u *user) subscription(ctx context.Context) {
	if u.menu(ctx) {
		u.press(ctx, botui.ActionSubscription, "my subscription", nil)
	}
}

// buy buys the demo plan from the menu and pays as how says; in the Mini
// App, from its Plans instead.
func (u *user) buy(ctx context.Context, how string) {
	if how == PayMiniApp {
		u.payInApp(ctx)
		return
	}
	demo := func(action string) string { return botui.Callback(action, localstack.DemoPlanID) }
	if !u.menu(ctx) ||
		!u.press(ctx, botui.ActionPlans, "the plans", withButton(demo(botui.ActionPlan))) ||
		!u.press(ctx, demo(botui.ActionPlan), "the ways to pay", withButton(demo(botui.ActionPayStars))) {
		return
	}
	u.bought = time.Now()
	if how == PayStars {
		u.payStars(ctx, demo(botui.ActionPayStars))
		return
	}
	if !u.press(ctx, demo(botui.ActionPayCrypto), "a Crypto Pay link", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" }) {
		return
	}
	link := u.screen.ButtonURL()
	var invoiceID int64
	for _, inv := range u.st.CryptoPay.Invoices() {
		if inv.BotInvoiceURL == link {
			invoiceID = inv.InvoiceID
		}
	}
	if invoiceID == 0 {
		u.j.miss("the Crypto Pay invoice of a pay link")
		return
	}
	if !u.react(ctx) {
		return
	}
	if err := u.payCrypto(ctx, how, link, invoiceID); err != nil {
		u.log.Warn().Err(err).Int64("user_id", u.id).Msg("paying on Crypto Pay")
		u.j.miss("paying on Crypto Pay")
		return
	}
	u.j.paid(Payment{User: u.id, Provider: shop.ProviderCryptoPay, How: how, External: strconv.FormatInt(invoiceID, 10), At: time.Now()})
}

// payCrypto pays a Crypto Pay invoice: on its pay page, as a payer's
// browser does, or with its webhook lost.
func (u *user) payCrypto(ctx context.Context, how, link string, invoiceID int64) error {
	if how == PayPoll {
		_, err := u.st.CryptoPay.MarkPaidUnannounced(invoiceID)
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := u.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", link, resp.Status)
	}
	return nil
}

// payStars presses Stars, waits for the invoice and pays it in the chat.
func (u *user) payStars(ctx context.Context, data string) {
	if !u.react(ctx) {
		return
	}
	after := u.newest()
	u.pressOnly(data)
	inv, ok := u.await(ctx, "a Stars invoice", func(m sandboxtg.Message) bool { return m.ID > after && m.Invoice != nil })
	if !ok || !u.react(ctx) {
		return
	}
	u.payInvoice(inv, 0)
}

// topUp tops the balance up by topUpStars with /topup and pays the invoice
// in the chat.
func (u *user) topUp(ctx context.Context) {
	after := u.newest()
	u.send(ctx, fmt.Sprintf("/topup %d stars", topUpStars))
	inv, ok := u.await(ctx, "a Stars top-up invoice", func(m sandboxtg.Message) bool { return m.ID > after && m.Invoice != nil })
	if !ok || !u.react(ctx) {
		return
	}
	u.payInvoice(inv, topUpStars)
}

// buyFromBalance buys the demo plan from the balance in stars, when the
// plan's screen offers it (the balance covers its price).
func (u *user) buyFromBalance(ctx context.Context) {
	demo := func(action string) string { return botui.Callback(action, localstack.DemoPlanID) }
	if !u.menu(ctx) ||
		!u.press(ctx, botui.ActionPlans, "the plans", withButton(demo(botui.ActionPlan))) ||
		!u.press(ctx, demo(botui.ActionPlan), "the ways to pay", withButton(demo(botui.ActionPayStars))) ||
		!u.screen.HasButton(demo(botui.ActionPayBalanceXTR)) {
		return
	}
	if u.press(ctx, demo(botui.ActionPayBalanceXTR), "the purchase from the balance", nil) {
		u.bought = time.Now()
	}
}

// autoRenew turns auto-renewal on from My subscription, where the user's
// period offers it.
func (u *user) autoRenew(ctx context.Context) {
	if !u.menu(ctx) || !u.press(ctx, botui.ActionSubscription, "my subscription", nil) ||
		!u.screen.HasButton(botui.ActionAutoRenewOn) {
		return
	}
	u.press(ctx, botui.ActionAutoRenewOn, "auto-renewal turned on", withButton(botui.ActionAutoRenewOff))
}

// payInvoice pays the Stars invoice message inv in the chat: a plan's, or
// a top-up of topUp stars.
func (u *user) payInvoice(inv sandboxtg.Message, topUp int64) {
	r, err := u.st.Sandbox.PayInvoice(u.id, inv.ID)
	if err != nil {
		u.log.Warn().Err(err).Int64("user_id", u.id).Msg("paying with Stars")
		u.j.miss("paying a Stars invoice")
		return
	}
	u.checkedOut(r, inv.Invoice.Payload, "a Stars checkout", PayStars, topUp)
}

// checkedOut journals the checkout of a Stars payment, of the invoice
// what, and its outcome: paid (How how, a top-up of topUp stars or a
// plan), or a miss of the checkout kind named.
func (u *user) checkedOut(r sandboxtg.PaymentResult, what, kind, how string, topUp int64) {
	u.j.update(SentUpdate{ID: r.CheckoutUpdateID, Chat: u.id, Kind: UpdateCheckout, What: what, At: time.Now()})
	switch {
	case r.TimedOut:
		// Telegram cancels a checkout whose pre-checkout query is not
		// answered within 10 s, charging nothing: the user tries again.
		u.j.miss(kind + " the bot answered in time (cancelled, nothing charged)")
		return
	case !r.Accepted:
		u.j.miss(kind + " the bot accepted (refused: " + r.ErrorMessage + ")")
		return
	}
	u.j.paid(Payment{User: u.id, Provider: shop.ProviderStars, How: how, External: r.ChargeID, At: time.Now(), TopUp: topUp})
}

// press reads the screen, presses its button with data and waits for the
// screen to change into what ok accepts (nil: any change). The bot edits
// the screen in place; it would send it anew only if the edit failed, which
// the soak's screens never do (and a new message could be one of the
// sender's, whose buttons the users leave alone).
func (u *user) press(ctx context.Context, data, what string, ok func(sandboxtg.Message) bool) bool {
	if !u.screen.HasButton(data) {
		u.j.miss("a button " + data + " on the screen")
		return false
	}
	if ok == nil {
		ok = func(sandboxtg.Message) bool { return true }
	}
	if !u.react(ctx) {
		return false
	}
	screen := u.screen
	u.pressOnly(data)
	m, found := u.await(ctx, what, func(m sandboxtg.Message) bool {
		return m.ID == screen.ID && m.Edits > screen.Edits && ok(m)
	})
	if found {
		u.screen = m
	}
	return found
}

// pressOnly presses the screen's button with data.
func (u *user) pressOnly(data string) {
	id := u.st.Sandbox.PressButton(u.id, u.screen.ID, data)
	u.j.update(SentUpdate{ID: id, Chat: u.id, Kind: UpdateCallback, What: data, At: time.Now()})
}

// send writes text in the chat.
func (u *user) send(ctx context.Context, text string) {
	if ctx.Err() != nil {
		return
	}
	id := u.st.Sandbox.SendText(u.id, text)
	u.j.update(SentUpdate{ID: id, Chat: u.id, Kind: UpdateMessage, What: text, At: time.Now()})
}

// newest is the id of the newest message of the bot in the chat.
func (u *user) newest() int64 {
	msgs := u.st.Sandbox.Messages(u.id)
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].ID
}

// await waits up to screenWait for a message of the bot that ok accepts and
// returns the newest such; a wait in vain is noted as what was missed.
func (u *user) await(ctx context.Context, what string, ok func(sandboxtg.Message) bool) (sandboxtg.Message, bool) {
	deadline := time.Now().Add(screenWait)
	for {
		msgs := u.st.Sandbox.Messages(u.id)
		for i := len(msgs) - 1; i >= 0; i-- {
			if ok(msgs[i]) {
				return msgs[i], true
			}
		}
		if time.Now().After(deadline) {
			u.j.miss(what)
			return sandboxtg.Message{}, false
		}
		if !sleepUntil(ctx, time.Now().Add(pollEvery)) {
			return sandboxtg.Message{}, false
		}
	}
}

func withButton(data string) func(sandboxtg.Message) bool {
	return func(m sandboxtg.Message) bool { return m.HasButton(data) }
}
