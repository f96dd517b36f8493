package main

import (
	"fmt"

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

// Time scales of DEVSTACK_TIME_SCALE.
const (
	// ScaleDemo is localstack's demo time scale: a subscription's whole
	// life (a 15-minute trial, a 20-minute plan, reminders, expiry and a
	// minute later revocation) within one sitting.
	ScaleDemo = "demo"
	// ScaleReal keeps the services' own (production) durations.
	ScaleReal = "real"
)

// timeScaleEnv is the services' environment for the time scale.
func timeScaleEnv(scale string) ([]string, error) {
	switch scale {
	case ScaleDemo:
		return localstack.DemoEnv(), nil
	case ScaleReal:
		return nil, nil
	}
	return nil, fmt.Errorf("DEVSTACK_TIME_SCALE=%q: want %s or %s", scale, ScaleDemo, ScaleReal)
}
