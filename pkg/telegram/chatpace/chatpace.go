// Package chatpace is the sending budget that every service sending as the
// bot shares, kept in PostgreSQL: the bot-handler's replies and the sender's
// notifications each take their slot from it before calling Telegram, so
// that together they stay within Telegram's limits — about one message a
// second to a chat, with short bursts, and about thirty a second in all —
// instead of each keeping its own limits and exceeding them together.
//
// Each chat's budget is one row of telegram_chat_pace, and the bot-wide one
// the row of chat 0 (no Telegram chat has that id), each run by the generic
// cell rate algorithm: its tat (theoretical arrival time) moves on by one
// interval, 1/Rate, with each reservation, and a send may go once tat is
// within Burst intervals of now. Reserve takes a slot of the bot's and then
// one of the chat's no earlier, in one statement, so concurrent
// reservations from any number of processes queue on those rows and each
// gets its own slot. A group's or a channel's chat (a negative id: the
// sales feed's) has Telegram's tighter limit of about twenty messages a
// minute instead of a private chat's one a second. ReserveChat, for a paid
// broadcast's messages, takes
// the chat's slot alone: Telegram counts those apart from the bot's free
// limit, so they must not use up the bot's row.
package chatpace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults: Telegram's documented "about one message per second" in a chat,
// with a burst one message short of what it lets through at once, so that a
// send delayed on its way (a slow connection, a retry) still finds room.
//
// The bot-wide defaults are a little under Telegram's "about 30 messages per
// second" and its bursts, for the same reason.
//
// A group's defaults keep any minute, its burst included, within Telegram's
// "no more than 20 messages per minute in the same group": a burst of 2,
// then one every 60/18 s.
const (
	DefaultRate           = 1
	DefaultBurst          = 2
	DefaultBotRate        = 28
	DefaultBotBurst       = 20
	DefaultGroupPerMinute = 18
	DefaultGroupBurst     = 2
)

// Settings are the budget's limits as the sending services read them from
// the environment; every service that sends must use the same.
type Settings struct {
	// Rate is the messages per second one chat may receive.
	Rate float64 `env:"TELEGRAM_CHAT_RATE"`
	// Burst is how many messages one chat may receive at once, before Rate
	// applies.
	Burst int `env:"TELEGRAM_CHAT_BURST"`
	// BotRate is the messages per second the bot may send in all.
	BotRate float64 `env:"TELEGRAM_BOT_RATE"`
	// BotBurst is how many messages the bot may send at once, before
	// BotRate applies.
	BotBurst int `env:"TELEGRAM_BOT_BURST"`
	// GroupPerMinute is the messages a minute one group or channel may
	// receive, in place of Rate.
	GroupPerMinute int `env:"TELEGRAM_GROUP_PER_MINUTE"`
	// GroupBurst is how many messages one group or channel may receive at
	// once, in place of Burst.
	GroupBurst int `env:"TELEGRAM_GROUP_BURST"`
}

// DefaultSettings are the settings before the environment overlays them.
func DefaultSettings() Settings {
	return Settings{Rate: DefaultRate, Burst: DefaultBurst, BotRate: DefaultBotRate, BotBurst: DefaultBotBurst,
		GroupPerMinute: DefaultGroupPerMinute, GroupBurst: DefaultGroupBurst}
}

// Validate reports settings that cannot work.
func (s Settings) Validate() error {
	var errs []error
	if s.Rate <= 0 {
		errs = append(errs, fmt.Errorf("TELEGRAM_CHAT_RATE=%g: must be positive", s.Rate))
	}
	if s.Burst < 1 {
		errs = append(errs, fmt.Errorf("TELEGRAM_CHAT_BURST=%d: must be at least 1", s.Burst))
	}
	if s.BotRate <= 0 {
		errs = append(errs, fmt.Errorf("TELEGRAM_BOT_RATE=%g: must be positive", s.BotRate))
	}
	if s.BotBurst < 1 {
		errs = append(errs, fmt.Errorf("TELEGRAM_BOT_BURST=%d: must be at least 1", s.BotBurst))
	}
	if s.GroupPerMinute < 1 {
		errs = append(errs, fmt.Errorf("TELEGRAM_GROUP_PER_MINUTE=%d: must be at least 1", s.GroupPerMinute))
	}
	if s.GroupBurst < 1 {
		errs = append(errs, fmt.Errorf("TELEGRAM_GROUP_BURST=%d: must be at least 1", s.GroupBurst))
	}
	return errors.Join(errs...)
}

// Interval is the time between two sends to one chat at the sustained rate.
func (s Settings) Interval() time.Duration { return every(s.Rate) }

// BotInterval is the time between two sends of the bot at the sustained rate.
func (s Settings) BotInterval() time.Duration { return every(s.BotRate) }

