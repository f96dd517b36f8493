package webapp_test

import (
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

// A purchase from the balance wakes the activation worker, as the bot's
// does: one activation request for the period, however many times the
// request is sent.
func TestABalancePurchaseWakesTheActivationWorkerOnce(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	_, err := js.CreateStream(t.Context(), events.StreamConfig())
	require.NoError(t, err)
	e := newEnv(t, func(c *webapp.Config) { c.Activations = webapp.StreamActivations{JS: js} })
	const user = 72101
	e.user(t, user, "en")
	e.trialWithKey(t, user, "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	_, err = e.shop.AdminGrantBalance(t.Context(), shop.Act{OpKey: "seed", AdminID: 1}, user, shop.CurrencyUSD, 1000)
	require.NoError(t, err)
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
