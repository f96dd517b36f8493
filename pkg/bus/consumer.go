package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// Mode is how a Consumer spreads a stream's messages over its handlers.
type Mode int

const (
	// Partitioned reads a stream split into partitions, subject
	// "<Subject>.<p>", in order: one durable consumer per partition with
	// MaxAckPending 1, so one message of a partition is in flight in the
	// whole fleet, whatever the number of replicas, while partitions run in
	// parallel. Telegram updates are read this way, which keeps each chat's
	// order.
	Partitioned Mode = iota + 1
	// Shared reads a stream with one durable consumer that every replica
	// pulls from: up to MaxInFlight deliveries at once per replica, in no
	// particular order. Events and the outbox are read this way.
	Shared
)

func (m Mode) String() string {
	switch m {
	case Partitioned:
		return "partitioned"
	case Shared:
		return "shared"
	default:
		return "mode(" + strconv.Itoa(int(m)) + ")"
	}
}

const (
	// NoDeadline, as HandlerTimeout, lets a handler run as long as it takes;
	// the message is kept in progress meanwhile.
	NoDeadline time.Duration = -1
	// Unlimited, as MaxDeliver, redelivers a failing message for ever: a
	// failure or a deadline never dead-letters it, only a Permanent error or
	// a panic does. For messages that must not be given up, such as
	// payments.
	Unlimited = -1
)

// Event names of a Consumer, in the `event` field of their log lines
// (besides obs.EventHandlerTimeout).
const (
	EventDeadLettered       = "MESSAGE_DEAD_LETTERED"
	EventDLQPublishFailed   = "DLQ_PUBLISH_FAILED"
	EventConsumerRedeclared = "CONSUMER_REDECLARED"
	EventGateClosed         = "CONSUMER_GATE_CLOSED"
	EventGateOpened         = "CONSUMER_GATE_OPENED"
	EventHandlerPanic       = "HANDLER_PANIC"
)

// DefaultAckWait is how long the server waits for a sign of life from the
// replica a message was delivered to before it delivers the message again:
// how long a dead replica's messages wait. A live replica keeps what it
// holds in progress every AckWait/3, so a busy machine has two of those
// signs to miss before a message is redelivered under a live handler.
const DefaultAckWait = 3 * time.Second

const (
	defaultHandlerTimeout = 25 * time.Second
	defaultMaxDeliver     = 10
	defaultRetryBase      = time.Second
	defaultRetryMax       = time.Minute
	defaultFetchWait      = 5 * time.Second
	defaultMaxAckPending  = 1000

	// settleTimeout bounds one ack, DLQ publish or consumer declaration.
	settleTimeout = 5 * time.Second
	// liveSlack is how far past HandlerTimeout + FetchWait a fetch loop may
	// go without progress before Live fails.
	liveSlack = 30 * time.Second
	// fetchBatch is the most messages one fetch of a shared consumer asks
	// for; free slots bound it further.
	fetchBatch = 100
	// gatePoll is how often a closed gate is checked again.
	gatePoll = 500 * time.Millisecond
	// gateCacheTTL lets the partitions share one GateFunc call before their
	// fetches instead of each asking the database.
	gateCacheTTL = 250 * time.Millisecond
	gateTimeout  = 2 * time.Second
	// declareRetry is the pause after a failed consumer declaration or fetch,
	// e.g. while NATS is down.
	declareRetry = time.Second
)

