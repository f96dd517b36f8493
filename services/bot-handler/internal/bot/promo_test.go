package bot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

const (
	promoToken = "123456:TEST-promo"
	promoBot   = "promo_test_bot"
	promoAdmin = 777
)

// wakeUps records the activation requests of a bot.
type wakeUps struct {
	mu  sync.Mutex
	got []string
}

func (w *wakeUps) RequestActivation(_ context.Context, sub shop.Subscription, reason string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, reason+"@"+at.UTC().Format(time.RFC3339))
	return nil
}

func (w *wakeUps) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

// promoEnv is a bot with an admin on a fresh schema and the Telegram
// sandbox.
type promoEnv struct {
	t     *testing.T
	ctx   context.Context
	db    *pgdbtest.DB
	sb    *sandboxtg.Server
	shop  *shop.Shop
	bot   *bot.Bot
	wakes *wakeUps
}

func newPromoEnv(t *testing.T) *promoEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e := &promoEnv{t: t, ctx: ctx, db: pgdbtest.New(t), wakes: &wakeUps{}}
	e.sb = sandboxtg.New(sandboxtg.Config{Token: promoToken, BotUsername: promoBot, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, e.sb.Start("127.0.0.1:0"))
	t.Cleanup(e.sb.Close)
	e.shop = shop.New(e.db.Pool, shop.Config{})
	client, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: promoToken})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	e.bot, err = bot.New(ctx, bot.Config{
		Client: client, Users: store.New(e.db.Pool), Shop: e.shop, Activations: e.wakes,
		AdminIDs: []int64{promoAdmin}, Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	return e
}

// user is a user of the sandbox who speaks lang.
func (e *promoEnv) user(id int64, lang string) {
	e.sb.SetUser(sandboxtg.User{ID: id, FirstName: "Alice", LanguageCode: lang})
}

// say makes user send text, has the bot handle it, and returns the bot's
// last message in the chat.
func (e *promoEnv) say(user int64, text string) sandboxtg.Message {
	e.t.Helper()
	id := e.sb.SendText(user, text)
	_, err := e.bot.Process(e.ctx, nextUpdate(e.t, e.sb, promoToken, id))
	require.NoError(e.t, err, "%q", text)
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs)
	return msgs[len(msgs)-1]
}

// press makes user press the button with data under message msg and has
// the bot handle it; it returns the message as it is then.
func (e *promoEnv) press(user, msg int64, data string) sandboxtg.Message {
	e.t.Helper()
	id := e.sb.PressButton(user, msg, data)
	_, err := e.bot.Process(e.ctx, nextUpdate(e.t, e.sb, promoToken, id))
	require.NoError(e.t, err, "press of %q", data)
	for _, m := range e.sb.Messages(user) {
		if m.ID == msg {
			return m
		}
	}
	e.t.Fatalf("no message %d in chat %d", msg, user)
	return sandboxtg.Message{}
}

func (e *promoEnv) requireShows(m sandboxtg.Message, want bot.Screen, msgAndArgs ...any) {
	e.t.Helper()
	require.Equal(e.t, want.Text, m.Text, msgAndArgs...)
	require.Equal(e.t, sandboxButtons(want), m.Buttons, msgAndArgs...)
}

func (e *promoEnv) promo(code string) shop.Promo {
	e.t.Helper()
	p, err := e.shop.Promo(e.ctx, code)
	require.NoError(e.t, err)
	return p
}

