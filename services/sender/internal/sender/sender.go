package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Event names of the sender's log lines that on-call searches for. A command
// given up is logged by its consumer, as bus.EventDeadLettered.
const (
	EventFloodWait   = "FLOOD_WAIT"        // Telegram answered 429; the chat (or every send) waits retry_after
	EventUserBlocked = "USER_BLOCKED"      // Telegram answered 403; the user is marked blocked
	EventNotRecorded = "SENT_NOT_RECORDED" // sent, but the sent-log insert failed: a redelivery would repeat it
	// EventBroadcastCancelled is logged once per cancelled broadcast, at the
	// first of its messages dropped unsent; vpnbot_sender_sends_total
	// {outcome="cancelled"} counts them all.
	EventBroadcastCancelled = "BROADCAST_CANCELLED_DROPPED"
)

// Defaults of Config.
const (
	DefaultRate = 25
	// DefaultPaidRate is Telegram's limit for paid broadcasts, which is
	// also the most SENDER_PAID_RATE may be.
	DefaultPaidRate      = 1000
	DefaultCancelRefresh = time.Second
	DefaultMaxAttempts   = 8
	DefaultMaxAckPending = 500
	DefaultFetchWait     = time.Second
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = time.Minute
	DefaultSendTimeout   = 30 * time.Second
	// DefaultMaxInFlight lets a paid broadcast's thousand sends a second
	// take up to 64 ms each (the sent-log check, the chat's slot, the call
	// and the record).
	DefaultMaxInFlight = 64
	// liveMaxAge is how long the dispatch loop may go without a turn
	// before /livez fails; it turns at least once a second when idle.
	liveMaxAge = 30 * time.Second
	// idleTurn bounds how long the dispatch loop sleeps, so its heartbeat
	// shows it alive while nothing is queued.
	idleTurn = time.Second
)

// errLeadershipEnded is why the commands still waiting at the end of a term
// are given back.
var errLeadershipEnded = errors.New("the sender's leadership ended")

// Config tunes a Sender. Zero values take the defaults.
type Config struct {
	// Rate is the global limit, in sends per second (SENDER_RATE).
	Rate float64
	// PaidRate is the limit of the paid broadcasts' messages, in sends per
	// second (SENDER_PAID_RATE): they go with allow_paid_broadcast, past
	// Rate and the bot-wide budget, which are the free limit's; the
	// per-chat limit holds for them.
	PaidRate float64
	// ChatRate spaces the sends to one chat, in sends per second: the rate
	// of the per-chat budget shared with the bot-handler
	// (TELEGRAM_CHAT_RATE), which the client waits for before each send.
	// Spacing them here too keeps a chat with a backlog from holding a send
	// slot while it waits for its turn.
	ChatRate float64
	// MaxAttempts is how many transient failures (5xx, network) a command
	// may have before it is dead-lettered (SENDER_MAX_ATTEMPTS).
	MaxAttempts int
	// AckWait is the consumers' ack deadline (default bus.DefaultAckWait).
	// Held commands are kept in progress meanwhile; a crashed leader's
	// commands come back to the next one within it, so a new leader waits
	// that long before its first send.
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
	// CancelRefresh is how long a broadcast's cancelled_at, once read, is
	// trusted: a cancellation stops its messages within about that long.
	CancelRefresh time.Duration
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
	if c.PaidRate <= 0 {
		c.PaidRate = DefaultPaidRate
	}
	if c.ChatRate <= 0 {
		c.ChatRate = chatpace.DefaultRate
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
	def(&c.AckWait, bus.DefaultAckWait)
	def(&c.FetchWait, DefaultFetchWait)
	def(&c.RetryBase, DefaultRetryBase)
	def(&c.RetryMax, DefaultRetryMax)
	def(&c.SendTimeout, DefaultSendTimeout)
	def(&c.CancelRefresh, DefaultCancelRefresh)
	c.RetryMax = max(c.RetryMax, c.RetryBase)
	return c
}

// Durable is the name of the sender's consumer for priority p.
func Durable(p vpnbotv1.Priority) string { return "sender-" + outbox.PriorityName(p) }

// Sender consumes the OUTBOX stream and sends each command to Telegram
// within the rate limits. Lead runs it; only the leader of an election
// should, since the limits are the bot's, not a replica's.
type Sender struct {
	cfg       Config
	store     store
	client    *telegram.Client
	log       zerolog.Logger
	m         *metrics
	limiter   *rate.Limiter
	paid      *rate.Limiter // the paid broadcasts' own
	cancels   *cancellations
	states    *batcher[command, commandState]
	records   *batcher[sentRecord, struct{}]
	beat      *obs.Heartbeat
	sch       *scheduler
	consumers []*bus.Consumer // one per priority, run in each term
	leading   atomic.Bool
}

// New returns a sender reading from js, keeping its sent-log in pool and
// sending with client. Its metrics, and its consumers', go on reg.
func New(cfg Config, js jetstream.JetStream, pool *pgxpool.Pool, client *telegram.Client, log zerolog.Logger, reg prometheus.Registerer) (*Sender, error) {
	cfg = cfg.withDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Sender{
		cfg:    cfg,
		store:  store{pool: pool},
		client: client,
		log:    log,
		m:      m,
		// A burst of 1 spaces sends evenly: Telegram counts per second,
		// and a burst at a leadership change must not exceed it either.
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1),
		// At a thousand a second a token comes every millisecond, about what
		// a timer oversleeps: a burst of 10 ms keeps the rate from losing
		// what each wait overshoots.
		paid:    rate.NewLimiter(rate.Limit(cfg.PaidRate), max(1, int(cfg.PaidRate/100))),
		cancels: newCancellations(store{pool: pool}.broadcastCancelled, cfg.CancelRefresh),
		states:  newBatcher(cfg.SendTimeout, store{pool: pool}.states),
		records: newBatcher(cfg.SendTimeout, store{pool: pool}.recordSent),
		beat:    obs.NewHeartbeat(liveMaxAge),
		sch:     newScheduler(time.Duration(float64(time.Second) / cfg.ChatRate)),
	}
	for _, p := range outbox.Priorities() {
		c, err := bus.NewConsumer(js, bus.ConsumerConfig{
			Stream:      outbox.Stream,
			Subject:     outbox.SubjectFilter(p),
			Durable:     Durable(p),
			Description: "the sender's " + outbox.PriorityName(p) + " commands",
			Mode:        bus.Shared,
			HoldFunc:    s.holdFunc(p),
			// Many commands are held at once so that the scheduler can pick
			// across chats; each waits for its turn as long as it takes.
			MaxInFlight:    cfg.MaxAckPending,
			MaxAckPending:  cfg.MaxAckPending,
			HandlerTimeout: bus.NoDeadline,
			// The sender counts the attempts and keeps a failed command in
			// its chat's place; a redelivery happens only when a leader
			// stopped or died.
			MaxDeliver: bus.Unlimited,
			AckWait:    cfg.AckWait,
			FetchWait:  cfg.FetchWait,
		}, log, reg)
		if err != nil {
			return nil, err
		}
		s.consumers = append(s.consumers, c)
	}
	return s, nil
}

