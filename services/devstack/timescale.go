package main

import "fmt"

// Time scales of DEVSTACK_TIME_SCALE.
const (
	// ScaleDemo shortens a subscription's life so that a person sees all of
	// it in one sitting: a 15-minute trial, a minute's grace before an
	// expired key is revoked, and a paid period's reminders 10 and 5
	// minutes before its end.
	ScaleDemo = "demo"
	// ScaleReal keeps the services' own (production) durations.
	ScaleReal = "real"
)

// demoEnv is the services' environment at ScaleDemo. The workers look every
// 10 s, so that each step shows within seconds of falling due. Plans are
// data (the plans table, whole days) and keep their durations.
var demoEnv = []string{
	"TRIAL_DURATION=15m",     // bot-handler
	"REMINDER_STAGES=10m,5m", // reminders
	"EXPIRY_GRACE=1m",        // expiry-cleanup
	"WORKER_INTERVAL=10s",    // every worker
}

// timeScaleEnv is the services' environment for the time scale.
func timeScaleEnv(scale string) ([]string, error) {
	switch scale {
	case ScaleDemo:
		return demoEnv, nil
	case ScaleReal:
		return nil, nil
	}
	return nil, fmt.Errorf("DEVSTACK_TIME_SCALE=%q: want %s or %s", scale, ScaleDemo, ScaleReal)
}
