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
// their key (link and QR code); then they buy a plan with Crypto Pay, pay
// on Crypto Pay's side, and are told the payment arrived — Crypto Pay's
// webhook through the gateway to the payment-watcher.
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
	s.waitScreen(user, "with a pay link", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" })
	invoices := s.CryptoPay.Invoices()
	require.Len(t, invoices, 1)
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
