package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	"github.com/vpnbot/vpnbot/pkg/netcut"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// Applied is a fault as it played: when it began, and when the schedule
// undid it (the process ready again, the broker started, the database
// reachable, the sandbox's faults cleared). Err is what went wrong playing
// it, such as a restart that failed.
type Applied struct {
	Fault
	Began, Ended time.Time
	Err          error
}

// Restart is a process that ended on its own, and when the soak, playing the
// orchestrator, had it ready again.
type Restart struct {
	localstack.Exit
	Ready time.Time
	Err   error
}

// System is what the breaker breaks: *localstack.Stack.
type System interface {
	Kill(service string, replica int) error
	Start(service string, replica int) error
	StopNATS() error
	StartNATS() error
	StopNATSNode(i int) error
	StartNATSNode(i int) error
	Exits() []localstack.Exit
}

// breaker plays a schedule on the system and restarts what exits on its
// own. Its records may be read once play and orchestrate have returned.
type breaker struct {
	sys System
	// natsNodes is the broker's: one is stopped whole, a node of a cluster
	// alone.
	natsNodes int
	db        *netcut.Proxy
	switches  *console.Switchboard
	log       zerolog.Logger

	mu       sync.Mutex
	applied  []Applied
	restarts []Restart
}

// restartEvery paces the attempts to start a process again that failed to
// start (it may not come up while the database or the broker is away), for
// up to restartFor.
const (
	restartEvery = 5 * time.Second
	restartFor   = 2 * time.Minute
)

// play runs each fault of plan at start + At, each in its own goroutine, and
// returns once every one has been undone. A fault that began is undone even
// when ctx ends; one that has not begun by then never begins.
func (b *breaker) play(ctx context.Context, start time.Time, plan []Fault) {
	var wg sync.WaitGroup
	for _, f := range plan {
		wg.Go(func() {
			if !sleepUntil(ctx, start.Add(f.At)) {
				return
			}
			a := Applied{Fault: f, Began: time.Now()}
			b.log.Warn().Str("fault", f.String()).Dur("for", f.For).Msg("fault begins")
			undo, err := b.begin(f)
			if err != nil {
				a.Err, a.Ended = err, time.Now()
				b.record(a)
				return
			}
			sleepUntil(ctx, a.Began.Add(f.For))
			a.Err = undo()
			a.Ended = time.Now()
			b.log.Warn().Str("fault", f.String()).AnErr("error", a.Err).Msg("fault undone")
			b.record(a)
		})
	}
	wg.Wait()
}

// begin starts a fault and returns how to undo it.
func (b *breaker) begin(f Fault) (undo func() error, err error) {
	switch f.Kind {
	case KindKill:
		if err := b.sys.Kill(f.Target.Name, f.Target.Replica); err != nil {
			return nil, err
		}
		return func() error { return b.startAgain(f.Target) }, nil
	case KindNATS:
		if b.natsNodes > 1 {
			if err := b.sys.StopNATSNode(f.Node); err != nil {
				return nil, err
			}
			return func() error { return b.sys.StartNATSNode(f.Node) }, nil
		}
		if err := b.sys.StopNATS(); err != nil {
			return nil, err
		}
		return b.sys.StartNATS, nil
	case KindPostgres:
		b.db.Cut()
		return func() error { b.db.Restore(); return nil }, nil
	case KindPanel:
		return b.flip(console.PanelSwitch(f.Panel, console.PanelFailing))
	case KindTelegram:
		return b.flip(console.SwitchTelegram429)
	}
	return nil, fmt.Errorf("no such kind of fault: %q", f.Kind)
}

// flip turns a switch of the console's on, and returns how to turn it off.
func (b *breaker) flip(name string) (func() error, error) {
	if err := b.switches.Set(name, true); err != nil {
		return nil, err
	}
	return func() error { return b.switches.Set(name, false) }, nil
}

// startAgain starts a process until it is ready, as an orchestrator keeps
// doing, for up to restartFor; the first failure is returned, for the
// record, once it is up.
func (b *breaker) startAgain(id localstack.ServiceID) error {
	var first error
	for deadline := time.Now().Add(restartFor); ; {
		err := b.sys.Start(id.Name, id.Replica)
		if err == nil {
			return first
		}
		if first == nil {
			first = err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not started again within %s: %w", restartFor, first)
		}
		b.log.Error().Err(err).Str("service", id.Label).Msg("could not start the service again; retrying")
		time.Sleep(restartEvery)
	}
}

// orchestrate starts again every process that exits on its own, until ctx
// ends, and records each.
func (b *breaker) orchestrate(ctx context.Context) {
	seen := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		exits := b.sys.Exits()
		for _, e := range exits[seen:] {
			b.log.Error().Str("service", e.Label).AnErr("exit", e.Err).Msg("a service exited on its own; starting it again")
			err := b.startAgain(e.ServiceID)
			b.mu.Lock()
			b.restarts = append(b.restarts, Restart{Exit: e, Ready: time.Now(), Err: err})
			b.mu.Unlock()
		}
		seen = len(exits)
	}
}

func (b *breaker) record(a Applied) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applied = append(b.applied, a)
}

// sleepUntil waits until t, and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return retry.Sleep(ctx, time.Until(t))
}