// An admin makes codes with /promo, lists them and switches one off;
// whatever they get wrong is answered with how to write it. To others,
// /promo is an unknown command.
func TestAnAdminMakesListsAndSwitchesOffPromoCodes(t *testing.T) {
	t.Parallel()
	e := newPromoEnv(t)
	e.user(promoAdmin, "en")
	e.say(promoAdmin, "/start")

	e.requireShows(e.say(promoAdmin, "/promo"), bot.PromoUsageScreen(botui.English, ""))
	for text, bad := range map[string]string{
		"/promo new SAVE20 percent 120":                   "120",
		"/promo new SAVE20 percent":                       "",
		"/promo new S@VE percent 20":                      "S@VE",
		"/promo new SAVE20 half 20":                       "half",
		"/promo new SAVE20 percent 20 limit 0":            "0",
		"/promo new SAVE20 percent 20 expires 2020-01-01": "2020-01-01",
		"/promo new SAVE20 percent 20 often 3":            "often",
		"/promo delete SAVE20":                            "delete",
	} {
		e.requireShows(e.say(promoAdmin, text), bot.PromoUsageScreen(botui.English, bad), text)
	}
	_, err := e.shop.Promo(e.ctx, "SAVE20")
	require.ErrorIs(t, err, shop.ErrUnknownPromo, "nothing was made of a wrong command")

	m := e.say(promoAdmin, "/promo new save20 percent 20 limit 10 per_user 2 expires 2099-01-31 first")
	p := e.promo("SAVE20")
	require.Equal(t, shop.Promo{ID: p.ID, Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20, MaxUses: 10, PerUser: 2,
		ExpiresAt: new(time.Date(2099, time.February, 1, 0, 0, 0, 0, time.UTC)), FirstOnly: true,
		CreatedBy: promoAdmin, CreatedAt: p.CreatedAt}, p, "the code is valid through the day it expires")
	e.requireShows(m, bot.PromoCreatedScreen(botui.English, p, "https://t.me/"+promoBot+"?start=promo_SAVE20"))
	require.Contains(t, m.Plain, "used 0 of 10 · 2 per user · until 1 Feb 2099 00:00 UTC · first purchase only")

	e.requireShows(e.say(promoAdmin, "/promo new Save20 days 7"), bot.PromoExistsScreen(botui.English, p),
		"a name taken: the code that has it")
	e.say(promoAdmin, "/promo new WEEK days 7")
	e.say(promoAdmin, "/promo new CASH credit $5")
	e.say(promoAdmin, "/promo new OFF fixed 1.50 limit 100")
	require.Equal(t, int64(500), e.promo("CASH").CreditUSD)
	require.Equal(t, int64(150), e.promo("OFF").OffUSD)
	require.Equal(t, 7*24*time.Hour, e.promo("WEEK").Duration)

	off := e.say(promoAdmin, "/promo off week")
	week := e.promo("WEEK")
	require.NotNil(t, week.DisabledAt)
	e.requireShows(off, bot.PromoOffScreen(botui.English, week))
	e.requireShows(e.say(promoAdmin, "/promo off NOPE"), bot.PromoRefusedScreen(botui.English, "NOPE", shop.ErrUnknownPromo))

	list := e.say(promoAdmin, "/promo list")
	all, err := e.shop.Promos(e.ctx, 30)
	require.NoError(t, err)
	require.Len(t, all, 4)
	e.requireShows(list, bot.PromoListScreen(botui.English, all, time.Now()))
	require.Contains(t, list.Plain, "• WEEK — 7 days of access · used 0, no limit · 1 per user · off")

	// Anyone else: an unknown command, and nothing changes.
	const user = 5001
	e.user(user, "en")
	e.say(user, "/start")
	e.requireShows(e.say(user, "/promo new FREE days 365"), bot.FallbackScreen(botui.English))
	_, err = e.shop.Promo(e.ctx, "FREE")
	require.ErrorIs(t, err, shop.ErrUnknownPromo)
}

