package pgdb

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// limitTracer watches every connection the pool (and an Elector built on its
// config) opens for the database's refusal at the role's CONNECTION LIMIT:
// pgx gives the error to the one Acquire that wanted the connection, which
// fails at once, so without this the refusal would surface only as that
// request's error, with nothing telling on-call the budget was hit.
type limitTracer struct {
	role     string
	log      zerolog.Logger
	refusals prometheus.Counter
}

// Under a burst of refusals (every request of a busy service wanting the
// connection it may not have) the log keeps the first few each period and
// the counter counts them all.
const (
	refusalLogBurst  = 5
	refusalLogPeriod = 10 * time.Second
)

func newLimitTracer(role string, log zerolog.Logger) *limitTracer {
	return &limitTracer{
		role: role,
		log:  log.Sample(&zerolog.BurstSampler{Burst: refusalLogBurst, Period: refusalLogPeriod}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpnbot_db_connection_limit_refusals_total",
			Help: "New connections PostgreSQL refused because the role's CONNECTION LIMIT (or max_connections) was reached (SQLSTATE 53300).",
		}),
	}
}

// TraceConnectStart implements pgx.ConnectTracer.
func (t *limitTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return ctx
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (t *limitTracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if !IsConnectionLimit(data.Err) {
		return
	}
	t.refusals.Inc()
	t.log.Error().Ctx(ctx).Str("event", obs.EventDBConnectionLimit).Str("role", t.role).Err(data.Err).
		Msgf("PostgreSQL refused a connection to role %s: its CONNECTION LIMIT is reached; "+
			"the service holds more connections than deploy/budget.yaml gives it", t.role)
}

// TraceQueryStart implements pgx.QueryTracer, which a ConnConfig's Tracer
// must be; queries are not this tracer's concern.
func (t *limitTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *limitTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
