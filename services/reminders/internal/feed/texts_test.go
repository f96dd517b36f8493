package feed

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

func TestAMessageStopsAtTheLineThatWouldPassTelegramsLimit(t *testing.T) {
	t.Parallel()
	long := store.FeedEvent{Source: store.SourceAudit, Kind: strings.Repeat("ж", 1500), UserID: 1, AdminID: 2}
	evs := []store.FeedEvent{long, long, long, long}
	text, n := compose(&feedEN, evs)
	require.Equal(t, 2, n, "two lines of about 1530 characters fit 4096, three do not")
	require.LessOrEqual(t, utf8.RuneCountInString(text), maxChars)
	require.Len(t, strings.Split(text, "\n"), 2)

	huge := long
	huge.Kind = strings.Repeat("ж", 5000)
	_, n = compose(&feedEN, []store.FeedEvent{huge, long})
	require.Equal(t, 1, n, "a message has at least one line, or the feed would stop; the OUTBOX refuses it, and it is dropped")
}

func TestAccessIsWrittenInDaysOrHoursInEitherLanguage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d      time.Duration
		en, ru string
	}{
		{30 * 24 * time.Hour, "30 days", "30 дней"},
		{24 * time.Hour, "1 day", "1 день"},
		{-72 * time.Hour, "−3 days", "−3 дня"},
		{12 * time.Hour, "12 hours", "12 часов"},
		{-(26*time.Hour + 20*time.Minute), "−26 hours", "−26 часов"},
	} {
		require.Equal(t, c.en, feedEN.duration(c.d))
		require.Equal(t, c.ru, feedRU.duration(c.d))
	}
}
