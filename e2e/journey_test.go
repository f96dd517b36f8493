package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/png" // the bot sends the key's QR code as a PNG
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// The bot's callback data, as services/bot-handler/internal/bot defines it:
// the test presses buttons by what they send, not by their (translated,
// edited) labels.
const (
	cbTrial = "trial"
	cbPlans = "plans"
	cbSub   = "sub"
	// A notice's Plans button (a worker's message): its screen opens below
	// the notice instead of in its place.
	cbNoticePlans = "!plans"
	// The cheapest plan, m1 (30 days, $4.99 or 250 Stars), seeded by the
	// shop migration.
	planID        = "m1"
	planDays      = 30
	planUSD       = "4.99"
	planStars     = 250
	cbPlan        = "plan:" + planID
	cbPayCrypto   = "pay:cp:" + planID
	cbPayStars    = "pay:st:" + planID
	screenTimeout = 20 * time.Second
)

// TestJourneyTrialKeyAndAPlanBoughtTwice is a whole user journey through the
// gateway, the bot-handler and the sandboxes: /start, the free trial, its VPN
// key (the test plays the activation worker), then the same plan bought with
// Crypto Pay (the test plays the payment-watcher, which applies the payment
// twice) and with Telegram Stars (whose successful_payment Telegram delivers
// twice). Each purchase extends the subscription once, from its expiry.
func TestJourneyTrialKeyAndAPlanBoughtTwice(t *testing.T) {
	t.Parallel()
	s := start(t, options{})
	ctx := t.Context()
	sh := shop.New(s.db.Pool, shop.Config{})
	panel, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: s.Outline.APIURL(), CertSHA256: s.Outline.CertSHA256()})
	require.NoError(t, err)
	fleet, err := vpn.NewFleet([]vpn.Panel{panel}, []vpn.MemberConfig{{Name: vpn.KindOutline}}, vpn.FleetOptions{Failover: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = fleet.Close() })

	const user = 7001
	s.Sandbox.SetUser(sandboxtg.User{ID: user, FirstName: "Alice", Username: "alice", LanguageCode: "en"})

	// /start: a greeting and the main menu.
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	require.Contains(t, menu.Plain, "Alice")
	requireButtons(t, menu, cbPlans, cbSub)

	// The free trial: the bot says the key is on its way and asks the
	// activation worker for it.
	s.press(user, menu, cbTrial)
	trial := waitSubscription(t, sh, user)
	require.Equal(t, shop.KindTrial, trial.Kind)
	require.WithinDuration(t, time.Now().Add(shop.DefaultTrialDuration), trial.ExpiresAt, time.Minute)
	started := s.waitScreen(user, "confirming the trial until "+shownDate(trial.ExpiresAt), withText(shownDate(trial.ExpiresAt)))
	require.Contains(t, started.Plain, "on its way")
	requested := s.lastActivationRequest()
	require.Equal(t, trial.ID, requested.GetSubscriptionId(), "activation.requested names the trial period")

	// The activation worker's turn: the trial's key on the Outline panel.
	pending, err := sh.PendingActivations(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, trial.ID, pending[0].ID)
	access, err := sh.Activate(ctx, trial.ID, fleet)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(access.URL, "ss://"), "an Outline key: %s", access.URL)
	keys := s.Outline.Keys()
	require.Len(t, keys, 1)
	require.Equal(t, access.URL, keys[0].AccessURL)

	// My subscription: the expiry, the key as a link and as a QR code.
	s.press(user, started, cbSub)
	subScreen := s.waitScreen(user, "showing the key", withText(access.URL))
	require.Contains(t, subScreen.Plain, shownDate(trial.ExpiresAt))
	qr := s.waitScreen(user, "with the key's QR code", func(m sandboxtg.Message) bool { return len(m.Photo) > 0 })
	img, _, err := image.Decode(bytes.NewReader(qr.Photo))
	require.NoError(t, err, "the QR code is an image")
	require.Equal(t, img.Bounds().Dx(), img.Bounds().Dy(), "a QR code is square")

	// Plans → the plan → Crypto Pay: a pay button to the invoice.
	s.press(user, subScreen, cbPlans)
	plans := s.waitScreen(user, "listing the plans", withButton(cbPlan))
	s.press(user, plans, cbPlan)
	plan := s.waitScreen(user, "offering the ways to pay", withButton(cbPayCrypto))
	require.Contains(t, plan.Plain, planUSD)
	requireButtons(t, plan, cbPayStars)
	s.press(user, plan, cbPayCrypto)
	payScreen := s.waitScreen(user, "with a pay link", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" })
	require.Contains(t, payScreen.Plain, planUSD)
	cpInvoices := s.CryptoPay.Invoices()
	require.Len(t, cpInvoices, 1)
	cpInv := cpInvoices[0]
	require.Equal(t, cpInv.BotInvoiceURL, payScreen.ButtonURL(), "the button opens the invoice")
	require.Equal(t, sandboxcp.StatusActive, cpInv.Status)
	require.Equal(t, "USD", cpInv.Fiat)
	require.Equal(t, planUSD, cpInv.Amount)
	require.Contains(t, s.fetch(cpInv.BotInvoiceURL), planUSD, "the pay page asks for the plan's price")

	// The user pays; the payment-watcher asks Crypto Pay about the pending
	// invoices, finds this one paid, and applies it — twice, as a webhook and
	// the poller may both report it.
	_, err = s.CryptoPay.MarkPaid(cpInv.InvoiceID)
	require.NoError(t, err)
	extended := s.playPaymentWatcher(sh, cpInv.InvoiceID)
	require.Equal(t, trial.ID, extended.ID, "paying during the trial extends its period")
	require.Equal(t, trial.ExpiresAt.Add(planDays*24*time.Hour), extended.ExpiresAt,
		"the plan's 30 days are added to the trial's expiry, not to now")

	// My subscription shows the new expiry, with the same key: Outline keys
	// live until revoked, so the activation worker has nothing to do.
	pending, err = sh.PendingActivations(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, pending)
	menu = s.newMenu(user)
	s.press(user, menu, cbSub)
	subScreen = s.waitScreen(user, "showing the extended expiry "+shownDate(extended.ExpiresAt), withText(shownDate(extended.ExpiresAt)))
	require.Contains(t, subScreen.Plain, access.URL)

	// Plans → the plan → Telegram Stars: an invoice in XTR, paid in the chat.
	invoice, paid := s.payWithStars(user, subScreen)
	require.Equal(t, shop.StarsCurrency, invoice.Invoice.Currency)
	require.EqualValues(t, planStars, invoice.Invoice.Total)

	renewed := extended.ExpiresAt.Add(planDays * 24 * time.Hour)
	s.waitScreen(user, "confirming the payment until "+shownDate(renewed), withText(shownDate(renewed)))
	sub := activeSubscription(t, sh, user)
	require.Equal(t, renewed, sub.ExpiresAt, "the Stars payment adds 30 days more")
	requested = s.lastActivationRequest()
	require.Equal(t, trial.ID, requested.GetSubscriptionId(), "the activation worker is woken for the paid period")
	require.Equal(t, "payment", requested.GetReason())

	// Telegram delivers the same successful_payment again: no second
	// extension, and no second confirmation.
	_, err = s.Sandbox.ResendSuccessfulPayment(user, paid.ChargeID)
	require.NoError(t, err)
	s.waitSettled(screenTimeout)
	sub = activeSubscription(t, sh, user)
	require.Equal(t, renewed, sub.ExpiresAt, "a redelivered payment extends nothing")
	confirmations := 0
	for _, m := range s.Sandbox.Messages(user) {
		if strings.Contains(m.Plain, shownDate(renewed)) {
			confirmations++
		}
	}
	require.Equal(t, 1, confirmations, "the payment is confirmed once:\n%s", describeChat(s.Sandbox.Messages(user)))
	info, err := sh.UserInfo(ctx, user)
	require.NoError(t, err)
	var paidInvoices []string
	for _, inv := range info.Invoices {
		if inv.Status == shop.InvoicePaid {
			paidInvoices = append(paidInvoices, inv.Provider)
		}
	}
	require.ElementsMatch(t, []string{shop.ProviderCryptoPay, shop.ProviderStars}, paidInvoices)
	require.Empty(t, s.dlq(), "nothing went to the DLQ")
}

