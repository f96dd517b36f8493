package chatpace_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
)

const token = "987654:SECRET-bot-token"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// chatLimits are settings with a chat's limits and no bot-wide one to speak
// of, for the tests of the per-chat budget.
func chatLimits(rate float64, burst int) chatpace.Settings {
	return chatpace.Settings{Rate: rate, Burst: burst, BotRate: 1e6, BotBurst: 1e6, GroupPerMinute: 20, GroupBurst: 1}
}

// pool is a pool over a fresh schema: a few connections, so that
// reservations race in the database.
func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgdbtest.New(t).Pool
}

func TestSettingsRefuseWhatCannotWork(t *testing.T) {
	t.Parallel()
	require.NoError(t, chatpace.DefaultSettings().Validate())
	err := chatpace.Settings{}.Validate()
	require.ErrorContains(t, err, "TELEGRAM_CHAT_RATE=0")
	require.ErrorContains(t, err, "TELEGRAM_CHAT_BURST=0")
	require.ErrorContains(t, err, "TELEGRAM_BOT_RATE=0")
	require.ErrorContains(t, err, "TELEGRAM_BOT_BURST=0")
	require.ErrorContains(t, err, "TELEGRAM_GROUP_PER_MINUTE=0")
	require.ErrorContains(t, err, "TELEGRAM_GROUP_BURST=0")
	require.Equal(t, 3*time.Second, chatpace.Settings{GroupPerMinute: 20, GroupBurst: 1}.GroupInterval())
	require.Equal(t, 250*time.Millisecond, chatpace.Settings{Rate: 4, Burst: 1}.Interval())
	require.Equal(t, 50*time.Millisecond, chatpace.Settings{BotRate: 20, BotBurst: 1}.BotInterval())
}

// Reservations racing from the pool's connections each get a slot of their own,
// and the slots keep to the limit: the first Burst at once, then one an
// interval — no more, and no slower.
func TestConcurrentReservationsKeepToTheLimit(t *testing.T) {
	t.Parallel()
	const (
		n     = 24
		burst = 3
		// The slots are only computed, never waited for, so the interval
		// can be long enough for the noise below not to matter.
		interval = time.Second
		// slack is how far a slot may seem off: the time between the
		// database's clock reading and ours, with 24 queries racing on a
		// busy machine.
		slack = 150 * time.Millisecond
	)
	b, err := chatpace.New(pool(t), chatLimits(1, burst))
	require.NoError(t, err)

	slots := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			wait, err := b.Reserve(t.Context(), 42)
			require.NoError(t, err)
			slots[i] = time.Now().Add(wait)
		})
	}
	wg.Wait()
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	first := slots[0]
	for i, s := range slots {
		earliest := time.Duration(max(0, i-(burst-1))) * interval
		require.GreaterOrEqual(t, s.Sub(first), earliest-slack, "slot %d comes too early", i)
	}
	require.Less(t, slots[n-1].Sub(first), time.Duration(n-burst)*interval+slack,
		"the last slot comes later than the limit asks")
}

// A group or a channel (a negative chat id, as the sales feed's) is paced
// at Telegram's twenty messages a minute, not a private chat's one a
// second; paid sends keep to it too.
func TestAGroupIsPacedByTheMinute(t *testing.T) {
	t.Parallel()
	s := chatpace.DefaultSettings()
	s.BotRate, s.BotBurst = 1e6, 1e6 // the chats' limits alone
	b, err := chatpace.New(pool(t), s)
	require.NoError(t, err)
	const group = -1001234567890
	var waits []time.Duration
	for range 2 * chatpace.DefaultGroupPerMinute {
		w, err := b.Reserve(t.Context(), group)
		require.NoError(t, err)
		waits = append(waits, w)
	}
	for i := range chatpace.DefaultGroupBurst {
		require.Less(t, waits[i], 100*time.Millisecond, "the burst goes at once: send %d", i)
	}
	interval := time.Minute / chatpace.DefaultGroupPerMinute
	for i := chatpace.DefaultGroupBurst; i < len(waits); i++ {
		want := time.Duration(i-chatpace.DefaultGroupBurst+1) * interval
		require.InDelta(t, want, waits[i], float64(200*time.Millisecond), "send %d waits its slot", i)
	}
	// Within any minute, the burst's included, no more than Telegram's 20
	// (less the measuring's slack).
	for j := range waits {
		in := 0
		for _, w := range waits[j:] {
			if w-waits[j] < time.Minute-200*time.Millisecond {
				in++
			}
		}
		require.LessOrEqual(t, in, 20, "the minute from send %d", j)
	}

	paid, err := b.ReserveChat(t.Context(), group)
	require.NoError(t, err)
	require.Greater(t, paid, waits[len(waits)-1], "a paid send to the group queues behind the others")

	w, err := b.Reserve(t.Context(), 7)
	require.NoError(t, err)
	require.Less(t, w, 100*time.Millisecond, "a private chat keeps its own pace")
}

