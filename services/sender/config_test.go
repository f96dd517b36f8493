package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
)

// Not parallel: t.Setenv.
func TestThePaidRateIsReadAndKeptWithinTelegramsLimit(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, 1000.0, cfg.PaidRate, "Telegram's paid broadcast limit by default")
	require.Equal(t, 25.0, cfg.Rate)

	t.Setenv("SENDER_PAID_RATE", "500")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, 500.0, cfg.PaidRate)

	for _, bad := range []string{"0", "-1", "1001"} {
		t.Setenv("SENDER_PAID_RATE", bad)
		_, err = config.Load(defaultConfig())
		require.ErrorContains(t, err, "SENDER_PAID_RATE="+bad, bad)
	}
}
