package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

const (
	adminToken = "123456:TEST-admincard"
	// The people of an admin test: an owner (ADMIN_IDS), an admin and a
	// support granted in the database, someone with no role, and the
	// customer they look after.
	ownerID    = 9001
	adminID    = 9002
	supportID  = 9003
	strangerID = 9004
	customerID = 9010
)

// fakeOutbox keeps what a bot queues for the sender, once per dedup id as
// JetStream does.
type fakeOutbox struct {
	mu   sync.Mutex
	msgs map[string]*vpnbotv1.SendMessage
}

func (o *fakeOutbox) PublishBatch(_ context.Context, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range msgs {
		if _, ok := o.msgs[m.DedupId]; ok {
			duplicates++
			continue
		}
		o.msgs[m.DedupId] = m
		published++
	}
	return published, duplicates, nil
}

// BroadcastFailures is none: this outbox sends nothing, so nothing fails.
func (o *fakeOutbox) BroadcastFailures(context.Context, int64) ([]int64, error) { return nil, nil }

// to are the messages queued to chat, by dedup id.
func (o *fakeOutbox) to(chat int64) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for id, m := range o.msgs {
		if m.ChatId == chat {
			out[id] = m.Text
		}
	}
	return out
}

// activationIDs records a bot's activation requests by the message id
// they are published under (events.PublishActivationRequested), so the
// same request made twice is one id.
type activationIDs struct {
	mu  sync.Mutex
	ids []string
}

func (a *activationIDs) RequestActivation(_ context.Context, sub shop.Subscription, reason string, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids = append(a.ids, fmt.Sprintf("%d:%s:%d", sub.ID, reason, at.UnixNano()))
	return nil
}

// distinct are the different requests, and how often each was made.
func (a *activationIDs) distinct() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, id := range a.ids {
		out[id]++
	}
	return out
}

// adminEnv is a bot with its owner, an admin, a support and a stranger, and
// a customer with a trial, on a fresh schema and the Telegram sandbox.
type adminEnv struct {
	t     *testing.T
	ctx   context.Context
	db    *pgdbtest.DB
	sb    *sandboxtg.Server
	shop  *shop.Shop
	bot   *bot.Bot
	wakes *activationIDs
	out   *fakeOutbox
}

func newAdminEnv(t *testing.T) *adminEnv { return newAdminEnvAt(t, time.Now) }