// A user sends a code as a message: a discount shows on the plans and goes
// into the order; days come at once, and the activation worker is woken; a
// code used up, or used already, is refused in the user's language; a text
// that is no code gets the fallback; a message handled twice uses a code
// once.
func TestAUserEntersACodeAsAMessage(t *testing.T) {
	t.Parallel()
	e := newPromoEnv(t)
	for _, n := range []shop.NewPromo{
		{Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20},
		{Code: "WEEK", Kind: shop.PromoDays, Duration: 7 * 24 * time.Hour, MaxUses: 1},
		{Code: "CASH", Kind: shop.PromoCredit, CreditUSD: 500},
	} {
		n.CreatedBy = promoAdmin
		_, err := e.shop.CreatePromo(e.ctx, n)
		require.NoError(t, err)
	}
	const alice, boris, stranger = 6001, 6002, 6003
	e.user(alice, "en")
	menu := e.say(alice, "/start")

	m := e.say(alice, " save20 ")
	r := shop.Redemption{Promo: e.promo("SAVE20"), UserID: alice, N: 1}
	e.requireShows(m, bot.PromoAppliedScreen(botui.English, r, false))
	require.Contains(t, m.Plain, "20% off your next order")

	plans, held, err := e.shop.PlansFor(e.ctx, alice)
	require.NoError(t, err)
	require.NotNil(t, held)
	screen := e.press(alice, menu.ID, botui.ActionPlans)
	e.requireShows(screen, bot.WithDiscount(botui.English, held, bot.PlansScreen(botui.English, plans)))
	require.Contains(t, screen.Plain, "1 month — 30 days, $3.99 or ⭐200")
	require.Contains(t, screen.Plain, "Code SAVE20: 20% off your next order")
	screen = e.press(alice, menu.ID, botui.Callback(botui.ActionPlan, "m1"))
	require.Contains(t, screen.Plain, "Price: $3.99 or ⭐200")
	e.press(alice, menu.ID, botui.Callback(botui.ActionPayStars, "m1"))
	var invoice *sandboxtg.Invoice
	for _, msg := range e.sb.Messages(alice) {
		if msg.Invoice != nil {
			invoice = msg.Invoice
		}
	}
	require.NotNil(t, invoice)
	require.EqualValues(t, 200, invoice.Total, "the order is at the discounted price")

	// Days, with the message handled twice (its reply failed, say): one
	// use, the same answer.
	id := e.sb.SendText(alice, "Week")
	u := nextUpdate(t, e.sb, promoToken, id)
	for range 2 {
		_, err := e.bot.Process(e.ctx, u)
		require.NoError(t, err)
	}
	msgs := e.sb.Messages(alice)
	first, second := msgs[len(msgs)-2], msgs[len(msgs)-1]
	sub, err := e.shop.ActiveSubscription(e.ctx, alice)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(7*24*time.Hour), sub.ExpiresAt, time.Minute)
	week := e.promo("WEEK")
	require.Equal(t, 1, week.Uses)
	want := bot.PromoAppliedScreen(botui.English, shop.Redemption{Promo: week, UserID: alice, N: 1, Sub: *sub}, false)
	e.requireShows(first, want)
	e.requireShows(second, want, "the retry shows the same use")
	require.Contains(t, first.Plain, "7 days added")
	require.Contains(t, first.Plain, "Your key is on its way")
	expiry := sub.ExpiresAt.UTC().Format(time.RFC3339)
	require.Equal(t, []string{bot.ReasonPromo + "@" + expiry, bot.ReasonPromo + "@" + expiry}, e.wakes.list(),
		"one wake-up, asked for again under the same expiry")

	e.requireShows(e.say(alice, "SAVE20"), bot.PromoRefusedScreen(botui.English, "SAVE20", shop.ErrPromoUsed))
	e.requireShows(e.say(alice, "hello"), bot.FallbackScreen(botui.English), "a word that is no code")
	e.requireShows(e.say(alice, "how do I pay?"), bot.FallbackScreen(botui.English))

	e.user(boris, "ru")
	e.say(boris, "/start")
	refused := e.say(boris, "week")
	e.requireShows(refused, bot.PromoRefusedScreen(botui.Russian, "WEEK", shop.ErrPromoUsedUp))
	require.Contains(t, refused.Plain, "Промокод WEEK закончился")
	m = e.say(boris, "cash")
	e.requireShows(m, bot.PromoAppliedScreen(botui.Russian,
		shop.Redemption{Promo: e.promo("CASH"), UserID: boris, N: 1, Balance: 500}, false))
	require.Contains(t, m.Plain, "на баланс зачислено $5.00")

	// Someone who never sent /start is asked to.
	e.user(stranger, "en")
	e.requireShows(e.say(stranger, "CASH"), bot.NeedStartScreen(botui.English))
	require.Equal(t, 1, e.promo("CASH").Uses)
}

// A deep link enters its code after the welcome; one that names no code
// says so.
func TestADeepLinkEntersItsCode(t *testing.T) {
	t.Parallel()
	e := newPromoEnv(t)
	_, err := e.shop.CreatePromo(e.ctx, shop.NewPromo{Code: "HELLO-3", Kind: shop.PromoDays, Duration: 3 * 24 * time.Hour,
		CreatedBy: promoAdmin})
	require.NoError(t, err)
	const user, other = 7001, 7002
	e.user(user, "ru")
	m := e.say(user, "/start promo_hello-3")
	msgs := e.sb.Messages(user)
	require.Len(t, msgs, 2, "the welcome, then the code")
	require.Contains(t, msgs[0].Plain, "Привет")
	sub, err := e.shop.ActiveSubscription(e.ctx, user)
	require.NoError(t, err)
	e.requireShows(m, bot.PromoAppliedScreen(botui.Russian,
		shop.Redemption{Promo: e.promo("HELLO-3"), UserID: user, N: 1, Sub: *sub}, false))
	require.Contains(t, m.Plain, "добавлено 3 дня")

	e.user(other, "en")
	e.requireShows(e.say(other, "/start promo_NOPE"), bot.PromoRefusedScreen(botui.English, "NOPE", shop.ErrUnknownPromo))
	e.say(other, "/start promo42")
	require.Len(t, e.sb.Messages(other), 3, "another start parameter is no code: the welcome alone")
}
