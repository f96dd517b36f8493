package cleanup_test

import (
	"context"
	"flag"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
)

var reconcilePeriods = flag.Int("reconcile.periods", 100_000,
	"live periods BenchmarkReconcile seeds (go test -bench Reconcile -args -reconcile.periods 1000)")

// reconcileCallsGoal is the most panel calls a pass may make per 100 live
// periods when nothing drifted: the panel is read by pages, not account by
// account.
const reconcileCallsGoal = 1.1

// reconcileTimeout bounds one iteration, far above what a pass over
// 100,000 periods takes, so that a stalled pass fails instead of hanging.
const reconcileTimeout = 5 * time.Minute

// BenchmarkReconcile reconciles -reconcile.periods live periods (100,000 by
// default), each with its account on a sandbox panel whose every call
// takes panelLatency: Remnawave 3.x, listed by users/stream pages, and
// Outline, which lists every key at once. It reports per pass the time,
// the panel calls the sandbox served per 100 periods (goal:
// reconcileCallsGoal), and the time spent in database calls. With nothing
// drifted it fails when a pass repairs anything or did not see every
// account. It then disables one account in a thousand behind the bot's
// back and reports the passes and calls their repair took. Only the
// passes are timed, not the seeding. Run it with -benchtime 1x.
//
//	go test -run '^$' -bench Reconcile -benchtime 1x ./internal/cleanup/
func BenchmarkReconcile(b *testing.B) {
	for _, kind := range []string{"remnawave3", vpn.KindOutline} {
		b.Run(kind, func(b *testing.B) { benchmarkReconcile(b, kind) })
	}
}

func benchmarkReconcile(b *testing.B, kind string) {
	n := *reconcilePeriods
	r := newReconcileBench(b, kind, n)
	b.Logf("seeded %d live periods and their accounts in %v", n, r.seeded.Round(time.Millisecond))
	r.sb.inject(fault.Fault{Latency: panelLatency})

	var clean passStats
	b.ResetTimer()
	for range b.N {
		p := r.pass(b)
		if p.res[cleanup.ItemDriftRepaired] > 0 || p.res[cleanup.ItemOrphansRevoked] > 0 || p.res[cleanup.ItemOrphansWaiting] > 0 {
			b.Fatalf("nothing drifted, yet the pass reported %v", p.res)
		}
		if p.listed != n {
			b.Fatalf("the pass saw %d panel accounts, want all %d", p.listed, n)
		}
		clean.add(p)
	}
	b.StopTimer()
	if repaired := r.logs.Events(b, cleanup.EventPanelDriftRepaired); len(repaired) > 0 {
		b.Fatalf("nothing drifted, yet %d PANEL_DRIFT_REPAIRED lines, the first %v", len(repaired), repaired[0])
	}
	perPass := clean.elapsed.Seconds() / float64(b.N)
	callsPer100 := float64(clean.calls) / float64(b.N) / float64(n) * 100
	b.ReportMetric(perPass, "s/pass")
	b.ReportMetric(callsPer100, "calls/100periods")
	b.ReportMetric(clean.db.Seconds()/float64(b.N), "db_s/pass")
	b.ReportMetric(float64(clean.queries)/float64(b.N), "queries/pass")
	b.Logf("no drift: %d periods on %s, panel latency %v: %.2f s a pass (%.2f s in %d database calls), %.3f panel calls per 100 periods (goal <= %.1f)",
		n, kind, panelLatency, perPass, clean.db.Seconds()/float64(b.N), clean.queries/b.N, callsPer100, reconcileCallsGoal)
	if callsPer100 > reconcileCallsGoal {
		b.Fatalf("%.3f panel calls per 100 periods, goal <= %.1f", callsPer100, reconcileCallsGoal)
	}

	r.repairDrift(b, max(n/1000, 1))
}

// benchSandbox is a sandbox panel as the benchmark seeds, measures and
// drifts it.
type benchSandbox struct {
	kind  string
	panel vpn.Panel
	// seed makes the accounts of names, enabled until their expiries,
	// and returns their ids and links.
	seed     func(names []string, expiries []time.Time) (ids, urls []string, err error)
	requests func() int
	inject   func(fault.Fault)
	disable  func(name string) bool
	// works reports whether the account of name is enabled.
	works func(name string) bool
}