// GroupInterval is the time between two sends to one group or channel at
// the sustained rate.
func (s Settings) GroupInterval() time.Duration { return time.Minute / time.Duration(s.GroupPerMinute) }

func every(rate float64) time.Duration { return time.Duration(float64(time.Second) / rate) }

// Budget is the shared budget; it implements telegram.Pacer.
type Budget struct {
	pool                                 *pgxpool.Pool
	interval, botInterval, groupInterval time.Duration
	burst, botBurst, groupBurst          int
}

// New returns the budget kept in pool's database with s's limits.
func New(pool *pgxpool.Pool, s Settings) (*Budget, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Budget{pool: pool, interval: s.Interval(), burst: s.Burst, botInterval: s.BotInterval(), botBurst: s.BotBurst,
		groupInterval: s.GroupInterval(), groupBurst: s.GroupBurst}, nil
}

// chatLimits are the interval and burst of chatID: a group's or a
// channel's (a negative id) or a private chat's.
func (b *Budget) chatLimits(chatID int64) (interval time.Duration, burst int) {
	if chatID < 0 {
		return b.groupInterval, b.groupBurst
	}
	return b.interval, b.burst
}

// botChat is the row of the bot-wide budget.
const botChat = 0

// reserveSQL takes the bot's next slot — its tat moved on by one bot
// interval from no earlier than now; the slot is the new tat less BotBurst
// intervals — and then the chat's next slot no earlier than the bot's, and
// returns how long until that one. Every time is the database's, so the
// services' clocks do not matter. The bot's row is locked first by every
// reservation, so two never wait for each other's rows in turn.
const reserveSQL = `
WITH bot AS (
	INSERT INTO telegram_chat_pace AS p (chat_id, tat)
	VALUES ($4, now() + $5 * interval '1 microsecond')
	ON CONFLICT (chat_id) DO UPDATE SET tat = greatest(p.tat, now()) + $5 * interval '1 microsecond'
	RETURNING p.tat - $6 * interval '1 microsecond' AS slot)
INSERT INTO telegram_chat_pace AS p (chat_id, tat)
SELECT $1, greatest(now(), bot.slot) + $2 * interval '1 microsecond' FROM bot
ON CONFLICT (chat_id) DO UPDATE
	SET tat = greatest(p.tat, now(), (SELECT slot FROM bot)) + $2 * interval '1 microsecond'
RETURNING greatest(0, extract(epoch FROM
	greatest(p.tat - $3 * interval '1 microsecond', (SELECT slot FROM bot)) - now()) * 1e6)::bigint`

// reserveChatSQL takes the chat's next slot alone, as reserveSQL does after
// the bot's.
const reserveChatSQL = `
INSERT INTO telegram_chat_pace AS p (chat_id, tat)
VALUES ($1, now() + $2 * interval '1 microsecond')
ON CONFLICT (chat_id) DO UPDATE SET tat = greatest(p.tat, now()) + $2 * interval '1 microsecond'
RETURNING greatest(0, extract(epoch FROM
	p.tat - $3 * interval '1 microsecond' - now()) * 1e6)::bigint`

// Reserve takes the bot's next slot and the chat's no earlier, and returns
// how long to wait for it. The slot is spent whether or not the caller then
// sends.
func (b *Budget) Reserve(ctx context.Context, chatID int64) (time.Duration, error) {
	var waitMicros int64
	chatInterval, burst := b.chatLimits(chatID)
	interval, botInterval := chatInterval.Microseconds(), b.botInterval.Microseconds()
	err := b.pool.QueryRow(ctx, reserveSQL, chatID, interval, interval*int64(burst),
		botChat, botInterval, botInterval*int64(b.botBurst)).Scan(&waitMicros)
	if err != nil {
		return 0, fmt.Errorf("reserving a send to chat %d: %w", chatID, err)
	}
	return time.Duration(waitMicros) * time.Microsecond, nil
}

// ReserveChat takes the chat's next slot and not the bot's, for a paid
// broadcast's message: Telegram counts those apart from the bot's free
// limit (up to 1,000 a second, paid in Stars) but still within the chat's.
// It leaves the bot's row alone, so paid messages neither use up the free
// budget the replies need nor queue on its lock.
func (b *Budget) ReserveChat(ctx context.Context, chatID int64) (time.Duration, error) {
	var waitMicros int64
	chatInterval, burst := b.chatLimits(chatID)
	interval := chatInterval.Microseconds()
	err := b.pool.QueryRow(ctx, reserveChatSQL, chatID, interval, interval*int64(burst)).Scan(&waitMicros)
	if err != nil {
		return 0, fmt.Errorf("reserving a paid send to chat %d: %w", chatID, err)
	}
	return time.Duration(waitMicros) * time.Microsecond, nil
}
