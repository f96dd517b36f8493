package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/retry"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Event names of the sender's log lines that on-call searches for.
const (
	EventFloodWait    = "FLOOD_WAIT"         // Telegram answered 429; the chat (or every send) waits retry_after
	EventUserBlocked  = "USER_BLOCKED"       // Telegram answered 403; the user is marked blocked
	EventDeadLettered = "SEND_DEAD_LETTERED" // given up: copied to dlq.OUTBOX and terminated
	EventNotRecorded  = "SENT_NOT_RECORDED"  // sent, but the sent-log insert failed: a redelivery would repeat it
)

// Defaults of Config.
const (
	DefaultRate          = 25
	DefaultChatRate      = 1
	DefaultMaxAttempts   = 8
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 500
	DefaultFetchWait     = time.Second
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = time.Minute
	DefaultSendTimeout   = 30 * time.Second
	DefaultMaxInFlight   = 32
	// liveMaxAge is how long the dispatch loop may go without a turn
	// before /livez fails; it turns at least once a second when idle.
	liveMaxAge = 30 * time.Second
	// idleTurn bounds how long the dispatch loop sleeps, so its heartbeat
	// shows it alive while nothing is queued.
	idleTurn = time.Second
	// fetchBatch is the most commands one fetch asks for; MaxAckPending
	// bounds how many are held in all.
	fetchBatch = 100
	// settleTimeout bounds the NATS calls of declaring and dead-lettering.
	settleTimeout = 10 * time.Second
)

// Config tunes a Sender. Zero values take the defaults.
type Config struct {
	// Rate is the global limit, in sends per second (SENDER_RATE).
	Rate float64
	// ChatRate is the limit per chat, in sends per second (SENDER_CHAT_RATE).
	ChatRate float64
	// MaxAttempts is how many transient failures (5xx, network) a command
	// may have before it is dead-lettered (SENDER_MAX_ATTEMPTS).
	MaxAttempts int
	// AckWait is the consumers' ack deadline. Held commands are marked in
	// progress every AckWait/3; a crashed leader's commands come back to
	// the next one after it.
	AckWait time.Duration
	// MaxAckPending bounds the commands held per priority.
	MaxAckPending int
	// FetchWait is the longest one fetch waits for commands.
	FetchWait time.Duration
	// RetryBase and RetryMax bound the growing delay between attempts after
	// a transient failure.
	RetryBase, RetryMax time.Duration
	// SendTimeout bounds one attempt: the sent-log check, the Bot API call
	// and the record.
	SendTimeout time.Duration
	// MaxInFlight bounds concurrent Bot API calls (to different chats).
	MaxInFlight int
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.ChatRate <= 0 {
		c.ChatRate = DefaultChatRate
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	def(&c.AckWait, DefaultAckWait)
	def(&c.FetchWait, DefaultFetchWait)
	def(&c.RetryBase, DefaultRetryBase)
	def(&c.RetryMax, DefaultRetryMax)
	def(&c.SendTimeout, DefaultSendTimeout)
	c.RetryMax = max(c.RetryMax, c.RetryBase)
	return c
}

// Durable is the name of the sender's consumer for priority p.
func Durable(p vpnbotv1.Priority) string { return "sender-" + outbox.PriorityName(p) }

// Sender consumes the OUTBOX stream and sends each command to Telegram
// within the rate limits. Lead runs it; only the leader of an election
// should, since the limits are the bot's, not a replica's.
type Sender struct {
	cfg     Config
	js      jetstream.JetStream
	store   store
	client  *Client
	log     zerolog.Logger
	m       *metrics
	limiter *rate.Limiter
	beat    *obs.Heartbeat
	leading atomic.Bool
}

// New returns a sender reading from js, keeping its sent-log in pool and
// sending with client. Its metrics go on reg.
func New(cfg Config, js jetstream.JetStream, pool *pgxpool.Pool, client *Client, log zerolog.Logger, reg prometheus.Registerer) (*Sender, error) {
	cfg = cfg.withDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Sender{
		cfg:    cfg,
		js:     js,
		store:  store{pool: pool},
		client: client,
		log:    log,
		m:      m,
		// A burst of 1 spaces sends evenly: Telegram counts per second,
		// and a burst at a leadership change must not exceed it either.
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1),
		beat:    obs.NewHeartbeat(liveMaxAge),
	}, nil
}

