package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
// its end with the time the key still works (reminders), then expiry past
// the grace: the key removed from the panel and the user told
// (expiry-cleanup). Each message arrives once.
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

	s.payWithStars(user, s.newMenu(user))
	s.waitScreen(user, "confirming the payment", contains("Payment received"))

	moveExpiry(23 * time.Hour)
	s.waitScreen(user, "reminding of the expiry", contains("Your subscription ends on"))

	moveExpiry(-time.Minute)
	ended := s.waitScreen(user, "saying the subscription ended", contains("Your subscription ended on"))
	require.Contains(t, ended.Plain, "Your VPN key keeps working until", "the grace is told")
	require.True(t, withButton(cbNoticePlans)(ended), "the notice offers to renew")

	moveExpiry(-2 * time.Hour) // past the one-hour grace
	s.waitScreen(user, "saying the key no longer works", contains("no longer works: your subscription ended on"))
	require.Eventually(t, func() bool { return s.workingKeys() == 0 }, 20*time.Second, 100*time.Millisecond,
		"the key still works on the panel")
	var status string
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`SELECT status FROM subscriptions WHERE user_id = $1`, user).Scan(&status))
	require.Equal(t, "revoked", status)

	counts := map[string]int{}
	for _, m := range s.Sandbox.Messages(user) {
		for _, marker := range []string{"ss://", "trial ends in 24 hours", "Your subscription ends on", "Your subscription ended on",
			"no longer works"} {
			if strings.Contains(m.Plain, marker) {
				counts[marker]++
			}
		}
	}
	for marker, n := range counts {
		require.Equal(t, 1, n, "%q arrived %d times:\n%s", marker, n, describeChat(s.Sandbox.Messages(user)))
	}
}

// TestAnUnpaidTrialEndsWithItsEndThenItsRevocation lets a trial run out
// unpaid with the five workers running: at the expiry the trial-notifier
// tells the user it ended, offering the plans and saying when the key
// stops working; at expiry + grace expiry-cleanup removes the key and tells
// the user it no longer works. Each message arrives once.
func TestAnUnpaidTrialEndsWithItsEndThenItsRevocation(t *testing.T) {
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
	require.True(t, withButton(cbNoticePlans)(ended), "the notice offers the plans")

	// At expiry + grace the key goes, and the user is told.
	if !assert.Eventually(t, func() bool { return count("no longer works") > 0 }, wait, 50*time.Millisecond) {
		t.Fatalf("no message saying the key no longer works; the chat:\n%s", describeChat(s.Sandbox.Messages(user)))
	}
	revoked := s.waitScreen(user, "saying the key no longer works", contains("Your VPN key no longer works: your free trial ended on"))
	require.True(t, withButton(cbNoticePlans)(revoked), "the notice offers the plans")
	require.Zero(t, s.workingKeys(), "the key still works on the panel")
	var status string
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`SELECT status FROM subscriptions WHERE user_id = $1`, user).Scan(&status))
	require.Equal(t, "revoked", status)

	// Two more iterations of each worker, and nothing is said again.
	iterations := func(name string) int { return len(s.out.events(name, worker.EventIterationEnd, nil)) }
	from := map[string]int{
		localstack.TrialNotifier: iterations(localstack.TrialNotifier),
		localstack.ExpiryCleanup: iterations(localstack.ExpiryCleanup),
	}
	require.Eventually(t, func() bool {
		return iterations(localstack.TrialNotifier) >= from[localstack.TrialNotifier]+2 &&
			iterations(localstack.ExpiryCleanup) >= from[localstack.ExpiryCleanup]+2
	}, wait, 50*time.Millisecond, "the workers ran no two more iterations")
	require.Equal(t, 1, count("Your free trial ended"), describeChat(s.Sandbox.Messages(user)))
	require.Equal(t, 1, count("no longer works"), describeChat(s.Sandbox.Messages(user)))
	require.Len(t, s.out.events(localstack.ExpiryCleanup, "EXPIRY_NOTICE_SENT", nil), 1, "expiry-cleanup's notice, once")
	require.Len(t, s.out.events(localstack.TrialNotifier, "TRIAL_NOTICE_SENT", func(l logLine) bool { return l.str("kind") == "trial_ended" }), 1,
		"the trial-notifier's, once")
}

// workingKeys counts the panel's keys that still work: revocation blocks a
// user's key (a data limit of 0) rather than deleting it, so that their
// next period gives them the same key back.
func (s *system) workingKeys() int {
	n := 0
	for _, k := range s.Outline.Keys() {
		if !k.Blocked() {
			n++
		}
	}
	return n
}
