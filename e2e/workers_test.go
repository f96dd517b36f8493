package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestTrialKeyArrivesByItself runs the workers and the sender beside the
// bot, the test playing no part of theirs: a user who takes the trial gets
// their key (link and QR code); then they choose a plan with Crypto Pay,
// twice (the same link both times), pay on Crypto Pay's side, and are told
// the payment arrived — Crypto Pay's webhook through the gateway to the
// payment-watcher.
func TestTrialKeyArrivesByItself(t *testing.T) {
	t.Parallel()
	s := start(t, options{workers: true})
	const user = 4242
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)

	key := s.waitScreen(user, "with the key and its QR code", func(m sandboxtg.Message) bool {
		return len(m.Photo) > 0 && strings.Contains(m.Plain, "ss://")
	})
	if !bytes.HasPrefix(key.Photo, []byte("\x89PNG")) {
		t.Fatalf("the QR code is not a PNG")
	}
	if n := strings.Count(describeChat(s.Sandbox.Messages(user)), "ss://"); n != 1 {
		t.Fatalf("the key was sent %d times:\n%s", n, describeChat(s.Sandbox.Messages(user)))
	}
	if keys := s.Outline.Keys(); len(keys) != 1 {
		t.Fatalf("the panel has %d keys, want 1", len(keys))
	}

	menu = s.newMenu(user)
	s.press(user, menu, cbPlans)
	plans := s.waitScreen(user, "listing the plans", withButton(cbPlan))
	s.press(user, plans, cbPlan)
	plan := s.waitScreen(user, "offering the ways to pay", withButton(cbPayCrypto))
	s.press(user, plan, cbPayCrypto)
	pay := s.waitScreen(user, "with a pay link", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" })
	invoices := s.CryptoPay.Invoices()
	require.Len(t, invoices, 1)
	link := pay.ButtonURL()
	require.Equal(t, invoices[0].BotInvoiceURL, link)

	// Back to the plan and Crypto Pay again, as a user unsure they pressed:
	// the same order and link, no second invoice at Crypto Pay.
	s.press(user, pay, cbPlan)
	plan = s.waitScreen(user, "offering the ways to pay again", withButton(cbPayCrypto))
	s.press(user, plan, cbPayCrypto)
	again := s.waitScreen(user, "with the pay link again", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" })
	require.Equal(t, link, again.ButtonURL(), "the same link")
	require.Len(t, s.CryptoPay.Invoices(), 1, "one invoice at Crypto Pay")
	var orders int
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		"SELECT count(*) FROM invoices WHERE provider = 'cryptopay' AND user_id = $1", user).Scan(&orders))
	require.Equal(t, 1, orders, "one order")
	_, err := s.CryptoPay.MarkPaid(invoices[0].InvoiceID)
	require.NoError(t, err)
	s.waitScreen(user, "saying the payment arrived", func(m sandboxtg.Message) bool {
		return strings.Contains(m.Plain, "Payment received")
	})
	var paidOnce int
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		"SELECT count(*) FROM invoices WHERE status = 'paid' AND user_id = $1", user).Scan(&paidOnce))
	require.Equal(t, 1, paidOnce)
}
