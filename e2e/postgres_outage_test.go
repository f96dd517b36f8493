package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
)

// outageLength is how long PostgreSQL stays away: several of the
// bot-handler's retry delays, as a failover or a restart would be.
const outageLength = 5 * time.Second

// TestPostgresOutageIsRiddenOut cuts the bot-handler off PostgreSQL for a few
// seconds while users write. The bot-handler must notice, report itself not
// ready and stop taking updates (CONSUMER_GATE_CLOSED) rather than burn their
// deliveries; the gateway keeps storing them. Once the database is back
// every message must be answered once, in order, with nothing in the DLQ.
func TestPostgresOutageIsRiddenOut(t *testing.T) {
	t.Parallel()
	var proxy *pgdbtest.Proxy
	s := start(t, options{
		// Fetches end every second, so the gate, checked before each
		// fetch, sees the outage and its end quickly.
		env: []string{"FETCH_WAIT=1s"},
		databaseURL: func(db *pgdbtest.DB) string {
			proxy = pgdbtest.NewProxy(t, db.Addr())
			return proxy.DSN(db.DSN)
		},
	})

	const before = 6001
	s.Sandbox.SendText(before, "/start")
	s.waitReplies(20*time.Second, 1, before)
	s.waitSettled(10 * time.Second)

	proxy.Cut()
	cut := time.Now()
	chats := chatRange(6002, 5)
	const rounds = 4
	sent := s.sendTexts(1, chats...)

	s.waitEvent(10*time.Second, "bot-handler", "CONSUMER_GATE_CLOSED", nil)
	readyz := s.OpsURL(localstack.BotHandler, 0) + "/readyz"
	require.Eventually(t, func() bool {
		resp, err := s.http.Get(readyz)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 10*time.Second, 50*time.Millisecond, "the bot-handler reports not ready while PostgreSQL is away")

	// Users keep writing; the gateway stores every update meanwhile.
	for range rounds - 1 {
		sent += s.sendTexts(1, chats...)
		require.Eventually(t, func() bool {
			stored, err := s.storedUpdates()
			return err == nil && stored == uint64(sent)
		}, 10*time.Second, 20*time.Millisecond, "updates are stored while PostgreSQL is away")
	}
	// Keep the outage going for its full length.
	select {
	case <-time.After(time.Until(cut.Add(outageLength))):
	case <-t.Context().Done():
	}
	require.Empty(t, s.Sandbox.Messages(chats[0]), "nothing is answered without the database")
	proxy.Restore()
	t.Logf("PostgreSQL was away for %s", time.Since(cut).Round(time.Millisecond))

	s.waitEvent(10*time.Second, "bot-handler", "CONSUMER_GATE_OPENED", nil)
	s.waitReplies(30*time.Second, rounds, chats...)
	s.waitSettled(20 * time.Second)
	s.requireAnsweredOnceInOrder(before, 1)
	for _, chat := range chats {
		s.requireAnsweredOnceInOrder(chat, rounds)
	}
	require.Empty(t, s.dlq(), "an outage of seconds sends nothing to the DLQ")
}