// Live is the liveness check: it fails when this instance leads but its
// dispatch loop has stopped turning. A standby is live.
func (s *Sender) Live(ctx context.Context) error {
	if !s.leading.Load() {
		return nil
	}
	if err := s.beat.Check(ctx); err != nil {
		return fmt.Errorf("sender dispatch loop: %w", err)
	}
	return nil
}

// Lead sends until ctx is done: it declares the consumers, fetches commands
// into the scheduler and sends them. On return it has stopped fetching,
// finished the attempts in flight and given every held command back (nak),
// so another replica sends them at once. It fails only when the consumers
// cannot be declared.
func (s *Sender) Lead(ctx context.Context) error {
	if !s.leading.CompareAndSwap(false, true) {
		return errors.New("sender: already leading")
	}
	defer s.leading.Store(false)
	s.beat.Beat()

	var cons []jetstream.Consumer
	for _, p := range outbox.Priorities() {
		c, err := s.declare(ctx, p)
		if err != nil {
			return err
		}
		cons = append(cons, c)
	}
	sch := newScheduler(time.Duration(float64(time.Second) / s.cfg.ChatRate))
	var wg sync.WaitGroup
	for i, p := range outbox.Priorities() {
		wg.Go(func() { s.fetch(ctx, sch, p, cons[i]) })
	}
	wg.Go(func() { s.keepInProgress(ctx, sch) })
	s.dispatch(ctx, sch)
	wg.Wait()

	held := sch.msgs()
	for _, m := range held {
		if err := m.Nak(); err != nil {
			s.log.Warn().Err(err).Msg("could not give a held command back; it returns after the ack wait")
		}
	}
	s.m.queued.Set(0)
	s.log.Info().Int("held", len(held)).Msg("stopped sending; held commands given back")
	return nil
}

// declare creates or updates the consumer of priority p.
func (s *Sender) declare(ctx context.Context, p vpnbotv1.Priority) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	name := Durable(p)
	c, err := s.js.CreateOrUpdateConsumer(ctx, outbox.Stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "the sender's " + outbox.PriorityName(p) + " commands",
		FilterSubject: outbox.SubjectFilter(p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		// Many commands are held at once so that the scheduler can pick
		// across chats; each stays in progress until its turn.
		MaxAckPending: s.cfg.MaxAckPending,
		// Attempts are counted by the sender, which keeps a failed command
		// in its chat's place; redelivery happens only when a leader died.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("declaring consumer %s on %s: %w", name, outbox.Stream, err)
	}
	return c, nil
}

// fetch feeds the scheduler with priority p's commands until ctx is done.
func (s *Sender) fetch(ctx context.Context, sch *scheduler, p vpnbotv1.Priority, cons jetstream.Consumer) {
	backoff := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, s.cfg.FetchWait)
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchContext(fctx))
		if err == nil {
			for m := range batch.Messages() {
				s.admit(sch, p, m)
			}
			if err = batch.Error(); fctx.Err() != nil {
				err = nil // a fetch cut by its own deadline is an empty fetch
			}
		}
		cancel()
		if err == nil {
			backoff.Reset()
			continue
		}
		s.log.Warn().Err(err).Str("consumer", Durable(p)).Msg("fetching commands failed; declaring the consumer again")
		if !retry.Sleep(ctx, backoff.Next()) {
			return
		}
		// The consumer may have been deleted: consumers are recreated.
		if c, err := s.declare(ctx, p); err == nil {
			cons = c
		}
	}
}

// admit queues a fetched command, or dead-letters one that can never be
// sent.
func (s *Sender) admit(sch *scheduler, p vpnbotv1.Priority, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		// Cannot happen for a message fetched from a consumer.
		s.log.Error().Err(err).Str("subject", m.Subject()).Msg("command without JetStream metadata")
		_ = m.NakWithDelay(s.cfg.RetryBase)
		return
	}
	cmd, err := outbox.Decode(m.Data())
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		if err := s.publishDeadLetter(ctx, m, meta, bus.DLQReasonPermanent, err.Error()); err != nil {
			s.log.Error().Str("event", bus.EventDLQPublishFailed).Err(err).Msg("cannot dead-letter an undecodable command")
			_ = m.NakWithDelay(s.cfg.RetryBase)
			return
		}
		_ = m.Term()
		s.m.sends.WithLabelValues(outbox.PriorityName(p), outcomeDLQ).Inc()
		s.log.Error().Str("event", EventDeadLettered).Err(err).Uint64("stream_seq", meta.Sequence.Stream).
			Msg("undecodable command dead-lettered")
		return
	}
	sch.add(&item{msg: m, cmd: cmd, priority: p, seq: meta.Sequence.Stream})
}