func TestEveryChatHasABudgetOfItsOwn(t *testing.T) {
	t.Parallel()
	b, err := chatpace.New(pool(t), chatLimits(1, 2))
	require.NoError(t, err)
	var waits []time.Duration
	for range 4 {
		w, err := b.Reserve(t.Context(), 1)
		require.NoError(t, err)
		waits = append(waits, w)
	}
	require.Zero(t, waits[0])
	require.Zero(t, waits[1], "a burst of two goes at once")
	require.InDelta(t, time.Second, waits[2], float64(100*time.Millisecond))
	require.InDelta(t, 2*time.Second, waits[3], float64(100*time.Millisecond))

	w, err := b.Reserve(t.Context(), 2)
	require.NoError(t, err)
	require.Zero(t, w, "chat 1's queue must not delay chat 2")
}

// sendBoth has two clients, as the bot-handler and the sender, send perChat
// messages each to one chat at once, the first with the client's Call, the
// second through HTTPClient as telebot does, and returns how many Telegram
// refused with a 429.
func sendBoth(t *testing.T, sb *sandboxtg.Server, pacer telegram.Pacer, chatID int64, perChat int) int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		flooded int
	)
	count := func(err error) {
		if e, ok := telegram.AsError(err); ok && e.Code == http.StatusTooManyRequests {
			mu.Lock()
			flooded++
			mu.Unlock()
			return
		}
		require.NoError(t, err)
	}
	chat := strconv.FormatInt(chatID, 10)
	for range 2 {
		c, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: token, Pacer: pacer})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		wg.Go(func() {
			for range perChat {
				count(c.Call(t.Context(), "sendMessage", map[string]any{"chat_id": chatID, "text": "a notice"}, nil))
			}
		})
		wg.Go(func() {
			hc := c.HTTPClient(t.Context())
			for range perChat {
				req, err := http.NewRequest(http.MethodPost, sb.URL()+"/bot"+token+"/sendMessage",
					strings.NewReader(`{"chat_id":"`+chat+`","text":"a reply"}`))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err == nil {
					err = resp.Body.Close()
				}
				count(err)
			}
		})
	}
	wg.Wait()
	return flooded
}

// The point of the budget: two services sending to one chat at once stay
// within Telegram's per-chat limit together. Without it, the same sends are
// refused.
func TestTwoServicesSharingTheBudgetAreNeverFlooded(t *testing.T) {
	t.Parallel()
	const perChat = 4
	limits := sandboxtg.Config{Token: token, Log: zerolog.Nop(), GlobalRate: -1, ChatRate: 5, ChatBurst: 2}

	paced := sandboxtg.New(limits)
	require.NoError(t, paced.Start("127.0.0.1:0"))
	t.Cleanup(paced.Close)
	// One message short of the sandbox's burst, as the default is of
	// Telegram's, to absorb the requests' jitter on a busy machine.
	b, err := chatpace.New(pool(t), chatLimits(5, 1))
	require.NoError(t, err)
	require.Zero(t, sendBoth(t, paced, b, 77, perChat), "floods: %v", paced.Floods())
	require.Len(t, paced.History(77), 4*perChat)

	unpaced := sandboxtg.New(limits)
	require.NoError(t, unpaced.Start("127.0.0.1:0"))
	t.Cleanup(unpaced.Close)
	require.Positive(t, sendBoth(t, unpaced, nil, 78, perChat), "without the budget, the same sends must be refused")
}

