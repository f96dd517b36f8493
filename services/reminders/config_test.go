package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// Not parallel: t.Setenv.
func TestTheStagesAreReadFromTheEnvironment(t *testing.T) {
	t.Setenv("REMINDER_STAGES", "24h, 168h,2h")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, reminders.Stages{2 * time.Hour, 24 * time.Hour, 168 * time.Hour}, cfg.Stages)
	require.Equal(t, "168h,24h,2h", config.Fields(cfg)["REMINDER_STAGES"].(reminders.Stages).String())

	t.Setenv("REMINDER_STAGES", "24h,soon")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, `reminder stage "soon"`)
}

func TestTheDefaultsAreTheDesignsAndValid(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	require.NoError(t, cfg.Validate())
	require.Equal(t, "72h,24h,1h", cfg.Stages.String())
	require.Equal(t, time.Minute, cfg.Interval)
	require.EqualValues(t, 3, cfg.PoolMaxSize)
	require.Equal(t, ":9103", cfg.OpsAddr)
	require.Equal(t, time.Hour, cfg.Grace, "expiry-cleanup's default EXPIRY_GRACE")
}

func TestAShortestStageBelowTheIntervalIsRefused(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Interval = 2 * time.Hour
	require.ErrorContains(t, cfg.Validate(), "the shortest stage 1h0m0s is below WORKER_INTERVAL=2h0m0s")

	cfg = defaultConfig()
	cfg.BatchSize = 0
	require.ErrorContains(t, cfg.Validate(), "REMINDER_BATCH_SIZE=0")
}

func TestAGraceAPollCouldMissIsRefused(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Grace = 0
	require.ErrorContains(t, cfg.Validate(), "EXPIRY_GRACE=0s: must be positive")
	cfg.Interval = 10 * time.Minute
	cfg.Grace = 9 * time.Minute
	require.ErrorContains(t, cfg.Validate(), "EXPIRY_GRACE=9m0s: shorter than WORKER_INTERVAL=10m0s, a period's end could pass untold")
	cfg.Grace = 10 * time.Minute
	require.NoError(t, cfg.Validate())
}

func TestTheRenewalLeadIsReadFromTheEnvironmentAndChecked(t *testing.T) {
	t.Setenv("AUTO_RENEW_LEAD", "36h")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, 36*time.Hour, cfg.RenewLead)
	require.Equal(t, 24*time.Hour, defaultConfig().RenewLead, "a day by default")

	cfg = defaultConfig()
	cfg.RenewLead = 0
	require.ErrorContains(t, cfg.Validate(), "AUTO_RENEW_LEAD=0s: must be positive")
	cfg.RenewLead = 30 * time.Second
	require.ErrorContains(t, cfg.Validate(), "AUTO_RENEW_LEAD=30s: shorter than WORKER_INTERVAL=1m0s")
}

func TestTheFeedIsOffUnlessAChatIsSetAndItsSettingsAreChecked(t *testing.T) {
	t.Setenv("ADMIN_FEED_CHAT", "-1001234567890")
	t.Setenv("ADMIN_FEED_SUMMARY_HOUR", "0")
	t.Setenv("ADMIN_FEED_LANG", "ru")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.EqualValues(t, -1001234567890, cfg.FeedChat)
	require.Zero(t, cfg.FeedSummaryHour, "midnight is an hour like any other")
	require.Equal(t, "ru", cfg.FeedLang)

	def := defaultConfig()
	require.Zero(t, def.FeedChat, "off by default")
	require.Equal(t, 9, def.FeedSummaryHour)
	require.Equal(t, "en", def.FeedLang)

	for hour, want := range map[int]string{-1: "ADMIN_FEED_SUMMARY_HOUR=-1: must be a UTC hour", 24: "ADMIN_FEED_SUMMARY_HOUR=24"} {
		cfg := defaultConfig()
		cfg.FeedSummaryHour = hour
		require.ErrorContains(t, cfg.Validate(), want)
	}
	cfg = defaultConfig()
	cfg.FeedSummaryHour = 23
	require.NoError(t, cfg.Validate())
	cfg.FeedLang = "de"
	require.ErrorContains(t, cfg.Validate(), `ADMIN_FEED_LANG="de": must be en or ru`)

	cfg = defaultConfig()
	cfg.PoolMaxSize = 1
	require.NoError(t, cfg.Validate(), "one connection is enough without the feed")
	cfg.FeedChat = -100
	require.ErrorContains(t, cfg.Validate(), "DB_POOL_MAX_SIZE=1: the feed (ADMIN_FEED_CHAT) needs at least 2")

	t.Setenv("ADMIN_FEED_SUMMARY_HOUR", "25")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "ADMIN_FEED_SUMMARY_HOUR=25")
}