// startBenchSandbox starts a sandbox panel of kind: "remnawave3" or
// vpn.KindOutline.
func startBenchSandbox(b *testing.B, kind string) *benchSandbox {
	b.Helper()
	if kind == vpn.KindOutline {
		srv := vpntest.StartOutline(b)
		return &benchSandbox{
			kind:  vpn.KindOutline,
			panel: vpntest.OutlineAdapter(b, srv, ""),
			seed: func(names []string, _ []time.Time) ([]string, []string, error) {
				keys := make([]outline.Key, len(names))
				for i, name := range names {
					keys[i] = outline.Key{ID: name, Name: name}
				}
				seeded, err := srv.Seed(keys)
				ids, urls := make([]string, len(seeded)), make([]string, len(seeded))
				for i, k := range seeded {
					ids[i], urls[i] = k.ID, k.AccessURL
				}
				return ids, urls, err
			},
			requests: func() int { return srv.Requests("") },
			inject:   srv.Inject,
			disable:  srv.DriftDisable,
			works: func(name string) bool {
				k, ok := srv.Key(name)
				return ok && !k.Blocked()
			},
		}
	}
	srv := vpntest.StartRemnawaveServer(b, remnawave.Config{Version: remnawave.Version3})
	return &benchSandbox{
		kind:  vpn.KindRemnawave,
		panel: vpntest.RemnawavePanel(b, srv, "", 0),
		seed: func(names []string, expiries []time.Time) ([]string, []string, error) {
			users := make([]remnawave.User, len(names))
			for i, name := range names {
				users[i] = remnawave.User{Username: name, ExpireAt: expiries[i]}
			}
			seeded, err := srv.Seed(users)
			ids, urls := make([]string, len(seeded)), make([]string, len(seeded))
			for i, u := range seeded {
				ids[i], urls[i] = strconv.FormatInt(u.ID, 10), u.SubscriptionURL
			}
			return ids, urls, err
		},
		requests: func() int { return srv.Requests("") },
		inject:   srv.Inject,
		disable:  srv.DriftDisable,
		works: func(name string) bool {
			u, ok := srv.User(name)
			return ok && u.Status == remnawave.StatusActive
		},
	}
}

// reconcileBench is a shop of live periods whose accounts are all on a
// sandbox panel, as activation left them, and a Cleaner that reconciles
// them on every iteration.
type reconcileBench struct {
	sb     *benchSandbox
	c      *cleanup.Cleaner
	logs   *obstest.LogBuffer
	db     *dbTimer
	names  []string // the accounts' names, by user id - 1
	seeded time.Duration
}

func newReconcileBench(b *testing.B, kind string, n int) *reconcileBench {
	b.Helper()
	start := time.Now()
	db := pgdbtest.New(b)
	r := &reconcileBench{sb: startBenchSandbox(b, kind), logs: &obstest.LogBuffer{}, db: &dbTimer{}}
	r.seed(b, db.Pool, n)
	r.seeded = time.Since(start)

	// The Cleaner's pool times its statements.
	cfg, err := pgxpool.ParseConfig(db.DSN)
	if err != nil {
		b.Fatalf("reading the test DSN: %v", err)
	}
	cfg.ConnConfig.Tracer = r.db
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatalf("opening the timed pool: %v", err)
	}
	b.Cleanup(pool.Close)
	_, js := bustest.Connect(b, bustest.NewServer(b).URL())
	if err := bus.DeclareStreams(b.Context(), js, outbox.StreamConfig()); err != nil {
		b.Fatalf("declaring the streams: %v", err)
	}
	fleet, err := vpn.NewFleet([]vpn.Panel{vpn.Limit(r.sb.panel, cleanup.DefaultConcurrency)},
		[]vpn.MemberConfig{{Name: r.sb.kind}}, vpn.FleetOptions{Failover: true})
	if err != nil {
		b.Fatalf("making the fleet: %v", err)
	}
	r.c, err = cleanup.New(cleanup.Config{ReconcileEvery: 1}, shop.New(pool, shop.Config{}), pool, js, fleet,
		obstest.NewLogger(r.logs), prometheus.NewRegistry())
	if err != nil {
		b.Fatalf("making the cleaner: %v", err)
	}
	return r
}

// seed gives the schema n users, each with a paid period ending in 1 to 30
// days, and the panel their accounts, enabled until then; then records each
// account and its period's access as activation does, by COPY.
func (r *reconcileBench) seed(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := b.Context()
	for _, sql := range []string{
		`INSERT INTO users (id, chat_id, language) SELECT g, g, 'en' FROM generate_series(1, $1::int) g`,
		`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
		 SELECT g, 'paid', now() - interval '1 day', date_trunc('second', now()) + (1 + g % 30) * interval '1 day'
		 FROM generate_series(1, $1::int) g`,
	} {
		if _, err := pool.Exec(ctx, sql, n); err != nil {
			b.Fatalf("seeding: %s: %v", sql, err)
		}
	}
	type period struct {
		id, userID int64
		expiresAt  time.Time
	}
	rows, err := pool.Query(ctx, `SELECT id, user_id, expires_at FROM subscriptions ORDER BY user_id`)
	if err != nil {
		b.Fatalf("reading the seeded periods: %v", err)
	}
	periods, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (period, error) {
		var p period
		err := row.Scan(&p.id, &p.userID, &p.expiresAt)
		return p, err
	})
	if err != nil {
		b.Fatalf("reading the seeded periods: %v", err)
	}

	r.names = make([]string, len(periods))
	expiries := make([]time.Time, len(periods))
	for i, p := range periods {
		r.names[i], expiries[i] = vpn.AccountName(vpn.DefaultNamePrefix, p.userID), p.expiresAt
	}
	ids, urls, err := r.sb.seed(r.names, expiries)
	if err != nil {
		b.Fatalf("seeding the panel: %v", err)
	}

	// Recorded an hour ago: older than the pass, as reconciliation wants
	// before it calls an account missing.
	at := time.Now().Add(-time.Hour)
	accounts := make([][]any, len(periods))
	accesses := make([][]any, len(periods))
	for i, p := range periods {
		// A panel without expiries has none recorded on the access.
		var panelExpiry *time.Time
		if r.sb.kind != vpn.KindOutline {
			panelExpiry = &p.expiresAt
		}
		accounts[i] = []any{p.userID, r.sb.kind, r.names[i], ids[i], urls[i], at, at}
		accesses[i] = []any{p.id, r.sb.kind, ids[i], urls[i], panelExpiry, at}
	}
	copies := []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"vpn_accounts", []string{"user_id", "panel", "name", "external_id", "access_url", "created_at", "updated_at"}, accounts},
		{"vpn_accesses", []string{"subscription_id", "panel", "external_id", "access_url", "expires_at", "created_at"}, accesses},
	}
	for _, c := range copies {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, pgx.CopyFromRows(c.rows)); err != nil {
			b.Fatalf("copying %s: %v", c.table, err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatalf("analyzing: %v", err)
	}
}

