package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// Event names of the Runner, in the `event` field of their log lines (besides
// obs.EventHandlerTimeout).
const (
	EventDeadLettered       = "MESSAGE_DEAD_LETTERED"
	EventDLQPublishFailed   = "DLQ_PUBLISH_FAILED"
	EventConsumerRedeclared = "CONSUMER_REDECLARED"
	EventGateClosed         = "CONSUMER_GATE_CLOSED"
	EventGateOpened         = "CONSUMER_GATE_OPENED"
)

const (
	defaultHandlerTimeout = 25 * time.Second
	defaultMaxDeliver     = 10
	defaultRetryBase      = time.Second
	defaultRetryMax       = time.Minute
	defaultFetchWait      = 5 * time.Second

	// ackWaitMargin is AckWait beyond the handler deadline: time to settle
	// (dead-letter, ack) a message before the server redelivers it.
	ackWaitMargin = 5 * time.Second
	// settleTimeout bounds one ack, DLQ publish or stream declaration.
	settleTimeout = 5 * time.Second
	// liveSlack is how far past HandlerTimeout + FetchWait a partition loop
	// may go without progress before Live fails.
	liveSlack = 30 * time.Second
	// gatePoll is how often a closed gate is checked again.
	gatePoll = 500 * time.Millisecond
	// gateCacheTTL lets the partitions share one Gate call before their
	// fetches instead of each asking the database.
	gateCacheTTL = 250 * time.Millisecond
	gateTimeout  = 2 * time.Second
	// declareRetry is the pause after a failed consumer declaration or fetch,
	// e.g. while NATS is down.
	declareRetry = time.Second
)

// RunnerConfig configures a Runner. Zero durations and counts take the
// defaults in the field comments.
type RunnerConfig struct {
	Stream        string // e.g. StreamUpdates
	SubjectPrefix string // e.g. "tg.updates": partition p reads SubjectPrefix+"."+p
	Durable       string // consumer name prefix: partition p's durable is "<Durable>-<p>"
	Partitions    int    // number of partitions, e.g. DefaultPartitions

	// HandlerTimeout is the per-message deadline (default 25s). A handler
	// still running past it is abandoned and its message dead-lettered.
	HandlerTimeout time.Duration
	// MaxDeliver is how many times a message is delivered at most (default 10).
	MaxDeliver int
	// RetryBase and RetryMax shape the delay before delivery n+1 of a failed
	// message: min(RetryBase*2^(n-1), RetryMax); defaults 1s and 60s.
	RetryBase, RetryMax time.Duration
	// FetchWait is the longest one fetch waits for a message (default 5s).
	FetchWait time.Duration
	// Gate, when set, is checked before each fetch and after each handler
	// error. While it fails no partition fetches (it is polled every 500ms),
	// so an outage of a dependency burns no deliveries and sends nothing to
	// the DLQ. Ready reports it.
	Gate func(ctx context.Context) error
}

func (c RunnerConfig) withDefaults() RunnerConfig {
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = defaultHandlerTimeout
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = defaultMaxDeliver
	}
	if c.RetryBase <= 0 {
		c.RetryBase = defaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = defaultRetryMax
	}
	if c.FetchWait <= 0 {
		c.FetchWait = defaultFetchWait
	}
	return c
}

func (c RunnerConfig) validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("Stream is empty"))
	}
	if c.SubjectPrefix == "" {
		errs = append(errs, errors.New("SubjectPrefix is empty"))
	}
	if c.Durable == "" {
		errs = append(errs, errors.New("Durable is empty"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("Partitions is %d, want at least 1", c.Partitions))
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("RetryMax %s is below RetryBase %s", c.RetryMax, c.RetryBase))
	}
	return errors.Join(errs...)
}

