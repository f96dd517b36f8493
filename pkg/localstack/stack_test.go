package localstack

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) != "" {
		os.Exit(standIn())
	}
	goleak.VerifyTestMain(m)
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Host
}

// TestStartAnswersAUserAndCloseLeavesNothingBehind builds the services, starts
// the system with one bot-handler, has a user write /start and expects the
// bot's reply in the chat; then Close must leave no process running and no
// port bound, the sandboxes' included.
func TestStartAnswersAUserAndCloseLeavesNothingBehind(t *testing.T) {
	db := pgdbtest.New(t)
	var out obstest.LogBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	bin := t.TempDir()
	s, err := Start(ctx, Config{
		Dir:         t.TempDir(),
		BinDir:      bin,
		DatabaseURL: db.DSN,
		GlobalRate:  -1,
		ChatRate:    -1,
		Output:      &out,
	})
	require.NoError(t, err, "output:\n%s", out.String())
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
		if t.Failed() {
			t.Logf("service output:\n%s", out.String())
		}
	})

	const user = 1001
	s.Sandbox.SendText(user, "/start")
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	msgs, err := s.Sandbox.WaitMessages(wctx, user, 1)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.EqualValues(t, 1, msgs[0].ReplyTo, "the reply answers the user's /start, the chat's first message")
	require.NotEmpty(t, msgs[0].Plain)

	// The operator's view of the same update; it is counted once the
	// handler has returned, a moment after the reply went out.
	var m map[string]float64
	require.Eventually(t, func() bool {
		m, err = s.Metrics(ctx, BotHandler, 0)
		return err == nil && m[`vpnbot_bot_updates_total{outcome="handled"}`] == 1
	}, 5*time.Second, 20*time.Millisecond, "metrics: %v %v", err, m)
	require.Equal(t, 1.0, m["vpnbot_bot_updates_total"], "summed over outcomes")
	_, err = s.Metrics(ctx, Gateway, 0)
	require.NoError(t, err)
	_, err = s.Metrics(ctx, BotHandler, 1)
	require.Error(t, err, "there is no second replica")

	// The payment and VPN sandboxes answer the real clients, with the
	// credentials the Stack hands out.
	cpHTTP := &http.Client{Transport: &http.Transport{}}
	defer cpHTTP.CloseIdleConnections()
	cp, err := cryptopay.New(cryptopay.Config{BaseURL: s.CryptoPay.URL(), Token: DefaultCryptoPayToken, HTTPClient: cpHTTP})
	require.NoError(t, err)
	_, err = cp.GetMe(ctx)
	require.NoError(t, err, "the Crypto Pay sandbox accepts the stack's token")
	outline, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: s.Outline.APIURL(), CertSHA256: s.Outline.CertSHA256()})
	require.NoError(t, err)
	page, err := outline.Accounts(ctx, "")
	require.NoError(t, err, "the Outline sandbox answers over its pinned certificate")
	require.Empty(t, page.Accounts)
	require.NoError(t, outline.Close())
	require.Len(t, s.Panels, DefaultPanels, "a second Outline panel to fail over to")
	require.Same(t, s.Outline, s.Panels[0].Server, "Outline is the first panel")

	// The key server answers from the database: no account has this token.
	resp, err := cpHTTP.Get(s.KeyServerURL + "/k/0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	m, err = s.Metrics(ctx, KeyServer, 0)
	require.NoError(t, err)
	require.Equal(t, 1.0, m[`vpnbot_keyserver_requests_total{outcome="unknown"}`], "metrics: %v", m)

	// The cabinet serves its page, and its API only to a signed-in user.
	resp, err = cpHTTP.Get(s.WebAppURL + "/")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = cpHTTP.Get(s.WebAppURL + "/api/me")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	m, err = s.Metrics(ctx, WebApp, 0)
	require.NoError(t, err)
	require.Equal(t, 1.0, m[`vpnbot_webapp_requests_total{code="401",route="GET /api/me"}`], "metrics: %v", m)

	// The sender delivers what a service puts in the outbox.
	nc, js := bustest.Connect(t, s.NATSURL)
	_, err = outbox.Publish(ctx, js, &vpnbotv1.SendMessage{
		DedupId: "stack-test:1", ChatId: 1003, Text: "your key is ready", Priority: vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
	})
	require.NoError(t, err)
	sent, err := s.Sandbox.WaitMessages(wctx, 1003, 1)
	require.NoError(t, err, "the sender sent the outbox command")
	require.Equal(t, "your key is ready", sent[0].Plain)
	_, err = s.Metrics(ctx, Sender, 0)
	require.NoError(t, err)
	nc.Close()

	// A replica stopped gracefully and started again takes up the work.
	require.NoError(t, s.Stop(BotHandler, 0), "a bot-handler stops cleanly on SIGTERM")
	require.Error(t, s.Stop(BotHandler, 0), "it is no longer running")
	require.NoError(t, s.Start(BotHandler, 0))
	require.Error(t, s.Start(BotHandler, 0), "it is already running")
	const later = 1002
	s.Sandbox.SendText(later, "/help")
	msgs, err = s.Sandbox.WaitMessages(wctx, later, 1)
	require.NoError(t, err)
	require.EqualValues(t, 1, msgs[0].ReplyTo)

	s.mu.Lock()
	gateway, sender, handler, keys, app := s.lookup(Gateway, 0), s.lookup(Sender, 0), s.lookup(BotHandler, 0), s.lookup(KeyServer, 0), s.lookup(WebApp, 0)
	pids := []int{gateway.proc.Pid(), sender.proc.Pid(), handler.proc.Pid(), keys.proc.Pid(), app.proc.Pid()}
	addrs := []string{gateway.opsAddr, sender.opsAddr, handler.opsAddr, keys.opsAddr, app.opsAddr,
		hostPort(t, s.GatewayURL), hostPort(t, s.KeyServerURL), hostPort(t, s.WebAppURL),
		hostPort(t, s.Sandbox.URL()), hostPort(t, s.NATSURL),
		hostPort(t, s.CryptoPay.URL())}
	for _, p := range s.Panels {
		addrs = append(addrs, hostPort(t, p.APIURL()))
	}
	s.mu.Unlock()

	closed = true
	require.NoError(t, s.Close(), "every service stops cleanly on SIGTERM")
	require.NoError(t, s.Close(), "a second Close does nothing")
	for _, pid := range pids {
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "process %d still exists", pid)
	}
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err, "%s is still bound", addr)
		require.NoError(t, ln.Close())
	}

	t.Run("a failed migration stops the start and says why", func(t *testing.T) {
		var out obstest.LogBuffer
		_, err := Start(ctx, Config{
			Dir:         t.TempDir(),
			BinDir:      bin,
			Prebuilt:    true, // built above
			DatabaseURL: "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
			Output:      &out,
		})
		require.ErrorContains(t, err, "migrating the database")
		require.ErrorContains(t, err, `"event":"SERVICE_STOP"`, "the job's own log is in the error")
		require.Contains(t, out.String(), "migrate", "and in Output, prefixed with the job's name")
	})
}