// keepInProgress keeps the held commands' ack deadlines from passing while
// they wait for their turn.
func (s *Sender) keepInProgress(ctx context.Context, sch *scheduler) {
	t := time.NewTicker(s.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range sch.msgs() {
			_ = m.InProgress() // a lost one means a redelivery, which the scheduler absorbs
		}
	}
}

// dispatch starts attempts, one global token each, until ctx is done, then
// waits for the attempts in flight.
func (s *Sender) dispatch(ctx context.Context, sch *scheduler) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	for {
		s.beat.Beat()
		s.m.queued.Set(float64(sch.count()))
		it, wait := sch.next(time.Now())
		if it == nil {
			if wait <= 0 || wait > idleTurn {
				wait = idleTurn
			}
			select {
			case <-ctx.Done():
				return
			case <-sch.wake:
			case <-time.After(wait):
			}
			continue
		}
		start := time.Now()
		if err := s.limiter.Wait(ctx); err != nil {
			return // ctx is done
		}
		s.m.wait.Observe(time.Since(start).Seconds())
		// While this waited for the token a more urgent command may have
		// come in: choose again.
		if it, _ = sch.next(time.Now()); it == nil {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		sch.start(it)
		inflight.Go(func() {
			defer func() { <-slots }()
			s.attempt(ctx, sch, it)
		})
	}
}

// attempt sends it once and settles the outcome. It runs to its end even
// when leadership ends meanwhile, so a send is never cut between Telegram's
// answer and the sent-log.
func (s *Sender) attempt(leadCtx context.Context, sch *scheduler, it *item) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(leadCtx), s.cfg.SendTimeout)
	defer cancel()
	prio := outbox.PriorityName(it.priority)
	log := s.log.With().Str("dedup_id", it.cmd.GetDedupId()).Int64("chat_id", it.cmd.GetChatId()).
		Str("priority", prio).Logger()
	if it.deadLetter != nil {
		s.giveUp(ctx, sch, it, false, log)
		return
	}

	sent, blocked, err := s.store.state(ctx, it.cmd.GetDedupId(), it.cmd.GetChatId())
	if err != nil {
		// A database outage is not the command's fault: it keeps its
		// attempts and its place.
		s.m.sends.WithLabelValues(prio, outcomeFailed).Inc()
		log.Warn().Err(err).Msg("cannot check the sent-log; retrying")
		sch.retry(it, s.delay(it.attempts+1), time.Now())
		return
	}
	switch {
	case sent:
		s.ack(sch, it, log)
		s.m.sends.WithLabelValues(prio, outcomeDuplicate).Inc()
		log.Info().Msg("command already sent; acknowledged without sending")
		sch.finish(it, false, time.Now())
		return
	case blocked:
		s.ack(sch, it, log)
		s.m.sends.WithLabelValues(prio, outcomeDropped).Inc()
		log.Debug().Msg("user blocked the bot; command dropped")
		sch.finish(it, false, time.Now())
		return
	}

	start := time.Now()
	msgID, err := s.client.Send(ctx, it.cmd)
	now := time.Now()
	s.m.telegram.WithLabelValues(method(it.cmd)).Observe(now.Sub(start).Seconds())
	if err == nil {
		if err := s.store.recordSent(ctx, it.cmd.GetDedupId(), it.cmd.GetChatId(), msgID); err != nil {
			log.Error().Str("event", EventNotRecorded).Err(err).Msg("sent, but not recorded in the sent-log")
		}
		s.ack(sch, it, log)
		s.m.sends.WithLabelValues(prio, outcomeSent).Inc()
		if c := it.cmd.GetCreatedAt(); c != nil {
			s.m.queueAge.Observe(now.Sub(c.AsTime()).Seconds())
		}
		log.Debug().Int64("message_id", msgID).Msg("sent")
		sch.finish(it, true, now)
		return
	}

	apiErr, isAPI := apiError(err)
	switch {
	case isAPI && apiErr.Code == http.StatusTooManyRequests:
		wait := max(apiErr.RetryAfter, time.Second)
		scope := "chat"
		if sch.flood(it.cmd.GetChatId(), wait, now) {
			scope = "global"
		}
		s.m.floodWaits.WithLabelValues(scope).Inc()
		log.Warn().Str("event", EventFloodWait).Str("scope", scope).Dur("retry_after", wait).
			Msgf("FLOOD_WAIT %s: Telegram asks to wait %s", scope, wait)
		sch.retry(it, wait, now)
	case isAPI && apiErr.Code == http.StatusForbidden:
		if err := s.store.markBlocked(ctx, it.cmd.GetChatId()); err != nil {
			log.Error().Err(err).Msg("cannot mark the user blocked")
		}
		s.ack(sch, it, log)
		s.m.sends.WithLabelValues(prio, outcomeBlocked).Inc()
		log.Info().Str("event", EventUserBlocked).Str("description", apiErr.Description).
			Msg("the user blocked the bot; command dropped")
		sch.finish(it, true, now)
	case isAPI && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != http.StatusUnauthorized:
		// Telegram refuses the command itself; sending it again cannot help.
		// (401 is a wrong token: the operator's to fix, so it is retried.)
		it.deadLetter = &deadLetter{reason: bus.DLQReasonPermanent, err: err.Error()}
		s.giveUp(ctx, sch, it, true, log)
	default:
		it.attempts++
		if it.attempts >= s.cfg.MaxAttempts {
			it.deadLetter = &deadLetter{reason: bus.DLQReasonMaxDeliver, err: err.Error()}
			s.giveUp(ctx, sch, it, true, log)
			return
		}
		d := s.delay(it.attempts)
		s.m.sends.WithLabelValues(prio, outcomeFailed).Inc()
		log.Warn().Err(err).Int("attempt", it.attempts).Dur("retry_in", d).Msg("send failed; retrying")
		sch.retry(it, d, now)
	}
}