// ConsumerConfig configures a Consumer. Zero durations and counts take the
// defaults in the field comments.
type ConsumerConfig struct {
	// Stream is the stream read, e.g. "TG_UPDATES".
	Stream string
	// Durable names the consumer, shared by every replica; in Partitioned
	// mode partition p's durable is "<Durable>-<p>".
	Durable string
	// Subject is the filter subject; in Partitioned mode partition p reads
	// "<Subject>.<p>".
	Subject string
	// Description is the consumer's description on the server.
	Description string
	// Mode is Partitioned or Shared.
	Mode Mode
	// Partitions is the number of partitions (Partitioned only).
	Partitions int
	// MaxInFlight bounds the deliveries this replica handles or holds at
	// once (Shared only; default 1).
	MaxInFlight int
	// MaxAckPending bounds the deliveries held across every replica
	// (Shared only; default 1000).
	MaxAckPending int
	// DeliverNew starts a consumer created anew at the messages stored after
	// it, not at the stream's first: for wake-ups that polling covers.
	DeliverNew bool

	// HandleFunc handles one delivery; the Consumer settles the message
	// from what it returns (see Handler).
	HandleFunc Handler
	// HoldFunc, instead of HandleFunc, takes the deliveries (Shared only).
	HoldFunc HoldFunc

	// HandlerTimeout is the per-message deadline (default 25s; NoDeadline
	// for none). A handler still running past it is abandoned and its
	// message dead-lettered (retried with MaxDeliver Unlimited).
	HandlerTimeout time.Duration
	// AckWait is how long the server waits for a sign of life before it
	// redelivers (default DefaultAckWait). A message being handled, held
	// or settled is kept in progress every AckWait/3, so a live handler
	// keeps its message up to HandlerTimeout (a holder, until it settles),
	// while a dead replica's messages are redelivered within AckWait.
	AckWait time.Duration
	// MaxDeliver is how many times a message is delivered at most (default
	// 10; Unlimited for no limit).
	MaxDeliver int
	// RetryBase and RetryMax shape the delay before delivery n+1 of a failed
	// message: min(RetryBase*2^(n-1), RetryMax); defaults 1s and 60s.
	RetryBase, RetryMax time.Duration
	// FetchWait is the longest one fetch waits for messages (default 5s).
	FetchWait time.Duration
	// GateFunc, when set, is checked before each fetch and after each
	// handler error. While it fails nothing is fetched (it is polled every
	// 500ms), so an outage of a dependency burns no deliveries and sends
	// nothing to the DLQ. Ready reports it.
	GateFunc func(ctx context.Context) error
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = defaultHandlerTimeout
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
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
	if c.Mode == Shared {
		if c.MaxInFlight <= 0 {
			c.MaxInFlight = 1
		}
		if c.MaxAckPending <= 0 {
			c.MaxAckPending = defaultMaxAckPending
		}
	}
	return c
}

func (c ConsumerConfig) validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("Stream is empty"))
	}
	if c.Subject == "" {
		errs = append(errs, errors.New("Subject is empty"))
	}
	if c.Durable == "" {
		errs = append(errs, errors.New("Durable is empty"))
	}
	switch c.Mode {
	case Partitioned:
		if c.Partitions < 1 {
			errs = append(errs, fmt.Errorf("Partitions is %d, want at least 1", c.Partitions))
		}
		if c.HoldFunc != nil {
			errs = append(errs, errors.New("HoldFunc needs the Shared mode"))
		}
	case Shared:
	default:
		errs = append(errs, fmt.Errorf("Mode is %s, want Partitioned or Shared", c.Mode))
	}
	if (c.HandleFunc == nil) == (c.HoldFunc == nil) {
		errs = append(errs, errors.New("exactly one of HandleFunc and HoldFunc is required"))
	}
	if c.HandlerTimeout < 0 && c.HandlerTimeout != NoDeadline {
		errs = append(errs, fmt.Errorf("HandlerTimeout is %s, want positive or NoDeadline", c.HandlerTimeout))
	}
	if c.MaxDeliver < 1 && c.MaxDeliver != Unlimited {
		errs = append(errs, fmt.Errorf("MaxDeliver is %d, want positive or Unlimited", c.MaxDeliver))
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("RetryMax %s is below RetryBase %s", c.RetryMax, c.RetryBase))
	}
	return errors.Join(errs...)
}

