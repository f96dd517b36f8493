package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

func TestWebhookStoresUpdateInItsChatsPartition(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	body := update(7001, -1001234567890, "hello")

	resp := h.post(t, body, ptr(testSecret))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	msgs := waitStored(t, h.js, 1, 5*time.Second)
	require.Equal(t, telegram.UpdatesSubject(bus.Partition(-1001234567890, telegram.DefaultPartitions)), msgs[0].Subject)
	require.Equal(t, testBotID+":7001", msgs[0].Header.Get(nats.MsgIdHdr))
	require.Equal(t, body, msgs[0].Data, "the raw body is stored byte for byte")
	require.Equal(t, "7001", msgs[0].Header.Get(telegram.HeaderUpdateID))
	require.Equal(t, "-1001234567890", msgs[0].Header.Get(telegram.HeaderChatID))
	require.Equal(t, "-1001234567890", msgs[0].Header.Get(telegram.HeaderUserID))
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "200"))
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_publish_duration_seconds"))
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_request_duration_seconds"))
}

func TestWebhookStoresARedeliveredUpdateOnce(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	body := update(7002, 42, "again")

	require.Equal(t, http.StatusOK, h.post(t, body, ptr(testSecret)).StatusCode)
	require.Equal(t, http.StatusOK, h.post(t, body, ptr(testSecret)).StatusCode)

	waitStored(t, h.js, 1, 5*time.Second)
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_duplicates_total"))
	require.Equal(t, 2.0, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "200"))
}

func TestWebhookRefusesWrongOrMissingSecretButCountsTheRequest(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	body := update(7003, 42, "intruder")

	before := time.Now()
	require.Equal(t, http.StatusUnauthorized, h.post(t, body, ptr("wrong-secret")).StatusCode)
	require.Equal(t, http.StatusUnauthorized, h.post(t, body, nil).StatusCode)
	require.Equal(t, http.StatusUnauthorized, h.post(t, body, ptr(testSecret+"x")).StatusCode)

	msgs, err := stored(h.js)
	require.NoError(t, err)
	require.Empty(t, msgs, "nothing from a caller without the secret is stored")
	reg := h.ops.Registry()
	require.Equal(t, 3.0, metric(t, reg, "vpnbot_gateway_requests_total", "status", "401"))
	// The request time is stamped before the secret check (on-call sees that
	// Telegram reaches us even when the secret is misconfigured).
	require.GreaterOrEqual(t, metric(t, reg, "vpnbot_gateway_last_request_timestamp_seconds"), float64(before.Unix()))
	logs := h.logs.String()
	require.Len(t, h.logs.Lines(`"event":"WEBHOOK_REJECTED"`), 3, logs)
	require.Contains(t, logs, `"reason":"bad_secret"`)
	require.Contains(t, logs, `"reason":"no_secret"`)
	require.NotContains(t, logs, testSecret)
	require.NotContains(t, logs, "intruder")
}

func TestWebhookRejectsBadBodies(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	huge := append(update(7004, 42, strings.Repeat("x", gateway.MaxBodyBytes)), ' ')

	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		reason string
	}{
		{"over 1 MiB", huge, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"not JSON", []byte("private words, not json"), http.StatusBadRequest, "not_json"},
		{"no update_id", []byte(`{"message":{"chat":{"id":42},"text":"private words"}}`), http.StatusBadRequest, "no_update_id"},
		{"update_id zero", []byte(`{"update_id":0}`), http.StatusBadRequest, "no_update_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.post(t, tc.body, ptr(testSecret))
			require.Equal(t, tc.status, resp.StatusCode)
			require.Contains(t, h.logs.String(), `"reason":"`+tc.reason+`"`)
		})
	}
	msgs, err := stored(h.js)
	require.NoError(t, err)
	require.Empty(t, msgs)
	require.Equal(t, 3.0, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "400"))
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "413"))
	require.NotContains(t, h.logs.String(), "private words", "bodies are never logged")
}

