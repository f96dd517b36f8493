// Command gateway receives Telegram updates (webhook, or long polling in
// development) and stores them in the TG_UPDATES stream for the bot-handler.
// See internal/gateway for what it guarantees.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

// drainTimeout bounds flushing the publishes still buffered at shutdown.
const drainTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) (err error) {
	cfg, err := config.Load(gateway.DefaultConfig())
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(nil, "gateway", cfg.Instance, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventServiceStart).Fields(config.Fields(cfg)).Msg("gateway starting")
	// Every service states its share of the connection budget, the gateway's
	// being none: on-call checks one event across the fleet.
	log.Info().Str("event", obs.EventDBPoolMaxSize).Int("value", 0).Msg("DB_POOL_MAX_SIZE=0 (the gateway uses no database)")
	defer func() {
		ev := log.Info()
		if err != nil {
			ev = log.Error().Err(err)
		}
		ev.Str("event", obs.EventServiceStop).Msg("gateway stopped")
	}()

	nc, js, err := bus.Connect(ctx, cfg.NATSURL, "gateway-"+cfg.Instance, log)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, drainTimeout, log)

	ops := obs.NewOps(log)
	gw, err := gateway.New(cfg, gateway.Deps{Log: log, NC: nc, JS: js, Ops: ops})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}

	eg, ctx := errgroup.WithContext(ctx)
	ops.SetWatchdog(cfg.WatchdogExitAfter)
	eg.Go(func() error { return ops.Serve(ctx, cfg.OpsAddr) })
	eg.Go(func() error { return gw.Run(ctx, ln) })
	return eg.Wait()
}
