package e2e

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Texts that mark each worker's message in a chat (English).
const (
	markKey      = "ss://"
	markEnded    = "no longer works"
	markReminder = "Your subscription ends on"
	markTrial24h = "trial ends in 24 hours"
	markPaid     = "Payment received"
)

// crashWait bounds each wait of the worker crash tests: a worker restarts and
// catches up in a few seconds; on a busy machine it may take several times that.
const crashWait = 30 * time.Second

// TestWorkerKilledMidIteration kills each of the five workers with SIGKILL
// in the middle of an iteration, checks that the database and the panel are
// in no half state the next run cannot repair, starts the worker again and
// checks that the work is done: every user gets the worker's message exactly
// once. The workers share one stack and run one after another, each on users
// of its own.
//
// The kill has to land mid-iteration, so each case widens the iteration's
// window on purpose: a slow panel for activation and expiry-cleanup, a
// Crypto Pay that hangs for the payment-watcher, and for the notifying
// workers (reminders, trial-notifier, expiry notices) a NATS outage that
// holds them between claiming a notice and publishing it.
func TestWorkerKilledMidIteration(t *testing.T) {
	t.Parallel()
	// One panel: the cases read every key, and break the panel, through
	// Stack.Outline.
	s := start(t, options{workers: true, panels: 1, env: []string{"WORKER_INTERVAL=1s", "SENDER_RATE=200"}})
	t.Run("activation", func(t *testing.T) { killActivation(s.on(t)) })
	t.Run("expiry-cleanup", func(t *testing.T) { killExpiryCleanup(s.on(t)) })
	t.Run("expiry-cleanup notices", func(t *testing.T) {
		killBeforePublishing(s.on(t), noticeCase{
			worker: localstack.ExpiryCleanup, first: 740001, kind: shop.KindPaid, expiresIn: -2 * time.Hour,
			claimKind: notify.KindKeyRevoked, mark: markEnded,
		})
	})
	t.Run("reminders", func(t *testing.T) {
		killBeforePublishing(s.on(t), noticeCase{
			worker: localstack.Reminders, first: 730001, kind: shop.KindPaid, expiresIn: 23 * time.Hour,
			claimKind: notify.ReminderKind(24 * time.Hour), mark: markReminder,
		})
	})
	t.Run("trial-notifier", func(t *testing.T) {
		killBeforePublishing(s.on(t), noticeCase{
			worker: localstack.TrialNotifier, first: 750001, kind: shop.KindTrial, expiresIn: 23 * time.Hour,
			claimKind: notify.TrialEndsSoonKind(24 * time.Hour), mark: markTrial24h,
		})
	})
	t.Run("payment-watcher", func(t *testing.T) { killPaymentWatcherLeader(s.on(t)) })
}

// on is s for subtest t: its helpers fail t, not the test that started s.
func (s *system) on(t *testing.T) *system {
	c := *s
	c.t = t
	return &c
}

// period is a subscription a test made; its user's chat id is the user id.
type period struct{ id, user int64 }

