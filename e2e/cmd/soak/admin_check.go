package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// checkAdmin is the admin's card actions' row of the table.
const checkAdmin = "every admin action done once and recorded once, pressed twice; a ban takes the key and gets one answer"

// AdminFacts is what the admin's card actions left.
type AdminFacts struct {
	Presses []AdminPress
	Ban     BanWindow
	Audit   []AuditRow
	// Refunds counts the ledger's refund rows, by invoice; StarsBack is
	// whether Telegram gave the invoice's Stars back.
	Refunds   map[int64]int
	StarsBack map[int64]bool
	// BannedLive are the users banned at the end whose key still works
	// (a live access, or their account working on a panel).
	BannedLive []string
	// Suspended counts the abuser's ACCOUNT_SUSPENDED lines.
	Suspended int
	// Previews are the messages in the admin's chat that previewed a
	// broadcast: the bot-handler's, with the content the sender then sends
	// the admin (who is one of "all").
	Previews []int64
}

// AuditRow is a row of admin_audit, with the ledger rows its op key wrote
// (an extension's grant).
type AuditRow struct {
	OpKey   string
	Action  string
	Target  int64
	Invoice int64
	Grants  int
	At      time.Time
}

// reissued counts the new keys the admin gave user.
func (a AdminFacts) reissued(user int64) int {
	n := 0
	for _, row := range a.Audit {
		if row.Action == shop.ActionReissue && row.Target == user {
			n++
		}
	}
	return n
}

// inBan reports whether u is the abuser's, sent while they were banned.
func (a AdminFacts) inBan(u Update) bool {
	return u.Chat == abuserID && !a.Ban.From.IsZero() && !u.At.Before(a.Ban.From) &&
		(a.Ban.To.IsZero() || u.At.Before(a.Ban.To))
}

