// Command bot-handler handles Telegram updates from the TG_UPDATES stream:
// one durable consumer per partition keeps each chat's order across replicas,
// every update runs under a deadline, and an inbox table makes a redelivered
// update a no-op.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

const service = "bot-handler"

// drainTimeout bounds the NATS drain at shutdown.
const drainTimeout = 10 * time.Second

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
	botID, err := telegram.BotID(cfg.TelegramToken)
	if err != nil {
		return fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err)
	}

	ops := obs.NewOps(log)
	pool, err := pgdb.Open(ctx, cfg.DB, service, log, ops.Registry())
	if err != nil {
		return err
	}
	// Deferred in reverse: NATS is drained before the pool closes.
	defer pool.Close()
	nc, js, err := bus.Connect(ctx, cfg.NATSURL, service+"@"+cfg.Instance, log)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, drainTimeout, log)

	// The runner exists only once the bot knows who it is (getMe may wait for
	// Telegram); until then the service is live but not ready.
	var runner atomic.Pointer[bus.Runner]
	ops.AddLiveness("consumer", func(ctx context.Context) error {
		if r := runner.Load(); r != nil {
			return r.Live(ctx)
		}
		return nil
	})
	ops.AddReadiness("nats", bus.Ready(nc))
	ops.AddReadiness("postgres", pgdb.Ping(pool))
	ops.AddReadiness("consumer", func(ctx context.Context) error {
		if r := runner.Load(); r != nil {
			return r.Ready(ctx)
		}
		return errors.New("starting")
	})

	g, ctx := errgroup.WithContext(ctx)
	ops.SetWatchdog(cfg.WatchdogExitAfter)
	g.Go(func() error { return ops.Serve(ctx, cfg.OpsAddr) })
	// The DLQ's size, for the "DLQ not empty" alert; the sender exports it too.
	g.Go(func() error {
		return bus.WatchDLQ(ctx, js, []string{telegram.UpdatesStream}, bus.WatchInterval, ops.Registry(), log)
	})
	g.Go(func() error {
		if err := updates.DeclareStreams(ctx, js, log); err != nil {
			return startErr(ctx, err)
		}
		users := store.New(pool)
		// A nil interface, not a nil *Client, hides the Crypto Pay button.
		var invoicer bot.Invoicer
		if cfg.CryptoPayToken == "" {
			log.Info().Msg("CRYPTOPAY_TOKEN is not set: Crypto Pay is off, plans are paid with Telegram Stars only")
		} else {
			cp, err := cryptopay.New(cryptopay.Config{
				BaseURL: cfg.CryptoPayAPIURL, Token: cfg.CryptoPayToken, Registerer: ops.Registry(),
			})
			if err != nil {
				return err
			}
			invoicer = cp
		}
		b, err := bot.New(ctx, bot.Config{
			APIURL:       cfg.TelegramAPIURL,
			Token:        cfg.TelegramToken,
			Users:        users,
			Shop:         shop.New(pool, shop.Config{TrialDuration: cfg.TrialDuration, InvoiceTTL: cfg.InvoiceTTL}),
			CryptoPay:    invoicer,
			CryptoAssets: cfg.CryptoPayAssets,
			InvoiceTTL:   cfg.InvoiceTTL,
			Activations:  bot.StreamActivations{JS: js},
			Broadcasts:   users,
			Outbox:       bot.StreamOutbox{JS: js},
			AdminIDs:     cfg.AdminIDs,
			Support:      cfg.SupportContact,
			Log:          log,
			Registerer:   ops.Registry(),
		})
		if err != nil {
			return startErr(ctx, err)
		}
		defer b.Close()
		h, err := updates.NewHandler(botID, users, b, log, ops.Registry(), updates.WithCallbackMaxAge(cfg.CallbackMaxAge))
		if err != nil {
			return err
		}
		r, err := bus.NewRunner(js, bus.RunnerConfig{
			Stream:         telegram.UpdatesStream,
			SubjectPrefix:  telegram.UpdatesSubjectPrefix,
			Durable:        updates.Durable,
			Partitions:     cfg.Partitions,
			HandlerTimeout: cfg.HandlerTimeout,
			MaxDeliver:     cfg.MaxDeliver,
			RetryBase:      cfg.RetryBase,
			RetryMax:       cfg.RetryMax,
			FetchWait:      cfg.FetchWait,
			// While PostgreSQL is down nothing can be handled: stop fetching
			// rather than burn deliveries into the DLQ.
			Gate: pgdb.Ping(pool),
		}, h.Handle, log, ops.Registry())
		if err != nil {
			return err
		}
		runner.Store(r)
		// Returns once ctx is done and the handlers in flight have finished.
		return r.Run(ctx)
	})
	return g.Wait()
}

// startErr is err, unless start-up was cut short by shutdown, which is no error.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
