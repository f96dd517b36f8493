package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Scopes of the required channel (REQUIRED_CHANNEL_SCOPE): what a user who
// has not joined it cannot do.
const (
	// ChannelScopeTrial gates the free trial only.
	ChannelScopeTrial = "trial"
	// ChannelScopeAll gates every use of the bot but payments, /start's
	// welcome, help, languages and admin commands.
	ChannelScopeAll = "all"
)

// EventChannelCheckFailed is a membership check Telegram did not answer
// (a timeout, a 5xx, 400 "member list is inaccessible" when the bot is not
// an administrator of the channel): the user is let through.
const EventChannelCheckFailed = "REQUIRED_CHANNEL_CHECK_FAILED"

// Outcomes of vpnbot_bot_channel_checks_total: what one getChatMember call
// found. Answers from the cache are not checks.
const (
	ChannelOutcomeMember    = "member"
	ChannelOutcomeNotMember = "not_member"
	ChannelOutcomeFailed    = "failed"
)

const (
	// channelCheckTimeout bounds one getChatMember call: a hung Telegram
	// lets the user through rather than eat the update's deadline.
	channelCheckTimeout = 5 * time.Second
	// defaultChannelCacheSize bounds the cache of one replica.
	defaultChannelCacheSize = 10000
)

// Members answers what a user is in a chat (telegram.Client).
type Members interface {
	GetChatMember(ctx context.Context, chat string, userID int64) (telegram.ChatMember, error)
}

// ChannelConfig is the channel users must join (REQUIRED_CHANNEL*).
type ChannelConfig struct {
	// Chat is the channel as getChatMember takes it: "@name" or "-100…".
	Chat string
	// URL is the join link the gate's button opens.
	URL string
	// Scope is ChannelScopeTrial or ChannelScopeAll.
	Scope string
	// CacheTTL is how long an answer is reused; 0 asks Telegram every time.
	CacheTTL time.Duration
	// CacheSize bounds the users remembered (default 10000).
	CacheSize int
	// Registerer takes vpnbot_bot_channel_checks_total (nil: not exported).
	Registerer prometheus.Registerer
	// NowFunc is the clock of the cache (default time.Now).
	NowFunc func() time.Time
}

// Channel knows who has joined the required channel. Telegram's answers,
// members and non-members alike, are kept per replica for CacheTTL: a
// member's every update in scope all would otherwise cost a Bot API call,
// and so would a non-member's stream of messages. Joining takes effect at
// once all the same, because "Check again" asks Telegram past the cache
// (and refreshes it). A failed check is not kept: the next update asks
// again. One Channel serves any number of concurrent updates.
type Channel struct {
	cfg     ChannelConfig
	members Members
	checks  *prometheus.CounterVec

	mu    sync.Mutex
	cache map[int64]channelAnswer
}

// channelAnswer is what Telegram said of a user, until when it is reused.
type channelAnswer struct {
	joined bool
	until  time.Time
}

// NewChannel returns the required channel of cfg, whose members members
// tells, and registers its metric.
func NewChannel(members Members, cfg ChannelConfig) (*Channel, error) {
	if cfg.Chat == "" || cfg.URL == "" {
		return nil, errors.New("the required channel needs its chat and its join link")
	}
	if !slices.Contains([]string{ChannelScopeTrial, ChannelScopeAll}, cfg.Scope) {
		return nil, fmt.Errorf("required channel scope %q: want %q or %q", cfg.Scope, ChannelScopeTrial, ChannelScopeAll)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = defaultChannelCacheSize
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	ch := &Channel{
		cfg:     cfg,
		members: members,
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_bot_channel_checks_total",
			Help: "Required channel membership checks (getChatMember) by outcome: member, not_member, failed (let through).",
		}, []string{"outcome"}),
		cache: map[int64]channelAnswer{},
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(ch.checks); err != nil {
			return nil, fmt.Errorf("registering the channel check metric: %w", err)
		}
	}
	for _, o := range []string{ChannelOutcomeMember, ChannelOutcomeNotMember, ChannelOutcomeFailed} {
		ch.checks.WithLabelValues(o)
	}
	return ch, nil
}

