package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/config"
)

// A location is chosen by a button that carries its label, so a label too
// long for one stops activation at start, before it is offered.
func TestConfigRefusesALocationTooLongForAButton(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://localhost/vpnbot")
	panels := func(location string) string {
		return `[{"name":"a","kind":"outline","url":"https://a.example.com/s","location":"Amsterdam"},` +
			`{"name":"b","kind":"outline","url":"https://b.example.com/s","location":"` + location + `"}]`
	}
	t.Setenv("VPN_PANELS", panels(strings.Repeat("x", botui.MaxLocation)))
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Len(t, cfg.Specs(), 2)

	t.Setenv("VPN_PANELS", panels(strings.Repeat("x", botui.MaxLocation+1)))
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "panel b: location")
}
