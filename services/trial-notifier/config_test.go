package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

func TestDefaultsAreTheDesignsAndValid(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	require.NoError(t, cfg.Validate())
	require.Equal(t, ":9104", cfg.OpsAddr, "DESIGN §1 ops port")
	require.EqualValues(t, 3, cfg.PoolMaxSize, "DESIGN §1 pool budget")
	require.Equal(t, time.Minute, cfg.Interval)
	require.False(t, cfg.Singleton, "replicas share the work by claiming it")
	require.Equal(t, time.Hour, cfg.Grace, "expiry-cleanup's default EXPIRY_GRACE")
	require.Equal(t, notifier.Leads{First: 24 * time.Hour, Last: time.Hour}, cfg.Leads, "a day and an hour before the end")
	require.Equal(t, "24h,1h", cfg.Leads.String())
}

func TestValidateRejectsSettingsThatCannotWork(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.BatchSize = 0
	cfg.MaxAge = -time.Hour
	cfg.Grace = 0
	err := cfg.Validate()
	require.ErrorContains(t, err, "TRIAL_NOTIFIER_BATCH_SIZE=0")
	require.ErrorContains(t, err, "TRIAL_NOTICE_MAX_AGE=-1h0m0s")
	require.ErrorContains(t, err, "EXPIRY_GRACE=0s")
}

// Not parallel: t.Setenv.
func TestTheLeadsAreReadFromTheEnvironment(t *testing.T) {
	t.Setenv("WORKER_INTERVAL", "10s")
	t.Setenv("TRIAL_NOTICE_LEADS", "10m, 5m")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, notifier.Leads{First: 10 * time.Minute, Last: 5 * time.Minute}, cfg.Leads)
	require.Equal(t, "10m,5m", config.Fields(cfg)["TRIAL_NOTICE_LEADS"].(notifier.Leads).String(), "as the start-up log shows them")

	t.Setenv("TRIAL_NOTICE_LEADS", "90m,1h")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, "1h30m,1h", cfg.Leads.String())

	for value, want := range map[string]string{
		"24h":        "TRIAL_NOTICE_LEADS=24h: want two leads, the first notice's then the last one's, such as 24h,1h; got 1",
		"24h,1h,10m": "TRIAL_NOTICE_LEADS=24h,1h,10m: want two leads, the first notice's then the last one's, such as 24h,1h; got 3",
		"soon,1h":    `TRIAL_NOTICE_LEADS=soon,1h: lead "soon": time: invalid duration`,
		"24h,":       `TRIAL_NOTICE_LEADS=24h,: lead "": time: invalid duration`,
		"1h,24h":     "TRIAL_NOTICE_LEADS=1h,24h: first lead 1h: must be longer than the last, 24h",
		"1h,1h":      "TRIAL_NOTICE_LEADS=1h,1h: first lead 1h: must be longer than the last, 1h",
		"1h,0s":      "TRIAL_NOTICE_LEADS=1h,0s: lead 0s: must be positive",
		"-1h,-2h":    "TRIAL_NOTICE_LEADS=-1h,-2h: lead -1h0m0s: must be positive",
		"10m,90s":    "TRIAL_NOTICE_LEADS=10m,90s: lead 1m30s: must be a whole number of minutes",
	} {
		t.Setenv("TRIAL_NOTICE_LEADS", value)
		_, err := config.Load(defaultConfig())
		require.ErrorContains(t, err, want, "TRIAL_NOTICE_LEADS=%s", value)
	}
}

func TestLeadsAPollCouldMissAreRefused(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Interval = 2 * time.Hour
	require.ErrorContains(t, cfg.Validate(), "TRIAL_NOTICE_LEADS=24h,1h: the last lead is shorter than WORKER_INTERVAL=2h0m0s")

	cfg = defaultConfig()
	cfg.Interval = 10 * time.Minute
	cfg.Leads = notifier.Leads{First: 30 * time.Minute, Last: 25 * time.Minute}
	require.ErrorContains(t, cfg.Validate(), "TRIAL_NOTICE_LEADS=30m,25m: the leads are less than WORKER_INTERVAL=10m0s apart")

	cfg.Leads = notifier.Leads{First: 30 * time.Minute, Last: 20 * time.Minute}
	require.NoError(t, cfg.Validate(), "a poll every interval lands in each window")

	cfg.Leads = notifier.Leads{}
	require.ErrorContains(t, cfg.Validate(), "TRIAL_NOTICE_LEADS=0s,0s: lead 0s: must be positive")
}

func TestAGraceAPollCouldMissIsRefused(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Interval = 10 * time.Second
	cfg.Grace = 9 * time.Second
	require.ErrorContains(t, cfg.Validate(), "EXPIRY_GRACE=9s: shorter than WORKER_INTERVAL=10s, a trial's end could pass untold")
	cfg.Grace = 10 * time.Second
	require.NoError(t, cfg.Validate())
}