// readAdmin reads the audit trail, the refunds and the bans at the end.
func (g *gatherer) readAdmin(ctx context.Context, r *Records, presses []AdminPress, ban BanWindow, previews []int64) error {
	a := &r.Admin
	a.Presses, a.Ban, a.Previews = presses, ban, previews
	a.Refunds, a.StarsBack = map[int64]int{}, map[int64]bool{}
	rows, err := g.pool.Query(ctx, `
		SELECT a.op_key, a.action, COALESCE(a.target_id, 0), COALESCE((a.before->>'invoice_id')::bigint, 0),
		       (SELECT count(*) FROM ledger l WHERE l.op_key = 'grant:' || a.op_key), a.created_at
		FROM admin_audit a ORDER BY a.id`)
	if err != nil {
		return fmt.Errorf("reading the audit trail: %w", err)
	}
	a.Audit, err = pgx.CollectRows(rows, pgx.RowToStructByPos[AuditRow])
	if err != nil {
		return fmt.Errorf("reading the audit trail: %w", err)
	}
	rows, err = g.pool.Query(ctx, `SELECT l.invoice_id, count(*), COALESCE(min(i.charge_id), '')
		FROM ledger l JOIN invoices i ON i.id = l.invoice_id WHERE l.kind = 'refund' GROUP BY l.invoice_id`)
	if err != nil {
		return fmt.Errorf("reading the refunds: %w", err)
	}
	var invoice int64
	var n int
	var charge string
	if _, err := pgx.ForEachRow(rows, []any{&invoice, &n, &charge}, func() error {
		a.Refunds[invoice] = n
		a.StarsBack[invoice] = charge != "" && g.st.Sandbox.Refunded(charge)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the refunds: %w", err)
	}
	rows, err = g.pool.Query(ctx, `SELECT u.id, EXISTS (SELECT 1 FROM subscriptions s JOIN vpn_accesses x ON x.subscription_id = s.id
		WHERE s.user_id = u.id AND s.status = 'active' AND x.revoked_at IS NULL)
		FROM users u WHERE u.banned_at IS NOT NULL ORDER BY u.id`)
	if err != nil {
		return fmt.Errorf("reading the banned users: %w", err)
	}
	working := map[int64]bool{}
	for _, k := range r.PanelKeys {
		if user, ok := vpn.AccountUser(vpn.DefaultNamePrefix, k.Name); ok {
			working[user] = true
		}
	}
	var user int64
	var live bool
	_, err = pgx.ForEachRow(rows, []any{&user, &live}, func() error {
		if live || working[user] {
			a.BannedLive = append(a.BannedLive, fmt.Sprintf("user %d (live access: %t, working on a panel: %t)", user, live, working[user]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the banned users: %w", err)
	}
	return nil
}

// admin checks the admin's card actions: each confirmed with a double
// press is one audit row and one effect (an extension or a balance given
// one ledger grant, a message one message in the user's chat, a refund
// one reversal and one refund by Telegram); the ban took the abuser's key
// (activation suspended the account; nobody banned at the end has a
// working key) and the abuser's messages while banned got one answer.
func (v *Verdict) admin(r *Records) {
	a := r.Admin
	done := map[string]int{}
	for _, p := range a.Presses {
		if !p.Done {
			v.info(checkAdmin, "%s of user %d at %s: the result never came back", p.Action, p.Target, clock(p.At.Sub(r.Start)))
			continue
		}
		done[p.Action]++
		var rows []AuditRow
		for _, row := range a.Audit {
			if row.Action == p.Action && row.Target == p.Target && row.Invoice == p.Invoice {
				rows = append(rows, row)
			}
		}
		name := fmt.Sprintf("%s of user %d pressed twice at %s", p.Action, p.Target, clock(p.At.Sub(r.Start)))
		if len(rows) != 1 {
			v.fail(checkAdmin, "%s left %d audit rows", name, len(rows))
			continue
		}
		switch p.Action {
		case shop.ActionExtend, shop.ActionGrantBalance:
			if rows[0].Grants != 1 {
				v.fail(checkAdmin, "%s wrote %d ledger grants", name, rows[0].Grants)
			}
		case shop.ActionMessage:
			got := 0
			for _, m := range r.Chats[p.Target] {
				if m.Plain == p.Answer {
					got++
				}
			}
			if got != 1 {
				v.fail(checkAdmin, "%s: the user got the message %d times", name, got)
			}
		case shop.ActionRefund:
			if a.Refunds[p.Invoice] != 1 || !a.StarsBack[p.Invoice] {
				v.fail(checkAdmin, "%s: invoice %d has %d reversals, Stars given back: %t", name, p.Invoice, a.Refunds[p.Invoice], a.StarsBack[p.Invoice])
			}
		}
	}
	for _, b := range a.BannedLive {
		v.fail(checkAdmin, "a banned user's key works at the end: %s", b)
	}
	notices := 0
	if !a.Ban.From.IsZero() {
		if a.Suspended == 0 {
			v.fail(checkAdmin, "the abuser was banned at %s, but no activation suspended their account", clock(a.Ban.From.Sub(r.Start)))
		}
		for _, m := range r.Chats[abuserID] {
			if strings.Contains(m.Plain, "suspended") || strings.Contains(m.Plain, "приостановлен") {
				notices++
			}
		}
		var writes, answers int
		for _, u := range r.Updates {
			if a.inBan(u) {
				writes++
				answers += len(u.Answers)
			}
		}
		if notices != 1 || answers > 1 {
			v.fail(checkAdmin, "the abuser wrote %d times while banned: %d answers, %d ban notices (want one)", writes, answers, notices)
		}
	}
	need := []string{shop.ActionBan, shop.ActionUnban, shop.ActionExtend, shop.ActionReissue, shop.ActionRefund,
		shop.ActionGrantBalance, shop.ActionMessage}
	for _, action := range need {
		if done[action] == 0 {
			v.fail(checkCoverage, "no admin %s done from a card", action)
		}
	}
	byAction := map[string]int{}
	for _, row := range a.Audit {
		byAction[row.Action]++
	}
	v.row(checkAdmin, "%d actions pressed twice (%s); audit rows: %s; ban notices to the abuser: %d; banned users with a working key: %d",
		len(a.Presses), counts(done), counts(byAction), notices, len(a.BannedLive))
}