// seedPeriods gives n new users from first (English, chat id = user id) an
// active period of kind that started three days ago and expires expiresIn
// from now. With delivered, each period also has a live access whose key its
// user was sent already, so that activation leaves it alone.
func (s *system) seedPeriods(first int64, n int, kind string, expiresIn time.Duration, delivered bool) []period {
	s.t.Helper()
	ctx := s.t.Context()
	last := first + int64(n) - 1
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id, language)
		SELECT g, g, 'en' FROM generate_series($1::bigint, $2::bigint) g`, first, last)
	require.NoError(s.t, err)
	rows, err := s.db.Pool.Query(ctx, `INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at)
		SELECT g, $3, 'active', now() - interval '3 days', now() + $4::interval
		FROM generate_series($1::bigint, $2::bigint) g
		RETURNING id, user_id`, first, last, kind, expiresIn.String())
	require.NoError(s.t, err)
	periods, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (period, error) {
		var p period
		return p, r.Scan(&p.id, &p.user)
	})
	require.NoError(s.t, err)
	if delivered {
		// "key" is the notifications_sent kind of a delivered key.
		_, err = s.db.Pool.Exec(ctx, `WITH a AS (
				INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url)
				SELECT id, 'outline', 'seeded-' || id, 'ss://seeded@vpn.example.com:443/?outline=1'
				FROM subscriptions WHERE user_id BETWEEN $1 AND $2
				RETURNING subscription_id, created_at)
			INSERT INTO notifications_sent (subscription_id, kind, expires_at) SELECT subscription_id, 'key', created_at FROM a`,
			first, last)
		require.NoError(s.t, err)
	}
	return periods
}

func periodIDs(ps []period) []int64 {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.id
	}
	return ids
}

// countPeriods runs a count(*) query over the periods ids.
func (s *system) countPeriods(sql string, ids []int64) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.db.Pool.QueryRow(s.t.Context(), sql, ids).Scan(&n), sql)
	return n
}

// messagesWith counts the bot's messages in chat that contain mark.
func (s *system) messagesWith(chat int64, mark string) int {
	n := 0
	for _, m := range s.Sandbox.Messages(chat) {
		if strings.Contains(m.Plain, mark) {
			n++
		}
	}
	return n
}

// requireEachToldOnce waits until every period's user has a message with
// mark, lets the worker labelled label run a few more iterations (a repeat
// would come with them), and checks that each user has exactly one.
func (s *system) requireEachToldOnce(ps []period, label, mark string) {
	s.t.Helper()
	for _, p := range ps {
		require.Eventually(s.t, func() bool { return s.messagesWith(p.user, mark) > 0 }, crashWait, 50*time.Millisecond,
			"user %d was never sent %q; the chat:\n%s", p.user, mark, describeChat(s.Sandbox.Messages(p.user)))
	}
	s.waitIterations(label, 3)
	for _, p := range ps {
		require.Equal(s.t, 1, s.messagesWith(p.user, mark), "user %d: %q sent %d times; the chat:\n%s",
			p.user, mark, s.messagesWith(p.user, mark), describeChat(s.Sandbox.Messages(p.user)))
	}
}

// iterationEnds counts the ITERATION_END lines of the process labelled label.
func (s *system) iterationEnds(label string) int {
	return len(s.out.events(label, worker.EventIterationEnd, func(l logLine) bool { return l.Source == label }))
}

// waitIterations waits until the process labelled label has ended n more
// iterations.
func (s *system) waitIterations(label string, n int) {
	s.t.Helper()
	from := s.iterationEnds(label)
	require.Eventually(s.t, func() bool { return s.iterationEnds(label) >= from+n }, crashWait, 50*time.Millisecond,
		"%s ran no %d more iterations", label, n)
}

// numField is a number field of l, 0 if it has none.
func numField(l logLine, key string) float64 {
	n, _ := l.Fields[key].(float64)
	return n
}

// killMidIteration kills the worker labelled label with SIGKILL and checks
// that it was in the middle of an iteration: its last ITERATION_START had no
// ITERATION_END.
func (s *system) killMidIteration(label string, kill func() error) {
	s.t.Helper()
	iteration := func(ev string) float64 {
		found := s.out.events(label, ev, func(l logLine) bool { return l.Source == label })
		if len(found) == 0 {
			return 0
		}
		return numField(found[len(found)-1], "iteration")
	}
	require.NoError(s.t, kill(), "killing %s", label)
	started, ended := iteration(worker.EventIterationStart), iteration(worker.EventIterationEnd)
	require.Greater(s.t, started, ended, "%s was killed between iterations (last started %v, last ended %v)", label, started, ended)
	s.t.Logf("%s killed during its iteration %v", label, started)
}

// killActivation kills activation while it creates keys on a panel that
// makes each key at once but answers late. Keys made on the panel but not yet
// recorded are the half state the kill leaves; the next run must record
// those same keys (the panel names keys by user), and each user must get
// one key.
func killActivation(s *system) {
	t := s.t
	const n = 24
	s.Outline.Inject(outline.Fault{Route: "PUT /access-keys/{id}", ServeFirst: true, Latency: 300 * time.Millisecond})
	t.Cleanup(s.Outline.ClearFaults) // for the next case, should this one fail
	ps := s.seedPeriods(710001, n, shop.KindPaid, 30*24*time.Hour, false)
	ids := periodIDs(ps)
	created := func() int {
		return len(s.out.events(localstack.Activation, "ACCESS_CREATED", func(l logLine) bool {
			return l.Source == localstack.Activation && numField(l, "user_id") >= 710001
		}))
	}
	require.Eventually(t, func() bool { return created() >= 4 }, crashWait, 5*time.Millisecond, "activation created no key")
	s.killMidIteration(localstack.Activation, func() error { return s.Kill(localstack.Activation, 0) })

	recorded := s.countPeriods(`SELECT count(*) FROM vpn_accesses WHERE subscription_id = ANY($1)`, ids)
	require.Less(t, recorded, n, "the kill came before every key was recorded")
	// A recorded access always has its key on the panel (the panel call
	// comes first); the reverse may lag until the next run.
	panel := s.panelKeys(ps)
	rows, err := s.db.Pool.Query(t.Context(), `SELECT external_id FROM vpn_accesses WHERE subscription_id = ANY($1)`, ids)
	require.NoError(t, err)
	accesses, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, id := range accesses {
		require.True(t, panel[id], "access %s is recorded but not on the panel", id)
	}
	t.Logf("at the kill: %d of %d accesses recorded, %d keys on the panel", recorded, n, len(panel))
	require.Greater(t, len(panel), recorded, "the kill came while keys were being made")

	s.Outline.ClearFaults()
	require.NoError(t, s.Start(localstack.Activation, 0))
	require.Eventually(t, func() bool {
		return s.countPeriods(`SELECT count(*) FROM vpn_accesses WHERE subscription_id = ANY($1) AND revoked_at IS NULL`, ids) == n
	}, crashWait, 50*time.Millisecond, "not every period got its access after the restart")
	s.requireEachToldOnce(ps, localstack.Activation, markKey)
	panel = s.panelKeys(ps)
	require.Len(t, panel, n, "one key per user on the panel")
	for _, p := range ps {
		key := vpn.AccountName(vpn.DefaultNamePrefix, p.user)
		require.True(t, panel[key], "period %d has no key %s on the panel", p.id, key)
		var recordedKey string
		require.NoError(t, s.db.Pool.QueryRow(t.Context(),
			`SELECT external_id FROM vpn_accesses WHERE subscription_id = $1`, p.id).Scan(&recordedKey))
		require.Equal(t, key, recordedKey, "period %d: the recorded access is the panel's key", p.id)
	}
}

// panelKeys returns the ids of the panel's working keys (not blocked) that
// belong to the periods' users.
func (s *system) panelKeys(ps []period) map[string]bool {
	ours := map[string]bool{}
	for _, p := range ps {
		ours[vpn.AccountName(vpn.DefaultNamePrefix, p.user)] = true
	}
	keys := map[string]bool{}
	for _, k := range s.Outline.Keys() {
		if ours[k.ID] && !k.Blocked() {
			keys[k.ID] = true
		}
	}
	return keys
}

// killExpiryCleanup kills expiry-cleanup while it revokes expired periods on
// a panel that blocks each key at once but answers late. The invariant at
// every moment: no period is marked revoked while its key still works (the
// panel call comes first). The periods the dead process was
// revoking stay claimed by it, but its database sessions ended with it, so
// the next run takes them over at once, not after the claim's lifetime
// (WORKER_ITERATION_TIMEOUT + 30 s, 150 s by default, beyond crashWait): it
// must revoke the rest and tell each user once.
func killExpiryCleanup(s *system) {
	t := s.t
	const n = 24
	ps := s.seedPeriods(720001, n, shop.KindPaid, 30*24*time.Hour, false)
	ids := periodIDs(ps)
	for _, p := range ps {
		s.waitScreen(p.user, "with the key", withText(markKey))
	}
	require.Len(t, s.panelKeys(ps), n)

	s.Outline.Inject(outline.Fault{Route: "PUT /access-keys/{id}/data-limit", ServeFirst: true, Latency: 300 * time.Millisecond})
	t.Cleanup(s.Outline.ClearFaults)
	_, err := s.db.Pool.Exec(t.Context(),
		`UPDATE subscriptions SET expires_at = now() - interval '2 hours' WHERE id = ANY($1)`, ids)
	require.NoError(t, err)
	revoked := func() int {
		return len(s.out.events(localstack.ExpiryCleanup, "ACCESS_REVOKED", func(l logLine) bool {
			return l.Source == localstack.ExpiryCleanup && l.str("reason") == "expired" && numField(l, "user_id") >= 720001
		}))
	}
	require.Eventually(t, func() bool { return revoked() >= 4 }, crashWait, 5*time.Millisecond, "expiry-cleanup revoked nothing")
	s.killMidIteration(localstack.ExpiryCleanup, func() error { return s.Kill(localstack.ExpiryCleanup, 0) })

	ended := s.requireNoRevokedPeriodKeepsItsKey(ps)
	require.Less(t, ended, n, "the kill came before every period was revoked")
	keyless := n - ended - len(s.panelKeys(ps))
	require.Positive(t, keyless, "the kill came while keys were being blocked")
	// 'revoke_claim' is expiry-cleanup's claim on a period it revokes.
	held := s.countPeriods(`SELECT count(*) FROM notifications_sent n JOIN subscriptions s ON s.id = n.subscription_id
		WHERE n.kind = 'revoke_claim' AND s.id = ANY($1) AND s.status = 'active'`, ids)
	require.GreaterOrEqual(t, held, keyless, "a key is blocked only once its period is claimed")
	t.Logf("at the kill: %d of %d periods revoked, %d more without their key but not yet marked, %d claimed by the dead process",
		ended, n, keyless, held)

	s.Outline.ClearFaults()
	require.NoError(t, s.Start(localstack.ExpiryCleanup, 0))
	require.Eventually(t, func() bool {
		return s.countPeriods(`SELECT count(*) FROM subscriptions WHERE id = ANY($1) AND status = 'revoked'`, ids) == n
	}, crashWait, 50*time.Millisecond, "not every expired period was revoked after the restart")
	require.Equal(t, n, s.requireNoRevokedPeriodKeepsItsKey(ps))
	require.Empty(t, s.panelKeys(ps), "keys of ended periods left working on the panel")
	require.Zero(t, s.countPeriods(`SELECT count(*) FROM vpn_accesses WHERE subscription_id = ANY($1) AND revoked_at IS NULL`, ids),
		"accesses of ended periods not marked revoked")
	s.requireEachToldOnce(ps, localstack.ExpiryCleanup, markEnded)
}

// requireNoRevokedPeriodKeepsItsKey checks that no revoked period's user has
// a working key on the panel, and returns how many are revoked.
func (s *system) requireNoRevokedPeriodKeepsItsKey(ps []period) int {
	s.t.Helper()
	rows, err := s.db.Pool.Query(s.t.Context(), `SELECT user_id FROM subscriptions WHERE id = ANY($1) AND status = 'revoked'`, periodIDs(ps))
	require.NoError(s.t, err)
	revoked, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(s.t, err)
	panel := s.panelKeys(ps)
	for _, user := range revoked {
		require.False(s.t, panel[vpn.AccountName(vpn.DefaultNamePrefix, user)], "user %d's period is revoked but their key still works", user)
	}
	return len(revoked)
}

// noticeCase is a notifying worker and the notice it sends.
type noticeCase struct {
	worker    string
	first     int64 // first user id
	kind      string
	expiresIn time.Duration
	claimKind string // the notifications_sent kind the worker claims
	mark      string
}

// killBeforePublishing kills a notifying worker after it claimed notices and
// before it handed them to the sender: NATS is down, so its publishes wait.
// Once NATS and the worker are back, every user must get the notice once.
func killBeforePublishing(s *system, c noticeCase) {
	t := s.t
	const n = 10
	delivered := c.worker != localstack.ExpiryCleanup // expiry-cleanup revokes a real key
	ps := s.seedPeriods(c.first, n, c.kind, 30*24*time.Hour, delivered)
	ids := periodIDs(ps)
	if !delivered {
		for _, p := range ps {
			s.waitScreen(p.user, "with the key", withText(markKey))
		}
	}

	require.NoError(t, s.StopNATS())
	natsUp := false
	defer func() {
		if !natsUp {
			require.NoError(t, s.StartNATS())
		}
	}()
	_, err := s.db.Pool.Exec(t.Context(), `UPDATE subscriptions SET expires_at = now() + $2::interval WHERE id = ANY($1)`,
		ids, c.expiresIn.String())
	require.NoError(t, err)
	claimed := func() int {
		var n int
		require.NoError(t, s.db.Pool.QueryRow(t.Context(),
			`SELECT count(*) FROM notifications_sent WHERE subscription_id = ANY($1) AND kind = $2`, ids, c.claimKind).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return claimed() > 0 }, crashWait, 5*time.Millisecond, "%s claimed nothing", c.worker)
	s.killMidIteration(c.worker, func() error { return s.Kill(c.worker, 0) })
	t.Logf("killed %s holding %d claimed %s notices, none handed to the sender", c.worker, claimed(), c.claimKind)

	require.NoError(t, s.StartNATS())
	natsUp = true
	require.NoError(t, s.Start(c.worker, 0))
	s.requireEachToldOnce(ps, c.worker, c.mark)
}

// killPaymentWatcherLeader runs a second payment-watcher beside the stack's,
// kills the leader with SIGKILL while its poll hangs on Crypto Pay with paid
// invoices pending, and checks that the standby takes over within seconds
// and applies each payment exactly once. Then it kills the new leader the
// same way, and the first one, started again, must do the same. Crypto Pay's
// webhooks are off: the poll is what must not lose the payments.
func killPaymentWatcherLeader(s *system) {
	t := s.t
	s.CryptoPay.SetWebhook("")
	t.Cleanup(func() {
		s.CryptoPay.ClearFaults()
		s.CryptoPay.SetWebhook(s.GatewayURL + "/cryptopay/webhook")
	})
	second := s.startPaymentWatcher("payment-watcher-1")

	acquired := func(label string) []logLine {
		return s.out.events(label, obs.EventLeaderAcquired, func(l logLine) bool { return l.Source == label })
	}
	require.NotEmpty(t, acquired(localstack.PaymentWatcher), "the stack's payment-watcher leads")
	require.Empty(t, acquired(second.label), "the second payment-watcher stands by")

	client, err := cryptopay.New(cryptopay.Config{BaseURL: s.CryptoPay.URL(), Token: localstack.DefaultCryptoPayToken, HTTPClient: s.http})
	require.NoError(t, err)
	sh := shop.New(s.db.Pool, shop.Config{})
	rounds := []struct {
		first           int64
		leader, standby string
		kill            func() error
	}{
		{760001, localstack.PaymentWatcher, second.label, func() error { return s.Kill(localstack.PaymentWatcher, 0) }},
		{760101, second.label, localstack.PaymentWatcher, second.kill},
	}
	for i, r := range rounds {
		if i > 0 {
			require.NoError(t, s.Start(localstack.PaymentWatcher, 0))
		}
		// The leader's next poll hangs on getInvoices with the payments
		// pending (there is no poll while nothing is pending).
		s.CryptoPay.Inject(sandboxcp.Fault{Method: "getInvoices", Hang: true})
		calls := getInvoicesCalls(s.CryptoPay)
		orders := s.paidOrders(sh, client, r.first, 5)
		require.Eventually(t, func() bool { return getInvoicesCalls(s.CryptoPay) > calls }, crashWait, 5*time.Millisecond,
			"%s did not poll", r.leader)
		// Counted before the kill: the standby may take the lead within
		// milliseconds of it.
		before := len(acquired(r.standby))
		s.killMidIteration(r.leader, r.kill)
		killed := time.Now()
		for _, o := range orders {
			require.Equal(t, shop.InvoicePending, s.invoiceStatus(o.ID), "invoice %d applied before the kill", o.ID)
		}
		s.CryptoPay.ClearFaults()

		require.Eventually(t, func() bool { return len(acquired(r.standby)) > before }, 15*time.Second, 20*time.Millisecond,
			"%s did not take over", r.standby)
		t.Logf("%s took the lead %s after %s was killed", r.standby, acquired(r.standby)[before].Time.Sub(killed).Round(time.Millisecond), r.leader)
		ps := make([]period, len(orders))
		for j, o := range orders {
			require.Eventually(t, func() bool { return s.invoiceStatus(o.ID) == shop.InvoicePaid }, crashWait, 50*time.Millisecond,
				"invoice %d was not applied", o.ID)
			ps[j] = period{user: o.UserID}
		}
		s.requireEachToldOnce(ps, r.standby, markPaid)
		for _, o := range orders {
			var days float64
			require.NoError(t, s.db.Pool.QueryRow(t.Context(), `SELECT extract(epoch FROM s.expires_at - i.paid_at) / 86400
				FROM invoices i JOIN subscriptions s ON s.user_id = i.user_id AND s.status = 'active' WHERE i.id = $1`, o.ID).Scan(&days))
			require.InDelta(t, planDays, days, 0.01, "invoice %d: the period runs %.2f days from the payment; applied once is %d", o.ID, days, planDays)
		}
	}
}

// invoiceStatus is the order's status.
func (s *system) invoiceStatus(id int64) string {
	s.t.Helper()
	var status string
	require.NoError(s.t, s.db.Pool.QueryRow(s.t.Context(), `SELECT status FROM invoices WHERE id = $1`, id).Scan(&status))
	return status
}

// paidOrders makes n new users (from first) each a Crypto Pay order of plan
// m1, with its invoice at the sandbox, and pays the invoices there.
func (s *system) paidOrders(sh *shop.Shop, client *cryptopay.Client, first int64, n int) []shop.Invoice {
	s.t.Helper()
	ctx := s.t.Context()
	orders := make([]shop.Invoice, n)
	for i := range orders {
		user := first + int64(i)
		_, err := s.db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en')`, user)
		require.NoError(s.t, err)
		inv, err := sh.CreateOrder(ctx, user, planID, shop.ProviderCryptoPay)
		require.NoError(s.t, err)
		remote, err := client.CreateInvoice(ctx, cryptopay.CreateInvoice{AmountUSD: inv.PriceUSD, Payload: shop.StarsPayload(inv.ID), ExpiresIn: time.Hour})
		require.NoError(s.t, err)
		require.NoError(s.t, sh.AttachExternal(ctx, inv.ID, strconv.FormatInt(remote.InvoiceID, 10), remote.BotInvoiceURL))
		_, err = s.CryptoPay.MarkPaid(remote.InvoiceID)
		require.NoError(s.t, err)
		orders[i] = inv
	}
	return orders
}

