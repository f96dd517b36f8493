package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	"github.com/vpnbot/vpnbot/pkg/netcut"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// What the checks measure against: the settings the soak runs the system
// with, each as the service that owns it has it.
const (
	// callbackMaxAge is the bot-handler's CALLBACK_MAX_AGE, set explicitly
	// (serviceEnv) so that this is the value it runs with.
	callbackMaxAge = time.Minute
	// senderInFlight is the sender's DefaultMaxInFlight
	// (services/sender/internal/sender): its sends at once.
	senderInFlight = 32
)

// The drain: after the drive, the system is given until drainTimeout to
// have nothing in flight, and must stay so for drainQuiet, two worker
// intervals, so that whatever a worker iteration would still do shows.
const (
	drainTimeout = 4 * time.Minute
	drainQuiet   = 2 * localstack.DemoWorkerInterval
	drainPoll    = time.Second
)

// soak runs the drive with the schedule, drains the system, and gathers the
// records.
func soak(ctx context.Context, cfg Config, st *localstack.Stack, proxy *netcut.Proxy, pool *pgxpool.Pool, logPath string, log zerolog.Logger) (*Records, error) {
	nc, js, err := bus.Connect(ctx, st.NATSURL, "soak", log.Level(zerolog.ErrorLevel))
	if err != nil {
		return nil, err
	}
	defer nc.Close()

	var panels []string
	for _, p := range st.Panels {
		panels = append(panels, p.Name)
	}
	plan := Plan(cfg.Seed, cfg.Duration, Layout{Processes: st.Services(), NATSNodes: cfg.NATSNodes, Panels: panels})
	printPlan(plan)
	r := &Records{
		Seed: cfg.Seed, Length: cfg.Duration, Plan: plan,
		Timing: Timing{
			Trial: localstack.DemoTrial, Grace: localstack.DemoGrace, WorkerInterval: localstack.DemoWorkerInterval,
			CallbackMaxAge: callbackMaxAge, Partitions: telegram.DefaultPartitions, SenderInFlight: senderInFlight,
		},
	}
	b := &breaker{
		sys: st, natsNodes: cfg.NATSNodes, db: proxy, log: log,
		switches: console.NewSwitchboard(console.Config{Telegram: st.Sandbox, CryptoPay: st.CryptoPay, Panels: console.Panels(st)}),
	}
	j := &journal{missed: map[string]int{}}
	client := &http.Client{Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	d := &driver{st: st, pool: pool, http: client, seed: cfg.Seed, j: j, log: log}
	watch := newPanelWatch(pool, st.Panels, localstack.DemoGrace, log)

	// The watch and the orchestrator run through the drain; the schedule
	// and the users only through the drive.
	watchCtx, stopWatching := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() { watch.run(watchCtx) })
	background.Go(func() { b.orchestrate(watchCtx) })
	defer func() {
		stopWatching()
		background.Wait()
	}()

	r.Start = time.Now()
	fmt.Printf("soak: driving for %s…\n", cfg.Duration)
	driveCtx, endDrive := context.WithTimeout(ctx, cfg.Duration)
	defer endDrive()
	var drive sync.WaitGroup
	drive.Go(func() { b.play(ctx, r.Start, plan) })
	drive.Go(func() { d.drive(driveCtx, cfg.Duration) })
	drive.Wait()
	r.DriveEnd = time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}

	fmt.Println("soak: draining…")
	r.DrainLeft = drain(ctx, st, pool, js, j)
	r.Drained = time.Now()
	stopWatching()
	background.Wait()

	b.mu.Lock()
	r.Applied, r.Restarts = b.applied, b.restarts
	b.mu.Unlock()
	r.Panel = watch.View()
	g := &gatherer{st: st, pool: pool, js: js, logPath: logPath}
	if err := g.gather(ctx, r, j); err != nil {
		return nil, fmt.Errorf("gathering the records: %w", err)
	}
	return r, nil
}

