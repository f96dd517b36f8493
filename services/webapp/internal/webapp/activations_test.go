package webapp_test

import (
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/tracing/tracingtest"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

// withBalance is an app publishing its wake-ups to an EVENTS stream of its
// own, and a user of it with $10 on their balance.
func withBalance(t *testing.T, user int64) (*env, jetstream.JetStream) {
	t.Helper()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	_, err := js.CreateStream(t.Context(), events.StreamConfig())
	require.NoError(t, err)
	e := newEnv(t, func(c *webapp.Config) { c.Activations = webapp.StreamActivations{JS: js} })
	e.user(t, user, "en")
	_, err = e.shop.AdminGrantBalance(t.Context(), shop.Act{OpKey: "seed", AdminID: 1}, user, shop.CurrencyUSD, 1000)
	require.NoError(t, err)
	return e, js
}

// A purchase from the balance wakes the activation worker, as the bot's
// does: one activation request for the period, however many times the
// request is sent.
func TestABalancePurchaseWakesTheActivationWorkerOnce(t *testing.T) {
	t.Parallel()
	const user = 72101
	e, js := withBalance(t, user)
	e.trialWithKey(t, user, "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	s := e.signIn(t, user)
	var bought webapp.Purchase
	for range 3 {
		res := e.order(t, s, `{"plan":"m1","provider":"balance","currency":"USD","request_id":"press-00000001"}`)
		require.Equal(t, http.StatusOK, res.Code, res.Body.String())
		res.json(t, &bought)
	}

	stream, err := js.Stream(t.Context(), events.Stream)
	require.NoError(t, err)
	info, err := stream.Info(t.Context(), jetstream.WithSubjectFilter(events.SubjectActivationRequested))
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs, "one wake-up for one purchase")
	raw, err := stream.GetLastMsgForSubject(t.Context(), events.SubjectActivationRequested)
	require.NoError(t, err)
	var m vpnbotv1.ActivationRequested
	require.NoError(t, proto.Unmarshal(raw.Data, &m))
	sub, err := e.shop.ActiveSubscription(t.Context(), user)
	require.NoError(t, err)
	require.Equal(t, sub.ID, m.GetSubscriptionId())
	require.Equal(t, int64(user), m.GetUserId())
	require.Equal(t, "payment", m.GetReason())
	require.True(t, bought.ExpiresAt.Equal(m.GetRequestedAt().AsTime()), "named by the expiry the purchase set")
}

// A purchase in the app is a trace that goes on in the activation worker:
// the API call is a span named by its route, its log line names that
// span, and the wake-up it publishes carries the trace.
//
// Not parallel: it installs the otel globals, as a service with an OTLP
// endpoint does, and puts the no-ops back before the parallel tests run.
func TestAPurchaseInTheAppIsOneTraceWithItsLogAndItsWakeUp(t *testing.T) {
	rec := tracingtest.Record(t)
	const user = 72102
	e, js := withBalance(t, user)
	s := e.signIn(t, user)
	res := e.order(t, s, `{"plan":"m1","provider":"balance","currency":"USD","request_id":"press-00000002"}`)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())

	var order sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "POST /api/orders" {
			order = sp
		}
	}
	require.NotNil(t, order, "the API call is a span named by its route")
	id := order.SpanContext().TraceID().String()
	require.Len(t, e.logs.Lines(webapp.EventPurchaseApplied, `"trace_id":"`+id+`"`), 1, "the purchase's log line names its trace")

	stream, err := js.Stream(t.Context(), events.Stream)
	require.NoError(t, err)
	raw, err := stream.GetLastMsgForSubject(t.Context(), events.SubjectActivationRequested)
	require.NoError(t, err)
	require.Equal(t, id, bus.TraceID(raw.Header), "the wake-up goes on in the purchase's trace")
}