// playPaymentWatcher does what the payment-watcher does for one
// Crypto Pay invoice: it finds the invoice among the pending ones, asks
// Crypto Pay about it with the real client, and once it is paid applies the
// payment twice, as a webhook and the poller reporting it both would. The
// second application must change nothing. It returns the period paid for.
func (s *system) playPaymentWatcher(sh *shop.Shop, externalID int64) shop.Subscription {
	t := s.t
	t.Helper()
	ctx := t.Context()
	pending, err := sh.PendingInvoices(ctx, shop.ProviderCryptoPay, 100)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, strconv.FormatInt(externalID, 10), pending[0].ExternalID)

	client, err := cryptopay.New(cryptopay.Config{BaseURL: s.CryptoPay.URL(), Token: localstack.DefaultCryptoPayToken, HTTPClient: s.http})
	require.NoError(t, err)
	got, err := client.GetInvoices(ctx, []int64{externalID})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, cryptopay.StatusPaid, got[0].Status)

	inv, err := sh.InvoiceByExternal(ctx, shop.ProviderCryptoPay, strconv.FormatInt(got[0].InvoiceID, 10))
	require.NoError(t, err)
	require.Equal(t, planID, inv.PlanID, "the invoice is bound to the order")
	require.Equal(t, planUSD, inv.PriceUSD)
	sub, applied, err := sh.ApplyPayment(ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	again, applied, err := sh.ApplyPayment(ctx, inv.ID, "")
	require.NoError(t, err)
	require.False(t, applied, "a payment applies once")
	require.Equal(t, sub.ExpiresAt, again.ExpiresAt)
	return sub
}

