package updates_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/tracing/tracingtest"
)

// Not parallel: it installs the otel globals, as a service with an OTLP
// endpoint does, and puts the no-ops back before the parallel tests run.
func TestAnUpdatesPublishHandlingQueriesAndRepliesAreOneTrace(t *testing.T) {
	rec := tracingtest.Record(t)

	e := newEnv(t, 4)
	pool, err := pgdb.Open(t.Context(), config.DB{DatabaseURL: e.db.DSN, PoolMaxSize: 4}, "bot-handler", zerolog.Nop(), nil, pgdb.WithTracing())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e.start(pool, handlerTimeout)
	const alice = 1001
	e.sb.SetUser(sandboxtg.User{ID: alice, FirstName: "Alice", Username: "alice", LanguageCode: "en"})
	e.say(alice, "/start")
	sent := e.forward()
	require.Len(t, sent, 1)
	require.Contains(t, e.waitReplies(alice, 1, answerWithin)[0].Text, "Hi, Alice")

	// The gateway's publish is the root here; everything after it is in its trace.
	var publish sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "send "+sent[0].Subject {
			publish = s
		}
	}
	require.NotNil(t, publish, "the publish is a span")
	id := publish.SpanContext().TraceID()
	inTrace := func() map[string][]sdktrace.ReadOnlySpan {
		byKind := map[string][]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() != id {
				continue
			}
			switch {
			case s.Name() == "process "+sent[0].Subject:
				byKind["process"] = append(byKind["process"], s)
			case s.Name() == "telegram POST":
				byKind["telegram"] = append(byKind["telegram"], s)
			case s.SpanKind() == trace.SpanKindClient:
				byKind["db"] = append(byKind["db"], s)
			}
		}
		return byKind
	}
	require.Eventually(t, func() bool { return len(inTrace()["process"]) == 1 }, 5*time.Second, 10*time.Millisecond)
	spans := inTrace()
	process := spans["process"][0]
	require.Equal(t, publish.SpanContext().SpanID(), process.Parent().SpanID(), "the bot-handler's delivery is the publish's child")
	require.NotEmpty(t, spans["telegram"], "the reply's Bot API call is in the update's trace")
	require.NotEmpty(t, spans["db"], "so are its queries")
	for _, s := range append(spans["telegram"], spans["db"]...) {
		require.True(t, s.Parent().IsValid())
	}
}
