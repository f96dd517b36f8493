package telegram_test

import (
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// A paid broadcast's messages (allow_paid_broadcast) go past the free
// bot-wide limit, taking a paid one of their own, and are counted; the
// chat's limit holds for them as for any message.
func TestPaidBroadcastsTakeThePaidLimitNotTheFreeOne(t *testing.T) {
	t.Parallel()
	// Slow limits, so that no token comes back while the test sends.
	e := start(t, telegram.Config{GlobalRate: 3, PaidRate: 20, ChatRate: 1, ChatBurst: 1})
	send := func(chat int64, paid bool) answer {
		return e.callJSON("sendMessage", map[string]any{"chat_id": chat, "text": "news", "allow_paid_broadcast": paid})
	}
	// untilRefused sends to new chats from first on until one is refused,
	// and returns how many went and the refusal.
	untilRefused := func(first int64, paid bool) (int, answer) {
		for chat := first; chat < first+100; chat++ {
			if a := send(chat, paid); !a.OK {
				return int(chat - first), a
			}
		}
		t.Fatalf("100 messages from chat %d went without a 429", first)
		return 0, answer{}
	}

	// The free limit: its burst of a second's worth, then 429.
	freeSent, free := untilRefused(1, false)
	require.Equal(t, 3, freeSent)
	require.Equal(t, http.StatusTooManyRequests, free.Status)

	// With the free limit spent, paid messages go: the paid limit's burst
	// (and a token or two it earned meanwhile), then 429 from it.
	paidSent, over := untilRefused(101, true)
	require.GreaterOrEqual(t, paidSent, 20)
	require.Less(t, paidSent, 30, "the paid limit did not hold")
	require.Equal(t, http.StatusTooManyRequests, over.Status)
	require.Positive(t, over.Parameters.RetryAfter)

	// The chat's own limit applies to a paid message too.
	floodsBefore := len(e.s.Floods())
	require.Equal(t, http.StatusTooManyRequests, send(101, true).Status)

	floods := e.s.Floods()
	require.Len(t, floods, floodsBefore+1)
	last := floods[len(floods)-1]
	require.EqualValues(t, 101, last.ChatID)
	require.False(t, last.Global, "the chat's limit refused it")
	require.True(t, last.Paid)
	paidOver := floods[len(floods)-2]
	require.True(t, paidOver.Global)
	require.True(t, paidOver.Paid)
	require.False(t, floods[0].Paid, "the free message met the free limit")

	st := e.s.Stats()
	require.Equal(t, paidSent, st.PaidBroadcasts, "only the paid messages sent are charged")
	require.Equal(t, 3, st.Flooded)
	msgs := e.s.Messages(101)
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].PaidBroadcast)
	require.False(t, e.s.Messages(1)[0].PaidBroadcast)
}

// By default the paid limit is Telegram's: 1,000 messages a second, a
// second's worth at once, where the free limit lets 30 through.
func TestThePaidLimitIsAThousandASecondByDefault(t *testing.T) {
	t.Parallel()
	s := telegram.New(telegram.Config{Token: token, GlobalRate: 30})
	require.NoError(t, s.Start("127.0.0.1:0"))
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(func() {
		s.Close()
		tr.CloseIdleConnections()
	})
	e := &env{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}

	const n, workers = 1000, 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
	)
	for w := range workers {
		wg.Go(func() {
			for chat := int64(w + 1); chat <= n; chat += workers {
				a := e.callJSON("sendMessage", map[string]any{"chat_id": chat, "text": "news", "allow_paid_broadcast": true})
				if !a.OK {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, refused, "floods: %v", s.Floods())
	require.Equal(t, n, s.Stats().PaidBroadcasts)
}

// A photo a user sends the bot (the admin's picture for a broadcast) has a
// file_id that sendPhoto takes, as Telegram's does.
func TestAUsersPhotoCanBeSentOnByItsFileID(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	pic := pngImage(t, 640, 480)
	updateID, fileID, err := e.s.SendPhoto(5, pic, "for the broadcast")
	require.NoError(t, err)
	require.Positive(t, updateID)
	require.NotEmpty(t, fileID)

	a := e.callJSON("sendPhoto", map[string]any{"chat_id": 9, "photo": fileID, "caption": "news", "allow_paid_broadcast": true})
	require.True(t, a.OK, a.Description)
	msgs := e.s.Messages(9)
	require.Len(t, msgs, 1)
	require.Equal(t, pic, msgs[0].Photo)
	require.True(t, msgs[0].PaidBroadcast)

	// The bot reads the file_id from the update, as from Telegram's.
	got := e.callJSON("getUpdates", map[string]any{})
	require.True(t, got.OK)
	updates := decode[[]struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Caption string `json:"caption"`
			Photo   []struct {
				FileID string `json:"file_id"`
			} `json:"photo"`
		} `json:"message"`
	}](t, got.Result)
	require.Len(t, updates, 1)
	require.Equal(t, updateID, updates[0].UpdateID)
	require.Equal(t, "for the broadcast", updates[0].Message.Caption)
	require.Equal(t, fileID, updates[0].Message.Photo[len(updates[0].Message.Photo)-1].FileID)

	h := e.s.History(5)
	require.Len(t, h, 1)
	require.Equal(t, pic, h[0].Photo)
	require.Equal(t, "for the broadcast", h[0].Text)

	_, _, err = e.s.SendPhoto(5, []byte("not an image"), "")
	require.Error(t, err)

	// The same over the control API, for make run.
	status, body := e.sandbox(http.MethodPost, "/sandbox/users/5/photos",
		`{"photo":"`+base64.StdEncoding.EncodeToString(pic)+`","caption":"again"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	viaAPI := decode[struct {
		UpdateID int64  `json:"update_id"`
		FileID   string `json:"file_id"`
	}](t, body)
	require.Greater(t, viaAPI.UpdateID, updateID)
	require.True(t, e.callJSON("sendPhoto", map[string]any{"chat_id": 10, "photo": viaAPI.FileID}).OK)
	require.Equal(t, pic, e.s.Messages(10)[0].Photo)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/5/photos", `{"photo":"bm90IGFuIGltYWdl"}`)
	require.Equal(t, http.StatusBadRequest, status)
}
