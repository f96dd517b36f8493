package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// TestSubscriptionLifeWithAllWorkers runs the five workers at a one-second
// interval and moves a user's expiry in the database to walk a
// subscription through its life, checking each step in the user's chat:
// the trial's key (activation), the trial-ends-soon notice
// (trial-notifier), a plan paid with Stars and its reminder (reminders),
// then expiry past the grace: the key removed from the panel and the user
// told (expiry-cleanup).
func TestSubscriptionLifeWithAllWorkers(t *testing.T) {
	t.Parallel()
	s := start(t, options{workers: true, env: []string{"WORKER_INTERVAL=1s"}})
	const user = 5151
	contains := func(text string) func(sandboxtg.Message) bool {
		return func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, text) }
	}
	// moveExpiry sets the active period's expiry to now + to, as if its
	// time had passed; the start moves back too, so it looks as long as a
	// real trial (a notice never comes with the key in a very short one).
	moveExpiry := func(to time.Duration) {
		t.Helper()
		_, err := s.db.Pool.Exec(t.Context(),
			`UPDATE subscriptions SET expires_at = now() + $2::interval, starts_at = now() - interval '3 days'
			 WHERE user_id = $1 AND status = 'active'`,
			user, to.String())
		require.NoError(t, err)
	}

	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)
	s.waitScreen(user, "with the key", contains("ss://"))
	require.Len(t, s.Outline.Keys(), 1)

	moveExpiry(23 * time.Hour)
	s.waitScreen(user, "saying the trial ends in 24 hours", contains("trial ends in 24 hours"))

	menu = s.newMenu(user)
	s.press(user, menu, cbPlans)
	plans := s.waitScreen(user, "listing the plans", withButton(cbPlan))
	s.press(user, plans, cbPlan)
	plan := s.waitScreen(user, "offering the ways to pay", withButton(cbPayStars))
	s.press(user, plan, cbPayStars)
	invoice := s.waitScreen(user, "with the Stars invoice", func(m sandboxtg.Message) bool { return m.Invoice != nil })
	paid, err := s.Sandbox.PayInvoice(user, invoice.ID)
	require.NoError(t, err)
	require.True(t, paid.Accepted, "the pre-checkout was refused: %s", paid.ErrorMessage)
	s.waitScreen(user, "confirming the payment", contains("Payment received"))

	moveExpiry(23 * time.Hour)
	s.waitScreen(user, "reminding of the expiry", contains("Your subscription ends on"))

	moveExpiry(-2 * time.Hour) // past the one-hour grace
	s.waitScreen(user, "saying the subscription ended", contains("no longer works"))
	require.Eventually(t, func() bool { return len(s.Outline.Keys()) == 0 }, 20*time.Second, 100*time.Millisecond,
		"the key is still on the panel")
	var status string
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`SELECT status FROM subscriptions WHERE user_id = $1`, user).Scan(&status))
	require.Equal(t, "revoked", status)

	counts := map[string]int{}
	for _, m := range s.Sandbox.Messages(user) {
		for _, marker := range []string{"ss://", "trial ends in 24 hours", "Your subscription ends on", "no longer works"} {
			if strings.Contains(m.Plain, marker) {
				counts[marker]++
			}
		}
	}
	for marker, n := range counts {
		require.Equal(t, 1, n, "%q arrived %d times:\n%s", marker, n, describeChat(s.Sandbox.Messages(user)))
	}
}

// TestAnUnpaidTrialEndsWithOneMessage lets a trial run out unpaid with the
// five workers running: the user gets one message about its end, the
// trial-notifier's, which offers the plans and says when the key stops
// working; expiry-cleanup still removes the key at expiry + grace, but says
// nothing more.
func TestAnUnpaidTrialEndsWithOneMessage(t *testing.T) {
	t.Parallel()
	const (
		grace = 30 * time.Second
		wait  = time.Minute // generous: the machine may be busy
		user  = 5252
	)
	s := start(t, options{workers: true, env: []string{"WORKER_INTERVAL=1s", "EXPIRY_GRACE=" + grace.String()}})
	contains := func(text string) func(sandboxtg.Message) bool {
		return func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, text) }
	}
	count := func(text string) int {
		n := 0
		for _, m := range s.Sandbox.Messages(user) {
			if strings.Contains(m.Plain, text) {
				n++
			}
		}
		return n
	}

	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)
	s.waitScreen(user, "with the key", contains("ss://"))
	require.Len(t, s.Outline.Keys(), 1)

	var expires time.Time
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`UPDATE subscriptions SET expires_at = date_trunc('second', now()), starts_at = now() - interval '3 days'
		 WHERE user_id = $1 AND status = 'active' RETURNING expires_at`, user).Scan(&expires))
	ended := s.waitScreen(user, "saying the trial ended", contains("Your free trial ended"))
	require.Contains(t, ended.Plain, "keeps working until "+shownDate(expires.Add(grace)), "the key's end, after the grace")
	require.True(t, withButton(cbPlans)(ended), "the notice offers the plans")

	// The key still goes at expiry + grace, and expiry-cleanup tells no one:
	// the period's expiry notice was claimed with the trial's. It would
	// have been sent in the iteration that revoked the key, so two more
	// iterations are enough to be sure.
	require.Eventually(t, func() bool { return len(s.Outline.Keys()) == 0 }, wait, 100*time.Millisecond,
		"the key is still on the panel")
	var status string
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`SELECT status FROM subscriptions WHERE user_id = $1`, user).Scan(&status))
	require.Equal(t, "revoked", status)
	iterations := func() int { return len(s.out.events(localstack.ExpiryCleanup, worker.EventIterationEnd, nil)) }
	from := iterations()
	require.Eventually(t, func() bool { return iterations() >= from+2 }, wait, 50*time.Millisecond,
		"expiry-cleanup ran no two more iterations")
	require.Empty(t, s.out.events(localstack.ExpiryCleanup, "EXPIRY_NOTICE_SENT", nil), "expiry-cleanup sent its own notice")
	require.Zero(t, count("no longer works"), "a second message about the end:\n%s", describeChat(s.Sandbox.Messages(user)))
	require.Equal(t, 1, count("Your free trial ended"), describeChat(s.Sandbox.Messages(user)))
}
