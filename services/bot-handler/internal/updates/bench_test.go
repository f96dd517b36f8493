package updates_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

// maxStartRoundTrips is the goal for /start: it costs at most this many
// database round trips, inbox included.
const maxStartRoundTrips = 3

// roundTrips counts the statements a pool sends, each one a database round
// trip once its prepared statement is cached: queries and execs (BEGIN and
// COMMIT included), plus a batch or a COPY as one each.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// benchEnv is env for a benchmark: its updates are handed to Handle
// directly rather than through TG_UPDATES, so the numbers are the handler's
// own, and its pool counts the round trips.
type benchEnv struct {
	*env
	handler *updates.Handler
	trips   *roundTrips
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	e := &benchEnv{env: newEnv(b, 1), trips: &roundTrips{}}
	// Nothing logged: what is measured is the handler, not the test's
	// log buffer.
	e.log = zerolog.Nop()
	var release func()
	e.handler, release = e.newHandler(e.tracedPool(e.trips), prometheus.NewRegistry())
	b.Cleanup(release)
	return e
}

// next takes the one update the sandbox holds, confirming it.
func (e *benchEnv) next() []byte {
	e.t.Helper()
	raws := e.getUpdates()
	require.Len(e.t, raws, 1, "one update at a time")
	return raws[0]
}

// handle runs one update through the handler as a first delivery and
// returns the round trips it made and how long it took.
func (e *benchEnv) handle(raw []byte) (trips int64, took time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), handlerTimeout)
	defer cancel()
	before := e.trips.n.Load()
	start := time.Now()
	err := e.handler.Handle(ctx, bus.Delivery{Data: raw, NumDelivered: 1})
	took = time.Since(start)
	require.NoError(e.t, err)
	return e.trips.n.Load() - before, took
}

// welcomed makes user send /start (handled directly, not measured) and
// returns the welcome message, which carries the main menu.
func (e *benchEnv) welcomed(user int64) sandboxtg.Message {
	e.t.Helper()
	e.sb.SendText(user, "/start")
	e.handle(e.next())
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs, "the bot answered the /start of %d", user)
	return msgs[len(msgs)-1]
}

// measured is what a benchmark saw per update.
type measured struct {
	trips []int64
	took  []time.Duration
}

// run measures b.N updates: prepare makes the sandbox hold the next one (and
// does whatever must happen first, unmeasured), check asserts its outcome.
func (e *benchEnv) run(b *testing.B, prepare func(i int), check func()) measured {
	b.Helper()
	var m measured
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		prepare(i)
		raw := e.next()
		b.StartTimer()
		trips, took := e.handle(raw)
		b.StopTimer()
		m.trips = append(m.trips, trips)
		m.took = append(m.took, took)
		check()
		b.StartTimer()
	}
	b.StopTimer()
	e.report(b, m)
	return m
}

// report adds round trips per update and the latency percentiles to the
// benchmark's line.
func (e *benchEnv) report(b *testing.B, m measured) {
	b.Helper()
	if len(m.took) == 0 {
		return
	}
	var sum int64
	for _, t := range m.trips {
		sum += t
	}
	b.ReportMetric(float64(sum)/float64(len(m.trips)), "roundtrips/op")
	b.ReportMetric(float64(slices.Max(m.trips)), "max-roundtrips")
	took := slices.Clone(m.took)
	slices.Sort(took)
	b.ReportMetric(ms(percentile(took, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(took, 99)), "p99-ms")
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// requireStartWithinGoal fails the benchmark when a /start took more round
// trips than the goal allows, so `make bench` catches the regression.
func requireStartWithinGoal(b *testing.B, m measured) {
	b.Helper()
	if worst := slices.Max(m.trips); worst > maxStartRoundTrips {
		b.Fatalf("/start took %d database round trips, the goal is at most %d", worst, maxStartRoundTrips)
	}
}

// BenchmarkUpdates measures the database round trips and the latency of the
// handler for /start, the menu and the two ways to pay. The sub-benchmarks
// share one world; each has users of its own.
func BenchmarkUpdates(b *testing.B) {
	e := newBenchEnv(b)

	b.Run("start/existing-user", func(b *testing.B) {
		const user = 21001
		e.sb.SetUser(sandboxtg.User{ID: user, FirstName: "Alice", Username: "alice", LanguageCode: "en"})
		e.welcomed(user)
		m := e.run(b,
			func(int) { e.sb.SendText(user, "/start") },
			func() {
				msgs := e.sb.Messages(user)
				require.Contains(b, msgs[len(msgs)-1].Plain, "Hi, Alice")
			})
		requireStartWithinGoal(b, m)
	})

	// Every new user is a row that did not exist, whichever run of the
	// sub-benchmark (-count) it is.
	newUser := int64(1_000_000)
	b.Run("start/new-user", func(b *testing.B) {
		var user int64
		m := e.run(b,
			func(int) {
				newUser++
				user = newUser
				e.sb.SetUser(sandboxtg.User{ID: user, FirstName: "Борис", Username: "boris", LanguageCode: "ru-RU"})
				e.sb.SendText(user, "/start promo42")
			},
			func() {
				msgs := e.sb.Messages(user)
				require.Contains(b, msgs[len(msgs)-1].Plain, "Привет, Борис")
			})
		requireStartWithinGoal(b, m)
	})

	b.Run("menu", func(b *testing.B) {
		const user = 21002
		menu := e.welcomed(user)
		e.run(b,
			func(int) {
				// Another screen first, so each press of "menu" really
				// changes the message, as it does when a user goes back.
				e.sb.PressButton(user, menu.ID, "help")
				e.handle(e.next())
				e.sb.PressButton(user, menu.ID, "menu")
			},
			func() {
				for _, m := range e.sb.Messages(user) {
					if m.ID == menu.ID {
						require.True(b, m.HasButton("plans"), "the main menu is shown")
					}
				}
			})
	})

	// A payer of its own each time: a second press of one order's button
	// shows the invoice the first made (shop.CryptoPayOrder), and what is
	// measured is the press that makes one.
	payer := int64(2_000_000)
	b.Run("pay/cryptopay", func(b *testing.B) {
		var user int64
		var menu sandboxtg.Message
		invoices := len(e.cp.Invoices())
		e.run(b,
			func(int) {
				payer++
				user = payer
				menu = e.welcomed(user)
				e.sb.PressButton(user, menu.ID, "pay:cp:m1")
			},
			func() {
				invoices++
				require.Len(b, e.cp.Invoices(), invoices, "one Crypto Pay invoice per press")
				for _, m := range e.sb.Messages(user) {
					if m.ID == menu.ID {
						require.Contains(b, m.Plain, "for $4.99", "the invoice is shown")
					}
				}
			})
	})

	b.Run("pay/stars", func(b *testing.B) {
		const user = 21004
		menu := e.welcomed(user)
		var invoices int
		e.run(b,
			func(int) { e.sb.PressButton(user, menu.ID, "pay:st:m1") },
			func() {
				invoices++
				var got int
				for _, m := range e.sb.Messages(user) {
					if m.Invoice != nil {
						got++
					}
				}
				require.Equal(b, invoices, got, "one Stars invoice per press")
			})
	})
}
