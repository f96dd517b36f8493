// Command bench is `make bench`: it loads the gateway next to a bare
// publish-only handler (the ceiling) on the same machine and NATS, then drives
// the whole pipeline (sandbox Telegram → gateway → JetStream → bot-handler →
// sandbox) at a fixed rate, and kills bot-handler and sender replicas under
// steady traffic to time the failover. It prints a table for each; -only
// runs one of them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/procs"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

type options struct {
	conns        int
	warmup       time.Duration
	duration     time.Duration
	rounds       int
	rate         int
	chats        int
	pipelineFor  time.Duration
	botHandlers  int
	databaseURL  string
	serviceLogTo string
	// failoverChats, failoverPeriod and failoverKills shape the failover
	// run: each chat gets a message every failoverPeriod.
	failoverChats  int
	failoverPeriod time.Duration
	failoverKills  int
	only           string
}

const (
	benchToken  = "123456:BENCH-TOKEN"
	benchBotID  = 123456
	benchSecret = "bench-secret"
)

func main() {
	var o options
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections for the gateway load")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up of each gateway run")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "measured length of each gateway run")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating ceiling/gateway rounds; the median of each figure is reported")
	flag.IntVar(&o.rate, "rate", 500, "updates per second for the pipeline run")
	flag.IntVar(&o.chats, "chats", 1000, "distinct chats in the pipeline run")
	flag.DurationVar(&o.pipelineFor, "pipeline-duration", 20*time.Second, "length of the pipeline run")
	flag.IntVar(&o.botHandlers, "bot-handlers", 2, "bot-handler replicas in the pipeline run")
	flag.StringVar(&o.databaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "server on which a throwaway database is created for the pipeline run")
	flag.StringVar(&o.serviceLogTo, "service-log", "", "file for the services' logs (default: a temporary file)")
	flag.IntVar(&o.failoverChats, "failover-chats", 40, "chats written to in the failover run")
	flag.DurationVar(&o.failoverPeriod, "failover-period", 500*time.Millisecond, "time between two messages to one chat in the failover run")
	flag.IntVar(&o.failoverKills, "failover-kills", 3, "kills of each service in the failover run")
	flag.StringVar(&o.only, "only", "", "run only this benchmark: gateway, pipeline or failover (default: all)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := procs.Root(wd)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vpnbot-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logPath := o.serviceLogTo
	if logPath == "" {
		logPath = filepath.Join(dir, "services.log")
	}
	logs, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logs.Close()

	bin := filepath.Join(dir, "bin")
	fmt.Println("building the services…")
	if err := procs.Build(ctx, root, bin, localstack.Binaries()...); err != nil {
		return err
	}
	if err := procs.BuildPackage(ctx, filepath.Join(root, "e2e", "cmd", "ceiling"), filepath.Join(bin, "ceiling")); err != nil {
		return err
	}

	for _, b := range []struct {
		name string
		run  func(context.Context, options, string, string, io.Writer) error
	}{{"gateway", benchGateway}, {"pipeline", benchPipeline}, {"failover", benchFailover}} {
		if o.only != "" && o.only != b.name {
			continue
		}
		if err := b.run(ctx, o, dir, bin, logs); err != nil {
			return fmt.Errorf("%s benchmark: %w", b.name, err)
		}
	}
	return nil
}