// Consumer reads one durable consumer of a stream (one per partition in
// Partitioned mode) and settles every message from its handler's result:
// one path for acknowledging, retrying, dead-lettering and surviving
// panics, whatever the mode.
type Consumer struct {
	js  jetstream.JetStream
	cfg ConsumerConfig
	log zerolog.Logger
	m   *consumerMetrics

	// One fetch loop per partition, or one: each slice has one entry a loop.
	beats      []*obs.Heartbeat // per loop: it made progress
	pending    []atomic.Uint64  // per loop: messages not yet delivered, as last seen
	ackPending []atomic.Uint64  // per loop: delivered and not yet settled, as last seen
	// retrying is per loop: a message this replica gave back waits for its
	// redelivery, so the lag gauges are read afresh until none does.
	retrying []atomic.Bool
	declared []atomic.Bool // per loop: its durable is declared
	running  atomic.Bool
	dlqReady atomic.Bool // the DLQ stream was declared by this consumer

	held heldSet // messages being handled or held, kept in progress

	gateMu     sync.Mutex
	gateAt     time.Time
	gateErr    error
	gateClosed atomic.Bool
}

// NewConsumer returns a Consumer of cfg.Stream. Its metrics are registered
// on reg (nil: not exported).
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, log zerolog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	if js == nil {
		return nil, fmt.Errorf("consumer %s: JetStream is required", cfg.Durable)
	}
	m, err := newConsumerMetrics(reg, cfg.Stream, cfg.Durable)
	if err != nil {
		return nil, err
	}
	loops := 1
	if cfg.Mode == Partitioned {
		loops = cfg.Partitions
	}
	c := &Consumer{
		js:         js,
		cfg:        cfg,
		log:        log.With().Str("stream", cfg.Stream).Str("consumer", cfg.Durable).Logger(),
		m:          m,
		beats:      make([]*obs.Heartbeat, loops),
		pending:    make([]atomic.Uint64, loops),
		ackPending: make([]atomic.Uint64, loops),
		retrying:   make([]atomic.Bool, loops),
		declared:   make([]atomic.Bool, loops),
		held:       heldSet{msgs: map[uint64]jetstream.Msg{}},
	}
	maxAge := max(cfg.HandlerTimeout, 0) + cfg.FetchWait + liveSlack
	for i := range c.beats {
		c.beats[i] = obs.NewHeartbeat(maxAge)
	}
	return c, nil
}

// Durable is the consumer's name (in Partitioned mode, its partitions'
// prefix).
func (c *Consumer) Durable() string { return c.cfg.Durable }

// Run declares the durable consumer (one per partition), idempotently,
// retrying while NATS is unreachable, and fetches until ctx is done; a
// consumer deleted underneath is declared again. When ctx is done Run stops
// fetching, waits until every message in hand is settled (handlers keep
// their own deadline; a holder must settle what it holds) and returns nil.
// A Consumer runs once at a time, and may run again after Run returned.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("consumer %s is already running", c.cfg.Durable)
	}
	defer c.running.Store(false)
	for _, hb := range c.beats {
		hb.Beat()
	}
	c.log.Info().Str("mode", c.cfg.Mode.String()).Int("loops", len(c.beats)).Dur("handler_timeout", c.cfg.HandlerTimeout).
		Dur("ack_wait", c.cfg.AckWait).Int("max_deliver", c.cfg.MaxDeliver).Msg("consumer starting")

	keepCtx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	keeping := make(chan struct{})
	go func() {
		defer close(keeping)
		c.held.keepInProgress(keepCtx, c.cfg.AckWait/3)
	}()
	var settling sync.WaitGroup
	var loops sync.WaitGroup
	for i := range c.beats {
		loops.Go(func() { c.loop(ctx, i, &settling) })
	}
	loops.Wait()
	settling.Wait()
	stopKeeping()
	<-keeping
	for i := range c.declared {
		c.declared[i].Store(false)
	}
	c.log.Info().Msg("consumer stopped")
	return nil
}

// Live fails when a fetch loop has made no progress (a fetch returned, a
// handler finished or was abandoned, the gate was polled, a slot was
// awaited) for longer than HandlerTimeout + FetchWait + 30s. A consumer that
// is not running is not stuck: Live passes, and Ready tells it is not
// running (a sender's consumers run only while it leads).
func (c *Consumer) Live(ctx context.Context) error {
	if !c.running.Load() {
		return nil
	}
	for i, hb := range c.beats {
		if err := hb.Check(ctx); err != nil {
			return fmt.Errorf("consumer %s: %w", c.name(i), err)
		}
	}
	return nil
}