// TestWebhookStoresOnlyValidUpdates holds the webhook to
// telegram.DecodeUpdate's definition, which the bot-handler decodes with:
// a body it refuses is answered 400 with the reason, and nothing is stored.
// Among them are the cases an outside tester found stored and then
// dead-lettered, or routed as if they had no chat.
func TestWebhookStoresOnlyValidUpdates(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	// deep nests depth levels.
	deep := func(depth int) []byte {
		return []byte(`{"update_id":7020,"message":{"chat":{"id":42},"text":"private words"},"a":` +
			strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
	}
	withChatID := func(id string) []byte {
		return []byte(`{"update_id":7030,"message":{"from":{"id":42},"chat":{"id":` + id + `,"type":"private"},"text":"private words"}}`)
	}

	cases := []struct {
		name   string
		body   []byte
		reason string
	}{
		{"invalid UTF-8", []byte("{\"update_id\":7010,\"message\":{\"chat\":{\"id\":42},\"text\":\"private words \xff\"}}"), "invalid_utf8"},
		{"update_id twice, a number then a string", []byte(`{"update_id":7011,"message":{"chat":{"id":42},"text":"private words"},"update_id":"7012"}`), "duplicate_key"},
		{"a chat id twice", []byte(`{"update_id":7013,"message":{"chat":{"id":42,"id":43},"text":"private words"}}`), "duplicate_key"},
		{"keys differing only in case", []byte(`{"update_id":7014,"message":{"chat":{"id":42},"text":"private words","Text":"other words"}}`), "duplicate_key"},
		{"one level deeper than allowed", deep(telegram.MaxUpdateDepth + 1), "too_deep"},
		{"deeper than encoding/json allows", deep(10001), "too_deep"},
		{"chat id 1e400", withChatID("1e400"), "bad_id"},
		{"chat id 1.5", withChatID("1.5"), "bad_id"},
		{`chat id "1"`, withChatID(`"1"`), "bad_id"},
		{"chat id 2^63", withChatID("9223372036854775808"), "bad_id"},
		{"user id 1e400", []byte(`{"update_id":7040,"callback_query":{"id":"q","from":{"id":1e400},"data":"private words"}}`), "bad_id"},
		{`update_id "1"`, []byte(`{"update_id":"1","message":{"chat":{"id":42},"text":"private words"}}`), "no_update_id"},
		{"update_id 1.5", []byte(`{"update_id":1.5}`), "no_update_id"},
		{"update_id 2^63", []byte(`{"update_id":9223372036854775808}`), "no_update_id"},
		{"a text that is a number", []byte(`{"update_id":7050,"message":{"chat":{"id":42},"text":5}}`), "undecodable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.post(t, tc.body, ptr(testSecret))
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			answer, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Contains(t, string(answer), tc.reason, "the answer says why")
			require.Contains(t, h.logs.String(), `"reason":"`+tc.reason+`"`)
		})
	}
	// The same gateway stores a valid update: the refusals were the bodies'.
	require.Equal(t, http.StatusOK, h.post(t, update(7060, 42, "valid"), ptr(testSecret)).StatusCode)
	msgs := waitStored(t, h.js, 1, 5*time.Second)
	require.Equal(t, "7060", msgs[0].Header.Get(telegram.HeaderUpdateID), "only the valid update is stored")
	require.Equal(t, float64(len(cases)), metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "400"))
	require.NotContains(t, h.logs.String(), "private words", "bodies are never logged")
}

func TestWebhookAnswers503WhileNATSIsDownAndRecovers(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	h.nats.Stop()
	require.Eventually(t, func() bool { return h.ops.Ready(context.Background()) != nil },
		5*time.Second, 10*time.Millisecond, "readiness must follow the NATS connection")

	start := time.Now()
	resp := h.post(t, update(7005, 42, "during outage"), ptr(testSecret))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Less(t, time.Since(start), 2*time.Second+time.Second, "bounded by PUBLISH_TIMEOUT")
	require.Contains(t, h.logs.String(), `"event":"PUBLISH_FAILED"`)
	require.Equal(t, 1.0, metric(t, h.ops.Registry(), "vpnbot_gateway_requests_total", "status", "503"))

	h.nats.Restart()
	require.Eventually(t, func() bool { return h.ops.Ready(context.Background()) == nil },
		10*time.Second, 20*time.Millisecond, "ready again once NATS is back")
	require.Equal(t, http.StatusOK, h.post(t, update(7005, 42, "during outage"), ptr(testSecret)).StatusCode)
	waitStored(t, h.js, 1, 5*time.Second)
}

func TestWebhookDeclaresTheStreamAgainWhenItWentMissing(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	require.NoError(t, h.js.DeleteStream(context.Background(), telegram.UpdatesStream))
	body := update(7008, 42, "after the stream was lost")

	// The first publish finds no stream on its subject: answered 503, it
	// asks for the streams again, and Telegram's retry is stored.
	require.Equal(t, http.StatusServiceUnavailable, h.post(t, body, ptr(testSecret)).StatusCode)
	require.Eventually(t, func() bool { return h.post(t, body, ptr(testSecret)).StatusCode == http.StatusOK },
		10*time.Second, 50*time.Millisecond, "the stream was never declared again: %s", h.logs)
	waitStored(t, h.js, 1, 5*time.Second)
}

