// Package channelgate is the channel a seller requires users to join
// (REQUIRED_CHANNEL*): its settings, and who has joined it, asked of
// Telegram with getChatMember and kept per replica for a while. The bot
// gates its trial (scope trial) or every use (scope all) on it, and the
// Mini App gates its cabinet in scope all.
package channelgate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Scopes of the required channel (REQUIRED_CHANNEL_SCOPE): what a user who
// has not joined it cannot do.
const (
	// ScopeTrial gates the free trial only.
	ScopeTrial = "trial"
	// ScopeAll gates every use of the bot but payments, /start's welcome,
	// help, languages and admin commands, and every use of the Mini App.
	ScopeAll = "all"
)

// EventCheckFailed is a membership check Telegram did not answer (a
// timeout, a 5xx, 400 "member list is inaccessible" when the bot is not an
// administrator of the channel): the user is let through.
const EventCheckFailed = "REQUIRED_CHANNEL_CHECK_FAILED"

// Outcomes of vpnbot_bot_channel_checks_total: what one getChatMember call
// found. Answers from the cache are not checks.
const (
	OutcomeMember    = "member"
	OutcomeNotMember = "not_member"
	OutcomeFailed    = "failed"
)

const (
	// checkTimeout bounds one getChatMember call: a hung Telegram lets the
	// user through rather than eat the request's deadline.
	checkTimeout = 5 * time.Second
	// cacheSize bounds the cache of one replica.
	cacheSize = 10000
)

// Settings is the channel users must join, as every service reads it.
type Settings struct {
	// Chat is the channel: "@name" or its numeric id "-100…"; empty
	// requires none.
	Chat string `env:"REQUIRED_CHANNEL"`
	// URL is the join link; for an @name it defaults to https://t.me/name.
	URL string `env:"REQUIRED_CHANNEL_URL"`
	// Scope is what the channel gates: ScopeTrial or ScopeAll.
	Scope string `env:"REQUIRED_CHANNEL_SCOPE"`
	// Cache is how long a replica reuses Telegram's answer about a user; 0
	// asks Telegram every time.
	Cache time.Duration `env:"REQUIRED_CHANNEL_CACHE"`
}

// DefaultSettings requires no channel; set, it gates the trial and reuses
// an answer for 30 s.
func DefaultSettings() Settings {
	return Settings{Scope: ScopeTrial, Cache: 30 * time.Second}
}