// The bot-wide budget: sends to different chats, each chat's first, still
// keep to the bot's rate together, and a chat's slot never comes before
// the bot's.
func TestTheBotsBudgetPacesSendsToEveryChat(t *testing.T) {
	t.Parallel()
	b, err := chatpace.New(pool(t), chatpace.Settings{Rate: 1, Burst: 2, BotRate: 2, BotBurst: 2, GroupPerMinute: 20, GroupBurst: 1})
	require.NoError(t, err)
	var waits []time.Duration
	for chat := int64(1); chat <= 5; chat++ {
		w, err := b.Reserve(t.Context(), chat)
		require.NoError(t, err)
		waits = append(waits, w)
	}
	const slack = float64(100 * time.Millisecond)
	require.Zero(t, waits[0])
	require.Zero(t, waits[1], "a bot-wide burst of two goes at once")
	require.InDelta(t, 500*time.Millisecond, waits[2], slack)
	require.InDelta(t, time.Second, waits[3], slack)
	require.InDelta(t, 1500*time.Millisecond, waits[4], slack)

	// Chat 5's next sends: its own budget (a burst of two, then one a
	// second from its first at 1.5s) would let the next two go at once, the
	// bot's only at 2s and 2.5s; the one after waits for the chat's own,
	// at 3.5s, later than the bot's next (3s).
	for _, want := range []time.Duration{2 * time.Second, 2500 * time.Millisecond, 3500 * time.Millisecond} {
		w, err := b.Reserve(t.Context(), 5)
		require.NoError(t, err)
		require.InDelta(t, want, w, slack)
	}
}

// The point of the bot-wide budget: two services sending to many chats at
// once stay within Telegram's bot-wide limit together. Without it, the same
// sends are refused.
func TestTwoServicesSendingToManyChatsStayWithinTheBotsLimit(t *testing.T) {
	t.Parallel()
	limits := sandboxtg.Config{Token: token, Log: zerolog.Nop(), GlobalRate: 8, ChatRate: -1}
	send := func(sb *sandboxtg.Server, pacer telegram.Pacer) int {
		flooded := 0
		for chat := int64(1); chat <= 4; chat++ {
			flooded += sendBoth(t, sb, pacer, 100+chat, 2)
		}
		return flooded
	}
	paced := sandboxtg.New(limits)
	require.NoError(t, paced.Start("127.0.0.1:0"))
	t.Cleanup(paced.Close)
	b, err := chatpace.New(pool(t), chatpace.Settings{Rate: 1e6, Burst: 1e6, BotRate: 8, BotBurst: 6, GroupPerMinute: 20, GroupBurst: 1})
	require.NoError(t, err)
	require.Zero(t, send(paced, b), "floods: %v", paced.Floods())

	unpaced := sandboxtg.New(limits)
	require.NoError(t, unpaced.Start("127.0.0.1:0"))
	t.Cleanup(unpaced.Close)
	require.Positive(t, send(unpaced, nil), "without the budget, the same sends must be refused")
}

// A paid broadcast's reservations take the chat's slots, shared with the
// free sends to that chat, and never the bot's: many chats at once go
// without waiting, and the free sends after them find the bot's budget
// whole.
func TestPaidReservationsSkipTheBotsBudgetButKeepTheChats(t *testing.T) {
	t.Parallel()
	b, err := chatpace.New(pool(t), chatpace.Settings{Rate: 1, Burst: 1, BotRate: 2, BotBurst: 2, GroupPerMinute: 20, GroupBurst: 1})
	require.NoError(t, err)
	const slack = float64(100 * time.Millisecond)

	// Fifty chats at once, far over the bot's 2/s: none waits.
	var wg sync.WaitGroup
	waits := make([]time.Duration, 50)
	for i := range waits {
		wg.Go(func() {
			w, err := b.ReserveChat(t.Context(), int64(100+i))
			require.NoError(t, err)
			waits[i] = w
		})
	}
	wg.Wait()
	for i, w := range waits {
		require.Zero(t, w, "paid send %d waited for the bot's budget", i)
	}

	// The bot's budget is untouched: a burst of two free sends goes at once.
	for chat := int64(1); chat <= 2; chat++ {
		w, err := b.Reserve(t.Context(), chat)
		require.NoError(t, err)
		require.Zero(t, w)
	}

	// The chat's budget holds for paid sends, and is shared with free ones.
	for _, want := range []time.Duration{0, time.Second, 2 * time.Second} {
		w, err := b.ReserveChat(t.Context(), 7)
		require.NoError(t, err)
		require.InDelta(t, want, w, slack)
	}
	w, err := b.Reserve(t.Context(), 7)
	require.NoError(t, err)
	require.InDelta(t, 3*time.Second, w, slack, "a free send waits behind the chat's paid ones")
}