func TestShutdownLetsARequestInFlightFinish(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	body := update(7006, 42, "slow client")
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, h.url+gateway.WebhookPath, pr)
	require.NoError(t, err)
	req.Header.Set(gateway.SecretHeader, testSecret)
	statuses := make(chan int, 1)
	go func() {
		resp, err := h.client.Do(req)
		if err != nil {
			statuses <- 0
			return
		}
		_ = resp.Body.Close()
		statuses <- resp.StatusCode
	}()
	_, err = pw.Write(body[:10])
	require.NoError(t, err)
	// The handler has started once it stamped the request.
	require.Eventually(t, func() bool {
		return metric(t, h.ops.Registry(), "vpnbot_gateway_last_request_timestamp_seconds") > 0
	}, 5*time.Second, 10*time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	_, err = pw.Write(body[10:])
	require.NoError(t, err)
	require.NoError(t, pw.Close())

	select {
	case status := <-statuses:
		require.Equal(t, http.StatusOK, status)
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight got no answer")
	}
	require.NoError(t, <-stopped)
	waitStored(t, h.js, 1, 5*time.Second)
}

func TestWatchdogWarnsOnceWhenNoTrafficCame(t *testing.T) {
	t.Parallel()
	h := startGateway(t, func(cfg *gateway.Config, _ string) { cfg.WatchdogGrace = 100 * time.Millisecond })
	require.Eventually(t, func() bool { return len(h.logs.Lines(obs.EventWatchdogGraceEnd)) > 0 },
		5*time.Second, 10*time.Millisecond)
	require.Len(t, h.logs.Lines(obs.EventWatchdogGraceEnd), 1)
	require.Contains(t, h.logs.String(), "WEBHOOK_PUBLIC_URL")
}

func TestWatchdogStaysQuietWhenEvenARejectedRequestCame(t *testing.T) {
	t.Parallel()
	h := startGateway(t, func(cfg *gateway.Config, _ string) { cfg.WatchdogGrace = 300 * time.Millisecond })
	require.Equal(t, http.StatusUnauthorized, h.post(t, update(7007, 42, "x"), ptr("wrong")).StatusCode)
	require.Eventually(t, func() bool { return len(h.logs.Lines("watchdog grace period over")) > 0 },
		5*time.Second, 10*time.Millisecond)
	require.Empty(t, h.logs.Lines(obs.EventWatchdogGraceEnd))
}

func TestWebhookOnlyAcceptsPOST(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	resp, err := h.client.Get(h.url + gateway.WebhookPath)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// FuzzWebhook feeds arbitrary bodies, with the right secret, to the webhook
// handler publishing to a real JetStream: whatever the body, the answer is
// one a Telegram client understands, never a crash, and a body is refused
// exactly when it is not a valid update (telegram.DecodeUpdate).
func FuzzWebhook(f *testing.F) {
	for _, seed := range [][]byte{
		update(1, 42, "hi"), []byte(`{"update_id":2}`), []byte(`{"update_id":-1}`), []byte(`null`),
		[]byte(`{"update_id":3,"callback_query":{"from":{"id":5},"message":{"chat":{"id":6}}}}`),
		[]byte(`[1,2]`), []byte(`{"update_id":1e3}`), {0xff, 0xfe}, nil,
		[]byte(`{"update_id":4,"update_id":"4"}`), []byte(`{"update_id":5,"message":{"chat":{"id":1e400}}}`),
		[]byte(`{"update_id":6,"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`),
		[]byte("{\"update_id\":7,\"message\":{\"text\":\"\xff\"}}"),
	} {
		f.Add(seed)
	}
	srv := bustest.NewServer(f)
	nc, js := bustest.Connect(f, srv.URL())
	require.NoError(f, bus.DeclareStreams(context.Background(), js, telegram.UpdatesStreamConfig()))
	cfg := gateway.DefaultConfig()
	cfg.Telegram.Token, cfg.WebhookSecret, cfg.PublishTimeout = testToken, testSecret, 2*time.Second
	require.NoError(f, cfg.Validate())
	// The streams are declared above: nothing to declare again.
	gw, err := gateway.New(cfg, gateway.Deps{Log: zerolog.Nop(), NC: nc, JS: js, Ops: obs.NewOps(zerolog.Nop()), RedeclareStreamsFunc: func() {}})
	require.NoError(f, err)
	handler := gw.Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, gateway.WebhookPath, bytes.NewReader(body))
		req.Header.Set(gateway.SecretHeader, testSecret)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		_, _, invalid := telegram.DecodeUpdate(body)
		switch {
		case rec.Code == http.StatusBadRequest && invalid == nil:
			t.Fatalf("valid update %q refused: %s", body, rec.Body)
		case rec.Code == http.StatusOK && invalid != nil:
			t.Fatalf("invalid update %q stored (%v)", body, invalid)
		case rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest &&
			rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusServiceUnavailable:
			t.Fatalf("body %q answered %d", body, rec.Code)
		}
	})
}
