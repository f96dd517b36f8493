package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

// startSandbox runs the fake Telegram, retrying failed webhook deliveries
// quickly so that an outage test stays short.
func startSandbox(t *testing.T) *sandboxtg.Server {
	t.Helper()
	sb := sandboxtg.New(sandboxtg.Config{
		Token:     testToken,
		RetryBase: 50 * time.Millisecond,
		RetryMax:  400 * time.Millisecond,
		Log:       zerolog.Nop(),
	})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	return sb
}

// apiClient calls the sandbox as the bot would.
func apiClient(t *testing.T, sb *sandboxtg.Server) *telegram.Client {
	t.Helper()
	c, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: testToken})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// requireOncePerUpdateInChatOrder checks that msgs are exactly the updates
// ids, each once, each in its chat's partition with what the gateway read of
// it in its headers, and each chat's in the order they were written.
func requireOncePerUpdateInChatOrder(t *testing.T, msgs []*jetstream.RawStreamMsg, ids []int64) {
	t.Helper()
	var got []int64
	perChat := map[int64][]int64{}
	for _, m := range msgs {
		_, meta, err := telegram.DecodeUpdate(m.Data)
		require.NoError(t, err)
		require.Equal(t, testBotID+":"+strconv.FormatInt(meta.UpdateID, 10), m.Header.Get(nats.MsgIdHdr))
		require.Equal(t, telegram.UpdatesSubject(bus.Partition(meta.ChatID, telegram.DefaultPartitions)), m.Subject)
		for _, h := range []string{telegram.HeaderUpdateID, telegram.HeaderChatID, telegram.HeaderUserID} {
			require.Equal(t, meta.Header().Get(h), m.Header.Get(h), "update %d stored without its header %s", meta.UpdateID, h)
		}
		got = append(got, meta.UpdateID)
		perChat[meta.ChatID] = append(perChat[meta.ChatID], meta.UpdateID)
	}
	require.ElementsMatch(t, ids, got, "every update exactly once")
	for chat, seq := range perChat {
		require.True(t, slices.IsSorted(seq), "chat %d out of order: %v", chat, seq)
	}
}

func TestSandboxWebhookRedeliversEverythingAfterANATSOutage(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	h := startGateway(t, func(cfg *gateway.Config, url string) {
		cfg.Telegram.APIURL = sb.URL()
		cfg.WebhookPublicURL = url
		cfg.WebhookMaxConnections = 10
	})
	api := apiClient(t, sb)
	require.Eventually(t, func() bool { return len(h.logs.Lines(gateway.EventWebhookRegistered)) == 1 },
		10*time.Second, 20*time.Millisecond, "webhook never registered: %s", h.logs)
	info, err := api.GetWebhookInfo(context.Background())
	require.NoError(t, err)
	require.Equal(t, h.url+gateway.WebhookPath, info.URL)
	require.Equal(t, 10, info.MaxConnections)
	require.ElementsMatch(t, gateway.DefaultConfig().WebhookAllowedUpdates, info.AllowedUpdates)

	h.nats.Stop()
	require.Eventually(t, func() bool { return !h.nc.IsConnected() }, 5*time.Second, 10*time.Millisecond)
	var ids []int64
	for i := range 4 {
		for user := int64(101); user <= 103; user++ {
			ids = append(ids, sb.SendText(user, "message "+strconv.Itoa(i)))
		}
	}
	// Each chat's first update was refused (503) at least once; the rest wait
	// behind it, as they do at Telegram.
	require.Eventually(t, func() bool { return sb.Stats().DeliveryFailures >= 3 }, 10*time.Second, 10*time.Millisecond)
	require.Positive(t, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "503"))

	h.nats.Restart()
	require.Eventually(t, func() bool { return sb.Stats().Pending == 0 }, 20*time.Second, 20*time.Millisecond,
		"the sandbox still holds undelivered updates: %+v", sb.Stats())
	requireOncePerUpdateInChatOrder(t, waitStored(t, h.js, len(ids), 5*time.Second), ids)
}

func TestSandboxRegistrationSetsTheSecretOnEveryStart(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	api := apiClient(t, sb)
	var url string
	h := startGateway(t, func(cfg *gateway.Config, u string) {
		url = u
		cfg.Telegram.APIURL = sb.URL()
		cfg.WebhookPublicURL = u + "/custom/path"
	})
	require.Eventually(t, func() bool { return len(h.logs.Lines(gateway.EventWebhookRegistered)) == 1 },
		10*time.Second, 20*time.Millisecond)
	require.Contains(t, h.logs.String(), `"changed":["url","allowed_updates"]`)
	info, err := api.GetWebhookInfo(context.Background())
	require.NoError(t, err)
	require.Equal(t, url+"/custom/path", info.URL)
	require.NoError(t, h.stop())

	// A second start with the same settings changes nothing at Telegram but
	// sets the secret again, since Telegram cannot tell us which one it has.
	h2 := startGateway(t, func(cfg *gateway.Config, _ string) {
		cfg.Telegram.APIURL = sb.URL()
		cfg.WebhookPublicURL = url + "/custom/path"
	})
	require.Eventually(t, func() bool { return len(h2.logs.Lines(gateway.EventWebhookRegistered)) == 1 },
		10*time.Second, 20*time.Millisecond)
	require.Contains(t, h2.logs.String(), `"changed":[]`)
	require.Equal(t, 2, sb.Stats().Requests["setWebhook"])
	require.NotContains(t, h.logs.String()+h2.logs.String(), testToken)
}

