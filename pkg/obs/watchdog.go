package obs

import (
	"context"
	"time"
)

// EventWatchdogExit is the self-watchdog ending a process whose liveness
// check kept failing.
const EventWatchdogExit = "WATCHDOG_EXIT"

// Watchdog is for runs without an orchestrator to restart a stuck service
// (DESIGN §4): it checks liveness every interval and, once the check has
// failed without a break for exitAfter, logs WATCHDOG_EXIT and calls exit(1)
// — os.Exit in production, since a stuck process cannot be trusted to shut
// down cleanly. It returns when ctx is done.
func (o *Ops) Watchdog(ctx context.Context, exitAfter, interval time.Duration, exit func(code int)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := o.Live(ctx)
			// Measured after the check, not from the tick: a failure then
			// counts from no earlier than it could have been seen.
			now := time.Now()
			switch {
			case err == nil:
				failingSince = time.Time{}
			case failingSince.IsZero():
				failingSince = now
			case now.Sub(failingSince) >= exitAfter:
				o.log.Error().Str("event", EventWatchdogExit).Err(err).Dur("failing_for", now.Sub(failingSince)).
					Msg("liveness failing too long; exiting so the process is restarted")
				exit(1)
				return
			}
		}
	}
}
