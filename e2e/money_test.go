package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestMoneyJourney runs the money features through the whole system and
// the sandbox chat, with every worker up: a top-up with Crypto Pay, told by
// "I paid"; a plan bought from the balance; a friend invited who pays with
// Stars, and the inviter's reward; that payment refunded by an admin;
// auto-renewal turned on, the warning that the balance is short, the
// top-up it offers, and the renewal.
func TestMoneyJourney(t *testing.T) {
	t.Parallel()
	const alice, bob, admin = 7101, 7102, 7109
	s := start(t, options{workers: true, panels: 1, adminIDs: []int64{admin}, env: []string{"WORKER_INTERVAL=1s"}})
	ctx := t.Context()
	sh := shop.New(s.db.Pool, shop.Config{})
	s.Sandbox.SetUser(sandboxtg.User{ID: alice, FirstName: "Alice", LanguageCode: "en"})
	s.Sandbox.SetUser(sandboxtg.User{ID: bob, FirstName: "Bob", LanguageCode: "en"})
	s.Sandbox.SetUser(sandboxtg.User{ID: admin, FirstName: "Admin", LanguageCode: "en"})

	// Alice tops up $5 with Crypto Pay, pays on Crypto Pay whose webhook is
	// lost, and presses "I paid": the payment-watcher finds it now.
	menu := s.newMenu(alice)
	s.press(alice, menu, "bal")
	balance := s.waitScreen(alice, "her balance", withButton("top:cp:500"))
	s.press(alice, balance, "top:cp:500")
	pay := s.waitScreen(alice, "a top-up's pay link", func(m sandboxtg.Message) bool {
		return m.ID == balance.ID && m.ButtonURL() != ""
	})
	cp := s.CryptoPay.Invoices()
	require.Len(t, cp, 1)
	require.Equal(t, "5.00", cp[0].Amount)
	_, err := s.CryptoPay.MarkPaidUnannounced(cp[0].InvoiceID)
	require.NoError(t, err)
	var paidButton string
	for _, row := range pay.Buttons {
		for _, b := range row {
			if strings.HasPrefix(b.Data, "paid:") {
				paidButton = b.Data
			}
		}
	}
	require.NotEmpty(t, paidButton, "the top-up's screen has I paid")
	s.press(alice, pay, paidButton)
	s.waitScreen(alice, "saying the payment arrived", withText("Your payment arrived"))
	s.waitScreen(alice, "the top-up's receipt", withText("Balance topped up by $5.00; your balance is $5.00."))
	bal, err := sh.Balance(ctx, alice, shop.CurrencyUSD)
	require.NoError(t, err)
	require.EqualValues(t, 500, bal)

	// The plan from the balance: $4.99 of the $5.00.
	menu = s.newMenu(alice)
	s.press(alice, menu, cbPlans)
	plans := s.waitScreen(alice, "the plans", func(m sandboxtg.Message) bool { return m.ID == menu.ID && m.HasButton(cbPlan) })
	s.press(alice, plans, cbPlan)
	plan := s.waitScreen(alice, "the plan, payable from the balance", withButton("pay:bu:"+planID))
	s.press(alice, plan, "pay:bu:"+planID)
	sub := waitSubscription(t, sh, alice)
	require.WithinDuration(t, time.Now().Add(planDays*24*time.Hour), sub.ExpiresAt, time.Minute)
	s.waitScreen(alice, "the purchase with its expiry", withText(shownDate(sub.ExpiresAt)))
	s.waitScreen(alice, "her key, made by the activation worker", func(m sandboxtg.Message) bool { return len(m.Photo) > 0 })
	bal, err = sh.Balance(ctx, alice, shop.CurrencyUSD)
	require.NoError(t, err)
	require.EqualValues(t, 1, bal)

	// Bob comes by Alice's invite link and pays with Stars: Alice gets her
	// seven days.
	s.Sandbox.SendText(bob, "/start "+shop.InviteParam(alice))
	bobMenu := s.waitScreen(bob, "Bob's menu", withButton(cbSub))
	_, paid := s.payWithStars(bob, bobMenu)
	s.waitScreen(bob, "Bob's payment confirmed", withText("Payment received"))
	rewarded := sub.ExpiresAt.Add(7 * 24 * time.Hour)
	require.Eventually(t, func() bool { return activeSubscription(t, sh, alice).ExpiresAt.Equal(rewarded) },
		screenTimeout, 50*time.Millisecond, "Alice's reward of 7 days")
	menu = s.newMenu(alice)
	s.press(alice, menu, "invite")
	invite := s.waitScreen(alice, "her invites", withText("Invited: 1"))
	require.Contains(t, invite.Plain, "Paid: 1")
	require.Contains(t, invite.Plain, "7 days")

	// The admin refunds Bob's payment: his month is taken back, the Stars
	// go back, he is told; asked again, nothing more happens.
	var invoiceID int64
	require.NoError(t, s.db.Pool.QueryRow(ctx, `SELECT id FROM invoices WHERE charge_id = $1`, paid.ChargeID).Scan(&invoiceID))
	bobBefore := activeSubscription(t, sh, bob)
	s.newMenu(admin)
	for range 2 {
		s.Sandbox.SendText(admin, fmt.Sprintf("/refund %d", invoiceID))
	}
	s.waitScreen(admin, "the refund done", withText(fmt.Sprintf("Invoice %d refunded", invoiceID)))
	s.waitScreen(bob, "Bob told of the refund", withText("was refunded"))
	require.True(t, s.Sandbox.Refunded(paid.ChargeID))
	require.Eventually(t, func() bool {
		return len(s.Sandbox.Messages(admin)) >= 3
	}, screenTimeout, 50*time.Millisecond, "both /refund answered")
	bobAfter := activeSubscription(t, sh, bob)
	require.WithinDuration(t, bobBefore.ExpiresAt.Add(-planDays*24*time.Hour), bobAfter.ExpiresAt, 5*time.Second)
	refunds := 0
	require.NoError(t, s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger WHERE kind = 'refund'`).Scan(&refunds))
	require.Equal(t, 1, refunds)

	// Alice turns auto-renewal on, with $0.01 and no stars left. Her period
	// nears its end (within AUTO_RENEW_LEAD, 24 hours): she is warned once,
	// tops up what the renewal lacks from the warning, and it renews.
	menu = s.newMenu(alice)
	s.press(alice, menu, cbSub)
	mySub := s.waitScreen(alice, "her subscription offering auto-renewal", func(m sandboxtg.Message) bool {
		return m.ID == menu.ID && m.HasButton("ar:on")
	})
	s.press(alice, mySub, "ar:on")
	s.waitScreen(alice, "auto-renewal on", func(m sandboxtg.Message) bool { return m.ID == menu.ID && m.HasButton("ar:off") })
	ends := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	_, err = s.db.Pool.Exec(ctx, `UPDATE subscriptions SET expires_at = $2 WHERE user_id = $1 AND status = 'active'`, alice, ends)
	require.NoError(t, err)
	warning := s.waitScreen(alice, "the short-balance warning", withText("Your balance is short of auto-renewal"))
	s.press(alice, warning, "!ar:top")
	topUp := s.waitScreen(alice, "the top-up of what the renewal lacks", func(m sandboxtg.Message) bool {
		return m.Invoice != nil && m.Invoice.Total == planStars
	})
	topped, err := s.Sandbox.PayInvoice(alice, topUp.ID)
	require.NoError(t, err)
	require.True(t, topped.Accepted, "the bot refused the checkout: %+v", topped)
	s.waitScreen(alice, "the renewal's receipt", withText("Your subscription was renewed for 30 days from your balance: ⭐250"))
	require.Equal(t, ends.Add(planDays*24*time.Hour), activeSubscription(t, sh, alice).ExpiresAt, "renewed from its end")
	renewals := 0
	require.NoError(t, s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger WHERE kind = 'renewal'`).Scan(&renewals))
	require.Equal(t, 1, renewals)
	warnings := 0
	for _, m := range s.Sandbox.Messages(alice) {
		if strings.Contains(m.Plain, "Your balance is short of auto-renewal") {
			warnings++
		}
	}
	require.Equal(t, 1, warnings, "warned once in the cycle")
	require.Empty(t, s.dlq(), "nothing went to the DLQ")
}