// channelUsername is a public channel's @name as Telegram allows it.
var channelUsername = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,31}$`)

// Validate reports the settings that cannot work.
func (s Settings) Validate() error {
	if s.Chat == "" {
		if s.URL != "" {
			return errors.New("REQUIRED_CHANNEL_URL is set but REQUIRED_CHANNEL is empty")
		}
		return nil
	}
	var errs []error
	numeric := strings.HasPrefix(s.Chat, "-100")
	if id, err := strconv.ParseInt(s.Chat, 10, 64); numeric && (err != nil || id >= -1000000000000) {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL=%q: a channel id is -100 followed by digits", s.Chat))
	} else if !numeric && !channelUsername.MatchString(s.Chat) {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL=%q: want a channel's @username or its id -100…", s.Chat))
	}
	if numeric && s.URL == "" {
		errs = append(errs, errors.New("REQUIRED_CHANNEL_URL is required with a numeric REQUIRED_CHANNEL: the bot cannot link to a channel by its id"))
	}
	if s.URL != "" {
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_URL=%q: not an http(s) URL", s.URL))
		}
	}
	if s.Scope != ScopeTrial && s.Scope != ScopeAll {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_SCOPE=%q: want %q or %q", s.Scope, ScopeTrial, ScopeAll))
	}
	if s.Cache < 0 {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_CACHE=%s: must not be negative", s.Cache))
	}
	return errors.Join(errs...)
}

// JoinURL is the link a gate's Join button opens.
func (s Settings) JoinURL() string {
	if s.URL != "" {
		return s.URL
	}
	return "https://t.me/" + strings.TrimPrefix(s.Chat, "@")
}

// Members answers what a user is in a chat (telegram.Client).
type Members interface {
	GetChatMember(ctx context.Context, chat string, userID int64) (telegram.ChatMember, error)
}

// Checker knows who has joined the required channel. Telegram's answers,
// members and non-members alike, are kept per replica for Settings.Cache:
// a member's every update in scope all would otherwise cost a Bot API
// call, and so would a non-member's stream of messages. Joining takes
// effect at once all the same, because a fresh check ("Check again") asks
// Telegram past the cache and refreshes it. A failed check is not kept:
// the next one asks again. One Checker serves any number of goroutines.
type Checker struct {
	settings Settings
	members  Members
	checks   *prometheus.CounterVec
	size     int
	now      func() time.Time

	mu    sync.Mutex
	cache map[int64]answer
}

// answer is what Telegram said of a user, until when it is reused.
type answer struct {
	joined bool
	until  time.Time
}

// Option changes a Checker from its defaults.
type Option func(*Checker)

// WithClock makes now the clock by which answers expire (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(c *Checker) { c.now = now } }

// New returns the checker of s, whose members members tells, and registers
// its metric on reg (nil: not exported); nil when s requires no channel.
func New(members Members, s Settings, reg prometheus.Registerer, opts ...Option) (*Checker, error) {
	if s.Chat == "" {
		return nil, nil
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c := &Checker{
		settings: s,
		members:  members,
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_bot_channel_checks_total",
			Help: "Required channel membership checks (getChatMember) by outcome: member, not_member, failed (let through).",
		}, []string{"outcome"}),
		size:  cacheSize,
		now:   time.Now,
		cache: map[int64]answer{},
	}
	for _, o := range opts {
		o(c)
	}
	if reg != nil {
		if err := reg.Register(c.checks); err != nil {
			return nil, fmt.Errorf("registering the channel check metric: %w", err)
		}
	}
	for _, o := range []string{OutcomeMember, OutcomeNotMember, OutcomeFailed} {
		c.checks.WithLabelValues(o)
	}
	return c, nil
}

// Scope is what the channel gates: ScopeTrial or ScopeAll.
func (c *Checker) Scope() string { return c.settings.Scope }

// JoinURL is the link a gate's Join button opens.
func (c *Checker) JoinURL() string { return c.settings.JoinURL() }

// Joined reports whether user is in the channel: from the cache unless
// fresh, else from Telegram. When Telegram fails, the user counts as
// joined (a paying user is never blocked by Telegram's trouble) and err
// says why.
func (c *Checker) Joined(ctx context.Context, user int64, fresh bool) (joined bool, err error) {
	now := c.now()
	if !fresh {
		c.mu.Lock()
		a, ok := c.cache[user]
		c.mu.Unlock()
		if ok && now.Before(a.until) {
			return a.joined, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	m, err := c.members.GetChatMember(ctx, c.settings.Chat, user)
	if err != nil {
		c.checks.WithLabelValues(OutcomeFailed).Inc()
		return true, fmt.Errorf("checking user %d in channel %s: %w", user, c.settings.Chat, err)
	}
	joined = m.Joined()
	if joined {
		c.checks.WithLabelValues(OutcomeMember).Inc()
	} else {
		c.checks.WithLabelValues(OutcomeNotMember).Inc()
	}
	c.remember(user, answer{joined: joined, until: now.Add(c.settings.Cache)})
	return joined, nil
}

// remember keeps an answer, making room when the cache is full: first by
// dropping the expired answers, then any one.
func (c *Checker) remember(user int64, a answer) {
	if c.settings.Cache <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cache[user]; !ok && len(c.cache) >= c.size {
		now := c.now()
		for id, old := range c.cache {
			if !now.Before(old.until) {
				delete(c.cache, id)
			}
		}
		for id := range c.cache {
			if len(c.cache) < c.size {
				break
			}
			delete(c.cache, id)
		}
	}
	c.cache[user] = a
}
