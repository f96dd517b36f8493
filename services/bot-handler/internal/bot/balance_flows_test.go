package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/notify"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

const cryptoPayToken = "1234:CRYPTO-balance"

// balanceEnv is relinkEnv's world with a bot that, with cryptoPay, takes
// payments in Crypto Pay's sandbox too.
type balanceEnv struct {
	*relinkEnv
	cp     *sandboxcp.Server
	client *telegram.Client
	seq    int
}

func newBalanceEnv(t *testing.T, cryptoPay bool) *balanceEnv {
	t.Helper()
	e := &balanceEnv{relinkEnv: newRelinkEnv(t)}
	cfg := bot.Config{Users: e.users, Shop: e.shop, Activations: bot.StreamActivations{JS: e.js}, Log: zerolog.Nop()}
	if cryptoPay {
		e.cp = sandboxcp.New(sandboxcp.Config{Token: cryptoPayToken, Log: zerolog.Nop()})
		require.NoError(t, e.cp.Start("127.0.0.1:0"))
		t.Cleanup(e.cp.Close)
		transport := &http.Transport{}
		t.Cleanup(transport.CloseIdleConnections)
		cp, err := cryptopay.New(cryptopay.Config{BaseURL: e.cp.URL(), Token: cryptoPayToken, HTTPClient: &http.Client{Transport: transport}})
		require.NoError(t, err)
		cfg.CryptoPay, cfg.CryptoAssets = cp, []string{"USDT", "TON"}
	}
	var err error
	e.client, err = telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: relinkToken})
	require.NoError(t, err)
	t.Cleanup(e.client.Close)
	cfg.Client = e.client
	e.bot, err = bot.New(e.ctx, cfg)
	require.NoError(t, err)
	return e
}

// user is a user who started the bot in lang and has nothing yet.
func (e *balanceEnv) user(id int64, lang string) {
	e.t.Helper()
	_, err := e.users.UpsertStartingUser(e.ctx, store.StartingUser{ID: id, ChatID: id, FirstName: "Alice", LanguageCode: lang, Language: lang})
	require.NoError(e.t, err)
	e.sb.SetUser(sandboxtg.User{ID: id, FirstName: "Alice", LanguageCode: lang})
}

// credit tops the user's balance up by amount, paid, as the payment-watcher
// or a Stars payment would.
func (e *balanceEnv) credit(user int64, currency string, amount int64) {
	e.t.Helper()
	e.seq++
	var inv shop.Invoice
	var err error
	if currency == shop.CurrencyXTR {
		inv, err = e.shop.CreateStarsTopUpOnce(e.ctx, fmt.Sprintf("credit-%d", e.seq), user, amount)
	} else {
		inv, err = e.shop.CryptoPayTopUp(e.ctx, user, amount, func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
			return fmt.Sprintf("credit-%d", e.seq), "https://pay.example.com", nil
		})
	}
	require.NoError(e.t, err)
	charge := ""
	if currency == shop.CurrencyXTR {
		charge = fmt.Sprintf("charge-%d", e.seq)
	}
	_, applied, err := e.shop.ApplyPayment(e.ctx, inv.ID, charge)
	require.NoError(e.t, err)
	require.True(e.t, applied)
}

// balance is the user's balance in currency.
func (e *balanceEnv) balance(user int64, currency string) int64 {
	e.t.Helper()
	b, err := e.shop.Balance(e.ctx, user, currency)
	require.NoError(e.t, err)
	return b
}

// balances are the user's balances, as the screens read them.
func (e *balanceEnv) balances(user int64) []shop.Balance {
	e.t.Helper()
	bs, err := e.shop.Balances(e.ctx, user)
	require.NoError(e.t, err)
	return bs
}

// view is the balance screen's view with the default limits.
func (e *balanceEnv) view(user int64) bot.BalanceView {
	return bot.BalanceView{Balances: e.balances(user), CryptoPay: e.cp != nil, USD: shop.DefaultTopUpUSD, XTR: shop.DefaultTopUpXTR}
}

// command makes user send text and has the bot handle it; it returns the
// bot's reply, the chat's last message.
func (e *balanceEnv) command(user int64, text string) sandboxtg.Message {
	e.t.Helper()
	e.process(e.sb.SendText(user, text))
	return e.last(user)
}

// last is the chat's last message.
func (e *balanceEnv) last(user int64) sandboxtg.Message {
	e.t.Helper()
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs)
	return msgs[len(msgs)-1]
}

