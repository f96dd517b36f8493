package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

// RequiredChannel is the channel a user must join before the trial, or
// before any use of the bot (REQUIRED_CHANNEL*).
type RequiredChannel struct {
	// Chat is the channel: "@name" or its numeric id "-100…"; empty
	// requires none.
	Chat string `env:"REQUIRED_CHANNEL"`
	// URL is the join link; for an @name it defaults to https://t.me/name.
	URL string `env:"REQUIRED_CHANNEL_URL"`
	// Scope is what the channel gates: "trial" or "all".
	Scope string `env:"REQUIRED_CHANNEL_SCOPE"`
	// Cache is how long a replica reuses Telegram's answer about a user.
	Cache time.Duration `env:"REQUIRED_CHANNEL_CACHE"`
}

// channelUsername is a public channel's @name as Telegram allows it.
var channelUsername = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,31}$`)

func newRequiredChannel() RequiredChannel {
	return RequiredChannel{Scope: bot.ChannelScopeTrial, Cache: 30 * time.Second}
}

// Validate reports the settings that cannot work.
func (c RequiredChannel) Validate() error {
	if c.Chat == "" {
		if c.URL != "" {
			return errors.New("REQUIRED_CHANNEL_URL is set but REQUIRED_CHANNEL is empty")
		}
		return nil
	}
	var errs []error
	numeric := strings.HasPrefix(c.Chat, "-100")
	if id, err := strconv.ParseInt(c.Chat, 10, 64); numeric && (err != nil || id >= -1000000000000) {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL=%q: a channel id is -100 followed by digits", c.Chat))
	} else if !numeric && !channelUsername.MatchString(c.Chat) {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL=%q: want a channel's @username or its id -100…", c.Chat))
	}
	if numeric && c.URL == "" {
		errs = append(errs, errors.New("REQUIRED_CHANNEL_URL is required with a numeric REQUIRED_CHANNEL: the bot cannot link to a channel by its id"))
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_URL=%q: not an http(s) URL", c.URL))
		}
	}
	if c.Scope != bot.ChannelScopeTrial && c.Scope != bot.ChannelScopeAll {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_SCOPE=%q: want %q or %q", c.Scope, bot.ChannelScopeTrial, bot.ChannelScopeAll))
	}
	if c.Cache < 0 {
		errs = append(errs, fmt.Errorf("REQUIRED_CHANNEL_CACHE=%s: must not be negative", c.Cache))
	}
	return errors.Join(errs...)
}

// joinURL is the link the gate's Join button opens.
func (c RequiredChannel) joinURL() string {
	if c.URL != "" {
		return c.URL
	}
	return "https://t.me/" + strings.TrimPrefix(c.Chat, "@")
}

// channel is the required channel as the bot checks it, or nil when none
// is required.
func (c RequiredChannel) channel(members bot.Members, reg prometheus.Registerer) (*bot.Channel, error) {
	if c.Chat == "" {
		return nil, nil
	}
	return bot.NewChannel(members, bot.ChannelConfig{
		Chat: c.Chat, URL: c.joinURL(), Scope: c.Scope, CacheTTL: c.Cache, Registerer: reg,
	})
}
