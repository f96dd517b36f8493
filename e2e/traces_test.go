package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestTheStatusPageShowsTheTraceOfAStartJustSent is make run's trace view:
// a user sends /start in the chat, and the status page lists its trace and
// draws it as a waterfall with the spans of the gateway, the bot-handler
// (its database calls and its Telegram call) under one trace.
func TestTheStatusPageShowsTheTraceOfAStartJustSent(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	s := start(t, options{traces: true})
	srv := serveConsole(t, s)
	b := openBrowser(t, chromium)
	const user = 4646

	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)),
		chromedp.WaitVisible(chromedp.ID("text")))
	b.send("/start")
	b.waitMessage("the main menu", hasCallback(cbTrial))

	// The /start's trace: the one whose spans include the bot-handler's
	// handling of an update, from the gateway's webhook on. Each service
	// exports its spans in batches as they end: the trace is whole once
	// every span's parent has come in too.
	var trace []traces.Span
	require.Eventually(t, func() bool {
		for _, sum := range s.Traces.Latest(50) {
			spans := s.Traces.Trace(sum.TraceID)
			if spanServices(spans)[localstack.Gateway] && spanServices(spans)[localstack.BotHandler] && connected(spans) {
				trace = spans
				return true
			}
		}
		return false
	}, browserTimeout, 200*time.Millisecond, "no whole trace crossed the gateway and the bot-handler")
	id := trace[0].TraceID
	require.Equal(t, localstack.Gateway, trace[0].Service, "the trace starts at the webhook: %+v", trace[0])

	b.open(srv.URL + "/status")
	row := fmt.Sprintf(`#traces tr[data-trace=%q]`, id)
	b.do("the trace listed", chromedp.WaitVisible(chromedp.CSS(row)))
	// The status page redraws its tables every poll, moving the rows under a
	// mouse click; the row's own click event is what a click on it does.
	b.do("choosing the trace", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, row)))
	// More of the trace's spans may have been exported since it was found:
	// the waterfall draws at least those, and none the trace does not have.
	drawn := b.poll("the waterfall", fmt.Sprintf(`(() => { const n = document.querySelectorAll("#waterfall .span-row").length; return n >= %d && n; })()`, len(trace)))
	require.LessOrEqual(t, drawn, int64(len(s.Traces.Trace(id))), "the waterfall draws the trace's spans only")
	shown := b.text0("#waterfall")
	require.Contains(t, shown, "gateway")
	require.Contains(t, shown, "bot-handler")
	b.screenshotPage("trace")
	require.True(t, strings.Contains(shown, "Trace "+id), "the waterfall names its trace")
}

func spanServices(spans []traces.Span) map[string]bool {
	m := map[string]bool{}
	for _, sp := range spans {
		m[sp.Service] = true
	}
	return m
}

// TestAPaymentIsOneTraceFromTheWebhookToItsKey follows a Crypto Pay payment
// of a new user: its webhook at the gateway, the payment-watcher applying
// it, the sender delivering its receipt, the activation making its key and
// the sender delivering that are one trace, whether the payment's wake-up
// or the activation worker's poll found the period first.
func TestAPaymentIsOneTraceFromTheWebhookToItsKey(t *testing.T) {
	t.Parallel()
	s := start(t, options{workers: true, traces: true, panels: 1})
	const user = 4343
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbPlans))
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
	s.waitScreen(user, "the receipt", func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "Payment received") })
	s.waitScreen(user, "the key", func(m sandboxtg.Message) bool { return len(m.Photo) > 0 && strings.Contains(m.Plain, "ss://") })

	find := func(what string, want ...string) []traces.Span {
		t.Helper()
		var found []traces.Span
		require.Eventually(t, func() bool {
			for _, sum := range s.Traces.Latest(traces.DefaultKeep) {
				spans := s.Traces.Trace(sum.TraceID)
				if has := spanServices(spans); all(has, want) && connected(spans) {
					found = spans
					return true
				}
			}
			return false
		}, browserTimeout, 200*time.Millisecond, "no whole trace of %s crossed %v", what, want)
		return found
	}
	payment := find("the payment", localstack.Gateway, localstack.PaymentWatcher, localstack.Activation, localstack.Sender)
	require.Equal(t, localstack.Gateway, payment[0].Service, "the payment's trace starts at the webhook")
}

func all(has map[string]bool, want []string) bool {
	for _, w := range want {
		if !has[w] {
			return false
		}
	}
	return true
}

// connected reports whether spans are one whole trace: the first is its
// root, and every other span's parent is in it.
func connected(spans []traces.Span) bool {
	if len(spans) == 0 || spans[0].ParentID != "" {
		return false
	}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
		if sp.TraceID != spans[0].TraceID {
			return false
		}
	}
	for _, sp := range spans[1:] {
		if !ids[sp.ParentID] {
			return false
		}
	}
	return true
}
