package clocktest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
)

func TestTheClockMovesOnlyWhenTold(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c := clocktest.New(at)
	require.Equal(t, at, c.Now())
	require.Equal(t, at, c.Now(), "it stands still")
	c.Advance(time.Minute)
	require.Equal(t, at.Add(time.Minute), c.Now())
	c.Set(at.Add(-time.Hour))
	require.Equal(t, at.Add(-time.Hour), c.Now())
}
