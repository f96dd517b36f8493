// Command sandbox-server serves the fakes of the outside systems
// (pkg/sandbox) as one standalone process, for docker compose's `sandbox`
// profile, where the services run in containers of their own; `make run`
// (services/devstack) needs no such process, as the local stack
// (pkg/localstack) starts the same fakes in-process. It serves the Telegram
// Bot API with its /sandbox/ control API for curl (TELEGRAM_ADDR; the web
// chat is make run's console), Crypto Pay with its pay page
// (CRYPTOPAY_ADDR) and a Remnawave VPN panel (REMNAWAVE_ADDR) speaking the
// 2.x or 3.x API (REMNAWAVE_VERSION, default 2); the services
// reach them through TELEGRAM_API_URL, CRYPTOPAY_API_URL and REMNAWAVE_URL
// (deploy/compose/sandbox.env).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

const service = "sandbox-server"

// Config is the sandbox server's configuration, read once from the
// environment.
type Config struct {
	Instance string `env:"INSTANCE"`
	LogLevel string `env:"LOG_LEVEL"`
	// TelegramToken is the bot token the fake Telegram accepts: the
	// services' TELEGRAM_BOT_TOKEN.
	TelegramToken string `env:"TELEGRAM_BOT_TOKEN" secret:"true"`
	TelegramAddr  string `env:"TELEGRAM_ADDR"`
	// CryptoPayToken is the API token the fake Crypto Pay accepts and signs
	// its webhooks with: the services' CRYPTOPAY_TOKEN.
	CryptoPayToken string `env:"CRYPTOPAY_TOKEN" secret:"true"`
	CryptoPayAddr  string `env:"CRYPTOPAY_ADDR"`
	// CryptoPayWebhookURL receives invoice_paid updates: the gateway's
	// /cryptopay/webhook.
	CryptoPayWebhookURL string `env:"CRYPTOPAY_WEBHOOK_URL"`
	// CryptoPayPublicURL starts the pay links in invoices: where a browser
	// reaches CRYPTOPAY_ADDR.
	CryptoPayPublicURL string `env:"CRYPTOPAY_PUBLIC_URL"`
	RemnawaveToken     string `env:"REMNAWAVE_TOKEN" secret:"true"`
	RemnawaveAddr      string `env:"REMNAWAVE_ADDR"`
	// RemnawaveVersion is the panel API the fake Remnawave serves: 2 or 3.
	RemnawaveVersion int `env:"REMNAWAVE_VERSION"`
}

func defaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Instance:         host,
		LogLevel:         "info",
		TelegramAddr:     ":8080",
		CryptoPayAddr:    ":8082",
		RemnawaveAddr:    ":8083",
		RemnawaveToken:   "sandbox",
		RemnawaveVersion: 2,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	if c.TelegramToken == "" || c.CryptoPayToken == "" || c.RemnawaveToken == "" {
		return errors.New("TELEGRAM_BOT_TOKEN, CRYPTOPAY_TOKEN and REMNAWAVE_TOKEN are required")
	}
	if c.RemnawaveVersion != 2 && c.RemnawaveVersion != 3 {
		return fmt.Errorf("REMNAWAVE_VERSION=%d: want 2 or 3", c.RemnawaveVersion)
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, service+":", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load(defaultConfig())
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(nil, service, cfg.Instance, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventServiceStart).Msg("starting")
	defer log.Info().Str("event", obs.EventServiceStop).Msg("stopped")
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(cfg)).Msg("configuration")

	tg := sandboxtg.New(sandboxtg.Config{
		Token: cfg.TelegramToken,
		// The database keeps the bot's inbox across restarts; update ids
		// must only grow, as Telegram's do.
		FirstUpdateID: time.Now().UnixMilli(),
		Log:           log,
	})
	defer tg.Close()
	if err := tg.Start(cfg.TelegramAddr); err != nil {
		return err
	}
	cp := sandboxcp.New(sandboxcp.Config{
		Token:      cfg.CryptoPayToken,
		WebhookURL: cfg.CryptoPayWebhookURL,
		PublicURL:  cfg.CryptoPayPublicURL,
		Log:        log,
	})
	defer cp.Close()
	if err := cp.Start(cfg.CryptoPayAddr); err != nil {
		return err
	}
	panel := remnawave.New(remnawave.Config{Token: cfg.RemnawaveToken, Version: cfg.RemnawaveVersion, Log: log})
	defer panel.Close()
	if err := panel.Start(cfg.RemnawaveAddr); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