// waitScreen waits until one of the bot's messages in chat, as the chat shows
// it now (edits included), is what ok looks for, and returns the latest such.
// Predicates must select the new screen only, not one shown before.
func (s *system) waitScreen(chat int64, what string, ok func(sandboxtg.Message) bool) sandboxtg.Message {
	s.t.Helper()
	var found sandboxtg.Message
	if !assert.Eventually(s.t, func() bool {
		msgs := s.Sandbox.Messages(chat)
		for i := len(msgs) - 1; i >= 0; i-- {
			if ok(msgs[i]) {
				found = msgs[i]
				return true
			}
		}
		return false
	}, screenTimeout, 20*time.Millisecond) {
		s.t.Fatalf("chat %d: no message %s; the chat:\n%s", chat, what, describeChat(s.Sandbox.Messages(chat)))
	}
	return found
}

// newMenu has the user send /start again and returns the new main menu.
func (s *system) newMenu(chat int64) sandboxtg.Message {
	s.t.Helper()
	var last int64
	for _, m := range s.Sandbox.Messages(chat) {
		last = max(last, m.ID)
	}
	s.Sandbox.SendText(chat, "/start")
	return s.waitScreen(chat, "with a new main menu", func(m sandboxtg.Message) bool {
		return m.ID > last && m.HasButton(cbSub)
	})
}

// press has the user press the button with callback data on message m,
// which must show it, and waits until the bot has answered the press.
func (s *system) press(chat int64, m sandboxtg.Message, data string) {
	s.t.Helper()
	require.True(s.t, m.HasButton(data), "message %d has no button %q:\n%s", m.ID, data, describeChat([]sandboxtg.Message{m}))
	id := s.Sandbox.PressButton(chat, m.ID, data)
	require.Eventually(s.t, func() bool {
		_, answered := s.Sandbox.CallbackAnswer(id)
		return answered
	}, screenTimeout, 20*time.Millisecond, "the bot did not answer the press of %q", data)
}

