package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Time scales of DEVSTACK_TIME_SCALE.
const (
	// ScaleDemo shortens a subscription's life so that a person sees all of
	// it in one sitting: a 15-minute trial told 10 and 5 minutes before its
	// end, a 20-minute plan (demoPlanID), a minute's grace before an expired
	// key is revoked, and a paid period's reminders 10 and 5 minutes before
	// its end.
	ScaleDemo = "demo"
	// ScaleReal keeps the services' own (production) durations.
	ScaleReal = "real"
)

// demoEnv is the services' environment at ScaleDemo. The workers look every
// 10 s, so that each step shows within seconds of falling due. Plans are
// data (the plans table) and keep their durations; the demo adds one of its
// own (offerDemoPlan).
var demoEnv = []string{
	"TRIAL_DURATION=15m",        // bot-handler
	"TRIAL_NOTICE_LEADS=10m,5m", // trial-notifier
	"REMINDER_STAGES=10m,5m",    // reminders
	"EXPIRY_GRACE=1m",           // expiry-cleanup
	"WORKER_INTERVAL=10s",       // every worker
}

// timeScaleEnv is the services' environment for the time scale.
func timeScaleEnv(scale string) ([]string, error) {
	switch scale {
	case ScaleDemo:
		return demoEnv, nil
	case ScaleReal:
		return nil, nil
	}
	return nil, fmt.Errorf("DEVSTACK_TIME_SCALE=%q: want %s or %s", scale, ScaleDemo, ScaleReal)
}

// demoPlanID is the plans row of ScaleDemo's plan: 20 minutes for next to
// nothing, offered first, so a paid period's reminders (10 and 5 minutes
// before its end), its expiry and, a minute later, its key's revocation all
// come within a sitting.
const demoPlanID = "demo"

// offerDemoPlan puts the demo plan on offer at ScaleDemo, and takes it off at
// any other scale, in the database at dsn, whose schema is migrated. The
// devstack writes it rather than a migration, so that no other database ever
// gets it. Taken off, it stays in the table: invoices made for it refer to it.
func offerDemoPlan(ctx context.Context, dsn, scale string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to the database for the demo plan: %w", err)
	}
	defer conn.Close(ctx)
	if scale == ScaleDemo {
		_, err = conn.Exec(ctx, `
			INSERT INTO plans (id, title_en, title_ru, duration, price_usd, price_stars, active, sort)
			VALUES ($1, 'Demo', 'Демо', interval '20 minutes', 0.50, 1, true, 0)
			ON CONFLICT (id) DO UPDATE SET title_en = EXCLUDED.title_en, title_ru = EXCLUDED.title_ru,
				duration = EXCLUDED.duration, price_usd = EXCLUDED.price_usd,
				price_stars = EXCLUDED.price_stars, active = true, sort = EXCLUDED.sort`, demoPlanID)
	} else {
		_, err = conn.Exec(ctx, `UPDATE plans SET active = false WHERE id = $1`, demoPlanID)
	}
	if err != nil {
		return fmt.Errorf("offering the demo plan at time scale %s: %w", scale, err)
	}
	return nil
}