// newAdminEnvAt is newAdminEnv with the shop's clock now.
func newAdminEnvAt(t *testing.T, now func() time.Time) *adminEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &adminEnv{t: t, ctx: ctx, db: pgdbtest.New(t), wakes: &activationIDs{}, out: &fakeOutbox{msgs: map[string]*vpnbotv1.SendMessage{}}}
	e.sb = sandboxtg.New(sandboxtg.Config{Token: adminToken, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, e.sb.Start("127.0.0.1:0"))
	t.Cleanup(e.sb.Close)
	e.shop = shop.New(e.db.Pool, shop.Config{NowFunc: now})
	users := store.New(e.db.Pool)
	client, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: adminToken})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	e.bot, err = bot.New(ctx, bot.Config{
		Client: client, Users: users, Shop: e.shop, Activations: e.wakes, Outbox: e.out,
		AdminIDs: []int64{ownerID}, Support: "@vpn_help", Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	for _, id := range []int64{ownerID, adminID, supportID, strangerID, customerID} {
		_, err := users.UpsertStartingUser(ctx, store.StartingUser{ID: id, ChatID: id, FirstName: "U", Username: fmt.Sprintf("user%d", id),
			LanguageCode: "en", Language: botui.English})
		require.NoError(t, err)
		e.sb.SetUser(sandboxtg.User{ID: id, FirstName: "U", Username: fmt.Sprintf("user%d", id), LanguageCode: "en"})
	}
	for id, role := range map[int64]string{adminID: shop.RoleAdmin, supportID: shop.RoleSupport} {
		_, err := e.shop.SetRole(ctx, shop.Act{OpKey: fmt.Sprintf("seed:%d", id), AdminID: ownerID}, id, role)
		require.NoError(t, err)
	}
	_, err = e.shop.StartTrial(ctx, customerID)
	require.NoError(t, err)
	return e
}

// update is the update updateID as the gateway reads it.
func (e *adminEnv) update(updateID int64) tele.Update {
	e.t.Helper()
	return nextUpdate(e.t, e.sb, adminToken, updateID)
}

// processAtOnce has the bot handle the updates all at once, as replicas
// handling a double tap and its redeliveries would.
func (e *adminEnv) processAtOnce(updates ...tele.Update) {
	e.t.Helper()
	errs := make([]error, len(updates))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, u := range updates {
		wg.Go(func() {
			<-start
			_, errs[i] = e.bot.Process(e.ctx, u)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(e.t, err, "update %d", updates[i].ID)
	}
}

// say makes user send text and returns the bot's last message to them.
func (e *adminEnv) say(user int64, text string) sandboxtg.Message {
	e.t.Helper()
	e.processAtOnce(e.update(e.sb.SendText(user, text)))
	return e.last(user)
}

// press makes user press data under message msg and returns that message.
func (e *adminEnv) press(user, msg int64, data string) sandboxtg.Message {
	e.t.Helper()
	id := e.sb.PressButton(user, msg, data)
	e.processAtOnce(e.update(id))
	_, answered := e.sb.CallbackAnswer(id)
	require.True(e.t, answered, "the press of %q was answered", data)
	return e.message(user, msg)
}

func (e *adminEnv) last(user int64) sandboxtg.Message {
	e.t.Helper()
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs)
	return msgs[len(msgs)-1]
}

func (e *adminEnv) message(user, id int64) sandboxtg.Message {
	e.t.Helper()
	for _, m := range e.sb.Messages(user) {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("no message %d in chat %d", id, user)
	return sandboxtg.Message{}
}

func (e *adminEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

// expiry is the end of the customer's active period.
func (e *adminEnv) expiry() time.Time {
	e.t.Helper()
	sub, err := e.shop.ActiveSubscription(e.ctx, customerID)
	require.NoError(e.t, err)
	require.NotNil(e.t, sub, "the customer has an active period")
	return sub.ExpiresAt
}

// yesData is the data of a question's yes button.
func yesData(t *testing.T, m sandboxtg.Message) string {
	t.Helper()
	require.NotEmpty(t, m.Buttons, "a question: %s", m.Plain)
	data := m.Buttons[0][0].Data
	require.True(t, strings.HasPrefix(data, "adm:y:"), "the first button says yes: %q", data)
	return data
}

// Each admin command as the owner, an admin, a support and a stranger: it
// works for those whose role allows it, and is, for anyone else, the
// unknown command it is to a customer.
func TestAdminCommandsByRole(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	inv, err := e.shop.CryptoPayOrder(e.ctx, customerID, "m1", func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
		return "cp-roles", "https://pay.example.com", nil
	})
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(e.ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	fallback := bot.FallbackScreen(botui.English)

	for _, tc := range []struct {
		command string
		need    string
		shows   string // what the answer says when it is allowed
	}{
		{"/stats", shop.RoleSupport, "Users: 5"},
		{fmt.Sprintf("/user %d", customerID), shop.RoleSupport, fmt.Sprintf("User %d", customerID)},
		{"/user @USER9010", shop.RoleSupport, fmt.Sprintf("User %d", customerID)},
		{fmt.Sprintf("/user #%d", inv.ID), shop.RoleSupport, fmt.Sprintf("User %d", customerID)},
		{"/audit", shop.RoleSupport, "Admin actions"},
		{fmt.Sprintf("/audit %d", customerID), shop.RoleSupport, fmt.Sprintf("Admin actions on %d", customerID)},
		{fmt.Sprintf("/refund %d", inv.ID), shop.RoleAdmin, fmt.Sprintf("Invoice %d reversed: return $", inv.ID)},
		{"/promo list", shop.RoleAdmin, "No promo codes yet"},
		{fmt.Sprintf("/extend %d 1", customerID), shop.RoleAdmin, "now ends"},
		{fmt.Sprintf("/grant %d 1", customerID), shop.RoleAdmin, "+$1.00 granted"},
		{fmt.Sprintf("/msg %d hello", customerID), shop.RoleAdmin, "Message to 9010 (@user9010) queued"},
		{"/role list", shop.RoleOwner, "Roles"},
	} {
		for _, who := range []struct {
			id   int64
			role string
		}{{ownerID, shop.RoleOwner}, {adminID, shop.RoleAdmin}, {supportID, shop.RoleSupport}, {strangerID, ""}} {
			got := e.say(who.id, tc.command)
			if roleAllows(who.role, tc.need) {
				require.Contains(t, got.Plain, tc.shows, "%s as %q", tc.command, who.role)
				continue
			}
			require.Equal(t, fallback.Text, got.Text, "%s as %q: the unknown command", tc.command, who.role)
			require.Equal(t, sandboxButtons(fallback), got.Buttons, "%s as %q", tc.command, who.role)
		}
	}
	// Those allowed acted, each once per command; the others did nothing.
	require.Equal(t, 2, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'refund'`), "the owner's and the admin's /refund")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM ledger WHERE kind = 'refund'`), "reversed once")
	require.Equal(t, 2, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'grant_balance'`))
	require.EqualValues(t, 200, balance(t, e.shop, customerID, shop.CurrencyUSD), "$1 granted twice")
	require.Equal(t, 2, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'message'`))
	require.Len(t, e.out.to(customerID), 3, "two messages and the refund's notice")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM admin_audit WHERE admin_id IN ($1, $2)`, supportID, strangerID))

	// The card's buttons ask the role again when pressed: support may look
	// and not act; to a stranger they are buttons of nothing.
	card := e.say(supportID, fmt.Sprintf("/user %d", customerID))
	require.Empty(t, card.Buttons, "support's card has no actions")
	ban := fmt.Sprintf("adm:a:ban:%d:0:0", customerID)
	refused := e.press(supportID, card.ID, ban)
	require.Contains(t, refused.Plain, "Your role (support) cannot do this.")
	require.Contains(t, refused.Plain, fmt.Sprintf("User %d", customerID))
	menu := e.say(strangerID, "/start")
	for _, data := range []string{ban, fmt.Sprintf("adm:c:-:%d:0:0", customerID), fmt.Sprintf("adm:y:ban:%d:0:99", customerID)} {
		got := e.press(strangerID, menu.ID, data)
		require.Equal(t, bot.MenuScreen(botui.English, "").Text, got.Text, "%s pressed by a stranger", data)
	}
	// A yes forged by support (the owner's question, pressed by support)
	// is refused too.
	question := e.press(ownerID, e.say(ownerID, fmt.Sprintf("/user %d", customerID)).ID, ban)
	yes := yesData(t, question)
	require.Contains(t, e.press(supportID, card.ID, yes).Plain, "cannot do this")
	banned, err := e.shop.Banned(e.ctx, customerID)
	require.NoError(t, err)
	require.Nil(t, banned, "nobody without the role banned the customer")

	// /role: the owner grants and revokes; an admin cannot.
	require.Equal(t, fallback.Text, e.say(adminID, fmt.Sprintf("/role grant %d admin", strangerID)).Text)
	require.Contains(t, e.say(ownerID, "/role grant @user9004 support").Plain, "9004 is now support")
	require.Contains(t, e.say(strangerID, "/stats").Plain, "Users: 5", "support now")
	require.Contains(t, e.say(ownerID, fmt.Sprintf("/role revoke %d", strangerID)).Plain, "9004 has no role now")
	require.Equal(t, fallback.Text, e.say(strangerID, "/stats").Text, "and no longer")
}

// roleAllows mirrors the roles' order: owner > admin > support.
func roleAllows(role, need string) bool {
	rank := map[string]int{shop.RoleSupport: 1, shop.RoleAdmin: 2, shop.RoleOwner: 3}
	return rank[role] > 0 && rank[role] >= rank[need]
}

func balance(t *testing.T, s *shop.Shop, user int64, currency string) int64 {
	t.Helper()
	b, err := s.Balance(context.Background(), user, currency)
	require.NoError(t, err)
	return b
}

// Every action of the card asks first, and its yes, pressed twice with
// both presses delivered twice, all at once, is one effect and one audit
// row; each new question is a new action. After it, the card shows the
// result and the user as they are now.
func TestCardActionsAreDoneOncePerQuestion(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	// The period began an hour ago: ending it now leaves it ended now, as
	// it would for any real customer (one begun this very second ends a
	// second after its start, never empty, and the test runs in less).
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE subscriptions SET starts_at = starts_at - interval '1 hour' WHERE user_id = $1`, customerID)
	require.NoError(t, err)
	sub, err := e.shop.ActiveSubscription(e.ctx, customerID)
	require.NoError(t, err)
	shoptest.SeedAccess(t, e.db.Pool, sub.ID, "outline", "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	inv, err := e.shop.CryptoPayOrder(e.ctx, customerID, "m1", func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
		return "cp-card", "https://pay.example.com", nil
	})
	require.NoError(t, err)
	_, _, err = e.shop.ApplyPayment(e.ctx, inv.ID, "")
	require.NoError(t, err)
	card := e.say(adminID, fmt.Sprintf("/user %d", customerID))
	require.Contains(t, card.Plain, fmt.Sprintf("User %d", customerID))

	// act presses the card's button ask, then its question's yes: twice,
	// each press delivered twice, all four at once. It returns the card
	// as it is then.
	act := func(ask string) sandboxtg.Message {
		t.Helper()
		question := e.press(adminID, card.ID, ask)
		yes := yesData(t, question)
		first, second := e.sb.PressButton(adminID, card.ID, yes), e.sb.PressButton(adminID, card.ID, yes)
		// Each delivery decoded on its own, as each replica does (in update
		// order: reading an update confirms those before it).
		e.processAtOnce(e.update(first), e.update(first), e.update(second), e.update(second))
		return e.message(adminID, card.ID)
	}
	audits := func(action string) int {
		return e.count(`SELECT count(*) FROM admin_audit WHERE action = $1 AND target_id = $2`, action, customerID)
	}

	for round := 1; round <= 3; round++ {
		before := e.expiry()
		after := act(fmt.Sprintf("adm:a:ext:%d:7:0", customerID))
		require.Equal(t, before.Add(7*24*time.Hour), e.expiry(), "round %d: 7 days, once", round)
		require.Equal(t, round, audits(shop.ActionExtend), "round %d: one audit row", round)
		require.Contains(t, after.Plain, "now ends "+botui.TextsIn(botui.English).Date(e.expiry()), "round %d", round)
		require.Contains(t, after.Plain, fmt.Sprintf("User %d", customerID), "the card below the result")
	}
	require.Equal(t, 3, e.count(`SELECT count(*) FROM ledger WHERE kind = 'grant' AND user_id = $1`, customerID))
	wakes := e.wakes.distinct()
	require.Len(t, wakes, 3, "one wake-up per extension: %v", wakes)
	for id, n := range wakes {
		require.Equal(t, 4, n, "%s: each delivery asks again, as the same message", id)
	}

	before := e.expiry()
	act(fmt.Sprintf("adm:a:shr:%d:7:0", customerID))
	require.Equal(t, before.Add(-7*24*time.Hour), e.expiry(), "7 days taken, once")
	require.Equal(t, 1, audits(shop.ActionShorten))

	after := act(fmt.Sprintf("adm:a:ban:%d:0:0", customerID))
	require.Equal(t, 1, audits(shop.ActionBan))
	require.Contains(t, after.Plain, "is banned")
	require.Contains(t, after.Plain, "Banned since")
	require.True(t, after.HasButton(fmt.Sprintf("adm:a:unb:%d:0:0", customerID)), "the card offers the unban")
	after = act(fmt.Sprintf("adm:a:unb:%d:0:0", customerID))
	require.Equal(t, 1, audits(shop.ActionUnban))
	require.NotContains(t, after.Plain, "Banned since")
	banned, err := e.shop.Banned(e.ctx, customerID)
	require.NoError(t, err)
	require.Nil(t, banned)

	act(fmt.Sprintf("adm:a:key:%d:0:0", customerID))
	require.Equal(t, 1, audits(shop.ActionReissue))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM vpn_accounts WHERE user_id = $1 AND rotate_requested_at IS NOT NULL`, customerID))

	// A refund picks one of the user's paid invoices.
	refunds := e.press(adminID, card.ID, fmt.Sprintf("adm:r:-:%d:0:0", customerID))
	pick := fmt.Sprintf("adm:a:ref:%d:%d:0", customerID, inv.ID)
	require.True(t, refunds.HasButton(pick), "the paid invoice is offered: %v", refunds.Buttons)
	before = e.expiry()
	after = act(pick)
	require.Contains(t, after.Plain, fmt.Sprintf("Invoice %d reversed: return $", inv.ID))
	require.Equal(t, 1, audits(shop.ActionRefund))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM ledger WHERE kind = 'refund' AND user_id = $1`, customerID))
	require.Equal(t, before.Add(-30*24*time.Hour), e.expiry(), "the month it bought, taken back once")
	var note string
	require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT note FROM admin_audit WHERE action = 'refund'`).Scan(&note))
	require.Equal(t, "returned by hand in Crypto Pay", note)
	require.Contains(t, e.out.to(customerID), fmt.Sprintf("refund:%d", inv.ID), "the customer is told")
	require.Len(t, e.out.to(customerID), 1)

	after = act(fmt.Sprintf("adm:a:end:%d:0:0", customerID))
	require.Equal(t, 1, audits(shop.ActionEnd))
	require.Contains(t, after.Plain, "ended now")
	sub, err = e.shop.ActiveSubscription(e.ctx, customerID)
	require.NoError(t, err)
	require.NotNil(t, sub, "the period waits out its grace before revocation")
	require.False(t, sub.ExpiresAt.After(time.Now()), "but it ends now")
	// Nothing runs now: a second end is refused, and changes nothing.
	after = act(fmt.Sprintf("adm:a:end:%d:0:0", customerID))
	require.Contains(t, after.Plain, "has no active subscription")
	require.Equal(t, 1, audits(shop.ActionEnd))

	// The trail holds each action once, for /audit.
	trail := e.say(supportID, fmt.Sprintf("/audit %d", customerID))
	require.Equal(t, 9, strings.Count(trail.Plain, "• "), "3 extensions, a shortening, a ban, an unban, a new key, a refund, an end: %s", trail.Plain)
}

// Commands that act on a user are their own confirmation: the update
// delivered four times at once is one effect and one audit row.
func TestAdminCommandsAreDoneOncePerUpdate(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	redeliver := func(text string) sandboxtg.Message {
		t.Helper()
		// Each delivery decoded on its own, as each replica does.
		id := e.sb.SendText(adminID, text)
		e.processAtOnce(e.update(id), e.update(id), e.update(id), e.update(id))
		return e.last(adminID)
	}
	for round := 1; round <= 3; round++ {
		before := e.expiry()
		redeliver(fmt.Sprintf("/extend %d 3", customerID))
		require.Equal(t, before.Add(3*24*time.Hour), e.expiry(), "round %d", round)
		redeliver(fmt.Sprintf("/extend @user%d -1", customerID))
		require.Equal(t, before.Add(2*24*time.Hour), e.expiry(), "round %d", round)

		got := redeliver(fmt.Sprintf("/grant %d 2.50", customerID))
		require.Contains(t, got.Plain, fmt.Sprintf("$%s now", shop.FormatCents(int64(250*round))), "round %d", round)
		redeliver(fmt.Sprintf("/grant %d 10 stars", customerID))
		require.EqualValues(t, 10*round, balance(t, e.shop, customerID, shop.CurrencyXTR), "round %d", round)

		redeliver(fmt.Sprintf("/msg %d Hello,\nyour key was moved.", customerID))
		require.Len(t, e.out.to(customerID), round, "round %d: one message per command", round)
	}
	require.EqualValues(t, 750, balance(t, e.shop, customerID, shop.CurrencyUSD))
	for action, n := range map[string]int{shop.ActionExtend: 3, shop.ActionShorten: 3, shop.ActionGrantBalance: 6, shop.ActionMessage: 3} {
		require.Equal(t, n, e.count(`SELECT count(*) FROM admin_audit WHERE action = $1`, action), action)
	}
	for _, text := range e.out.to(customerID) {
		require.Equal(t, "Hello,\nyour key was moved.", text, "the message as typed, line breaks kept")
	}
	// Taking more than the balance holds is refused, and recorded nowhere.
	got := redeliver(fmt.Sprintf("/grant %d -100", customerID))
	require.Contains(t, got.Plain, "does not have that much")
	require.EqualValues(t, 750, balance(t, e.shop, customerID, shop.CurrencyUSD))
	require.Equal(t, 6, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'grant_balance'`))
	// Written wrong, each command says how to write it.
	for text, usage := range map[string]string{
		"/extend 9010":      "Usage: /extend",
		"/extend 9010 0":    "Usage: /extend",
		"/grant 9010 five":  "Usage: /grant",
		"/msg 9010":         "Usage: /msg",
		"/user":             "Usage: /user",
		"/refund x":         "Usage: /refund",
		"/extend @nobody 3": "No user matches @nobody",
		"/user 424242":      "No user matches 424242",
		"/refund 424242":    "No invoice 424242",
	} {
		require.Contains(t, redeliver(text).Plain, usage, text)
	}
}