// count is the number a count(*) query reads.
func (e *balanceEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

// wakeUpsOf are the activation requests of user.
func (e *balanceEnv) wakeUpsOf(user int64) int {
	e.t.Helper()
	n := 0
	for _, w := range e.wakeUps() {
		if w.GetUserId() == user {
			n++
		}
	}
	return n
}

// updatesFrom takes the updates the sandbox holds from update offset on
// (negative: the last ones), as getUpdates returns them.
func (e *balanceEnv) updatesFrom(offset int64) []tele.Update {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"offset": offset, "limit": 100})
	require.NoError(e.t, err)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Post(e.sb.URL()+"/bot"+relinkToken+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var got struct {
		Result []tele.Update `json:"result"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&got))
	return got.Result
}

// pay makes user pay the Stars invoice message msg: the bot answers the
// pre-checkout query while the payment waits, then handles the
// successful_payment. It returns how the payment ended.
func (e *balanceEnv) pay(user, msg int64) sandboxtg.PaymentResult {
	e.t.Helper()
	var last int64
	for _, u := range e.updatesFrom(-1) {
		last = int64(u.ID)
	}
	type result struct {
		r   sandboxtg.PaymentResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.sb.PayInvoice(user, msg)
		done <- result{r, err}
	}()
	for answered := false; !answered; {
		for _, u := range e.updatesFrom(last + 1) {
			if u.PreCheckoutQuery != nil {
				_, err := e.bot.Process(e.ctx, u)
				require.NoError(e.t, err)
				answered = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := <-done
	require.NoError(e.t, r.err)
	if r.r.Accepted {
		e.process(r.r.UpdateID)
	}
	return r.r
}

// invoices are the chat's Stars invoices, oldest first.
func (e *balanceEnv) invoices(user int64) []sandboxtg.Message {
	e.t.Helper()
	var out []sandboxtg.Message
	for _, m := range e.sb.Messages(user) {
		if m.Invoice != nil {
			out = append(out, m)
		}
	}
	return out
}

// The balance is one press from the menu and from My subscription, which
// shows it in a line; My payments lists what the user paid, topped up and
// bought, newest first; the Balance button under a worker's top-up notice
// opens the balance below it.
func TestTheBalanceAndMyPayments(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, true)
	plans, err := e.shop.Plans(e.ctx)
	require.NoError(t, err)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(6001 + i)
		e.user(user, lang)
		menu := e.menu(user)
		require.True(t, menu.HasButton(botui.ActionBalance), "%s: the menu has the balance", lang)

		e.press(user, menu.ID, botui.ActionBalance)
		e.requireShows(e.message(user, menu.ID), bot.BalanceScreen(lang, e.view(user)), "%s: an empty balance", lang)
		e.press(user, menu.ID, botui.ActionHistory)
		e.requireShows(e.message(user, menu.ID), bot.HistoryScreen(lang, nil, nil, plans), "%s: no payments yet", lang)

		e.credit(user, shop.CurrencyUSD, 1000)
		e.credit(user, shop.CurrencyXTR, 300)
		_, _, err := e.shop.BuyFromBalance(e.ctx, fmt.Sprintf("purchase:test-%d", user), user, "m1", shop.CurrencyUSD)
		require.NoError(t, err)
		require.Equal(t, []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 501}, {Currency: shop.CurrencyXTR, Amount: 300}}, e.balances(user))

		e.press(user, menu.ID, botui.ActionBalance)
		m := e.message(user, menu.ID)
		e.requireShows(m, bot.BalanceScreen(lang, e.view(user)), "%s: the balance", lang)
		require.Contains(t, m.Text, "$5.01 · 300 ⭐", lang)
		e.press(user, menu.ID, botui.ActionHistory)
		history, err := e.shop.History(e.ctx, user, 10)
		require.NoError(t, err)
		require.Len(t, history, 3)
		orders, err := e.shop.Orders(e.ctx, user, 5)
		require.NoError(t, err)
		m = e.message(user, menu.ID)
		e.requireShows(m, bot.HistoryScreen(lang, history, orders, plans), "%s: the payments", lang)
		for _, want := range []string{"$10.00", "300 ⭐", "$4.99", textsOf(lang, "1 month", "1 месяц")} {
			require.Contains(t, m.Text, want, lang)
		}

		sub := e.subscriptionScreen(user)
		live, err := e.shop.ActiveSubscription(e.ctx, user)
		require.NoError(t, err)
		e.requireShows(sub, bot.SubscriptionScreen(lang, bot.SubscriptionView{Sub: live, Now: time.Now(), Balances: e.balances(user)}),
			"%s: My subscription with the balance", lang)
		require.Contains(t, sub.Text, "$5.01 · 300 ⭐", lang)
		require.True(t, sub.HasButton(botui.ActionHistory), "%s: My payments from My subscription", lang)

		// A worker's notice of a top-up: its buttons open the balance and
		// the menu below it, and it stays.
		notice := deliver(t, e.sb, e.client, notify.TopUpReceived(lang, user, 99, shop.CurrencyXTR, 300, 300))
		opens := []bot.Screen{bot.BalanceScreen(lang, e.view(user)), bot.MenuScreen(lang, "")}
		require.Len(t, notice.Buttons, len(opens), lang)
		for j, want := range opens {
			before := len(e.sb.Messages(user))
			e.press(user, notice.ID, notice.Buttons[j][0].Data)
			require.Len(t, e.sb.Messages(user), before+1, "%s: one screen below the notice", lang)
			e.requireShows(e.last(user), want, "%s: the notice's button %d", lang, j)
			require.Equal(t, notice, e.message(user, notice.ID), "%s: the notice stays as it was", lang)
		}
	}
}

func textsOf(lang, en, ru string) string { return botui.Pick(lang, en, ru) }

// Crypto Pay top-ups: a preset button or /topup shows the link of the
// user's order of that amount, one invoice per amount however often asked,
// naming the order as the payment-watcher expects; an amount outside the
// limits, or that cannot be read, is told how it must be; without Crypto
// Pay, dollars are refused and stars offered.
func TestTopUpWithCryptoPay(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, true)
	const user = 6101
	lang := botui.Russian
	e.user(user, lang)
	menu := e.menu(user)
	e.press(user, menu.ID, botui.ActionBalance)
	require.True(t, e.message(user, menu.ID).HasButton(botui.Callback(botui.ActionTopUpCrypto, "1000")))

	order := func(cents int64) shop.Invoice {
		t.Helper()
		var id int64
		require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT id FROM invoices
			WHERE user_id = $1 AND purpose = 'topup' AND provider = 'cryptopay' AND price_usd * 100 = $2`, user, cents).Scan(&id))
		inv, err := e.shop.Invoice(e.ctx, id)
		require.NoError(t, err)
		return inv
	}
	for range 3 {
		e.press(user, menu.ID, botui.Callback(botui.ActionTopUpCrypto, "1000"))
		e.requireShows(e.message(user, menu.ID), bot.TopUpCryptoScreen(lang, order(1000)), "the order's link")
	}
	invoices := e.cp.Invoices()
	require.Len(t, invoices, 1, "one Crypto Pay invoice for every press")
	require.Equal(t, "10.00", invoices[0].Amount)
	require.Equal(t, shop.StarsPayload(order(1000).ID), invoices[0].Payload, "the payload names the order, as the payment-watcher checks")
	require.Equal(t, invoices[0].BotInvoiceURL, e.message(user, menu.ID).ButtonURL())

	reply := e.command(user, "/topup 12,5")
	e.requireShows(reply, bot.TopUpCryptoScreen(lang, order(1250)), "/topup in dollars")
	require.NotZero(t, reply.ReplyTo, "a command is answered as a reply")
	require.Len(t, e.cp.Invoices(), 2)
	e.requireShows(e.command(user, "/topup $12.50"), bot.TopUpCryptoScreen(lang, order(1250)), "the same amount, the same order")
	require.Len(t, e.cp.Invoices(), 2)

	e.requireShows(e.command(user, "/topup 1000.01"), bot.TopUpOutOfRangeScreen(lang, shop.CurrencyUSD, 100_001, shop.DefaultTopUpUSD))
	e.requireShows(e.command(user, "/topup 10 stars"), bot.TopUpOutOfRangeScreen(lang, shop.CurrencyXTR, 10, shop.DefaultTopUpXTR))
	e.requireShows(e.command(user, "/topup"), bot.TopUpUsageScreen(lang, e.view(user)))
	e.requireShows(e.command(user, "/topup лимон"), bot.TopUpUsageScreen(lang, e.view(user)))
	e.press(user, menu.ID, botui.Callback(botui.ActionTopUpCrypto, "50"))
	e.requireShows(e.message(user, menu.ID), bot.TopUpOutOfRangeScreen(lang, shop.CurrencyUSD, 50, shop.DefaultTopUpUSD),
		"a forged button's amount is held to the limits")
	require.Len(t, e.cp.Invoices(), 2)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1`, user), "refused amounts ordered nothing")

	// Stars only.
	s := newBalanceEnv(t, false)
	s.user(user, botui.English)
	smenu := s.menu(user)
	s.press(user, smenu.ID, botui.ActionBalance)
	m := s.message(user, smenu.ID)
	s.requireShows(m, bot.BalanceScreen(botui.English, s.view(user)))
	require.False(t, m.HasButton(botui.Callback(botui.ActionTopUpCrypto, "500")), "no dollars without Crypto Pay")
	require.True(t, m.HasButton(botui.Callback(botui.ActionTopUpStars, "500")))
	s.requireShows(s.command(user, "/topup 12.50"), bot.TopUpCryptoOffScreen(botui.English, shop.DefaultTopUpXTR))
	require.Zero(t, s.count(`SELECT count(*) FROM invoices`))
}

// Stars top-ups: a preset button or /topup sends the Stars invoice of the
// request's order; paid, it adds its stars to the balance once, however
// often Telegram delivers the payment or the request is retried, is
// confirmed with the balance, and wakes no activation.
func TestTopUpWithStars(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, true)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(6201 + i)
		e.user(user, lang)
		menu := e.menu(user)
		e.press(user, menu.ID, botui.ActionBalance)
		e.press(user, menu.ID, botui.Callback(botui.ActionTopUpStars, "250"))
		e.requireShows(e.message(user, menu.ID), bot.TopUpStarsSentScreen(lang), "%s: the invoice is below", lang)
		invs := e.invoices(user)
		require.Len(t, invs, 1, lang)
		inv := invs[0].Invoice
		title, description := bot.StarsTopUpInvoice(lang, 250)
		require.Equal(t, [3]string{title, description, "XTR"}, [3]string{inv.Title, inv.Description, inv.Currency}, lang)
		require.Equal(t, int64(250), inv.Total, lang)
		var orderID int64
		require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT id FROM invoices WHERE user_id = $1 AND purpose = 'topup'`, user).Scan(&orderID))
		require.Equal(t, shop.StarsPayload(orderID), inv.Payload, lang)

		paid := e.pay(user, invs[0].ID)
		require.True(t, paid.Accepted, "%s: %+v", lang, paid)
		e.requireShows(e.last(user), bot.TopUpReceivedScreen(lang, shop.CurrencyXTR, 250, 250), "%s: confirmed with the balance", lang)
		require.Equal(t, int64(250), e.balance(user, shop.CurrencyXTR), lang)

		// Telegram delivering the payment again: neither applied nor told again.
		before := len(e.sb.Messages(user))
		again, err := e.sb.ResendSuccessfulPayment(user, paid.ChargeID)
		require.NoError(t, err)
		e.process(again)
		require.Len(t, e.sb.Messages(user), before, lang)
		require.Equal(t, int64(250), e.balance(user, shop.CurrencyXTR), lang)

		// /topup, its update handled twice (a retry after the reply
		// failed): one order, its invoice sent twice, paid once.
		id := e.sb.SendText(user, "/topup 300 ⭐")
		e.process(id)
		e.process(id)
		invs = e.invoices(user)
		require.Len(t, invs, 3, lang)
		require.Equal(t, invs[1].Invoice.Payload, invs[2].Invoice.Payload, "%s: the retry sends the same order", lang)
		require.Equal(t, int64(300), invs[2].Invoice.Total, lang)
		require.True(t, e.pay(user, invs[2].ID).Accepted, lang)
		e.requireShows(e.last(user), bot.TopUpReceivedScreen(lang, shop.CurrencyXTR, 300, 550), lang)
		refused := e.pay(user, invs[1].ID)
		require.False(t, refused.Accepted, "%s: the order is paid; its other invoice is refused", lang)
		require.Equal(t, int64(550), e.balance(user, shop.CurrencyXTR), lang)

		require.Equal(t, 2, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1`, user), lang)
		require.Equal(t, 2, e.count(`SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'topup'`, user), lang)
		require.Zero(t, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1 AND announced_at IS NULL AND status = 'paid'`, user),
			"%s: both told", lang)
		require.Zero(t, e.count(`SELECT count(*) FROM subscriptions WHERE user_id = $1`, user), "%s: a top-up buys no period", lang)
		require.Zero(t, e.wakeUpsOf(user), "%s: and wakes nobody", lang)
	}
}

