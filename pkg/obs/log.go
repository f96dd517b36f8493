package obs

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// Event names on-call searches for. Each log line that reports one of them
// carries it in the `event` field.
const (
	EventServiceStart        = "SERVICE_START"
	EventServiceStop         = "SERVICE_STOP"
	EventConfig              = "CONFIG"
	EventDBPoolMaxSize       = "DB_POOL_MAX_SIZE"
	EventDBConnectionLimit   = "DB_CONNECTION_LIMIT"
	EventLivenessCheckFailed = "LIVENESS_CHECK_FAILED"
	EventWatchdogGraceEnd    = "WATCHDOG_GRACE_END"
	EventUpdateHandled       = "UPDATE_HANDLED"
	EventHandlerTimeout      = "WEBHOOK_HANDLER_TIMEOUT"
	EventLeaderAcquired      = "LEADER_ACQUIRED"
	EventLeaderLost          = "LEADER_LOST"
)

// NewLogger returns the JSON logger of a service, writing to w (stdout when nil).
func NewLogger(w io.Writer, service, instance, level string) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stdout
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("LOG_LEVEL=%q: %w", level, err)
	}
	return zerolog.New(w).Level(lvl).Hook(timestamp).Hook(SpanFields).With().
		Str("service", service).Str("instance", instance).Logger(), nil
}

// timestamp adds the time with sub-second precision, without touching
// zerolog's global TimeFieldFormat (which would race with other loggers).
var timestamp = zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(time.RFC3339Nano))
})

// SpanFields adds the trace_id and span_id of the span in a line's context,
// given by Event.Ctx or by a logger's Context.Ctx, so on-call can go from a
// line logged inside a span to its trace; a line without one gets neither.
var SpanFields = zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
	sc := trace.SpanContextFromContext(e.GetCtx())
	if sc.IsValid() {
		e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
	}
})