// A banned user's next updates get exactly one answer, the ban's notice,
// however they come (at once, a message, a command, a button); after an
// unban /start works again, and a second ban is told once more.
func TestABannedUserIsToldOnce(t *testing.T) {
	t.Parallel()
	// The shop's clock moves a minute on between the bans, which it records
	// to the second.
	var clock struct {
		sync.Mutex
		offset time.Duration
	}
	e := newAdminEnvAt(t, func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return time.Now().Add(clock.offset)
	})
	menu := e.say(customerID, "/start")
	require.True(t, menu.HasButton(botui.ActionSubscription))
	ban := func() {
		t.Helper()
		card := e.say(adminID, fmt.Sprintf("/user %d", customerID))
		question := e.press(adminID, card.ID, fmt.Sprintf("adm:a:ban:%d:0:0", customerID))
		e.press(adminID, card.ID, yesData(t, question))
		bannedAt, err := e.shop.Banned(e.ctx, customerID)
		require.NoError(t, err)
		require.NotNil(t, bannedAt)
	}
	notice := bot.BannedScreen(botui.English, "@vpn_help")
	for round := range 2 {
		ban()
		before := len(e.sb.Messages(customerID))
		e.processAtOnce(
			e.update(e.sb.SendText(customerID, "hello?")),
			e.update(e.sb.SendText(customerID, "/start")),
			e.update(e.sb.PressButton(customerID, menu.ID, botui.ActionTrial)),
		)
		e.processAtOnce(e.update(e.sb.SendText(customerID, "/help")))
		msgs := e.sb.Messages(customerID)
		require.Len(t, msgs, before+1, "ban %d: one answer to four updates", round)
		require.Equal(t, notice.Text, msgs[len(msgs)-1].Text)
		require.Equal(t, 0, e.message(customerID, menu.ID).Edits, "the press changed nothing")
		require.Equal(t, 1, e.count(`SELECT count(*) FROM trials WHERE user_id = $1`, customerID), "no second trial, no effect")

		card := e.say(adminID, fmt.Sprintf("/user %d", customerID))
		require.Contains(t, card.Plain, "Banned since", "the card says so")
		question := e.press(adminID, card.ID, fmt.Sprintf("adm:a:unb:%d:0:0", customerID))
		e.press(adminID, card.ID, yesData(t, question))
		require.True(t, e.say(customerID, "/start").HasButton(botui.ActionSubscription), "ban %d: unbanned, /start works", round)
		clock.Lock()
		clock.offset += time.Minute
		clock.Unlock()
	}
	require.Equal(t, 2, e.count(`SELECT count(*) FROM user_notices WHERE user_id = $1 AND kind LIKE 'banned:%'`, customerID))
}

