package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

const (
	testToken  = "123456:TEST-token_value"
	testBotID  = "123456"
	testSecret = "s3cret_webhook-token"
)

// harness is one gateway, run by the service skeleton as in production,
// against its own embedded NATS.
type harness struct {
	nats    *bustest.Server
	nc      *nats.Conn          // the gateway's connection
	js      jetstream.JetStream // the test's own, which outlives the gateway
	ops     *obs.Ops
	addr    string // host:port of the webhook server
	url     string // http://host:port of the webhook server
	logs    *obstest.LogBuffer
	client  *http.Client
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
	runErr  error
}

// startGateway runs a webhook-mode gateway; configure may change the
// configuration, knowing the URL the gateway will listen on.
func startGateway(t *testing.T, configure func(cfg *gateway.Config, url string)) *harness {
	t.Helper()
	h := &harness{nats: bustest.NewServer(t), logs: &obstest.LogBuffer{}, done: make(chan error, 1)}
	_, h.js = bustest.Connect(t, h.nats.URL())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.addr, h.url = ln.Addr().String(), "http://"+ln.Addr().String()
	// The skeleton listens on its own: the port is only picked here.
	require.NoError(t, ln.Close())

	// The whole configuration goes in as the defaults: the tests set no
	// environment, so the skeleton reads it as it is.
	cfg := gateway.DefaultConfig()
	cfg.Base = config.Base{Instance: "test", LogLevel: "debug", OpsAddr: "127.0.0.1:0", NATSURL: h.nats.URL(), StreamReplicas: 1}
	cfg.Telegram.Token = testToken
	cfg.WebhookSecret = testSecret
	cfg.HTTPAddr = h.addr
	cfg.Telegram.APIURL = "http://127.0.0.1:1" // nothing to call unless a test says so
	cfg.PublishTimeout = 2 * time.Second
	cfg.WatchdogGrace = 0
	if configure != nil {
		configure(&cfg, h.url)
	}
	h.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}

	built := make(chan *service.Service, 1)
	spec := service.Spec[gateway.Config]{
		Name:      "gateway",
		Defaults:  cfg,
		Streams:   []jetstream.StreamConfig{telegram.UpdatesStreamConfig(), events.StreamConfig()},
		LogOutput: h.logs,
		BuildFunc: func(_ context.Context, cfg gateway.Config, s *service.Service) error {
			built <- s
			return gateway.Start(s, cfg)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- service.Run(ctx, spec) }()
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("gateway stopped with: %v", err)
		}
	})
	select {
	case s := <-built:
		h.ops, h.nc = s.Ops, s.NC
	case err := <-h.done:
		h.stopped.Do(func() {}) // nothing left to stop
		t.Fatalf("the gateway stopped before it was built: %v", err)
	}
	require.Eventually(t, func() bool { return h.ops.Ready(context.Background()) == nil },
		10*time.Second, 20*time.Millisecond, "gateway never became ready")
	return h
}

// stop cancels the gateway and returns what service.Run returned.
func (h *harness) stop() error {
	h.stopped.Do(func() {
		h.cancel()
		select {
		case h.runErr = <-h.done:
		case <-time.After(20 * time.Second):
			h.runErr = errors.New("Run did not return within 20s of cancel")
		}
	})
	return h.runErr
}

// post sends body to the webhook with the secret header (none when secret is nil).
func (h *harness) post(t *testing.T, body []byte, secret *string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+gateway.WebhookPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if secret != nil {
		req.Header.Set(gateway.SecretHeader, *secret)
	}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	return resp
}

func ptr(s string) *string { return &s }

// stored returns what TG_UPDATES holds, in stream order.
func stored(js jetstream.JetStream) ([]*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, telegram.UpdatesStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// waitStored waits until the stream holds exactly n messages and returns them.
func waitStored(t *testing.T, js jetstream.JetStream, n int, within time.Duration) []*jetstream.RawStreamMsg {
	t.Helper()
	var msgs []*jetstream.RawStreamMsg
	var err error
	require.Eventually(t, func() bool {
		msgs, err = stored(js)
		return err == nil && len(msgs) >= n
	}, within, 20*time.Millisecond, "stream never held %d messages", n)
	require.Len(t, msgs, n)
	return msgs
}

// metric returns the value of a counter or gauge, or the sample count of a
// histogram, with the given label name, value pairs (0 when it has no such
// series yet).
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	v, _ := obstest.Metric(t, reg, name, want)
	return v
}

func update(id, chatID int64, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"U"},"chat":{"id":%d,"type":"private"},"date":1700000000,"text":%q}}`,
		id, id, chatID, chatID, text)
}
