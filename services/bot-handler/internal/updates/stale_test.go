package updates_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

// countingBot stands in for the bot: what is under test is only whether the
// handler acts on an update at all.
type countingBot struct{ calls int }

func (b *countingBot) ProcessBanned(context.Context, tele.Update, *time.Time) (string, error) {
	b.calls++
	return "test", nil
}

func TestButtonPressesOlderThanTheMaxAgeAreSkipped(t *testing.T) {
	t.Parallel()
	var logs obstest.LogBuffer
	reg := prometheus.NewRegistry()
	bot := &countingBot{}
	h, err := updates.NewHandler(1, store.New(pgdbtest.New(t).Pool), bot, obstest.NewLogger(&logs), reg, updates.WithCallbackMaxAge(time.Minute))
	require.NoError(t, err)
	press := func(id int64, waited time.Duration) error {
		return h.Handle(context.Background(), bus.Delivery{
			Data: []byte(`{"update_id":` + strconv.FormatInt(id, 10) + `,"callback_query":{"id":"q` + strconv.FormatInt(id, 10) +
				`","from":{"id":7,"is_bot":false,"first_name":"A"},"chat_instance":"1","data":"plans"}}`),
			Published: time.Now().Add(-waited),
		})
	}
	text := func(id int64, waited time.Duration) error {
		return h.Handle(context.Background(), bus.Delivery{
			Data: []byte(`{"update_id":` + strconv.FormatInt(id, 10) + `,"message":{"message_id":1,"from":{"id":7,"is_bot":false,"first_name":"A"},` +
				`"chat":{"id":7,"type":"private"},"date":1700000000,"text":"/start"}}`),
			Published: time.Now().Add(-waited),
		})
	}

	require.NoError(t, press(1, 5*time.Second))
	require.Equal(t, 1, bot.calls, "a fresh press is handled")
	require.NoError(t, press(2, 3*time.Minute))
	require.Equal(t, 1, bot.calls, "a press that waited 3 minutes is skipped")
	require.Len(t, logs.Lines(updates.EventCallbackStale), 1)
	require.NoError(t, text(3, 3*time.Minute))
	require.Equal(t, 2, bot.calls, "only button presses go stale: a late message is still answered")

	stale, ok := obstest.Metric(t, reg, "vpnbot_bot_updates_total", map[string]string{"outcome": updates.OutcomeStale})
	require.True(t, ok)
	require.EqualValues(t, 1, stale)
}

// The update-reply SLI counts the time an update waited in the stream, not
// only the handler's: an update that waited 3 minutes is a slow answer
// however fast it was handled.
func TestUpdateAgeCountsTheWaitInTheStream(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, err := updates.NewHandler(1, store.New(pgdbtest.New(t).Pool), &countingBot{}, obstest.NewLogger(&obstest.LogBuffer{}), reg)
	require.NoError(t, err)
	for id, waited := range map[int64]time.Duration{1: 0, 2: 3 * time.Minute} {
		require.NoError(t, h.Handle(context.Background(), bus.Delivery{
			Data: []byte(`{"update_id":` + strconv.FormatInt(id, 10) + `,"message":{"message_id":1,"from":{"id":7,"is_bot":false,"first_name":"A"},` +
				`"chat":{"id":7,"type":"private"},"date":1700000000,"text":"/start"}}`),
			Published: time.Now().Add(-waited),
		}))
	}
	within2s, total := bucket(t, reg, "vpnbot_bot_update_age_seconds", 2)
	require.EqualValues(t, 2, total, "both updates were handled")
	require.EqualValues(t, 1, within2s, "the one that waited 3 minutes was not answered within 2 s")
}

// bucket reads histogram name's count of observations up to le, and its
// total count.
func bucket(t *testing.T, g prometheus.Gatherer, name string, le float64) (upTo, total uint64) {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == le {
				return b.GetCumulativeCount(), h.GetSampleCount()
			}
		}
		t.Fatalf("%s has no bucket le=%g", name, le)
	}
	t.Fatalf("%s is not registered", name)
	return 0, 0
}