func TestSandboxPollModeStoresUpdatesInOrderAndConfirmsOnlyStoredOnes(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	api := apiClient(t, sb)
	// A webhook left over from a webhook-mode deployment, with an update
	// Telegram could not deliver: poll mode must remove the webhook but keep
	// the update.
	require.NoError(t, api.SetWebhook(context.Background(), telegram.SetWebhookParams{
		URL: "http://127.0.0.1:1/gone", SecretToken: "x", AllowedUpdates: []string{"message"},
	}))
	ids := []int64{sb.SendText(201, "left over")}

	h := startGateway(t, func(cfg *gateway.Config, _ string) {
		cfg.Mode = gateway.ModePoll
		cfg.WebhookSecret = ""
		cfg.Telegram.APIURL = sb.URL()
	})
	for i := range 3 {
		for user := int64(201); user <= 202; user++ {
			ids = append(ids, sb.SendText(user, "poll "+strconv.Itoa(i)))
		}
	}
	msgs := waitStored(t, h.js, len(ids), 10*time.Second)
	requireOncePerUpdateInChatOrder(t, msgs, ids)
	require.Equal(t, ids, streamOrder(t, msgs), "one poller stores updates in Telegram's order")
	require.Eventually(t, func() bool { return sb.Stats().Pending == 0 }, 10*time.Second, 10*time.Millisecond,
		"stored updates must be confirmed to Telegram")
	require.Contains(t, h.logs.String(), gateway.EventWebhookDeleted)
	require.NoError(t, h.ops.Live(context.Background()))

	h.nats.Stop()
	require.Eventually(t, func() bool { return !h.nc.IsConnected() }, 5*time.Second, 10*time.Millisecond)
	down := []int64{sb.SendText(201, "while down 1"), sb.SendText(202, "while down 2"), sb.SendText(201, "while down 3")}
	// The poller has the first of them and keeps failing to store it…
	require.Eventually(t, func() bool {
		return len(h.logs.Lines(`"update_id":`+strconv.FormatInt(down[0], 10))) >= 2
	}, 10*time.Second, 10*time.Millisecond, "the poller never tried to store update %d: %s", down[0], h.logs)
	require.Contains(t, h.logs.String(), gateway.EventPublishFailed)
	// …and confirms none of them to Telegram meanwhile.
	require.Equal(t, len(down), sb.Stats().Pending)

	h.nats.Restart()
	ids = append(ids, down...)
	msgs = waitStored(t, h.js, len(ids), 20*time.Second)
	requireOncePerUpdateInChatOrder(t, msgs, ids)
	require.Equal(t, ids, streamOrder(t, msgs))
	require.Eventually(t, func() bool { return sb.Stats().Pending == 0 }, 10*time.Second, 10*time.Millisecond)
	require.Positive(t, metric(t, h.ops.Registry(), "vpnbot_gateway_published_total", "source", "poll"))
}

// A polled update that is not a valid update is skipped, as the webhook
// refuses it: not stored, logged, and confirmed to Telegram only by the
// offset of the next valid update, so polling goes on past it.
func TestSandboxPollModeSkipsInvalidUpdates(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	h := startGateway(t, func(cfg *gateway.Config, _ string) {
		cfg.Mode = gateway.ModePoll
		cfg.WebhookSecret = ""
		cfg.Telegram.APIURL = sb.URL()
	})
	before := sb.SendText(203, "before")
	sb.Enqueue(203, json.RawMessage(fmt.Sprintf(
		`{"update_id":%d,"message":{"message_id":2,"chat":{"id":203,"type":"private"},"date":1700000000,"text":"a","text":"b"}}`, before+1)))
	after := sb.SendText(203, "after")

	msgs := waitStored(t, h.js, 2, 10*time.Second)
	requireOncePerUpdateInChatOrder(t, msgs, []int64{before, after})
	require.Eventually(t, func() bool { return sb.Stats().Pending == 0 }, 10*time.Second, 10*time.Millisecond,
		"the invalid update was never confirmed")
	skipped := h.logs.Lines(gateway.EventUpdateMalformed)
	require.NotEmpty(t, skipped)
	require.Contains(t, skipped[0], telegram.ErrDuplicateKey.Error())
}

func streamOrder(t *testing.T, msgs []*jetstream.RawStreamMsg) []int64 {
	t.Helper()
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		_, meta, err := telegram.DecodeUpdate(m.Data)
		require.NoError(t, err)
		out[i] = meta.UpdateID
	}
	return out
}