// An owner cannot be banned from a card, and a ban written for one anyway
// (by hand in the database) never locks them out.
func TestAnOwnerIsNeverBanned(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	card := e.say(adminID, fmt.Sprintf("/user %d", ownerID))
	question := e.press(adminID, card.ID, fmt.Sprintf("adm:a:ban:%d:0:0", ownerID))
	result := e.press(adminID, card.ID, yesData(t, question))
	require.Contains(t, result.Plain, "owners cannot be banned")
	bannedAt, err := e.shop.Banned(e.ctx, ownerID)
	require.NoError(t, err)
	require.Nil(t, bannedAt)
	require.Zero(t, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'ban'`))

	_, err = e.db.Pool.Exec(e.ctx, `UPDATE users SET banned_at = now() WHERE id = $1`, ownerID)
	require.NoError(t, err)
	require.Contains(t, e.say(ownerID, "/stats").Plain, "Users", "an owner's commands still work")
}

// A banned user cannot pay (the pre-checkout is refused with why), but a
// payment Telegram took before the ban is applied as always.
func TestABannedUsersPayments(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, false)
	const user = 9101
	e.user(user, botui.English)
	e.command(user, "/topup 250 stars")
	e.command(user, "/topup 300 stars")
	invs := e.invoices(user)
	require.Len(t, invs, 2)
	ban := func(key string) {
		t.Helper()
		_, err := e.shop.Ban(e.ctx, shop.Act{OpKey: key, AdminID: ownerID}, user)
		require.NoError(t, err)
	}

	// Paid while the user was not banned: the pre-checkout was answered,
	// the ban came, then the payment.
	var last int64
	for _, u := range e.updatesFrom(-1) {
		last = int64(u.ID)
	}
	done := make(chan sandboxtg.PaymentResult, 1)
	go func() {
		r, err := e.sb.PayInvoice(user, invs[0].ID)
		assert.NoError(t, err)
		done <- r
	}()
	for answered := false; !answered; {
		require.NoError(t, e.ctx.Err(), "the pre-checkout query never came")
		for _, u := range e.updatesFrom(last + 1) {
			if u.PreCheckoutQuery != nil {
				_, err := e.bot.Process(e.ctx, u)
				require.NoError(t, err)
				answered = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	paid := <-done
	require.True(t, paid.Accepted)
	ban("test:ban")
	e.process(paid.UpdateID)
	require.EqualValues(t, 250, e.balance(user, shop.CurrencyXTR), "the payment taken before the ban is applied")

	refused := e.pay(user, invs[1].ID)
	require.False(t, refused.Accepted, "a banned user's payment is refused before they are charged")
	require.Equal(t, bot.BannedCheckoutRefusal(botui.English), refused.ErrorMessage)
	require.EqualValues(t, 250, e.balance(user, shop.CurrencyXTR))
}

// A Stars payment refunded from the card: the ledger reverses it and
// Telegram gives the Stars back, once, however the yes is pressed and
// delivered; the user is told once.
func TestACardRefundsStarsOnce(t *testing.T) {
	t.Parallel()
	e := newBalanceEnv(t, false)
	const user = 9201
	e.user(user, botui.Russian)
	e.command(user, "/topup 250 stars")
	invs := e.invoices(user)
	require.Len(t, invs, 1)
	paid := e.pay(user, invs[0].ID)
	require.True(t, paid.Accepted)
	require.EqualValues(t, 250, e.balance(user, shop.CurrencyXTR))
	var invoiceID int64
	require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT id FROM invoices WHERE charge_id = $1`, paid.ChargeID).Scan(&invoiceID))

	// The owner's bot, on the same Telegram.
	out := &fakeOutbox{msgs: map[string]*vpnbotv1.SendMessage{}}
	owner, err := bot.New(e.ctx, bot.Config{Client: e.client, Users: e.users, Shop: e.shop, Activations: &activationIDs{},
		Outbox: out, AdminIDs: []int64{ownerID}, Log: zerolog.Nop()})
	require.NoError(t, err)
	e.user(ownerID, botui.English)
	run := func(ids ...int64) {
		t.Helper()
		updates := make([]tele.Update, 0, 2*len(ids))
		for _, id := range ids {
			updates = append(updates, nextUpdate(t, e.sb, relinkToken, id), nextUpdate(t, e.sb, relinkToken, id))
		}
		var wg sync.WaitGroup
		for _, u := range updates {
			wg.Go(func() {
				_, err := owner.Process(e.ctx, u)
				assert.NoError(t, err, "update %d", u.ID)
			})
		}
		wg.Wait()
	}
	run(e.sb.SendText(ownerID, fmt.Sprintf("/user %d", user)))
	card := e.last(ownerID)
	run(e.sb.PressButton(ownerID, card.ID, fmt.Sprintf("adm:r:-:%d:0:0", user)))
	pick := fmt.Sprintf("adm:a:ref:%d:%d:0", user, invoiceID)
	require.True(t, e.message(ownerID, card.ID).HasButton(pick))
	run(e.sb.PressButton(ownerID, card.ID, pick))
	yes := yesData(t, e.message(ownerID, card.ID))
	require.Contains(t, e.message(ownerID, card.ID).Plain, "through Telegram")
	run(e.sb.PressButton(ownerID, card.ID, yes), e.sb.PressButton(ownerID, card.ID, yes))

	require.True(t, e.sb.Refunded(paid.ChargeID), "the Stars went back")
	require.Contains(t, e.message(ownerID, card.ID).Plain, fmt.Sprintf("Invoice %d refunded: 250 ⭐ to user %d; 250 ⭐ of balance taken back", invoiceID, user))
	require.EqualValues(t, 0, e.balance(user, shop.CurrencyXTR))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM ledger WHERE kind = 'refund'`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'refund' AND admin_id = $1`, ownerID))
	told := out.to(user)
	require.Len(t, told, 1, "the user is told once")
	require.Contains(t, told[fmt.Sprintf("refund:%d", invoiceID)], "Ваша оплата 250 ⭐ возвращена", "in their language")
}