// delay is the wait before attempt n+1 after n failures: RetryBase doubling
// up to RetryMax.
func (s *Sender) delay(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// giveUp dead-letters it and terminates it; if the DLQ cannot take it, it
// stays queued and the next attempt tries again.
func (s *Sender) giveUp(ctx context.Context, sch *scheduler, it *item, called bool, log zerolog.Logger) {
	m := sch.handle(it)
	meta, err := m.Metadata()
	if err == nil {
		err = s.publishDeadLetter(ctx, m, meta, it.deadLetter.reason, it.deadLetter.err)
	}
	if err != nil {
		log.Error().Str("event", bus.EventDLQPublishFailed).Err(err).Msg("cannot dead-letter the command; retrying")
		sch.retry(it, s.cfg.RetryBase, time.Now())
		return
	}
	if err := m.Term(); err != nil {
		log.Warn().Err(err).Msg("cannot terminate the dead-lettered command")
	}
	s.m.sends.WithLabelValues(outbox.PriorityName(it.priority), outcomeDLQ).Inc()
	log.Error().Str("event", EventDeadLettered).Str("reason", it.deadLetter.reason).Str("error", it.deadLetter.err).
		Msg("command dead-lettered")
	sch.finish(it, called, time.Now())
}

func (s *Sender) ack(sch *scheduler, it *item, log zerolog.Logger) {
	if err := sch.handle(it).Ack(); err != nil {
		// The redelivery that follows is a no-op thanks to the sent-log.
		log.Warn().Err(err).Msg("cannot acknowledge the command")
	}
}

// publishDeadLetter copies m to dlq.OUTBOX in the format of bus's DLQ (the
// Dlq-* headers), so the dlq command lists and replays it.
func (s *Sender) publishDeadLetter(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, reason, errText string) error {
	h := nats.Header{}
	for k, v := range m.Headers() {
		if len(k) >= 5 && k[:5] == "Nats-" {
			continue // server instructions; the original Nats-Msg-Id is kept in Dlq-Msg-Id
		}
		h[k] = append([]string(nil), v...)
	}
	h.Set(bus.HeaderDLQReason, reason)
	h.Set(bus.HeaderDLQError, errText)
	h.Set(bus.HeaderDLQStream, outbox.Stream)
	h.Set(bus.HeaderDLQSubject, m.Subject())
	h.Set(bus.HeaderDLQStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	h.Set(bus.HeaderDLQDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	h.Set(bus.HeaderDLQMsgID, m.Headers().Get(jetstream.MsgIDHeader))
	h.Set(bus.HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	msg := &nats.Msg{Subject: bus.DLQSubject(outbox.Stream), Header: h, Data: m.Data()}
	// The same id for a retried dead-lettering makes it a duplicate.
	id := outbox.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("dead-lettering command %s: %w", id, err)
	}
	return nil
}
