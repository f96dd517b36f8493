package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	c := defaultConfig()
	require.Equal(t, ":9105", c.OpsAddr)
	require.EqualValues(t, 4, c.PoolMaxSize, "DESIGN §1")
	require.Equal(t, time.Minute, c.Interval)
	require.Equal(t, time.Hour, c.Grace)
	require.Equal(t, 10, c.ReconcileEvery)
	require.ErrorContains(t, c.Validate(), "OUTLINE_API_URL is required")
	c.OutlineAPIURL = "https://203.0.113.5:41234/secret"
	require.NoError(t, c.Validate())
	require.Greater(t, c.cleanupConfig().ClaimTTL, c.IterationTimeout, "a claim outlives its holder's iteration")
	require.Equal(t, 30*24*time.Hour, c.SentMessagesRetention)
	require.Equal(t, 30*24*time.Hour, c.ProcessedUpdatesRetention)
	require.Equal(t, 30*24*time.Hour, c.NotificationsSentRetention)
	require.Equal(t, time.Hour, c.PruneInterval)
	require.Less(t, c.pruneConfig().Budget, c.IterationTimeout, "pruning leaves the iteration time to end")
}

func TestValidateRefusesSettingsThatCannotWork(t *testing.T) {
	t.Parallel()
	c := defaultConfig()
	c.Panel, c.RemnawaveURL, c.RemnawaveToken = "remnawave", "https://panel.example.com", "token"
	require.NoError(t, c.Validate())
	for name, broken := range map[string]func(*Config){
		"EXPIRY_GRACE":             func(c *Config) { c.Grace = 0 },
		"RECONCILE_EVERY":          func(c *Config) { c.ReconcileEvery = 0 },
		"RECONCILE_ORPHAN_MIN_AGE": func(c *Config) { c.OrphanMinAge = time.Second },
		"VPN_PANEL_TIMEOUT":        func(c *Config) { c.PanelTimeout = c.IterationTimeout },
		"VPN_PANEL":                func(c *Config) { c.Panel = "wireguard" },
		// An Outline client fetches dynamic keys over https only.
		"KEYSERVER_URL": func(c *Config) { c.Keys.URL = "http://keys.example.com" },
		// Shorter than the DLQ keeps a dead letter that can be replayed.
		"PRUNE_SENT_MESSAGES_RETENTION":      func(c *Config) { c.SentMessagesRetention = 7 * 24 * time.Hour },
		"PRUNE_PROCESSED_UPDATES_RETENTION":  func(c *Config) { c.ProcessedUpdatesRetention = 14 * 24 * time.Hour },
		"PRUNE_NOTIFICATIONS_SENT_RETENTION": func(c *Config) { c.NotificationsSentRetention = time.Hour },
		"PRUNE_BATCH_SIZE":                   func(c *Config) { c.PruneBatchSize = 0 },
		"PRUNE_INTERVAL":                     func(c *Config) { c.PruneInterval = 0 },
	} {
		b := c
		broken(&b)
		require.ErrorContains(t, b.Validate(), name)
	}
}
