package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Outcomes of an iteration (the outcome field of ITERATION_END and label of
// vpnbot_worker_iterations_total).
const (
	OutcomeOK       = "ok"
	OutcomeError    = "error"
	OutcomeTimeout  = "timeout"
	OutcomeCanceled = "canceled"
)

var (
	errIterationTimeout = errors.New("iteration timeout")
	errStopping         = errors.New("worker stopping")
)

// States of an iteration's goroutine: whoever moves it out of running first
// decides whether its result is taken or it is abandoned.
const (
	iterRunning int32 = iota
	iterReturned
	iterAbandoned
)

// record is what ITERATION_END reports.
type record struct {
	outcome   string
	result    Result
	err       error
	abandoned bool
}

// runIteration runs one iteration and logs its START and END. END is logged
// in a defer, so even a panic in the runtime cannot lose it.
func (w *Worker) runIteration(ctx context.Context) {
	log := w.log.With().Uint64("iteration", w.seq.Add(1)).Logger()
	start := time.Now()
	rec := record{outcome: OutcomeError, err: errors.New("worker runtime failed during the iteration")}
	log.Info().Str("event", EventIterationStart).Msg("iteration started")
	defer func() { w.end(log, start, rec) }()
	rec = w.call(ctx, log)
}

// call runs the iteration in a goroutine of its own, so that one ignoring its
// context can be abandoned at its timeout (as pkg/bus does with handlers).
// The iteration's context is not Run's: stopping the worker gives it
// StopGrace to finish before cancelling it.
func (w *Worker) call(ctx context.Context, log zerolog.Logger) record {
	tctx, cancelTimeout := context.WithTimeoutCause(context.WithoutCancel(ctx), w.cfg.IterationTimeout, errIterationTimeout)
	defer cancelTimeout()
	ictx, stop := context.WithCancelCause(tctx)
	defer stop(nil)

	var state atomic.Int32
	type returned struct {
		res Result
		err error
	}
	result := make(chan returned, 1)
	go func() {
		res, err := w.safeIterate(ictx)
		w.completed.Beat()
		if state.CompareAndSwap(iterRunning, iterReturned) {
			result <- returned{res, err}
			return
		}
		log.Info().Err(err).Interface("items", res).Msg("abandoned iteration returned")
		w.abandoned.Add(-1)
		w.m.abandoned.Dec()
	}()

	// abandon gives up on the iteration, unless it returned meanwhile.
	abandon := func(outcome string, err error) record {
		if state.CompareAndSwap(iterRunning, iterAbandoned) {
			w.abandoned.Add(1)
			w.m.abandoned.Inc()
			return record{outcome: outcome, err: err, abandoned: true}
		}
		r := <-result
		return w.classify(ictx, r.res, r.err)
	}

	// Timers armed when Run's context ends (grace) and when the iteration's
	// context ends (giveUp); stopped, they never fire.
	grace := time.NewTimer(w.cfg.StopGrace)
	grace.Stop()
	defer grace.Stop()
	giveUp := time.NewTimer(returnWait)
	giveUp.Stop()
	defer giveUp.Stop()
	stopping, ended := ctx.Done(), ictx.Done()
	for {
		select {
		case r := <-result:
			return w.classify(ictx, r.res, r.err)
		case <-stopping:
			stopping = nil
			grace.Reset(w.cfg.StopGrace)
		case <-grace.C:
			if ictx.Err() == nil {
				log.Info().Dur("stop_grace", w.cfg.StopGrace).Msg("iteration still running after the stop grace; cancelling it")
				stop(errStopping)
			}
		case <-ended:
			ended = nil
			giveUp.Reset(returnWait)
		case <-giveUp.C:
			if errors.Is(context.Cause(ictx), errStopping) {
				return abandon(OutcomeCanceled, fmt.Errorf("%w: the iteration did not return once cancelled", errStopping))
			}
			return abandon(OutcomeTimeout, fmt.Errorf("%w of %s passed", errIterationTimeout, w.cfg.IterationTimeout))
		}
	}
}

// classify names the outcome of an iteration that returned.
func (w *Worker) classify(ictx context.Context, res Result, err error) record {
	rec := record{outcome: OutcomeOK, result: res, err: err}
	switch cause := context.Cause(ictx); {
	case err == nil:
	case errors.Is(cause, errStopping):
		rec.outcome = OutcomeCanceled
	case errors.Is(cause, errIterationTimeout):
		rec.outcome = OutcomeTimeout
	default:
		rec.outcome = OutcomeError
	}
	return rec
}

// safeIterate turns a panic of the iteration into an error, so one bad item
// cannot take the worker down; the next iteration tries again.
func (w *Worker) safeIterate(ctx context.Context) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("iteration panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return w.iterateFunc(ctx)
}

// end logs ITERATION_END (and WORKER_TIMEOUT before it) and records the
// iteration's metrics.
func (w *Worker) end(log zerolog.Logger, start time.Time, rec record) {
	d := time.Since(start)
	if rec.outcome == OutcomeTimeout {
		log.Error().Str("event", EventWorkerTimeout).Dur("timeout", w.cfg.IterationTimeout).
			Bool("abandoned", rec.abandoned).Msgf("iteration exceeded its timeout of %s", w.cfg.IterationTimeout)
	}
	w.m.iterations[rec.outcome].Inc()
	w.m.duration.Observe(d.Seconds())
	if rec.outcome == OutcomeOK {
		w.m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	}
	items := zerolog.Dict()
	for _, name := range slices.Sorted(maps.Keys(rec.result)) {
		n := rec.result[name]
		items.Int(name, n)
		// An item reported at 0 still gets its series, so rate() sees its
		// first increase; a counter cannot go down, so a negative count
		// (the iteration's bug) is not added.
		counter := w.m.items.WithLabelValues(w.cfg.Name, name)
		if n > 0 {
			counter.Add(float64(n))
		}
		w.m.reported[name] = true
	}
	for name := range w.m.reported {
		w.m.lastItems.WithLabelValues(w.cfg.Name, name).Set(float64(rec.result[name]))
	}
	ev := log.Info()
	switch rec.outcome {
	case OutcomeError, OutcomeTimeout:
		ev = log.Error()
	case OutcomeCanceled:
		ev = log.Warn()
	}
	ev.Str("event", EventIterationEnd).Str("outcome", rec.outcome).Dur("duration", d).
		Dict("items", items).Bool("abandoned", rec.abandoned).Err(rec.err).Msg("iteration ended")
}
