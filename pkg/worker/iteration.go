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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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
	// errLeadershipLost stops a singleton's iteration at once: the lock went
	// with the leader's connection, so another replica may lead already.
	errLeadershipLost = fmt.Errorf("%w: leadership lost", errStopping)
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
// in a defer, so even a panic in the runtime cannot lose it. The iteration is
// a span named after the worker, which its log lines carry: the root of its
// own trace, or, when WakeFrom brought it, a child of the first wake-up's
// span, linked to the others.
func (w *Worker) runIteration(run, ctx context.Context) {
	seq := w.seq.Add(1)
	opts := []trace.SpanStartOption{trace.WithAttributes(attribute.Int64("vpnbot.iteration", int64(seq)))}
	parent := ctx
	if woke := w.takeWokeBy(); len(woke) > 0 {
		parent = trace.ContextWithSpanContext(ctx, woke[0])
		for _, sc := range woke[1:] {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := otel.Tracer(tracerName).Start(parent, w.cfg.Name, opts...)
	log := w.log.With().Uint64("iteration", seq).Ctx(ctx).Logger()
	start := time.Now()
	rec := record{outcome: OutcomeError, err: errors.New("worker runtime failed during the iteration")}
	log.Info().Str("event", EventIterationStart).Msg("iteration started")
	defer func() {
		w.end(log, start, rec)
		endSpan(span, rec)
	}()
	rec = w.call(run, ctx, log)
}

// tracerName names the spans pkg/worker starts.
const tracerName = "github.com/vpnbot/vpnbot/pkg/worker"

// endSpan ends an iteration's span with its items (vpnbot.items.<name>) and
// outcome; an error or a timeout is its error status.
func endSpan(span trace.Span, rec record) {
	attrs := []attribute.KeyValue{
		attribute.String("vpnbot.outcome", rec.outcome),
		attribute.Bool("vpnbot.abandoned", rec.abandoned),
	}
	for name, n := range rec.result {
		attrs = append(attrs, attribute.Int("vpnbot.items."+name, n))
	}
	span.SetAttributes(attrs...)
	switch rec.outcome {
	case OutcomeError, OutcomeTimeout:
		if rec.err != nil {
			span.RecordError(rec.err)
			span.SetStatus(codes.Error, rec.err.Error())
		} else {
			span.SetStatus(codes.Error, rec.outcome)
		}
	}
	span.End()
}

// call runs the iteration in a goroutine of its own, so that one ignoring its
// context can be abandoned at its timeout (as pkg/bus does with handlers).
// The iteration's context is not Run's: stopping the worker (run done) gives
// it StopGrace to finish before cancelling it. A singleton's ctx is its
// leadership term's; when the term ends while run goes on, leadership was
// lost and the iteration is cancelled at once.
func (w *Worker) call(run, ctx context.Context, log zerolog.Logger) record {
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
			if run.Err() != nil {
				grace.Reset(w.cfg.StopGrace)
			} else {
				log.Info().Msg("leadership lost; cancelling the iteration")
				stop(errLeadershipLost)
			}
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