// Ready fails while the consumer is not running, a durable is not declared,
// or the gate is closed.
func (c *Consumer) Ready(ctx context.Context) error {
	if !c.running.Load() {
		return fmt.Errorf("consumer %s is not running", c.cfg.Durable)
	}
	missing := 0
	for i := range c.declared {
		if !c.declared[i].Load() {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("consumer %s: %d of %d durables not declared", c.cfg.Durable, missing, len(c.declared))
	}
	if err := c.gate(ctx, false); err != nil {
		return fmt.Errorf("consumer %s gate closed: %w", c.cfg.Durable, err)
	}
	return nil
}

// name is loop i's durable.
func (c *Consumer) name(i int) string {
	if c.cfg.Mode == Partitioned {
		return PartitionDurable(c.cfg.Durable, i)
	}
	return c.cfg.Durable
}

// PartitionDurable is the durable of partition i of the Partitioned
// consumer named durable: "<durable>-<i>".
func PartitionDurable(durable string, i int) string {
	return durable + "-" + strconv.Itoa(i)
}

// PartitionOf reads a durable's name as PartitionDurable writes it: the
// Partitioned consumer it belongs to and its partition. ok is false for a
// name PartitionDurable cannot have written, such as a Shared consumer's.
func PartitionOf(durable string) (consumer string, partition int, ok bool) {
	cut := strings.LastIndexByte(durable, '-')
	if cut <= 0 {
		return "", 0, false
	}
	i, err := strconv.Atoi(durable[cut+1:])
	if err != nil || i < 0 || PartitionDurable(durable[:cut], i) != durable {
		return "", 0, false
	}
	return durable[:cut], i, true
}

// loop is one durable's fetch loop. Every turn stamps its heartbeat, so a
// loop stuck anywhere shows in Live.
func (c *Consumer) loop(ctx context.Context, i int, settling *sync.WaitGroup) {
	log := c.log
	if c.cfg.Mode == Partitioned {
		log = log.With().Int("partition", i).Logger()
	}
	var free chan struct{} // Shared: a token per delivery this replica may take in hand
	if c.cfg.Mode == Shared {
		free = make(chan struct{}, c.cfg.MaxInFlight)
		for range c.cfg.MaxInFlight {
			free <- struct{}{}
		}
	}
	var cons jetstream.Consumer
	everDeclared, failing := false, false
	var refreshedAt time.Time
	for {
		c.beats[i].Beat()
		if ctx.Err() != nil {
			return
		}
		var err error
		if cons == nil {
			if cons, err = c.declare(ctx, i); err != nil {
				if !failing && ctx.Err() == nil {
					log.Warn().Err(err).Msg("cannot declare consumer; retrying")
				}
				failing = true
				retry.Sleep(ctx, declareRetry)
				continue
			}
			c.declared[i].Store(true)
			if everDeclared {
				log.Info().Str("event", EventConsumerRedeclared).Msg("consumer declared again")
			}
			everDeclared, failing = true, false
		}
		if c.gate(ctx, false) != nil {
			// The backlog grows during an outage: keep the lag gauges honest.
			c.refreshLag(ctx, i, cons, &refreshedAt)
			retry.Sleep(ctx, gatePoll)
			continue
		}
		want := 1
		if free != nil {
			if want = c.takeSlots(ctx, free); want == 0 {
				continue // all in hand: beat, and look again
			}
		}
		got, err := c.fetch(ctx, cons, want, func(msg jetstream.Msg) {
			if free == nil {
				// Partitioned: one message at a time, settled before the
				// next fetch.
				c.process(ctx, i, msg)
				return
			}
			settling.Add(1)
			release := func() {
				free <- struct{}{}
				settling.Done()
			}
			if c.cfg.HoldFunc != nil {
				// In stream order, on this goroutine: the holder sees the
				// messages in the order they were stored.
				c.hold(ctx, i, msg, release)
				return
			}
			go func() {
				defer release()
				c.process(ctx, i, msg)
			}()
		})
		c.beats[i].Beat()
		if free != nil {
			for range want - got {
				free <- struct{}{}
			}
		}
		if err != nil {
			// The consumer may be gone (deleted, or the stream was
			// recreated): declare it again before the next fetch.
			log.Warn().Err(err).Msg("fetch failed; declaring the consumer again")
			cons = nil
			c.declared[i].Store(false)
			retry.Sleep(ctx, declareRetry)
			continue
		}
		if got == 0 && (c.pending[i].Load() > 0 || c.retrying[i].Load()) {
			// The last delivery's counts are stale: other replicas took the
			// rest, or messages wait for a delayed redelivery. (What other
			// replicas hold is no reason: reading a consumer's info costs
			// the server, and partitions are many.)
			c.refreshLag(ctx, i, cons, &refreshedAt)
		}
	}
}

// takeSlots waits up to FetchWait for a free slot, then takes every free
// one up to fetchBatch, and returns how many it took: 0 when none freed up
// in time.
func (c *Consumer) takeSlots(ctx context.Context, free chan struct{}) int {
	t := time.NewTimer(c.cfg.FetchWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0
	case <-t.C:
		return 0
	case <-free:
	}
	n := 1
	for n < fetchBatch {
		select {
		case <-free:
			n++
		default:
			return n
		}
	}
	return n
}

// refreshLag sets loop i's lag gauges from its consumer's info, at most once
// per FetchWait (at is the loop's time of the last refresh).
func (c *Consumer) refreshLag(ctx context.Context, i int, cons jetstream.Consumer, at *time.Time) {
	if time.Since(*at) < c.cfg.FetchWait {
		return
	}
	*at = time.Now()
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		// Only gauges are at stake; the next delivery or refresh fixes them.
		c.log.Debug().Err(err).Str("durable", c.name(i)).Msg("cannot read consumer info for the lag gauges")
		return
	}
	c.setLag(i, info.NumPending, uint64(info.NumAckPending))
	if info.NumAckPending == 0 {
		c.retrying[i].Store(false)
	}
}