// drain waits until nothing is in flight and it stays so for drainQuiet, or
// drainTimeout passes; it returns what was left in flight then.
func drain(ctx context.Context, st *localstack.Stack, pool *pgxpool.Pool, js jetstream.JetStream, j *journal) []string {
	deadline := time.Now().Add(drainTimeout)
	var quietSince time.Time
	for {
		left := inFlight(ctx, st, pool, js, j)
		switch {
		case len(left) > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= drainQuiet:
			return nil
		}
		if time.Now().After(deadline) {
			if len(left) == 0 {
				return nil
			}
			return left
		}
		if !sleepUntil(ctx, time.Now().Add(drainPoll)) {
			return append(left, "interrupted")
		}
	}
}

// inFlight says what is still to do: updates Telegram has not delivered,
// messages in the work queues or held by consumers, webhooks Crypto Pay
// has not delivered, and work due in the database (periods without a key,
// keys past their period's expiry and grace, payments not announced,
// notices claimed but not published, users' payments not applied).
func inFlight(ctx context.Context, st *localstack.Stack, pool *pgxpool.Pool, js jetstream.JetStream, j *journal) []string {
	var left []string
	add := func(n int, what string) {
		if n > 0 {
			left = append(left, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(st.Sandbox.Stats().Pending, "updates Telegram has yet to deliver")
	add(st.CryptoPay.Stats().Pending, "Crypto Pay webhooks on their way")
	for _, name := range []string{telegram.UpdatesStream, outbox.Stream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			left = append(left, fmt.Sprintf("stream %s: %v", name, err))
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			left = append(left, fmt.Sprintf("stream %s: %v", name, err))
			continue
		}
		add(int(info.State.Msgs), "messages in "+name)
	}
	// EVENTS keeps what it stored; what matters is what its consumers
	// have not settled.
	if s, err := js.Stream(ctx, events.Stream); err == nil {
		for c := range s.ListConsumers(ctx).Info() {
			add(int(c.NumPending)+c.NumAckPending, "events for "+c.Name)
		}
	}
	var paidCrypto []string
	j.mu.Lock()
	for _, p := range j.payments {
		if p.How == PayWebhook || p.How == PayPoll {
			paidCrypto = append(paidCrypto, p.External)
		}
	}
	j.mu.Unlock()
	var due struct{ keyless, overdue, unannounced, claimed, unapplied int }
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM subscriptions s WHERE s.status = 'active' AND s.expires_at > now()
			AND NOT EXISTS (SELECT 1 FROM vpn_accesses a WHERE a.subscription_id = s.id AND a.revoked_at IS NULL)),
		(SELECT count(*) FROM subscriptions WHERE status = 'active' AND expires_at + $1::interval < now()),
		(SELECT count(*) FROM invoices WHERE provider = 'cryptopay' AND status = 'paid' AND announced_at IS NULL),
		(SELECT count(*) FROM notifications_sent WHERE pending_pid IS NOT NULL AND kind <> 'revoke_claim')
			+ (SELECT count(*) FROM user_notices WHERE pending_pid IS NOT NULL),
		(SELECT count(*) FROM unnest($2::text[]) x WHERE NOT EXISTS
			(SELECT 1 FROM invoices i WHERE i.provider = 'cryptopay' AND i.external_id = x AND i.status = 'paid'))`,
		localstack.DemoGrace, paidCrypto).Scan(&due.keyless, &due.overdue, &due.unannounced, &due.claimed, &due.unapplied)
	if err != nil {
		return append(left, "reading the work due: "+err.Error())
	}
	add(due.keyless, "live periods without a key")
	add(due.overdue, "periods past expiry and grace, not revoked")
	add(due.unannounced, "Crypto Pay payments not announced")
	add(due.claimed, "notices claimed but not published")
	add(due.unapplied, "Crypto Pay payments not applied")
	return left
}

// printPlan prints the schedule before the drive.
func printPlan(plan []Fault) {
	var b strings.Builder
	for _, f := range plan {
		fmt.Fprintf(&b, "  %s  %-32s for %s\n", clock(f.At), f, f.For.Round(time.Second))
	}
	fmt.Printf("soak: the fault schedule (from the start of the drive):\n%s", b.String())
}

// clock writes a duration from the start of the drive as m:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