// A plan paid from the balance: the plan offers it while the balance
// covers the price; each press buys once, however many replicas handle it
// at once and however often it is retried, extends the period by the
// plan's length, wakes the activation worker and shows the new expiry;
// once the balance falls short, the press is refused with a way to top up,
// and nothing changes.
func TestPayFromTheBalanceOncePerPress(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, true)
	m1, err := e.shop.Plan(e.ctx, "m1")
	require.NoError(t, err)
	const month = 30 * 24 * time.Hour
	for i, c := range []struct {
		lang, currency string
		credit, price  int64
		action         string
	}{
		{botui.English, shop.CurrencyUSD, 1500, 499, botui.ActionPayBalanceUSD},
		{botui.Russian, shop.CurrencyXTR, 800, 250, botui.ActionPayBalanceXTR},
	} {
		user := int64(6301 + i)
		e.user(user, c.lang)
		e.credit(user, c.currency, c.credit)
		menu := e.menu(user)
		data := botui.Callback(c.action, m1.ID)

		var expires time.Time
		for k := int64(1); k <= 3; k++ {
			e.press(user, menu.ID, botui.Callback(botui.ActionPlan, m1.ID))
			plan := e.message(user, menu.ID)
			e.requireShows(plan, bot.PlanWithBalanceScreen(c.lang, m1, true, e.balances(user)), "%s: purchase %d offered", c.lang, k)
			require.True(t, plan.HasButton(data), "%s: purchase %d offered", c.lang, k)

			// The press handled by three replicas at once, then retried.
			id := e.sb.PressButton(user, menu.ID, data)
			update := nextUpdate(t, e.sb, relinkToken, id)
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for r := range errs {
				wg.Go(func() { _, errs[r] = e.bot.Process(e.ctx, update) })
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			e.process(id)

			require.Equal(t, c.credit-k*c.price, e.balance(user, c.currency), "%s: purchase %d paid once", c.lang, k)
			require.Equal(t, int(k), e.count(`SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'purchase'`, user), c.lang)
			var key string
			require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT op_key FROM ledger WHERE user_id = $1 AND kind = 'purchase'
				ORDER BY id DESC LIMIT 1`, user).Scan(&key))
			require.True(t, strings.HasPrefix(key, "purchase:callback:"), "%s: the press's key: %s", c.lang, key)
			buy, applied, err := e.shop.BuyFromBalance(e.ctx, key, user, m1.ID, c.currency)
			require.NoError(t, err)
			require.False(t, applied)
			if k == 1 {
				require.Equal(t, buy.Entry.CreatedAt.Add(month), buy.Sub.ExpiresAt, "%s: a new period of a month", c.lang)
			} else {
				require.Equal(t, expires.Add(month), buy.Sub.ExpiresAt, "%s: extended by a month, once", c.lang)
			}
			expires = buy.Sub.ExpiresAt
			e.requireShows(e.message(user, menu.ID), bot.PaidFromBalanceScreen(c.lang, m1, buy, e.balances(user)),
				"%s: purchase %d shows the new expiry", c.lang, k)
			require.Equal(t, int(k), e.wakeUpsOf(user), "%s: one wake-up per purchase", c.lang)
		}

		// Short of the price now: no offer, and a press of an old button is refused.
		left := c.credit - 3*c.price
		e.press(user, menu.ID, botui.Callback(botui.ActionPlan, m1.ID))
		require.False(t, e.message(user, menu.ID).HasButton(data), "%s: %d left does not cover %d", c.lang, left, c.price)
		e.press(user, menu.ID, data)
		refused := e.message(user, menu.ID)
		e.requireShows(refused, bot.InsufficientBalanceScreen(c.lang, m1, c.currency, c.price, left), c.lang)
		require.True(t, refused.HasButton(botui.ActionBalance), "%s: a way to top up", c.lang)
		require.Equal(t, left, e.balance(user, c.currency), c.lang)
		require.Equal(t, 3, e.count(`SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'purchase'`, user), c.lang)
		sub, err := e.shop.ActiveSubscription(e.ctx, user)
		require.NoError(t, err)
		require.Equal(t, expires, sub.ExpiresAt, c.lang)
		require.Equal(t, 3, e.wakeUpsOf(user), c.lang)
	}
	require.Zero(t, e.count(`SELECT count(*) FROM balances WHERE amount < 0`))
}
