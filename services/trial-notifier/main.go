package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

const service = "trial-notifier"

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpntrial").
const lockKey int64 = 0x76706e747269616c

// claimMargin is how much longer than an iteration's timeout a claimed
// notice that is not published yet keeps other replicas off, while the
// replica that claimed it lives.
const claimMargin = 30 * time.Second

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
	return worker.RunService(ctx, worker.ServiceSpec{
		Name: service, LockKey: lockKey,
		Config: cfg, Base: cfg.Base, DB: cfg.DB, Env: cfg.Env,
		// OUTBOX takes the notices.
		Streams:     []func(context.Context, jetstream.JetStream) error{outbox.EnsureStream},
		StreamsName: "the OUTBOX stream",
		Setup: func(_ context.Context, d worker.Deps) (worker.Parts, error) {
			n, err := notifier.New(notifier.Config{BatchSize: cfg.BatchSize, MaxAge: cfg.MaxAge, Grace: cfg.Grace,
				ClaimTTL: cfg.IterationTimeout + claimMargin, Leads: cfg.Leads}, d.Pool, d.JS, d.Log)
			if err != nil {
				return worker.Parts{}, err
			}
			return worker.Parts{Iterate: n.Iterate}, nil
		},
	})
}
