package bot_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

const (
	testChannel    = "@vpn_news"
	testChannelURL = "https://t.me/vpn_news"
	channelTTL     = 30 * time.Second
)

// channelEnv is balanceEnv's world with a bot that requires testChannel in
// scope, on a clock of the test's own.
type channelEnv struct {
	*balanceEnv
	scope string
	reg   *prometheus.Registry
	logs  *syncBuffer

	mu  sync.Mutex
	now time.Time
}

// syncBuffer is a log both the bot's goroutines and the test use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newChannelEnv(t *testing.T, scope string) *channelEnv {
	t.Helper()
	e := &channelEnv{balanceEnv: newBalanceEnv(t, false), scope: scope, reg: prometheus.NewRegistry(), logs: &syncBuffer{},
		now: time.Date(2026, time.December, 7, 12, 0, 0, 0, time.UTC)}
	ch, err := channelgate.New(e.client, channelgate.Settings{Chat: testChannel, URL: testChannelURL, Scope: scope, Cache: channelTTL},
		e.reg, channelgate.WithClock(e.clock))
	require.NoError(t, err)
	e.bot, err = bot.New(e.ctx, bot.Config{
		Client: e.client, Users: e.users, Shop: e.shop, Activations: bot.StreamActivations{JS: e.js},
		Channel: ch, Log: zerolog.New(e.logs),
	})
	require.NoError(t, err)
	return e
}

func (e *channelEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *channelEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// join puts user in the channel as status.
func (e *channelEnv) join(user int64, status string) {
	e.t.Helper()
	require.NoError(e.t, e.sb.SetChatMember(testChannel, user, sandboxtg.ChatMember{Status: status}))
}

// asked is how many times the bot asked Telegram about membership.
func (e *channelEnv) asked() int { return e.sb.Stats().Requests["getChatMember"] }

// checks is vpnbot_bot_channel_checks_total{outcome}.
func (e *channelEnv) checks(outcome string) float64 {
	e.t.Helper()
	v, _ := obstest.Metric(e.t, e.reg, "vpnbot_bot_channel_checks_total", map[string]string{"outcome": outcome})
	return v
}

// trials is how many trials user was given.
func (e *channelEnv) trials(user int64) int {
	return e.count(`SELECT count(*) FROM subscriptions WHERE user_id = $1 AND kind = 'trial'`, user)
}

// A member presses Free trial and gets it, after one look at the channel.
func TestAChannelMemberGetsTheTrial(t *testing.T) {
	t.Parallel()
	e := newChannelEnv(t, channelgate.ScopeTrial)
	statuses := []string{sandboxtg.StatusMember, sandboxtg.StatusAdministrator, sandboxtg.StatusCreator}
	for i, status := range statuses {
		lang := []string{botui.English, botui.Russian}[i%2]
		user := int64(7001 + i)
		e.user(user, lang)
		e.join(user, status)
		menu := e.menu(user)
		e.press(user, menu.ID, botui.ActionTrial)
		require.Equal(t, 1, e.trials(user), status)
		shown := e.message(user, menu.ID)
		require.True(t, shown.HasButton(botui.ActionSubscription) && !shown.HasButton(botui.ActionTrial),
			"%s: the trial started: %s", status, shown.Plain)
		require.Equal(t, 1, e.wakeUpsOf(user), status)
	}
	require.Equal(t, float64(len(statuses)), e.checks(channelgate.OutcomeMember))
	require.Zero(t, e.checks(channelgate.OutcomeNotMember))
	require.Zero(t, e.checks(channelgate.OutcomeFailed))
}

// A user outside the channel is asked to join; Check again while still
// outside shows the same; once joined, Check again starts the trial, once
// however many presses arrive at once and however often each is handled.
func TestANonMemberJoinsAndChecksAgainForTheTrial(t *testing.T) {
	t.Parallel()
	e := newChannelEnv(t, channelgate.ScopeTrial)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(7101 + i)
		e.user(user, lang)
		e.join(user, sandboxtg.StatusLeft)
		menu := e.menu(user)
		gate := bot.ChannelGateScreen(lang, testChannelURL, channelgate.ScopeTrial, botui.ActionTrial)

		e.press(user, menu.ID, botui.ActionTrial)
		e.requireShows(e.message(user, menu.ID), gate, "%s: the gate", lang)
		require.Zero(t, e.trials(user), lang)
		check := botui.Callback(botui.ActionChannelCheck, botui.ActionTrial)
		require.True(t, e.message(user, menu.ID).HasButton(check), lang)

		// Restricted outside the channel is outside it.
		require.NoError(t, e.sb.SetChatMember(testChannel, user, sandboxtg.ChatMember{Status: sandboxtg.StatusRestricted}))
		e.press(user, menu.ID, check)
		e.requireShows(e.message(user, menu.ID), gate, "%s: still the gate", lang)
		require.Zero(t, e.trials(user), lang)
		require.Zero(t, e.wakeUpsOf(user), lang)

		// Plans and payments stay open in scope trial.
		asked := e.asked()
		e.press(user, menu.ID, botui.ActionPlans)
		require.True(t, e.message(user, menu.ID).HasButton(botui.Callback(botui.ActionPlan, "m1")), lang)
		require.Equal(t, asked, e.asked(), "%s: plans ask nothing of the channel", lang)

		require.NoError(t, e.sb.SetChatMember(testChannel, user, sandboxtg.ChatMember{Status: sandboxtg.StatusRestricted, IsMember: true}))
		const presses = 8
		ids := make([]int64, presses)
		for p := range ids {
			ids[p] = e.sb.PressButton(user, menu.ID, check)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*presses)
		for _, id := range ids {
			update := nextUpdate(t, e.sb, relinkToken, id)
			for range 2 { // each press handled twice: a redelivery
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.bot.Process(e.ctx, update)
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, lang)
		}
		require.Equal(t, 1, e.trials(user), "%s: one trial", lang)
		shown := e.message(user, menu.ID)
		require.True(t, shown.HasButton(botui.ActionSubscription), "%s: the trial shows: %s", lang, shown.Plain)
		require.False(t, shown.HasButton(check), lang)
	}
	require.Equal(t, float64(2*2), e.checks(channelgate.OutcomeNotMember), "a trial press and a check again each")
	require.Equal(t, float64(2*2*8), e.checks(channelgate.OutcomeMember), "every check again asks Telegram")
}