// Runner consumes a partitioned stream with a Handler: one durable pull
// consumer and one fetch loop per partition, one message in flight per
// partition across all replicas.
type Runner struct {
	js  jetstream.JetStream
	cfg RunnerConfig
	h   Handler
	log zerolog.Logger
	m   *runnerMetrics

	beats    []*obs.Heartbeat // per partition: the loop made progress
	pending  []atomic.Uint64  // per partition: NumPending of its last delivery
	declared []atomic.Bool    // per partition: its consumer is declared
	running  atomic.Bool
	dlqReady atomic.Bool // the DLQ stream was declared by this runner

	gateMu     sync.Mutex
	gateAt     time.Time
	gateErr    error
	gateClosed atomic.Bool
}

// NewRunner returns a Runner handling cfg.Stream's messages with h. Its
// metrics are registered on reg (nil: not exported).
func NewRunner(js jetstream.JetStream, cfg RunnerConfig, h Handler, log zerolog.Logger, reg prometheus.Registerer) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("consumer runner config: %w", err)
	}
	if js == nil || h == nil {
		return nil, errors.New("consumer runner: JetStream and handler are required")
	}
	m, err := newRunnerMetrics(reg, cfg.Stream, cfg.Durable)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		js:       js,
		cfg:      cfg,
		h:        h,
		log:      log.With().Str("stream", cfg.Stream).Str("consumer", cfg.Durable).Logger(),
		m:        m,
		beats:    make([]*obs.Heartbeat, cfg.Partitions),
		pending:  make([]atomic.Uint64, cfg.Partitions),
		declared: make([]atomic.Bool, cfg.Partitions),
	}
	maxAge := cfg.HandlerTimeout + cfg.FetchWait + liveSlack
	for p := range r.beats {
		r.beats[p] = obs.NewHeartbeat(maxAge)
	}
	return r, nil
}

// Run declares one durable pull consumer per partition (idempotently,
// retrying while NATS is unreachable) and runs one fetch loop per partition
// until ctx is done. A consumer deleted underneath is declared again. When
// ctx is done Run stops fetching, waits for the handlers in flight (they keep
// their own deadline) and returns nil.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("consumer runner is already running")
	}
	defer r.running.Store(false)
	r.log.Info().Int("partitions", r.cfg.Partitions).Dur("handler_timeout", r.cfg.HandlerTimeout).
		Int("max_deliver", r.cfg.MaxDeliver).Msg("consumer runner starting")
	var wg sync.WaitGroup
	for p := range r.cfg.Partitions {
		wg.Go(func() { r.loop(ctx, p) })
	}
	wg.Wait()
	r.log.Info().Msg("consumer runner stopped")
	return nil
}

// Live fails when a partition loop has made no progress (a fetch returned, a
// handler finished or was abandoned, the gate was polled) for longer than
// HandlerTimeout + FetchWait + 30s.
func (r *Runner) Live(ctx context.Context) error {
	for p, hb := range r.beats {
		if err := hb.Check(ctx); err != nil {
			return fmt.Errorf("consumer %s partition %d: %w", r.cfg.Durable, p, err)
		}
	}
	return nil
}

