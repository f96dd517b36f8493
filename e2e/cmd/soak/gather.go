package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// gatherer reads what happened, once the system has drained.
type gatherer struct {
	st      *localstack.Stack
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	logPath string
}

// gather fills r from the users' journal, the database, the sandboxes, the
// streams and the services' log.
func (g *gatherer) gather(ctx context.Context, r *Records, j *journal) error {
	j.mu.Lock()
	sent, payments, missed := slices.Clone(j.updates), slices.Clone(j.payments), j.missed
	presses, ban, previews := slices.Clone(j.presses), j.ban, slices.Clone(j.previews)
	j.mu.Unlock()
	r.Missed = missed

	var err error
	if r.DLQ, err = bus.ListDLQ(ctx, g.js, "", 0); err != nil {
		return err
	}
	stale, err := g.readLog(r)
	if err != nil {
		return err
	}
	dead, err := deadUpdates(r.DLQ)
	if err != nil {
		return err
	}
	for _, u := range sent {
		r.Updates = append(r.Updates, Update{
			SentUpdate: u, Answers: g.st.Sandbox.Answers(u.ID), Stale: stale[u.ID], DeadLetter: dead[u.ID],
		})
	}

	if err := g.readShop(ctx, r, payments); err != nil {
		return err
	}
	r.Chats = map[int64][]sandboxtg.Message{}
	for _, chat := range g.st.Sandbox.Chats() {
		r.Chats[chat] = g.st.Sandbox.Messages(chat)
	}
	for _, p := range g.st.Panels {
		r.Panels = append(r.Panels, p.Name)
	}
	r.PanelKeys = workingKeys(g.st.Panels)
	if err := g.readAdmin(ctx, r, presses, ban, previews); err != nil {
		return err
	}
	for _, inv := range g.st.CryptoPay.Invoices() {
		r.ProviderInvoices = append(r.ProviderInvoices, ProviderInvoice{ID: inv.InvoiceID, Created: inv.CreatedAt})
	}
	r.Floods = g.st.Sandbox.Floods()
	st := g.st.Sandbox.Stats()
	r.Injected429 = st.TooManyRequests - st.Flooded
	return nil
}

// deadUpdates maps the updates in the DLQ to why they went there.
func deadUpdates(entries []bus.DLQEntry) (map[int64]string, error) {
	out := map[int64]string{}
	for _, e := range entries {
		if e.Stream != telegram.UpdatesStream {
			continue
		}
		_, id, ok := strings.Cut(e.MsgID, ":") // <bot id>:<update id>
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("dead letter %d: message id %q names no update", e.Seq, e.MsgID)
		}
		out[n] = e.Reason + ": " + e.Error
	}
	return out, nil
}

// readLog reads the services' log: the updates skipped as stale, and the
// counts of LogFacts.
func (g *gatherer) readLog(r *Records) (stale map[int64]bool, err error) {
	f, err := os.Open(g.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stale = map[int64]bool{}
	r.Logs.AppliedBy = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		_, body, ok := procs.SplitLine(sc.Text())
		if !ok || !strings.Contains(body, `"event"`) {
			continue
		}
		var line struct {
			Event    string `json:"event"`
			UpdateID int64  `json:"update_id"`
			Source   string `json:"source"`
			Service  string `json:"service"`
			UserID   int64  `json:"user_id"`
		}
		if json.Unmarshal([]byte(body), &line) != nil {
			continue
		}
		switch line.Event {
		case "CALLBACK_STALE":
			stale[line.UpdateID] = true
		case "SENT_NOT_RECORDED":
			r.Logs.SentNotRecorded++
		case "FLOOD_WAIT":
			r.Logs.FloodWaits++
		case "ACCOUNT_SUSPENDED":
			if line.UserID == abuserID {
				r.Admin.Suspended++
			}
		case "PAYMENT_APPLIED":
			if line.Service == localstack.PaymentWatcher {
				r.Logs.AppliedBy[line.Source]++
			}
		}
	}
	return stale, sc.Err()
}