// Telegram failing to answer (a 5xx, a timeout, the bot not an
// administrator of the channel) lets the user through, logged and counted.
func TestAFailedChannelCheckLetsTheUserThrough(t *testing.T) {
	t.Parallel()
	e := newChannelEnv(t, channelgate.ScopeTrial)
	failures := []func(){
		func() {
			e.sb.Inject(sandboxtg.Fault{Method: "getChatMember", Status: http.StatusInternalServerError, Times: 1})
		},
		func() { e.sb.HideMembers(testChannel, true) },
	}
	for i, fail := range failures {
		user := int64(7201 + i)
		e.user(user, botui.English)
		e.join(user, sandboxtg.StatusLeft)
		menu := e.menu(user)
		fail()
		e.press(user, menu.ID, botui.ActionTrial)
		require.Equal(t, 1, e.trials(user), "failure %d: the trial started", i)
		require.True(t, e.message(user, menu.ID).HasButton(botui.ActionSubscription), "failure %d", i)
	}
	require.Equal(t, float64(len(failures)), e.checks(channelgate.OutcomeFailed))
	require.Equal(t, len(failures), strings.Count(e.logs.String(), channelgate.EventCheckFailed))
	require.Contains(t, e.logs.String(), "member list is inaccessible")
}

// Answers are kept for the cache's window, members' and non-members'
// alike; Check again asks past it, and a window that passed asks again.
func TestChannelAnswersAreCachedAndCheckAgainAsksAnew(t *testing.T) {
	t.Parallel()
	e := newChannelEnv(t, channelgate.ScopeAll)
	const user = 7301
	e.user(user, botui.English)
	e.join(user, sandboxtg.StatusMember)
	gate := bot.ChannelGateScreen(botui.English, testChannelURL, channelgate.ScopeAll, "")

	e.command(user, "hello")
	require.Equal(t, 1, e.asked())
	reply := e.command(user, "hello again")
	require.Equal(t, bot.FallbackScreen(botui.English).Text, reply.Text)
	require.Equal(t, 1, e.asked(), "within the window the member is not asked about")

	e.join(user, sandboxtg.StatusLeft)
	e.advance(channelTTL - time.Second)
	e.command(user, "still here?")
	require.Equal(t, 1, e.asked())
	e.advance(time.Second)
	e.requireShows(e.command(user, "and now?"), gate, "the window passed: asked again, and gated")
	require.Equal(t, 2, e.asked())

	// Joined: the cached "not a member" holds until Check again.
	e.join(user, sandboxtg.StatusMember)
	gated := e.command(user, "joined")
	e.requireShows(gated, gate)
	require.Equal(t, 2, e.asked())
	e.press(user, gated.ID, botui.Callback(botui.ActionChannelCheck, ""))
	require.Equal(t, 3, e.asked(), "check again asks Telegram")
	e.requireShows(e.message(user, gated.ID), bot.MenuScreen(botui.English, ""), "joined: the menu")
	e.command(user, "hello")
	require.Equal(t, 3, e.asked(), "check again refreshed the cache")

	// A failed check lets the message through and is not remembered: the
	// next message asks again.
	e.join(user, sandboxtg.StatusLeft)
	e.advance(channelTTL)
	e.sb.Inject(sandboxtg.Fault{Method: "getChatMember", Status: http.StatusBadGateway, Times: 1})
	require.Equal(t, bot.FallbackScreen(botui.English).Text, e.command(user, "hello").Text)
	require.Equal(t, 4, e.asked())
	e.requireShows(e.command(user, "hello"), gate)
	require.Equal(t, 5, e.asked())
	require.Equal(t, float64(1), e.checks(channelgate.OutcomeFailed))
}

