package activation_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/tracing/tracingtest"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// A period keeps the trace of what granted it: the poll that finds it,
// not woken by that grant, activates it and sends its key in that trace,
// linked to the iteration; a period granted outside a trace is activated
// in the iteration's.
//
// Not parallel: it installs the otel globals, as a service with an OTLP
// endpoint does, and puts the no-ops back before the parallel tests run.
func TestAPolledPeriodIsActivatedInTheTraceOfItsGrant(t *testing.T) {
	rec := tracingtest.Record(t)
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})

	grantCtx, grant := otel.Tracer("test").Start(t.Context(), "apply payment")
	paid := e.trialIn(t, grantCtx, newUserID(), "en")
	grant.End()
	untraced := e.trial(t, newUserID(), "en")

	ctx, iteration := otel.Tracer("test").Start(t.Context(), "activation")
	res, err := in.a.Iterate(ctx)
	require.NoError(t, err)
	iteration.End()
	require.Equal(t, 2, res["created"])

	periods := map[int64]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		if sp.Name() != "activate period" {
			continue
		}
		for _, a := range sp.Attributes() {
			if a.Key == "vpnbot.subscription_id" {
				periods[a.Value.AsInt64()] = sp
			}
		}
	}
	require.Len(t, periods, 2)
	p := periods[paid.ID]
	require.Equal(t, grant.SpanContext().TraceID(), p.SpanContext().TraceID(), "the paid period is activated in its grant's trace")
	require.Equal(t, grant.SpanContext().SpanID(), p.Parent().SpanID())
	require.Len(t, p.Links(), 1)
	require.Equal(t, iteration.SpanContext().SpanID(), p.Links()[0].SpanContext.SpanID(), "linked to the iteration that found it")
	u := periods[untraced.ID]
	require.Equal(t, iteration.SpanContext().TraceID(), u.SpanContext().TraceID(), "a period granted outside a trace is the iteration's")
	require.Equal(t, iteration.SpanContext().SpanID(), u.Parent().SpanID())

	// Each key message's trace, by its chat.
	keys := map[int64]string{}
	stream, err := e.js.Stream(t.Context(), outbox.Stream)
	require.NoError(t, err)
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := stream.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		m, err := outbox.Decode(raw.Data)
		require.NoError(t, err)
		keys[m.GetChatId()] = bus.TraceID(raw.Header)
	}
	require.Len(t, keys, 2)
	require.Equal(t, grant.SpanContext().TraceID().String(), keys[paid.UserID], "the key goes on in the grant's trace")
	require.Equal(t, iteration.SpanContext().TraceID().String(), keys[untraced.UserID])
}