// Joined reports whether user is in the channel: from the cache unless
// fresh, else from Telegram. When Telegram fails, the user counts as
// joined (a paying user is never blocked by Telegram's trouble) and err
// says why.
func (ch *Channel) Joined(ctx context.Context, user int64, fresh bool) (joined bool, err error) {
	now := ch.cfg.NowFunc()
	if !fresh {
		ch.mu.Lock()
		a, ok := ch.cache[user]
		ch.mu.Unlock()
		if ok && now.Before(a.until) {
			return a.joined, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, channelCheckTimeout)
	defer cancel()
	m, err := ch.members.GetChatMember(ctx, ch.cfg.Chat, user)
	if err != nil {
		ch.checks.WithLabelValues(ChannelOutcomeFailed).Inc()
		return true, fmt.Errorf("checking user %d in channel %s: %w", user, ch.cfg.Chat, err)
	}
	joined = m.Joined()
	if joined {
		ch.checks.WithLabelValues(ChannelOutcomeMember).Inc()
	} else {
		ch.checks.WithLabelValues(ChannelOutcomeNotMember).Inc()
	}
	ch.remember(user, channelAnswer{joined: joined, until: now.Add(ch.cfg.CacheTTL)})
	return joined, nil
}

// remember keeps an answer, making room when the cache is full: first by
// dropping the expired answers, then any one.
func (ch *Channel) remember(user int64, a channelAnswer) {
	if ch.cfg.CacheTTL <= 0 {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, ok := ch.cache[user]; !ok && len(ch.cache) >= ch.cfg.CacheSize {
		now := ch.cfg.NowFunc()
		for id, old := range ch.cache {
			if !now.Before(old.until) {
				delete(ch.cache, id)
			}
		}
		for id := range ch.cache {
			if len(ch.cache) < ch.cfg.CacheSize {
				break
			}
			delete(ch.cache, id)
		}
	}
	ch.cache[user] = a
}

// gates reports whether a button press of action needs the channel: the
// trial always, anything else in scope all but what must work for
// everyone: help, languages, the check itself, and "I paid" under an
// order already paid.
func (ch *Channel) gates(action string) bool {
	switch action {
	case botui.ActionTrial:
		return true
	case botui.ActionHelp, botui.ActionLanguages, botui.ActionSetLanguage, botui.ActionChannelCheck, botui.ActionPaid:
		return false
	}
	return ch.cfg.Scope == ChannelScopeAll
}

// gate is the gate screen of this channel.
func (ch *Channel) gate(lang, then string) Screen {
	return ChannelGateScreen(lang, ch.cfg.URL, ch.cfg.Scope, then)
}

// joined is Channel.Joined for the sender of an update; a failed check is
// logged and lets the user through.
func (b *Bot) joined(ctx context.Context, c tele.Context, fresh bool) bool {
	joined, err := b.channel.Joined(ctx, c.Sender().ID, fresh)
	if err != nil {
		b.log.Warn().Ctx(ctx).Err(err).Str("event", EventChannelCheckFailed).Int64("user_id", c.Sender().ID).
			Msg("the required channel's membership could not be checked; the user is let through")
	}
	return joined
}

// channelGate shows the gate to a user pressing a button of action that
// the channel gates, when they have not joined it; gated reports whether
// it did, and the press is then done.
func (b *Bot) channelGate(ctx context.Context, c tele.Context, lang, action string) (gated bool, err error) {
	if b.channel == nil || !b.channel.gates(action) || b.joined(ctx, c, false) {
		return false, nil
	}
	then := ""
	if action == botui.ActionTrial {
		then = botui.ActionTrial
	}
	return true, b.show(ctx, c, b.channel.gate(lang, then))
}

// gated wraps the handler of a message (text, media, /topup) that scope
// all gates: a user who has not joined the channel gets the gate in reply.
func (b *Bot) gated(h func(ctx context.Context, c tele.Context) error) func(ctx context.Context, c tele.Context) error {
	return func(ctx context.Context, c tele.Context) error {
		if b.channel == nil || b.channel.cfg.Scope != ChannelScopeAll || b.joined(ctx, c, false) {
			return h(ctx, c)
		}
		lang, err := b.language(ctx, c.Sender())
		if err != nil {
			return err
		}
		return b.reply(ctx, c, b.channel.gate(lang, ""))
	}
}

// channelCheck is "Check again": it asks Telegram past the cache and, once
// the user has joined, goes on with what the gate stopped (then: the trial,
// or the menu); otherwise the gate stays as it is.
func (b *Bot) channelCheck(ctx context.Context, c tele.Context, lang, then string) error {
	if b.channel != nil && !b.joined(ctx, c, true) {
		return b.show(ctx, c, b.channel.gate(lang, then))
	}
	if then == botui.ActionTrial {
		return b.trial(ctx, c, lang)
	}
	return b.show(ctx, c, MenuScreen(lang, b.appURL))
}
