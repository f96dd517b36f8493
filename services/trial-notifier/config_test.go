package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