// declareDLQ declares the DLQ stream with as many replicas as the stream
// the consumer reads: a dead letter is kept as safely as the message it
// copies, and a service that does not declare the DLQ itself keeps its
// STREAM_REPLICAS all the same.
func (c *Consumer) declareDLQ(ctx context.Context) error {
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return fmt.Errorf("reading stream %s for the DLQ's replicas: %w", c.cfg.Stream, err)
	}
	return DeclareStreams(ctx, c.js, WithReplicas(st.CachedInfo().Config.Replicas, DLQStreamConfig())...)
}

func (c *Consumer) setLag(i int, pending, ackPending uint64) {
	c.pending[i].Store(pending)
	c.ackPending[i].Store(ackPending)
	var p, a uint64
	for j := range c.pending {
		p += c.pending[j].Load()
		a += c.ackPending[j].Load()
	}
	c.m.pending.Set(float64(p))
	c.m.ackPending.Set(float64(a))
}

// declare creates or updates loop i's durable (and, once, the DLQ stream
// the consumer writes to).
func (c *Consumer) declare(ctx context.Context, i int) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	if !c.dlqReady.Load() {
		if err := c.declareDLQ(ctx); err != nil {
			return nil, err
		}
		c.dlqReady.Store(true)
	}
	// No Replicas: 0 makes JetStream keep the durable on as many servers as
	// its stream (STREAM_REPLICAS), and move it along when the stream's
	// count changes, so a consumer's position survives what its stream
	// survives.
	cfg := jetstream.ConsumerConfig{
		Durable:       c.name(i),
		Description:   c.cfg.Description,
		FilterSubject: c.cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver,
		MaxAckPending: c.cfg.MaxAckPending,
	}
	if c.cfg.DeliverNew {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	if c.cfg.Mode == Partitioned {
		cfg.FilterSubject = c.cfg.Subject + "." + strconv.Itoa(i)
		cfg.Description = "partition " + strconv.Itoa(i) + " of " + c.cfg.Durable
		// One message in flight per partition, whatever the number of
		// replicas: this is what keeps per-partition order.
		cfg.MaxAckPending = 1
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("declaring consumer %s on %s: %w", cfg.Durable, c.cfg.Stream, err)
	}
	return cons, nil
}