// Ready fails while the runner is not running, a partition's consumer is not
// declared, or the Gate fails.
func (r *Runner) Ready(ctx context.Context) error {
	if !r.running.Load() {
		return fmt.Errorf("consumer %s is not running", r.cfg.Durable)
	}
	missing := 0
	for p := range r.declared {
		if !r.declared[p].Load() {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("consumer %s: %d of %d partitions not declared", r.cfg.Durable, missing, r.cfg.Partitions)
	}
	if err := r.gate(ctx, false); err != nil {
		return fmt.Errorf("consumer %s gate closed: %w", r.cfg.Durable, err)
	}
	return nil
}

// loop is one partition's fetch loop. Every turn stamps its heartbeat, so a
// loop stuck anywhere shows in Live.
func (r *Runner) loop(ctx context.Context, p int) {
	log := r.log.With().Int("partition", p).Logger()
	var cons jetstream.Consumer
	everDeclared, failing := false, false
	var refreshedAt time.Time
	for {
		r.beats[p].Beat()
		if ctx.Err() != nil {
			return
		}
		var err error
		if cons == nil {
			if cons, err = r.declare(ctx, p); err != nil {
				if !failing && ctx.Err() == nil {
					log.Warn().Err(err).Msg("cannot declare consumer; retrying")
				}
				failing = true
				retry.Sleep(ctx, declareRetry)
				continue
			}
			r.declared[p].Store(true)
			if everDeclared {
				log.Info().Str("event", EventConsumerRedeclared).Msg("consumer declared again")
			}
			everDeclared, failing = true, false
		}
		if r.gate(ctx, false) != nil {
			// The backlog grows during an outage: keep the lag gauge honest.
			r.refreshPending(ctx, p, cons, &refreshedAt)
			retry.Sleep(ctx, gatePoll)
			continue
		}
		msg, err := r.fetch(ctx, cons)
		r.beats[p].Beat()
		if err != nil {
			// The consumer may be gone (deleted, or the stream was
			// recreated): declare it again before the next fetch.
			log.Warn().Err(err).Msg("fetch failed; declaring the consumer again")
			cons = nil
			r.declared[p].Store(false)
			retry.Sleep(ctx, declareRetry)
			continue
		}
		if msg != nil {
			r.process(ctx, p, msg)
		} else if r.pending[p].Load() > 0 {
			// Our last delivery's count is stale: other replicas took
			// the rest, or messages wait for a delayed redelivery.
			r.refreshPending(ctx, p, cons, &refreshedAt)
		}
	}
}

// refreshPending sets partition p's lag from its consumer's info, at most
// once per FetchWait (at is the loop's time of the last refresh).
func (r *Runner) refreshPending(ctx context.Context, p int, cons jetstream.Consumer, at *time.Time) {
	if time.Since(*at) < r.cfg.FetchWait {
		return
	}
	*at = time.Now()
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		// Only a gauge is at stake; the next delivery or refresh fixes it.
		r.log.Debug().Err(err).Int("partition", p).Msg("cannot read consumer info for the lag gauge")
		return
	}
	r.setPending(p, info.NumPending)
}

func (r *Runner) setPending(p int, n uint64) {
	r.pending[p].Store(n)
	var lag uint64
	for i := range r.pending {
		lag += r.pending[i].Load()
	}
	r.m.pending.Set(float64(lag))
}

func (r *Runner) consumerName(p int) string {
	return r.cfg.Durable + "-" + strconv.Itoa(p)
}

// declare creates or updates partition p's consumer (and, once, the DLQ
// stream the runner writes to).
func (r *Runner) declare(ctx context.Context, p int) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	if !r.dlqReady.Load() {
		if err := EnsureDLQStream(ctx, r.js); err != nil {
			return nil, err
		}
		r.dlqReady.Store(true)
	}
	name := r.consumerName(p)
	cons, err := r.js.CreateOrUpdateConsumer(ctx, r.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "partition " + strconv.Itoa(p) + " of " + r.cfg.Durable,
		FilterSubject: r.cfg.SubjectPrefix + "." + strconv.Itoa(p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// One message in flight per partition, whatever the number of
		// replicas: this is what keeps per-chat order.
		MaxAckPending: 1,
		AckWait:       r.cfg.HandlerTimeout + ackWaitMargin,
		MaxDeliver:    r.cfg.MaxDeliver,
	})
	if err != nil {
		return nil, fmt.Errorf("declaring consumer %s on %s: %w", name, r.cfg.Stream, err)
	}
	return cons, nil
}

// fetch waits up to FetchWait for one message; nil when none came.
func (r *Runner) fetch(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, r.cfg.FetchWait)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	if msg != nil {
		return msg, nil
	}
	// A fetch cut by its own deadline (or shutdown) is an empty fetch; so is
	// one made while NATS is reconnecting.
	if err := batch.Error(); err != nil && fctx.Err() == nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	return nil, nil
}