// passStats is what one or more reconciliation passes took.
type passStats struct {
	res     map[string]int
	listed  int // panel accounts the pass saw, from its log line
	elapsed time.Duration
	calls   int // the panel's requests, as the sandbox counted them
	db      time.Duration
	queries int
}

func (s *passStats) add(p passStats) {
	s.elapsed += p.elapsed
	s.calls += p.calls
	s.db += p.db
	s.queries += p.queries
}

// pass runs one iteration, which reconciles, and measures it.
func (r *reconcileBench) pass(b *testing.B) passStats {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), reconcileTimeout)
	defer cancel()
	done := len(r.logs.Events(b, cleanup.EventOrphansRevoked))
	calls := r.sb.requests()
	db, queries := r.db.read()
	start := time.Now()
	res, err := r.c.Iterate(ctx)
	p := passStats{res: res, elapsed: time.Since(start), calls: r.sb.requests() - calls}
	if err != nil {
		b.Fatalf("reconciling: %v", err)
	}
	db2, queries2 := r.db.read()
	p.db, p.queries = db2-db, queries2-queries
	events := r.logs.Events(b, cleanup.EventOrphansRevoked)
	if len(events) != done+1 {
		b.Fatalf("the iteration logged %d reconciliations, want 1", len(events)-done)
	}
	listed, _ := events[len(events)-1]["panel_accounts"].(float64)
	p.listed = int(listed)
	return p
}

// repairDrift disables drifted accounts on the panel, then reconciles until
// a pass repairs nothing, and reports the passes that took and the calls
// the repairs made beyond the listing, which is what that last pass made.
func (r *reconcileBench) repairDrift(b *testing.B, drifted int) {
	b.Helper()
	step := len(r.names) / drifted
	var names []string
	for i := 0; i < drifted; i++ {
		names = append(names, r.names[i*step])
		if !r.sb.disable(names[i]) {
			b.Fatalf("no account %s to disable", names[i])
		}
	}
	var total, last passStats
	repaired, passes := 0, 0
	for {
		if passes > drifted/cleanup.DefaultBatchSize+2 {
			b.Fatalf("%d of %d drifted accounts repaired after %d passes", repaired, drifted, passes)
		}
		last = r.pass(b)
		passes++
		total.add(last)
		if last.res[cleanup.ItemDriftRepaired] == 0 {
			break
		}
		repaired += last.res[cleanup.ItemDriftRepaired]
	}
	if repaired != drifted {
		b.Fatalf("%d accounts repaired, want the %d drifted", repaired, drifted)
	}
	for _, name := range names {
		if !r.sb.works(name) {
			b.Fatalf("account %s is still disabled after reconciliation", name)
		}
	}
	perRepair := float64(total.calls-passes*last.calls) / float64(drifted)
	b.ReportMetric(float64(passes), "repair_passes")
	b.ReportMetric(perRepair, "calls/repair")
	b.Logf("%d of %d accounts disabled on the panel: repaired in %d passes (the last one clean), %.1f s, %.1f panel calls per repair beyond the listing",
		drifted, len(r.names), passes, total.elapsed.Seconds(), perRepair)
}

// dbTimer is a pgx tracer adding up the time its pool's statements took,
// from sending to the last row read.
type dbTimer struct {
	mu      sync.Mutex
	busy    time.Duration
	queries int
}

type queryStart struct{}

func (t *dbTimer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStart{}, time.Now())
}

func (t *dbTimer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	start, ok := ctx.Value(queryStart{}).(time.Time)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.busy += time.Since(start)
	t.queries++
}

func (t *dbTimer) read() (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.busy, t.queries
}