func getInvoicesCalls(cp *sandboxcp.Server) int {
	n := 0
	for _, r := range cp.Requests() {
		if r.Method == "getInvoices" {
			n++
		}
	}
	return n
}

// replicaProc is a service process a test started beside its stack.
type replicaProc struct {
	label string
	proc  *procs.Proc
}

func (r *replicaProc) kill() error {
	r.proc.Kill()
	return nil
}

// startPaymentWatcher starts another payment-watcher on the stack's
// database, broker and Crypto Pay, as a second replica would run, and waits
// until it is ready. It is stopped (and must stop cleanly) when the test
// ends, unless the test killed it.
func (s *system) startPaymentWatcher(label string) *replicaProc {
	s.t.Helper()
	ops, err := localstack.FreeAddr()
	require.NoError(s.t, err)
	p, err := procs.Start(label, filepath.Join(binDir, localstack.PaymentWatcher), []string{
		"INSTANCE=" + label,
		"OPS_ADDR=" + ops,
		"NATS_URL=" + s.NATSURL,
		"DATABASE_URL=" + s.db.DSN,
		"CRYPTOPAY_TOKEN=" + localstack.DefaultCryptoPayToken,
		"CRYPTOPAY_API_URL=" + s.CryptoPay.URL(),
		"WORKER_INTERVAL=1s",
	}, s.out)
	require.NoError(s.t, err)
	r := &replicaProc{label: label, proc: p}
	s.t.Cleanup(func() {
		select {
		case <-p.Done():
			return // killed by the test
		default:
		}
		if err := p.Stop(15 * time.Second); err != nil {
			s.t.Errorf("stopping %s: %v", label, err)
		}
	})
	require.Eventually(s.t, func() bool { return s.opsReady("http://" + ops) }, crashWait, 50*time.Millisecond, "%s not ready", label)
	return r
}

// opsReady reports whether the service at opsURL answers /readyz with 200.
func (s *system) opsReady(opsURL string) bool {
	ctx, cancel := context.WithTimeout(s.t.Context(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, opsURL+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}