// process runs the handler on one delivery and settles the message.
func (r *Runner) process(ctx context.Context, p int, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		// Cannot happen for a message fetched from a consumer; leave it to
		// be redelivered rather than guess.
		r.log.Error().Err(err).Int("partition", p).Str("subject", msg.Subject()).Msg("message without JetStream metadata")
		r.nak(msg, r.cfg.RetryBase, r.log)
		return
	}
	r.setPending(p, meta.NumPending)
	if meta.NumDelivered > 1 {
		r.m.redeliveries.Inc()
	}

	d := Delivery{
		Subject:      msg.Subject(),
		Data:         msg.Data(),
		Header:       msg.Headers(),
		MsgID:        msg.Headers().Get(jetstream.MsgIDHeader),
		NumDelivered: meta.NumDelivered,
		StreamSeq:    meta.Sequence.Stream,
		Partition:    p,
		Published:    meta.Timestamp,
	}
	log := r.log.With().Int("partition", p).Str("subject", d.Subject).Uint64("stream_seq", d.StreamSeq).
		Uint64("deliveries", d.NumDelivered).Str("msg_id", d.MsgID).Logger()

	start := time.Now()
	returned, expired, herr := r.call(ctx, d, log)
	r.m.duration.Observe(time.Since(start).Seconds())
	r.beats[p].Beat()

	var outcome string
	switch {
	case !returned || (herr != nil && expired):
		// A handler that failed because its deadline passed (it noticed
		// its ctx a moment before the runner did) is a timeout too.
		log.Error().Str("event", obs.EventHandlerTimeout).Dur("timeout", r.cfg.HandlerTimeout).
			Msg("handler did not return by its deadline; message given up")
		outcome = r.deadLetter(ctx, msg, d, DLQReasonTimeout,
			fmt.Sprintf("handler did not return within %s", r.cfg.HandlerTimeout), outcomeTimeout, log)
	case herr == nil:
		r.ack(ctx, msg, log)
		outcome = outcomeOK
	case IsPermanent(herr):
		outcome = r.deadLetter(ctx, msg, d, DLQReasonPermanent, herr.Error(), outcomeDLQ, log)
	case int(d.NumDelivered) >= r.cfg.MaxDeliver:
		// Nak would leave it unacknowledged for good: the server delivers
		// no more, whatever the gate says.
		outcome = r.deadLetter(ctx, msg, d, DLQReasonMaxDeliver, herr.Error(), outcomeDLQ, log)
	default:
		delay := max(r.retryDelay(d.NumDelivered), retryAfter(herr))
		log.Warn().Err(herr).Dur("retry_in", delay).Msg("handler failed; will retry")
		r.nak(msg, delay, log)
		outcome = outcomeRetry
		// A failure may be the first sign of an outage: look now, so the
		// loop pauses before its next fetch.
		_ = r.gate(ctx, true)
	}
	r.m.messages[outcome].Inc()
}

// Handler states, for the race between its return and its deadline.
const (
	handlerRunning int32 = iota
	handlerReturned
	handlerAbandoned
)

// call runs the handler in its own goroutine under HandlerTimeout and waits
// for it, but not past the deadline: a handler that ignores its ctx is
// abandoned (returned=false) and left to finish on its own, counted in the
// abandoned gauge until it does; expired says the deadline had passed.
// Shutdown (ctx) does not cut the handler short; it keeps its own deadline.
func (r *Runner) call(ctx context.Context, d Delivery, log zerolog.Logger) (returned, expired bool, err error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.HandlerTimeout)
	defer cancel()
	var state atomic.Int32
	result := make(chan error, 1)
	go func() {
		err := r.safeHandle(hctx, d, log)
		if state.CompareAndSwap(handlerRunning, handlerReturned) {
			result <- err
			return
		}
		r.m.abandoned.Dec()
		log.Info().Err(err).Msg("abandoned handler returned")
	}()
	select {
	case err := <-result:
		return true, hctx.Err() != nil, err
	case <-hctx.Done():
	}
	if state.CompareAndSwap(handlerRunning, handlerAbandoned) {
		r.m.abandoned.Inc()
		return false, true, nil
	}
	// It returned just as the deadline passed: take its result.
	return true, true, <-result
}