func benchGateway(ctx context.Context, o options, dir, bin string, logs io.Writer) error {
	ns, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: filepath.Join(dir, "nats-gateway")})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, js, err := bus.Connect(ctx, ns.ClientURL(), "bench", nopLog)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.DeclareStreams(ctx, js, telegram.UpdatesStreamConfig()); err != nil {
		return err
	}

	var ceilAddr, gwAddr, gwOps string
	for _, a := range []*string{&ceilAddr, &gwAddr, &gwOps} {
		if *a, err = localstack.FreeAddr(); err != nil {
			return err
		}
	}
	ceiling, err := procs.Start("ceiling", filepath.Join(bin, "ceiling"), []string{
		"NATS_URL=" + ns.ClientURL(), "HTTP_ADDR=" + ceilAddr,
	}, logs)
	if err != nil {
		return err
	}
	defer ceiling.Stop(10 * time.Second)
	gateway, err := procs.Start("gateway", filepath.Join(bin, "gateway"), []string{
		"NATS_URL=" + ns.ClientURL(), "HTTP_ADDR=" + gwAddr, "OPS_ADDR=" + gwOps,
		"TELEGRAM_BOT_TOKEN=" + benchToken, "TELEGRAM_WEBHOOK_SECRET=" + benchSecret,
		"TELEGRAM_API_URL=http://127.0.0.1:1", // never called: no WEBHOOK_PUBLIC_URL
	}, logs)
	if err != nil {
		return err
	}
	defer gateway.Stop(10 * time.Second)
	if err := waitOK(ctx, "http://"+gwOps+"/readyz"); err != nil {
		return fmt.Errorf("gateway not ready: %w", err)
	}
	if err := waitListening(ctx, ceilAddr); err != nil {
		return fmt.Errorf("ceiling not listening: %w", err)
	}

	stream, err := js.Stream(ctx, telegram.UpdatesStream)
	if err != nil {
		return err
	}
	targets := []target{
		ceilingTarget("http://"+ceilAddr, benchBotID, telegram.DefaultPartitions),
		gatewayTarget("http://"+gwAddr, benchSecret),
	}
	runs := map[string][]loadResult{}
	var ids atomic.Int64
	for round := 1; round <= o.rounds; round++ {
		for _, t := range targets {
			fmt.Printf("round %d: %s, %d connections, %s…\n", round, t.name, o.conns, o.duration)
			r := runLoad(ctx, t, o.conns, o.warmup, o.duration, &ids)
			if err := stream.Purge(ctx); err != nil {
				return fmt.Errorf("purging %s: %w", telegram.UpdatesStream, err)
			}
			runs[t.name] = append(runs[t.name], r)
		}
	}
	c, g := summarize(runs[targets[0].name]), summarize(runs[targets[1].name])
	fmt.Printf("\nGateway ingest: %d connections, %s per run, median of %d alternating rounds (same machine, same NATS)\n\n", o.conns, o.duration, o.rounds)
	fmt.Println("| target | requests/s | p50 | p99 | errors (all rounds) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range []summary{c, g} {
		fmt.Printf("| %s | %.0f | %s | %s | %d |\n", r.name, r.throughput, ms(r.p50), ms(r.p99), r.errors)
	}
	ratio := g.throughput / c.throughput
	p99 := float64(g.p99) / float64(c.p99)
	fmt.Printf("\ngateway/ceiling throughput: %.1f %% (goal ≥ 85 %%: %s); p99: %.2f× (goal ≤ 1.25×: %s)\n\n",
		100*ratio, verdict(ratio >= 0.85), p99, verdict(p99 <= 1.25))
	return nil
}

// summary is the median of each figure over a target's rounds: one
// unlucky or lucky round on a busy machine does not decide the verdict.
type summary struct {
	name       string
	throughput float64
	p50, p99   time.Duration
	errors     int
}

func summarize(rs []loadResult) summary {
	s := summary{name: rs[0].name}
	var tps []float64
	var p50s, p99s []time.Duration
	for _, r := range rs {
		tps = append(tps, r.throughput())
		p50s = append(p50s, r.percentile(0.50))
		p99s = append(p99s, r.percentile(0.99))
		s.errors += r.errors
	}
	slices.Sort(tps)
	slices.Sort(p50s)
	slices.Sort(p99s)
	s.throughput, s.p50, s.p99 = tps[len(tps)/2], p50s[len(p50s)/2], p99s[len(p99s)/2]
	return s
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func waitOK(ctx context.Context, url string) error {
	return poll(ctx, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitListening(ctx context.Context, addr string) error {
	return poll(ctx, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func poll(ctx context.Context, ok func() bool) error {
	if !waitFor(ctx, 30*time.Second, ok) {
		return fmt.Errorf("not so within 30s: %w", context.DeadlineExceeded)
	}
	return nil
}

// waitFor checks ok every 50 ms until it holds (true) or limit or ctx ends
// (false).
func waitFor(ctx context.Context, limit time.Duration, ok func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !ok() {
		if !retry.Sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return true
}