// payWithStars buys the plan with Telegram Stars from a screen that has the
// Plans button: the plans, the plan, Stars, and the invoice paid in the
// chat, its checkout accepted by the bot. It returns the invoice and the
// payment.
func (s *system) payWithStars(chat int64, from sandboxtg.Message) (sandboxtg.Message, sandboxtg.PaymentResult) {
	s.t.Helper()
	s.press(chat, from, cbPlans)
	plans := s.waitScreen(chat, "listing the plans", withButton(cbPlan))
	s.press(chat, plans, cbPlan)
	plan := s.waitScreen(chat, "offering the ways to pay", withButton(cbPayStars))
	s.press(chat, plan, cbPayStars)
	invoice := s.waitScreen(chat, "with a Stars invoice", func(m sandboxtg.Message) bool { return m.Invoice != nil })
	paid, err := s.Sandbox.PayInvoice(chat, invoice.ID)
	require.NoError(s.t, err)
	require.True(s.t, paid.Accepted, "the bot refused the checkout: %+v", paid)
	return invoice, paid
}

// lastActivationRequest reads the latest activation.requested event.
func (s *system) lastActivationRequest() *vpnbotv1.ActivationRequested {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, events.Stream)
	require.NoError(s.t, err, "the EVENTS stream")
	raw, err := st.GetLastMsgForSubject(ctx, events.SubjectActivationRequested)
	require.NoError(s.t, err, "no activation.requested event")
	var m vpnbotv1.ActivationRequested
	require.NoError(s.t, proto.Unmarshal(raw.Data, &m))
	return &m
}

// fetch GETs url, as the user's browser opening a link, and returns the page.
func (s *system) fetch(url string) string {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodGet, url, nil)
	require.NoError(s.t, err)
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	return string(body)
}

func activeSubscription(t *testing.T, sh *shop.Shop, user int64) shop.Subscription {
	t.Helper()
	sub, err := sh.ActiveSubscription(t.Context(), user)
	require.NoError(t, err)
	require.NotNil(t, sub, "user %d has no active subscription", user)
	return *sub
}

// waitSubscription waits until the user has an active subscription.
func waitSubscription(t *testing.T, sh *shop.Shop, user int64) shop.Subscription {
	t.Helper()
	var sub *shop.Subscription
	var err error
	require.Eventually(t, func() bool {
		sub, err = sh.ActiveSubscription(t.Context(), user)
		return err == nil && sub != nil
	}, screenTimeout, 20*time.Millisecond, "user %d has no active subscription", user)
	return *sub
}

// shownDate is how the bot writes a time for an English-speaking user.
func shownDate(ts time.Time) string { return ts.UTC().Format("2 Jan 2006 15:04") }

func withText(s string) func(sandboxtg.Message) bool {
	return func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, s) }
}

func withButton(data string) func(sandboxtg.Message) bool {
	return func(m sandboxtg.Message) bool { return m.HasButton(data) }
}

func requireButtons(t *testing.T, m sandboxtg.Message, data ...string) {
	t.Helper()
	for _, d := range data {
		require.True(t, m.HasButton(d), "message %d has no button %q:\n%s", m.ID, d, describeChat([]sandboxtg.Message{m}))
	}
}

// describeChat renders messages for a failure: text, buttons, photo, invoice.
func describeChat(msgs []sandboxtg.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "#%d (edits %d): %q", m.ID, m.Edits, m.Plain)
		for _, row := range m.Buttons {
			for _, btn := range row {
				fmt.Fprintf(&b, " [%s|%s%s]", btn.Text, btn.Data, btn.URL)
			}
		}
		if len(m.Photo) > 0 {
			fmt.Fprintf(&b, " photo %d bytes", len(m.Photo))
		}
		if m.Invoice != nil {
			fmt.Fprintf(&b, " invoice %d %s %q", m.Invoice.Total, m.Invoice.Currency, m.Invoice.Payload)
		}
		b.WriteString("\n")
	}
	return b.String()
}
