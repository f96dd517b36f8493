// Package chatpace is the per-chat sending budget that every service sending
// as the bot shares, kept in PostgreSQL: the bot-handler's replies and the
// sender's notifications each take their slot from it before calling
// Telegram, so that together they stay within Telegram's per-chat limit
// (about one message a second, with short bursts) instead of each keeping
// its own limit and exceeding it together.
//
// A chat's budget is one row of telegram_chat_pace, run by the generic cell
// rate algorithm: its tat (theoretical arrival time) moves on by one
// interval, 1/Rate, with each reservation, and a send may go once tat is
// within Burst intervals of now. Reserve is one upsert, so concurrent
// reservations for a chat, from any number of processes, queue on its row
// and each gets its own slot.
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
const (
	DefaultRate  = 1
	DefaultBurst = 2
)

// Settings are the budget's limits as the sending services read them from
// the environment; every service that sends must use the same.
type Settings struct {
	// Rate is the messages per second one chat may receive.
	Rate float64 `env:"TELEGRAM_CHAT_RATE"`
	// Burst is how many messages one chat may receive at once, before Rate
	// applies.
	Burst int `env:"TELEGRAM_CHAT_BURST"`
}

// DefaultSettings are the settings before the environment overlays them.
func DefaultSettings() Settings { return Settings{Rate: DefaultRate, Burst: DefaultBurst} }

// Validate reports settings that cannot work.
func (s Settings) Validate() error {
	var errs []error
	if s.Rate <= 0 {
		errs = append(errs, fmt.Errorf("TELEGRAM_CHAT_RATE=%g: must be positive", s.Rate))
	}
	if s.Burst < 1 {
		errs = append(errs, fmt.Errorf("TELEGRAM_CHAT_BURST=%d: must be at least 1", s.Burst))
	}
	return errors.Join(errs...)
}

// Interval is the time between two sends to one chat at the sustained rate.
func (s Settings) Interval() time.Duration { return time.Duration(float64(time.Second) / s.Rate) }

// Budget is the shared per-chat budget; it implements telegram.Pacer.
type Budget struct {
	pool     *pgxpool.Pool
	interval time.Duration
	burst    int
}

// New returns the budget kept in pool's database with s's limits.
func New(pool *pgxpool.Pool, s Settings) (*Budget, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Budget{pool: pool, interval: s.Interval(), burst: s.Burst}, nil
}

// reserveSQL moves the chat's tat on by one interval from no earlier than
// now, and returns how long until the slot it took: the new tat less Burst
// intervals. Every time is the database's, so the services' clocks do not
// matter.
const reserveSQL = `
INSERT INTO telegram_chat_pace AS p (chat_id, tat)
VALUES ($1, now() + $2 * interval '1 microsecond')
ON CONFLICT (chat_id) DO UPDATE SET tat = greatest(p.tat, now()) + $2 * interval '1 microsecond'
RETURNING greatest(0, extract(epoch FROM p.tat - now()) * 1e6 - $3)::bigint`

// Reserve takes the chat's next slot and returns how long to wait for it.
// The slot is spent whether or not the caller then sends.
func (b *Budget) Reserve(ctx context.Context, chatID int64) (time.Duration, error) {
	var waitMicros int64
	interval := b.interval.Microseconds()
	if err := b.pool.QueryRow(ctx, reserveSQL, chatID, interval, interval*int64(b.burst)).Scan(&waitMicros); err != nil {
		return 0, fmt.Errorf("reserving a send to chat %d: %w", chatID, err)
	}
	return time.Duration(waitMicros) * time.Microsecond, nil
}
