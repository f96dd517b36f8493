package localstack

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The demo time scale shortens a subscription's life so that all of it
// happens within a sitting (make run) or a soak run: a 15-minute trial told
// 10 and 5 minutes before its end, a 20-minute plan (DemoPlanID), a minute's
// grace before an expired key is revoked, a paid period's reminders 10 and 5
// minutes before its end and its auto-renewal 5 minutes before, and workers
// that look every 10 s, so that each step shows within seconds of falling
// due.
const (
	// DemoTrial is how long a trial lasts at the demo scale.
	DemoTrial = 15 * time.Minute
	// DemoPlanDuration is how long the demo plan lasts.
	DemoPlanDuration = 20 * time.Minute
	// DemoGrace is how long after expiry a key is revoked.
	DemoGrace = time.Minute
	// DemoWorkerInterval is the time between the workers' iterations.
	DemoWorkerInterval = 10 * time.Second
	// DemoPlanID is the plans row of the demo plan: 20 minutes for next to
	// nothing, offered first.
	DemoPlanID = "demo"
	// DemoAutoRenewLead is how long before its end a period is renewed
	// from the balance.
	DemoAutoRenewLead = 5 * time.Minute
)

// demoEnv is the services' environment at the demo scale. Plans are data
// (the plans table) and keep their durations; the demo adds one of its own
// (OfferDemoPlan).
var demoEnv = []string{
	"TRIAL_DURATION=" + DemoTrial.String(),           // bot-handler
	"TRIAL_NOTICE_LEADS=10m,5m",                      // trial-notifier
	"REMINDER_STAGES=10m,5m",                         // reminders
	"AUTO_RENEW_LEAD=" + DemoAutoRenewLead.String(),  // reminders
	"EXPIRY_GRACE=" + DemoGrace.String(),             // expiry-cleanup, trial-notifier, reminders
	"WORKER_INTERVAL=" + DemoWorkerInterval.String(), // every worker
}

// DemoEnv is the services' environment at the demo scale, for Config.Env.
func DemoEnv() []string { return slices.Clone(demoEnv) }

// OfferDemoPlan puts the demo plan on offer in the database at dsn, whose
// schema is migrated, or takes it off (offer false). It is written here
// rather than by a migration, so that no other database ever gets it; taken
// off, it stays in the table: invoices made for it refer to it. The bot reads
// plans on each request, so it offers the plan from then on.
func OfferDemoPlan(ctx context.Context, dsn string, offer bool) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to the database for the demo plan: %w", err)
	}
	defer conn.Close(ctx)
	if offer {
		_, err = conn.Exec(ctx, `
			INSERT INTO plans (id, title_en, title_ru, duration, price_usd, price_stars, active, sort)
			VALUES ($1, 'Demo', 'Демо', $2::interval, 0.50, 1, true, 0)
			ON CONFLICT (id) DO UPDATE SET title_en = EXCLUDED.title_en, title_ru = EXCLUDED.title_ru,
				duration = EXCLUDED.duration, price_usd = EXCLUDED.price_usd,
				price_stars = EXCLUDED.price_stars, active = true, sort = EXCLUDED.sort`, DemoPlanID, DemoPlanDuration)
	} else {
		_, err = conn.Exec(ctx, `UPDATE plans SET active = false WHERE id = $1`, DemoPlanID)
	}
	if err != nil {
		return fmt.Errorf("offering the demo plan (%t): %w", offer, err)
	}
	return nil
}