// fetch waits up to FetchWait for at most n messages and hands each to
// take as it comes, not once the batch is full or over: a fetch for many
// messages that finds few would otherwise hold them until FetchWait ends.
// It returns how many came. The server ends the request a tenth of
// FetchWait before the client stops listening; a message it sends later
// than that is dropped in transit and waits AckWait for its redelivery.
func (c *Consumer) fetch(ctx context.Context, cons jetstream.Consumer, n int, take func(jetstream.Msg)) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchWait)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, fmt.Errorf("fetching: %w", err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		take(m)
	}
	// A fetch cut by its own deadline (or shutdown) is an empty fetch; so is
	// one made while NATS is reconnecting.
	if err := batch.Error(); err != nil && got == 0 && fctx.Err() == nil {
		return 0, fmt.Errorf("fetching: %w", err)
	}
	return got, nil
}

// gate reports whether the gate is open, sharing a result younger than
// gateCacheTTL unless fresh, and logs each change.
func (c *Consumer) gate(ctx context.Context, fresh bool) error {
	if c.cfg.GateFunc == nil {
		return nil
	}
	c.gateMu.Lock()
	if !fresh && time.Since(c.gateAt) < gateCacheTTL {
		err := c.gateErr
		c.gateMu.Unlock()
		return err
	}
	c.gateMu.Unlock()

	gctx, cancel := context.WithTimeout(ctx, gateTimeout)
	err := c.cfg.GateFunc(gctx)
	cancel()
	if ctx.Err() != nil {
		// Shutting down: a gate cut short says nothing about the dependency.
		return ctx.Err()
	}
	c.gateMu.Lock()
	c.gateAt, c.gateErr = time.Now(), err
	c.gateMu.Unlock()

	closed := err != nil
	if c.gateClosed.Swap(closed) != closed {
		if closed {
			c.m.gateClosed.Set(1)
			c.log.Warn().Str("event", EventGateClosed).Err(err).Msg("gate closed; not fetching")
		} else {
			c.m.gateClosed.Set(0)
			c.log.Info().Str("event", EventGateOpened).Msg("gate open; fetching again")
		}
	}
	return err
}

// heldSet is the messages in hand, which the server must not redeliver while
// they are handled, held or being settled.
type heldSet struct {
	mu   sync.Mutex
	next uint64
	msgs map[uint64]jetstream.Msg
}

// add puts m in hand until its final settlement: the message returned in
// its place, for the caller to settle, leaves the set as its ack, nak or
// term is sent, so no progress signal can follow (one after a delayed nak
// would cut the delay short).
func (h *heldSet) add(m jetstream.Msg) jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	id := h.next
	h.msgs[id] = m
	return inHand{Msg: m, remove: func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.msgs, id)
	}}
}

// inHand is a message of the heldSet that leaves it when settled.
type inHand struct {
	jetstream.Msg
	remove func()
}

func (m inHand) DoubleAck(ctx context.Context) error {
	m.remove()
	return m.Msg.DoubleAck(ctx)
}

func (m inHand) NakWithDelay(delay time.Duration) error {
	m.remove()
	return m.Msg.NakWithDelay(delay)
}

func (m inHand) TermWithReason(reason string) error {
	m.remove()
	return m.Msg.TermWithReason(reason)
}

// keepInProgress tells the server, every interval until ctx is done, that
// each message in hand is still being worked on, so AckWait can be short
// without a slow handler's message being redelivered to another replica.
// It signals under the lock, so a message being settled waits for it.
func (h *heldSet) keepInProgress(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		for _, m := range h.msgs {
			// A lost one means a redelivery, which the handlers absorb.
			_ = m.InProgress()
		}
		h.mu.Unlock()
	}
}