// In scope all a plain message, a menu button and /topup meet the gate;
// /start, /help and languages do not, and neither does paying an invoice
// the user got while a member: the pre-checkout and the payment are
// applied without a look at the channel.
func TestScopeAllGatesUseButNotPayments(t *testing.T) {
	t.Parallel()
	e := newChannelEnv(t, channelgate.ScopeAll)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(7401 + i)
		e.user(user, lang)
		e.join(user, sandboxtg.StatusMember)
		e.command(user, "/topup 250 ⭐")
		invs := e.invoices(user)
		require.Len(t, invs, 1, lang)

		e.join(user, sandboxtg.StatusLeft)
		e.advance(channelTTL)
		gate := bot.ChannelGateScreen(lang, testChannelURL, channelgate.ScopeAll, "")
		e.requireShows(e.command(user, "hi"), gate, "%s: a plain message", lang)
		e.requireShows(e.command(user, "/topup 300 ⭐"), gate, "%s: /topup", lang)
		require.Len(t, e.invoices(user), 1, lang)
		asked := e.asked()

		menu := e.menu(user)
		require.Equal(t, asked, e.asked(), "%s: /start is not gated", lang)
		e.press(user, menu.ID, botui.ActionPlans)
		e.requireShows(e.message(user, menu.ID), gate, "%s: a menu button", lang)
		e.press(user, menu.ID, botui.ActionTrial)
		e.requireShows(e.message(user, menu.ID), bot.ChannelGateScreen(lang, testChannelURL, channelgate.ScopeAll, botui.ActionTrial),
			"%s: the trial", lang)
		e.press(user, menu.ID, botui.ActionHelp)
		e.requireShows(e.message(user, menu.ID), bot.HelpScreen(lang, ""), "%s: help", lang)
		e.requireShows(e.command(user, "/help"), bot.HelpScreen(lang, ""), "%s: /help", lang)
		e.requireShows(e.command(user, "/paysupport"), bot.PaySupportScreen(lang, ""), "%s: /paysupport", lang)
		e.press(user, menu.ID, botui.ActionLanguages)
		e.requireShows(e.message(user, menu.ID), bot.LanguageScreen(lang), "%s: languages", lang)

		asked = e.asked()
		e.advance(channelTTL)
		paid := e.pay(user, invs[0].ID)
		require.True(t, paid.Accepted, "%s: %+v", lang, paid)
		require.Equal(t, int64(250), e.balance(user, shop.CurrencyXTR), "%s: the payment applied", lang)
		require.Equal(t, asked, e.asked(), "%s: paying asks nothing of the channel", lang)
	}
}