// Live is the liveness check: it fails when this instance leads but its
// dispatch loop has stopped turning, or one of its consumers has. A standby
// is live.
func (s *Sender) Live(ctx context.Context) error {
	if !s.leading.Load() {
		return nil
	}
	if err := s.beat.Check(ctx); err != nil {
		return fmt.Errorf("sender dispatch loop: %w", err)
	}
	for _, c := range s.consumers {
		if err := c.Live(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Lead sends until ctx is done: its consumers feed the scheduler, and the
// dispatch loop sends. On return the attempts in flight have finished,
// every command still waiting has been given back, so another replica sends
// it at once, and the consumers have stopped.
func (s *Sender) Lead(ctx context.Context) error {
	if !s.leading.CompareAndSwap(false, true) {
		return errors.New("sender: already leading")
	}
	defer s.leading.Store(false)
	s.beat.Beat()

	s.sch.open()
	var running sync.WaitGroup
	errs := make([]error, len(s.consumers))
	for i, c := range s.consumers {
		running.Go(func() { errs[i] = c.Run(ctx) })
	}
	// The batchers serve the attempts, so they stop only after the last.
	batchCtx, stopBatches := context.WithCancel(context.Background())
	var batching sync.WaitGroup
	batching.Go(func() { s.states.run(batchCtx) })
	batching.Go(func() { s.records.run(batchCtx) })
	s.takeOver(ctx)
	s.dispatch(ctx)
	stopBatches()
	batching.Wait()
	// Nothing is in an attempt any more; what a consumer hands over from now
	// on is given back as it comes.
	held := s.sch.close()
	for _, it := range held {
		it.settleFunc(bus.Release(errLeadershipEnded))
	}
	running.Wait()
	s.m.queued.Set(0)
	s.log.Info().Ctx(ctx).Int("held", len(held)).Msg("stopped sending; held commands given back")
	return errors.Join(errs...)
}

// holdFunc takes priority p's deliveries into the scheduler, in stream
// order, or dead-letters one that can never be sent.
func (s *Sender) holdFunc(p vpnbotv1.Priority) bus.HoldFunc {
	return func(d bus.Delivery, settle func(error)) {
		cmd, err := outbox.Decode(d.Data)
		if err != nil {
			s.m.sends.WithLabelValues(outbox.PriorityName(p), outcomeDLQ).Inc()
			settle(bus.Permanent(fmt.Errorf("decoding the command: %w", err)))
			return
		}
		if !s.sch.add(&item{cmd: cmd, priority: p, seq: d.StreamSeq, settleFunc: settle, trace: d.Trace}) {
			settle(bus.Release(errLeadershipEnded))
		}
	}
}

// takeOver waits AckWait at the start of a term before anything is sent.
// The commands a dead leader held come back within AckWait of its death,
// which came before this term: by then they have taken their places in
// their chats' queues, by stream sequence, ahead of the later commands this
// leader fetched meanwhile, so a chat's messages leave in publish order
// across a crash too. (A leader that stepped down gave its commands back at
// once; the wait costs a failover AckWait.)
func (s *Sender) takeOver(ctx context.Context) {
	t := time.NewTimer(s.cfg.AckWait)
	defer t.Stop()
	for {
		s.beat.Beat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-time.After(idleTurn):
		}
	}
}

// dispatch starts attempts, one token each of the global limiter or, for a
// paid broadcast's message, of the paid one, until ctx is done, then waits
// for the attempts in flight. It chooses only among commands whose limit
// has a token, so one limit's wait never holds up the other's sends. A
// message of a broadcast known to be cancelled is dropped here, without a
// token.
func (s *Sender) dispatch(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	// waitingSince is when the dispatcher began waiting for a token with a
	// command ready, for the wait histogram.
	var waitingSince time.Time
	for {
		s.beat.Beat()
		s.m.queued.Set(float64(s.sch.count()))
		now := time.Now()
		open := func(paid bool) bool { return s.limiterOf(paid).TokensAt(now) >= 1 }
		it, wait, limited := s.sch.next(now, open)
		if it == nil {
			if limited {
				if waitingSince.IsZero() {
					waitingSince = now
				}
				for _, paid := range []bool{false, true} {
					if !open(paid) {
						wait = minWait(wait, untilToken(s.limiterOf(paid), now))
					}
				}
			}
			if wait <= 0 || wait > idleTurn {
				wait = idleTurn
			}
			select {
			case <-ctx.Done():
				return
			case <-s.sch.wake:
			case <-time.After(wait):
			}
			continue
		}
		if id := it.cmd.GetBroadcastId(); id != 0 && s.cancels.knownCancelled(id) {
			// Off this loop: the acknowledgement is a round trip to NATS.
			s.sch.start(it)
			inflight.Go(func() { s.dropCancelled(it) })
			continue
		}
		// The token is there (next chose among open limits), and only this
		// loop takes tokens.
		s.limiterOf(it.cmd.GetPaidBroadcast()).AllowN(now, 1)
		if !waitingSince.IsZero() {
			s.m.wait.Observe(now.Sub(waitingSince).Seconds())
			waitingSince = time.Time{}
		} else {
			s.m.wait.Observe(0)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s.sch.start(it)
		inflight.Go(func() {
			defer func() { <-slots }()
			s.attempt(ctx, it)
		})
	}
}

// limiterOf is the limit of paid broadcasts' messages or of the others.
func (s *Sender) limiterOf(paid bool) *rate.Limiter {
	if paid {
		return s.paid
	}
	return s.limiter
}

// untilToken is how long until l has a whole token.
func untilToken(l *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - l.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}

// minWait is the sooner of two waits, where 0 is none.
func minWait(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// attempt sends it once and settles the outcome. It runs to its end even
// when leadership ends meanwhile, so a send is never cut between Telegram's
// answer and the sent-log.
func (s *Sender) attempt(leadCtx context.Context, it *item) {
	ctx, cancel := context.WithTimeout(trace.ContextWithSpanContext(context.WithoutCancel(leadCtx), it.trace), s.cfg.SendTimeout)
	defer cancel()
	prio := outbox.PriorityName(it.priority)
	log := s.log.With().Str("dedup_id", it.cmd.GetDedupId()).Int64("chat_id", it.cmd.GetChatId()).
		Str("priority", prio).Ctx(ctx).Logger()

	cmd := command{dedupID: it.cmd.GetDedupId(), chatID: it.cmd.GetChatId()}
	st, err := s.states.do(ctx, cmd)
	if err != nil {
		// A database outage is not the command's fault: it keeps its
		// attempts and its place.
		s.m.sends.WithLabelValues(prio, outcomeFailed).Inc()
		log.Warn().Err(err).Msg("cannot check the sent-log; retrying")
		s.sch.retry(it, s.delay(it.attempts+1), time.Now())
		return
	}
	switch {
	case st.sent:
		s.m.sends.WithLabelValues(prio, outcomeDuplicate).Inc()
		log.Info().Msg("command already sent; acknowledged without sending")
		s.settle(it, false, time.Now(), nil)
		return
	case st.blocked:
		s.m.sends.WithLabelValues(prio, outcomeDropped).Inc()
		log.Debug().Msg("user blocked the bot; command dropped")
		s.settle(it, false, time.Now(), nil)
		return
	}
	if id := it.cmd.GetBroadcastId(); id != 0 {
		cancelled, err := s.cancels.cancelled(ctx, id, time.Now())
		if err != nil {
			s.m.sends.WithLabelValues(prio, outcomeFailed).Inc()
			log.Warn().Err(err).Msg("cannot check the broadcast; retrying")
			s.sch.retry(it, s.delay(it.attempts+1), time.Now())
			return
		}
		if cancelled {
			s.dropCancelled(it)
			return
		}
	}

	msgID, err := s.send(ctx, it.cmd)
	now := time.Now()
	if err == nil {
		if _, err := s.records.do(ctx, sentRecord{command: cmd, messageID: msgID}); err != nil {
			log.Error().Str("event", EventNotRecorded).Err(err).Msg("sent, but not recorded in the sent-log")
		}
		s.m.sends.WithLabelValues(prio, outcomeSent).Inc()
		if c := it.cmd.GetCreatedAt(); c != nil {
			s.m.queueAge.Observe(now.Sub(c.AsTime()).Seconds())
		}
		log.Debug().Int64("message_id", msgID).Msg("sent")
		s.settle(it, true, now, nil)
		return
	}

	tgErr, refused := telegram.AsError(err)
	switch {
	case refused && tgErr.Code == http.StatusTooManyRequests:
		wait := max(tgErr.RetryAfter, time.Second)
		scope := "chat"
		if s.sch.flood(it.cmd.GetChatId(), wait, now) {
			scope = "global"
		}
		s.m.floodWaits.WithLabelValues(scope).Inc()
		log.Warn().Str("event", EventFloodWait).Str("scope", scope).Dur("retry_after", wait).
			Msgf("FLOOD_WAIT %s: Telegram asks to wait %s", scope, wait)
		s.sch.retry(it, wait, now)
	case refused && tgErr.Blocked():
		if err := s.store.markBlocked(ctx, it.cmd.GetChatId()); err != nil {
			log.Error().Err(err).Msg("cannot mark the user blocked")
		}
		s.m.sends.WithLabelValues(prio, outcomeBlocked).Inc()
		log.Info().Str("event", EventUserBlocked).Str("description", tgErr.Description).
			Msg("the user blocked the bot; command dropped")
		s.settle(it, true, now, nil)
	case refused && tgErr.Code >= 400 && tgErr.Code < 500 && tgErr.Code != http.StatusUnauthorized:
		// Telegram refuses the command itself; sending it again cannot help.
		// (401 is a wrong token: the operator's to fix, so it is retried.)
		s.m.sends.WithLabelValues(prio, outcomeDLQ).Inc()
		s.settle(it, true, now, bus.Permanent(err))
	default:
		it.attempts++
		if it.attempts >= s.cfg.MaxAttempts {
			s.m.sends.WithLabelValues(prio, outcomeDLQ).Inc()
			s.settle(it, true, now, bus.Exhausted(err))
			return
		}
		d := s.delay(it.attempts)
		s.m.sends.WithLabelValues(prio, outcomeFailed).Inc()
		log.Warn().Err(err).Int("attempt", it.attempts).Dur("retry_in", d).Msg("send failed; retrying")
		s.sch.retry(it, d, now)
	}
}

// dropCancelled acknowledges it, a message of a cancelled broadcast,
// unsent; the broadcast's first is logged.
func (s *Sender) dropCancelled(it *item) {
	id := it.cmd.GetBroadcastId()
	s.m.sends.WithLabelValues(outbox.PriorityName(it.priority), outcomeCancelled).Inc()
	if s.cancels.firstDrop(id) {
		s.log.Info().Ctx(trace.ContextWithSpanContext(context.Background(), it.trace)).Str("event", EventBroadcastCancelled).Int64("broadcast_id", id).
			Msg("the broadcast was cancelled; its remaining messages are dropped unsent")
	}
	s.settle(it, false, time.Now(), nil)
}

// settle is done with it: the scheduler lets it go, then its consumer
// settles its delivery with err (nil acknowledges; a Permanent or Exhausted
// error dead-letters). called says whether Telegram was called, so the
// chat's rate limit applies to its next send.
func (s *Sender) settle(it *item, called bool, now time.Time, err error) {
	s.sch.finish(it, called, now)
	it.settleFunc(err)
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
