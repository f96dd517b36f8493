package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123:secret")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, ":9102", cfg.OpsAddr)
	require.Equal(t, int32(10), cfg.PoolMaxSize)
	require.Equal(t, "https://api.telegram.org", cfg.Telegram.APIURL)
	require.Equal(t, telegram.DefaultPartitions, cfg.Partitions)
	require.Equal(t, 25*time.Second, cfg.HandlerTimeout)
	require.Equal(t, 10, cfg.MaxDeliver)
	require.Equal(t, "***", config.Fields(cfg)["TELEGRAM_BOT_TOKEN"])
	require.Equal(t, []string{"USDT", "TON", "BTC"}, cfg.CryptoPayAssets)
	require.Equal(t, "https://pay.crypt.bot", cfg.CryptoPayAPIURL)
	require.Equal(t, 72*time.Hour, cfg.TrialDuration)
	require.Equal(t, time.Hour, cfg.InvoiceTTL)
	require.Empty(t, cfg.CryptoPayToken, "without a token Crypto Pay is off")

	t.Setenv("ADMIN_IDS", "1,2")
	t.Setenv("CRYPTOPAY_TOKEN", "99:crypto-secret")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, cfg.AdminIDs)
	require.Equal(t, "***", config.Fields(cfg)["CRYPTOPAY_TOKEN"])
	t.Setenv("INVOICE_TTL", "0s")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "INVOICE_TTL")
	t.Setenv("INVOICE_TTL", "1h")

	t.Setenv("TELEGRAM_BOT_TOKEN", "")
	t.Setenv("UPDATE_PARTITIONS", "0")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "TELEGRAM_BOT_TOKEN is required")
	require.ErrorContains(t, err, "UPDATE_PARTITIONS=0")

	t.Setenv("TELEGRAM_BOT_TOKEN", "no-colon-secret")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "TELEGRAM_BOT_TOKEN")
	require.NotContains(t, err.Error(), "no-colon-secret")
}

// TestServiceAnswersAndStopsCleanly runs the whole service as main does:
// it becomes ready, answers an update from the stream, and returns nil when
// told to stop.
func TestServiceAnswersAndStopsCleanly(t *testing.T) {
	const token = "777:main-test-secret"
	db := pgdbtest.New(t)
	ns := bustest.NewServer(t)
	sb := sandboxtg.New(sandboxtg.Config{Token: token, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	ops := freeAddr(t)
	t.Setenv("DATABASE_URL", db.DSN)
	t.Setenv("NATS_URL", ns.URL())
	t.Setenv("TELEGRAM_BOT_TOKEN", token)
	t.Setenv("TELEGRAM_API_URL", sb.URL())
	t.Setenv("OPS_ADDR", ops)
	t.Setenv("UPDATE_PARTITIONS", "2")
	t.Setenv("FETCH_WAIT", "200ms")
	t.Setenv("LOG_LEVEL", "warn")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- service.Run(ctx, spec()) }()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	require.Eventually(t, func() bool { return get(client, "http://"+ops+"/readyz") == http.StatusOK },
		15*time.Second, 50*time.Millisecond, "the service becomes ready")
	require.Equal(t, http.StatusOK, get(client, "http://"+ops+"/livez"))

	// Play the gateway for one update.
	sb.SendText(4242, "/help")
	body, err := json.Marshal(map[string]any{"timeout": 0})
	require.NoError(t, err)
	resp, err := client.Post(sb.URL()+"/bot"+token+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var answer struct {
		Result []json.RawMessage `json:"result"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	require.NoError(t, resp.Body.Close())
	require.Len(t, answer.Result, 1)
	_, js := bustest.Connect(t, ns.URL())
	pubCtx, pubCancel := context.WithTimeout(ctx, 5*time.Second)
	defer pubCancel()
	_, err = bus.Publish(pubCtx, js, telegram.UpdatesSubject(bus.Partition(4242, 2)), answer.Result[0], "777:1")
	require.NoError(t, err)
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	msgs, err := sb.WaitMessages(waitCtx, 4242, 1)
	require.NoError(t, err)
	require.Contains(t, msgs[0].Text, "/start")

	// The answer is sent before the update is recorded and counted.
	require.Eventually(t, func() bool {
		return strings.Contains(getBody(t, client, "http://"+ops+"/metrics"), `vpnbot_bot_updates_total{outcome="handled"} 1`)
	}, 5*time.Second, 20*time.Millisecond)
	metrics := getBody(t, client, "http://"+ops+"/metrics")
	require.True(t, strings.Contains(metrics, `vpnbot_telegram_requests_total{method="sendMessage",outcome="ok"} 1`))
	require.True(t, strings.Contains(metrics, "vpnbot_db_pool_max_conns 10"))

	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not return after its context was cancelled")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func get(client *http.Client, url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return string(b)
}