// readShop reads the periods, invoices, accesses, sent-log and broadcasts,
// and matches the users' payments to the invoices they paid.
func (g *gatherer) readShop(ctx context.Context, r *Records, payments []Payment) error {
	periods := map[int64]*Period{}
	rows, err := g.pool.Query(ctx, `SELECT id, user_id, kind, status, starts_at, expires_at, COALESCE(revoked_at, 'epoch')
		FROM subscriptions ORDER BY id`)
	if err != nil {
		return fmt.Errorf("reading the periods: %w", err)
	}
	var p Period
	if _, err := pgx.ForEachRow(rows, []any{&p.ID, &p.User, &p.Kind, &p.Status, &p.Starts, &p.Expires, &p.Revoked}, func() error {
		if p.Revoked.Equal(time.Unix(0, 0)) {
			p.Revoked = time.Time{}
		}
		r.Periods = append(r.Periods, p)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the periods: %w", err)
	}
	for i := range r.Periods {
		periods[r.Periods[i].ID] = &r.Periods[i]
	}

	// Every grant is a ledger row of the period, in the order it was
	// written.
	rows, err = g.pool.Query(ctx, `SELECT subscription_id, created_at, duration, COALESCE(invoice_id, 0), kind, op_key
		FROM ledger WHERE subscription_id IS NOT NULL AND duration <> interval '0' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("reading the ledger's grants: %w", err)
	}
	var period int64
	var grant Grant
	if _, err := pgx.ForEachRow(rows, []any{&period, &grant.At, &grant.For, &grant.Invoice, &grant.Kind, &grant.Key}, func() error {
		if q := periods[period]; q != nil {
			q.Grants = append(q.Grants, grant)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("reading the ledger's grants: %w", err)
	}

	type invoice struct {
		id                 int64
		provider, external string
		charge             string
	}
	var paid []invoice
	rows, err = g.pool.Query(ctx, `SELECT id, provider, COALESCE(external_id, ''), COALESCE(charge_id, '')
		FROM invoices WHERE status = 'paid' ORDER BY paid_at, id`)
	if err != nil {
		return fmt.Errorf("reading the paid invoices: %w", err)
	}
	var inv invoice
	if _, err := pgx.ForEachRow(rows, []any{&inv.id, &inv.provider, &inv.external, &inv.charge}, func() error {
		paid = append(paid, inv)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the paid invoices: %w", err)
	}
	for i := range r.Periods {
		slices.SortStableFunc(r.Periods[i].Grants, func(a, b Grant) int { return a.At.Compare(b.At) })
	}
	for _, pay := range payments {
		rec := PaidRecord{Payment: pay}
		for _, inv := range paid {
			switch {
			case pay.How == PaySeeded && strconv.FormatInt(inv.id, 10) == pay.External,
				pay.Provider == shop.ProviderCryptoPay && inv.provider == shop.ProviderCryptoPay && inv.external == pay.External,
				pay.How != PaySeeded && pay.Provider == shop.ProviderStars && inv.provider == shop.ProviderStars && inv.charge == pay.External:
				rec.Invoice = inv.id
			}
		}
		r.Payments = append(r.Payments, rec)
	}
	for _, inv := range paid {
		if !slices.ContainsFunc(r.Payments, func(p PaidRecord) bool { return p.Invoice == inv.id }) {
			r.Payments = append(r.Payments, PaidRecord{Payment: Payment{Provider: inv.provider, How: "unknown"}, Invoice: inv.id})
		}
	}

	rows, err = g.pool.Query(ctx, `SELECT a.subscription_id, s.user_id, a.access_url, a.panel, a.external_id, a.created_at, COALESCE(a.revoked_at, 'epoch')
		FROM vpn_accesses a JOIN subscriptions s ON s.id = a.subscription_id ORDER BY a.id`)
	if err != nil {
		return fmt.Errorf("reading the accesses: %w", err)
	}
	var a Access
	if _, err := pgx.ForEachRow(rows, []any{&a.Period, &a.User, &a.URL, &a.Key.Panel, &a.Key.ID, &a.Created, &a.Revoked}, func() error {
		if a.Revoked.Equal(time.Unix(0, 0)) {
			a.Revoked = time.Time{}
		}
		r.Accesses = append(r.Accesses, a)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the accesses: %w", err)
	}

	rows, err = g.pool.Query(ctx, `SELECT dedup_id, chat_id, COALESCE(telegram_message_id, 0), sent_at FROM sent_messages ORDER BY sent_at`)
	if err != nil {
		return fmt.Errorf("reading the sent-log: %w", err)
	}
	var s Sent
	if _, err := pgx.ForEachRow(rows, []any{&s.DedupID, &s.Chat, &s.MessageID, &s.At}, func() error {
		r.SentLog = append(r.SentLog, s)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the sent-log: %w", err)
	}

	rows, err = g.pool.Query(ctx, `SELECT id, user_id, COALESCE(plan_id, 'top-up of $' || price_usd), COALESCE(external_id, '0')::bigint,
			status = 'pending' AND superseded_at IS NULL
		FROM invoices WHERE provider = $1 ORDER BY id`, shop.ProviderCryptoPay)
	if err != nil {
		return fmt.Errorf("reading the Crypto Pay orders: %w", err)
	}
	var o Order
	if _, err := pgx.ForEachRow(rows, []any{&o.ID, &o.User, &o.Plan, &o.External, &o.OnOffer}, func() error {
		r.Orders = append(r.Orders, o)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the Crypto Pay orders: %w", err)
	}

	rows, err = g.pool.Query(ctx, `SELECT b.id, COALESCE(array_agg(r.user_id ORDER BY r.user_id) FILTER (WHERE r.user_id IS NOT NULL), '{}')
		FROM broadcasts b LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
		WHERE b.state = 'sending' GROUP BY b.id ORDER BY b.id`)
	if err != nil {
		return fmt.Errorf("reading the broadcasts: %w", err)
	}
	var b Broadcast
	if _, err := pgx.ForEachRow(rows, []any{&b.ID, &b.Recipients}, func() error {
		r.Broadcasts = append(r.Broadcasts, b)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the broadcasts: %w", err)
	}
	return g.readLedger(ctx, r)
}

// readLedger checks the ledger's invariants in the database.
func (g *gatherer) readLedger(ctx context.Context, r *Records) error {
	l := &r.Ledger
	l.Rows, l.Balances = map[string]int{}, map[string]int64{}
	queries := []struct {
		what string
		sql  string
		scan func(pgx.Rows) error
	}{
		{"rows by kind", `SELECT kind, count(*) FROM ledger GROUP BY kind`, func(rows pgx.Rows) error {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				return err
			}
			l.Rows[kind] = n
			return nil
		}},
		{"balances against their rows", `
			SELECT format('user %s %s: balance %s, rows %s', user_id, currency, COALESCE(b.amount, 0), COALESCE(l.total, 0))
			FROM (SELECT user_id, currency, sum(amount) AS total FROM ledger WHERE amount <> 0 GROUP BY user_id, currency) l
			FULL JOIN balances b USING (user_id, currency)
			WHERE COALESCE(l.total, 0) <> COALESCE(b.amount, 0)`, func(rows pgx.Rows) error {
			var s string
			err := rows.Scan(&s)
			l.Mismatched = append(l.Mismatched, s)
			return err
		}},
		{"negative balances", `SELECT format('user %s: %s %s', user_id, amount, currency) FROM balances WHERE amount < 0`,
			func(rows pgx.Rows) error {
				var s string
				err := rows.Scan(&s)
				l.Negative = append(l.Negative, s)
				return err
			}},
		{"balances", `SELECT currency, sum(amount) FROM balances GROUP BY currency`, func(rows pgx.Rows) error {
			var c string
			var n int64
			err := rows.Scan(&c, &n)
			l.Balances[c] = n
			return err
		}},
		{"paid invoices without their row", `SELECT i.id FROM invoices i WHERE i.status = 'paid'
			AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.invoice_id = i.id AND l.kind IN ('payment', 'topup'))`,
			func(rows pgx.Rows) error {
				var id int64
				err := rows.Scan(&id)
				l.Unrecorded = append(l.Unrecorded, id)
				return err
			}},
		{"rows of unpaid invoices", `SELECT l.invoice_id FROM ledger l JOIN invoices i ON i.id = l.invoice_id
			WHERE l.kind IN ('payment', 'topup') AND i.status <> 'paid'`, func(rows pgx.Rows) error {
			var id int64
			err := rows.Scan(&id)
			l.Unpaid = append(l.Unpaid, id)
			return err
		}},
	}
	// The stack's services give the default rewards.
	referrals := shop.New(g.pool, shop.Config{Referrals: shop.NewReferralEnv().Referrals()})
	var err error
	if l.Referrals, err = referrals.ReferralProblems(ctx); err != nil {
		return fmt.Errorf("checking the referral rewards: %w", err)
	}
	usage, err := referrals.PromoUsage(ctx)
	if err != nil {
		return fmt.Errorf("checking the promo codes: %w", err)
	}
	for _, u := range usage {
		if err := u.Violation(); err != nil {
			l.Promos = append(l.Promos, err.Error())
		}
	}
	if l.RepeatedRenewals, err = referrals.RepeatedRenewals(ctx, localstack.DemoAutoRenewLead); err != nil {
		return fmt.Errorf("checking the renewals: %w", err)
	}
	for _, q := range queries {
		rows, err := g.pool.Query(ctx, q.sql)
		if err != nil {
			return fmt.Errorf("reading the ledger's %s: %w", q.what, err)
		}
		for rows.Next() && err == nil {
			err = q.scan(rows)
		}
		rows.Close()
		if err = cmp.Or(err, rows.Err()); err != nil {
			return fmt.Errorf("reading the ledger's %s: %w", q.what, err)
		}
	}
	return nil
}