// safeHandle turns a handler panic into an error, so one bad message cannot
// take the service down; it is retried and dead-lettered like any failure.
func (r *Runner) safeHandle(ctx context.Context, d Delivery, log zerolog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error().Str("stack", string(debug.Stack())).Msgf("handler panicked: %v", p)
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return r.h(ctx, d)
}

// retryDelay is min(RetryBase*2^(n-1), RetryMax) for delivery n.
func (r *Runner) retryDelay(n uint64) time.Duration {
	d := r.cfg.RetryBase
	for i := uint64(1); i < n && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.RetryMax)
}

// deadLetter copies the message to the DLQ and terminates it, returning
// outcome. If the copy cannot be stored the message is not terminated but
// retried later, so nothing is lost; that counts as a retry.
func (r *Runner) deadLetter(ctx context.Context, msg jetstream.Msg, d Delivery, reason, errText, outcome string, log zerolog.Logger) string {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	dl := deadLetter(r.cfg.Stream, d, reason, errText, time.Now())
	id := dlqMsgID(r.cfg.Stream, d.StreamSeq)
	_, err := r.js.PublishMsg(sctx, dl, jetstream.WithMsgID(id))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The DLQ stream is gone (deleted by hand?): declare it and try once more.
		if err = EnsureDLQStream(sctx, r.js); err == nil {
			_, err = r.js.PublishMsg(sctx, dl, jetstream.WithMsgID(id))
		}
	}
	if err != nil {
		delay := r.retryDelay(d.NumDelivered)
		log.Error().Str("event", EventDLQPublishFailed).Err(err).Str("reason", reason).Dur("retry_in", delay).
			Msg("cannot copy message to the DLQ; it stays in its stream")
		r.nak(msg, delay, log)
		return outcomeRetry
	}
	if err := msg.TermWithReason("dead-lettered: " + reason); err != nil {
		// A lost term means a redelivery, whose DLQ copy is a duplicate.
		log.Warn().Err(err).Msg("cannot terminate dead-lettered message")
	}
	log.Warn().Str("event", EventDeadLettered).Str("reason", reason).Str("error", errText).
		Msg("message copied to the DLQ")
	return outcome
}

func (r *Runner) ack(ctx context.Context, msg jetstream.Msg, log zerolog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	// Wait for the server's confirmation: with one message in flight per
	// partition a lost ack would stall the partition until AckWait.
	if err := msg.DoubleAck(sctx); err != nil {
		log.Warn().Err(err).Msg("ack failed; the message will be delivered again")
	}
}

func (r *Runner) nak(msg jetstream.Msg, delay time.Duration, log zerolog.Logger) {
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn().Err(err).Msg("nak failed; the message will be delivered again after AckWait")
	}
}

// gate reports whether the Gate is open, sharing a result younger than
// gateCacheTTL unless fresh, and logs each change.
func (r *Runner) gate(ctx context.Context, fresh bool) error {
	if r.cfg.Gate == nil {
		return nil
	}
	r.gateMu.Lock()
	if !fresh && time.Since(r.gateAt) < gateCacheTTL {
		err := r.gateErr
		r.gateMu.Unlock()
		return err
	}
	r.gateMu.Unlock()

	gctx, cancel := context.WithTimeout(ctx, gateTimeout)
	err := r.cfg.Gate(gctx)
	cancel()
	if ctx.Err() != nil {
		// Shutting down: a gate cut short says nothing about the dependency.
		return ctx.Err()
	}
	r.gateMu.Lock()
	r.gateAt, r.gateErr = time.Now(), err
	r.gateMu.Unlock()

	closed := err != nil
	if r.gateClosed.Swap(closed) != closed {
		if closed {
			r.m.gateClosed.Set(1)
			r.log.Warn().Str("event", EventGateClosed).Err(err).Msg("gate closed; not fetching")
		} else {
			r.m.gateClosed.Set(0)
			r.log.Info().Str("event", EventGateOpened).Msg("gate open; fetching again")
		}
	}
	return err
}
