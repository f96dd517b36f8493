package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Plan is a plan on offer.
type Plan struct {
	ID      string
	TitleEN string
	TitleRU string
	// Duration is how long a payment for the plan extends access: any length
	// of time (the plans table's interval, a day counting as 24 hours rather
	// than a calendar day, so a period is as long in every time zone).
	Duration time.Duration
	// PriceUSD is the Crypto Pay price in US dollars, two decimals ("4.99").
	PriceUSD string
	// PriceStars is the Telegram Stars price (XTR).
	PriceStars int
	Sort       int
}

const planColumns = `id, title_en, title_ru, duration, price_usd::text, price_stars, sort`

func scanPlan(row pgx.Row) (Plan, error) {
	var p Plan
	if err := row.Scan(&p.ID, &p.TitleEN, &p.TitleRU, &p.Duration, &p.PriceUSD, &p.PriceStars, &p.Sort); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Plans returns the plans on offer, in display order.
func (s *Shop) Plans(ctx context.Context) ([]Plan, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+planColumns+` FROM plans WHERE active ORDER BY sort, id`)
	if err != nil {
		return nil, fmt.Errorf("listing plans: %w", err)
	}
	plans, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Plan, error) { return scanPlan(row) })
	if err != nil {
		return nil, fmt.Errorf("listing plans: %w", err)
	}
	return plans, nil
}

// Plan returns the plan on offer with the id, or ErrUnknownPlan (also for a
// plan no longer offered, as an old keyboard may still show it).
func (s *Shop) Plan(ctx context.Context, id string) (Plan, error) {
	p, err := scanPlan(s.pool.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE id = $1 AND active`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Plan{}, fmt.Errorf("reading plan %q: %w", id, ErrUnknownPlan)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("reading plan %q: %w", id, err)
	}
	return p, nil
}
