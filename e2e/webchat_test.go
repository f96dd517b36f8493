package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdptarget "github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// browserTimeout bounds each wait for the page: a screen of the bot, the
// pay page, a service coming back. Generous, for a busy two-core machine.
const browserTimeout = 45 * time.Second

// TestWebChatJourneyInChromium is a newcomer's first visit to `make run`'s
// web app, in headless Chromium: in the chat they /start the bot, take the
// trial and see its key with the QR code; buy a plan through the Crypto Pay
// pay page the bot's button opens; find the new expiry under "my
// subscription"; and buy it again with Telegram Stars from the invoice's Pay
// button. Then the status page shows every service ready, and a service
// killed from it comes back when started again; and both pages fit a
// phone's width. Screenshots of each step are kept (see artifactsDir).
func TestWebChatJourneyInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	s := start(t, options{workers: true})
	sh := shop.New(s.db.Pool, shop.Config{})
	srv := serveConsole(t, s)
	b := openBrowser(t, chromium)
	const user = 4343

	// The chat, as user 4343 named Alice: /start shows the main menu.
	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)),
		chromedp.WaitVisible(chromedp.ID("text")))
	b.do("naming the user", chromedp.SetValue(chromedp.ID("user-name"), "Alice"), chromedp.Click(chromedp.ID("open")))
	b.poll("the name saved", `document.getElementById("chat-sub").textContent.includes("Alice")`)
	b.send("/start")
	menu := b.waitMessage("the main menu", hasCallback(cbTrial))
	require.Contains(t, b.text(menu), "Alice", "the greeting uses the name set in the page")
	b.screenshot("01-menu")

	// The trial: the key arrives with its QR code, and the image loads.
	b.press(menu, cbTrial)
	key := b.waitMessage("with the key and its QR code", `m.querySelector("img.photo") && m.textContent.includes("ss://")`)
	width, err := chromedp.Run(b.ctx, chromedp.Poll[int](
		fmt.Sprintf(`(() => { const img = document.querySelector('.msg[data-id="%d"] img.photo');
			return img && img.complete ? img.naturalWidth : 0; })()`, key),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout)))
	require.NoError(t, err, "the QR image did not load")
	require.Positive(t, width, "the QR image has a width")
	keys := s.Outline.Keys()
	require.Len(t, keys, 1)
	require.Contains(t, b.text(key), keys[0].AccessURL, "the page shows the panel's key")
	b.screenshot("02-key")
	trial := waitSubscription(t, sh, user)

	// A plan through Crypto Pay: the bot's pay button opens the pay page in
	// a new tab, where the user pays.
	menu = b.newMenu()
	b.press(menu, cbPlans)
	plans := b.waitMessage("listing the plans", hasCallback(cbPlan), newerThan(menu-1))
	b.press(plans, cbPlan)
	plan := b.waitMessage("offering the ways to pay", hasCallback(cbPayCrypto), newerThan(plans-1))
	b.press(plan, cbPayCrypto)
	payLink := b.waitMessage("with a pay link", `m.querySelector("a[data-url]")`, newerThan(plan-1))
	invoices := s.CryptoPay.Invoices()
	require.Len(t, invoices, 1)
	href := b.attr(fmt.Sprintf(`.msg[data-id="%d"] a[data-url]`, payLink), "href")
	require.Equal(t, invoices[0].BotInvoiceURL, href, "the button opens the invoice's pay page")
	b.click(fmt.Sprintf(`.msg[data-id="%d"] a[data-url]`, payLink))
	pay := b.tab(href)
	pay.do("loading the pay page", chromedp.WaitVisible(chromedp.ID("pay")))
	require.Contains(t, pay.text0("body"), planUSD, "the pay page asks for the plan's price")
	pay.screenshot("03-pay-page")
	pay.do("paying", chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("status")))
	require.Contains(t, pay.text0("#status"), "Paid")
	pay.screenshot("04-paid")
	pay.close()

	// Crypto Pay tells the gateway, the payment-watcher applies it, the bot
	// says so in the chat; "my subscription" shows the new expiry.
	b.waitMessage("saying the payment arrived", `m.textContent.includes("Payment received")`)
	extended := activeSubscription(t, sh, user)
	require.Equal(t, trial.ExpiresAt.Add(planDays*24*time.Hour), extended.ExpiresAt, "the plan's days are added to the trial's")
	menu = b.newMenu()
	b.press(menu, cbSub)
	b.waitMessage("showing the new expiry "+shownDate(extended.ExpiresAt),
		fmt.Sprintf(`m.textContent.includes(%q) && m.textContent.includes(%q)`, shownDate(extended.ExpiresAt), keys[0].AccessURL),
		newerThan(menu-1))
	b.screenshot("05-subscription")

	// The same plan with Telegram Stars: the invoice's Pay button pays it in
	// the chat (the bot confirms the pre-checkout query), and the
	// subscription grows by the plan's days again.
	sub := b.waitMessage("with the plans button", hasCallback(cbPlans), newerThan(menu-1))
	b.press(sub, cbPlans)
	plans = b.waitMessage("listing the plans", hasCallback(cbPlan), newerThan(sub-1))
	b.press(plans, cbPlan)
	plan = b.waitMessage("offering the ways to pay", hasCallback(cbPayStars), newerThan(plans-1))
	b.press(plan, cbPayStars)
	invoice := b.waitMessage("with a Stars invoice", `m.querySelector("button[data-pay]")`, newerThan(plan-1))
	require.Contains(t, b.text(invoice), fmt.Sprintf("Pay ⭐ %d", planStars), "the Pay button names the price in Stars")
	b.screenshot("06-stars-invoice")
	b.click(fmt.Sprintf(`.msg[data-id="%d"] button[data-pay]`, invoice))
	renewed := extended.ExpiresAt.Add(planDays * 24 * time.Hour)
	b.waitMessage("confirming the Stars payment until "+shownDate(renewed),
		fmt.Sprintf(`m.textContent.includes(%q)`, shownDate(renewed)), newerThan(invoice))
	b.poll("the invoice shown paid", fmt.Sprintf(`document.querySelector('.msg[data-id="%d"] .paid')`, invoice))
	require.Equal(t, renewed, activeSubscription(t, sh, user).ExpiresAt, "the Stars payment adds the plan's days")
	b.screenshot("07-stars-paid")

	// The status page: every service ready, every worker reporting.
	services := s.Services()
	var labels []string
	for _, id := range services {
		labels = append(labels, id.Label)
	}
	require.Equal(t, []string{localstack.Gateway, "bot-handler-0", localstack.Sender, localstack.KeyServer, localstack.WebApp, localstack.Activation, localstack.PaymentWatcher,
		localstack.Reminders, localstack.TrialNotifier, localstack.ExpiryCleanup}, labels, "the stack's services in start order")
	b.do("opening the status page", chromedp.Navigate(srv.URL+"/status"))
	b.poll("every service ready", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll("#services tr[data-service]")];
		return rows.length === %d && rows.every((r) => r.cells[3].querySelector(".pill.ok"));
	})()`, len(services)))
	b.poll("every worker reporting", `document.querySelectorAll("#workers tr[data-worker]").length >= 5`)
	b.poll("the updates' consumer read by its bot-handler, from NATS", `(() => {
		const r = document.querySelector('#streams tr[data-consumer="TG_UPDATES/bot-handler"]');
		return r && r.textContent.includes("64 partitions") && r.textContent.includes("bot-handler-0");
	})()`)
	b.screenshotPage("08-status")

	// Kill a service from the page; it shows as killed, and Start brings it
	// back to ready.
	b.click(`button[data-kill="` + localstack.Reminders + `"]`)
	b.poll("reminders shown killed", `(() => {
		const r = document.querySelector('#services tr[data-service="reminders"]');
		return r && r.textContent.includes("killed");
	})()`)
	require.False(t, s.Running(localstack.Reminders, 0))
	b.screenshot("09-killed")
	b.click(`button[data-start="` + localstack.Reminders + `"]`)
	b.poll("reminders ready again", `(() => {
		const r = document.querySelector('#services tr[data-service="reminders"]');
		return r && r.cells[3].querySelector(".pill.ok");
	})()`)
	require.True(t, s.Running(localstack.Reminders, 0))

	// On a phone's width the status page's tables scroll inside their own
	// box and the chat, with its key, QR code, buttons and invoices, fits.
	b.do("narrowing the window", chromedp.EmulateViewport(narrowWidth, 740))
	b.poll("every service ready again", fmt.Sprintf(`document.querySelectorAll("#services tr[data-service] .pill.ok").length >= %d`, len(services)))
	b.screenshotPage("10-status-360")
	require.True(t, evaluate[bool](b, noSidewaysScroll), "the status page at %d px scrolls sideways: %s", narrowWidth, evaluate[string](b, widths))
	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)))
	b.poll("the chat's messages", fmt.Sprintf(`document.querySelector('.msg[data-id="%d"]')`, invoice))
	b.screenshot("11-chat-360")
	require.True(t, evaluate[bool](b, noSidewaysScroll), "the chat at %d px scrolls sideways: %s", narrowWidth, evaluate[string](b, widths))
}

// serveConsole serves make run's console (the chat, the status page and
// its switches) over s for the test, as the devstack does.
func serveConsole(t *testing.T, s *system) *httptest.Server {
	t.Helper()
	app, err := console.New(console.Config{
		Telegram: s.Sandbox, CryptoPay: s.CryptoPay, Panels: console.Panels(s.Stack), Control: s.Stack, JetStream: s.js,
		Traces: s.Traces,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() {
		srv.Close()
		app.Close()
	})
	return srv
}

// chromiumPath finds the browser: CHROMIUM_PATH, else chromium on PATH. A
// machine without one fails the test with what to install, unless
// VPNBOT_SKIP_BROWSER=1 leaves the test out on purpose.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("VPNBOT_SKIP_BROWSER") == "1" {
		t.Skip("VPNBOT_SKIP_BROWSER=1: the browser test is left out")
	}
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium for the browser test: install Debian's chromium package " +
		"(sudo apt-get install chromium, or run scripts/ensure-chromium.sh as root), " +
		"or set CHROMIUM_PATH to a Chromium or Chrome binary; VPNBOT_SKIP_BROWSER=1 leaves this test out")
	return ""
}

// page is one browser tab a test drives, with where its screenshots go.
type page struct {
	t   *testing.T
	ctx context.Context
	// cancel closes the tab.
	cancel context.CancelFunc
	dir    string
}

// openBrowser starts headless Chromium with the flags this closed, rootful
// machine needs and a fresh profile, and opens a tab. The browser is closed
// when the test ends.
func openBrowser(t *testing.T, path string) *page {
	t.Helper()
	profile := t.TempDir() // before the cleanups below, so removed after the browser is gone
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser, bound to ctx: no timeout on it.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium at %s", path)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1000, 800)))
	return &page{t: t, ctx: ctx, cancel: cancel, dir: artifactsDir(t)}
}

// artifactsDir is where the test's screenshots go: $ARTIFACTS_DIR/<test>,
// else e2e/artifacts/<test>. It is emptied first, so it holds this run's.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ARTIFACTS_DIR")
	if base == "" {
		base = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// do runs steps within browserTimeout; on failure the test stops with a
// screenshot of the page and what the chat showed.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.screenshot("failed")
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	p.t.Fatalf("%s: %v\nthe page (screenshot in %s):\n%s", what, err, p.dir, body)
}

// poll waits until the JavaScript expression is truthy and returns its
// value as a number (message ids, widths; true reads as 1).
func (p *page) poll(what, expr string) int64 {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Poll[any](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout)))
	if err != nil {
		p.fail("waiting for "+what, err)
	}
	switch n := v.(type) {
	case float64:
		return int64(n)
	case bool:
		return 1
	}
	return 0
}

// waitMessage waits for the latest bot message in the chat for which every
// JavaScript condition on it (m, its element) holds, and returns its id.
func (p *page) waitMessage(what string, conds ...string) int64 {
	p.t.Helper()
	return p.poll("a message "+what, fmt.Sprintf(`(() => {
		for (const m of [...document.querySelectorAll("#messages .msg.bot")].reverse()) {
			if (%s) return Number(m.dataset.id);
		}
		return 0;
	})()`, strings.Join(conds, " && ")))
}

func hasCallback(data string) string {
	return fmt.Sprintf(`m.querySelector('button[data-callback=%q]')`, data)
}

// newerThan selects the messages after id: a screen the bot sends or edits
// after the message the user acted on.
func newerThan(id int64) string {
	return fmt.Sprintf(`Number(m.dataset.id) > %d`, id)
}

// send writes text in the chat and sends it, as the user would.
func (p *page) send(text string) {
	p.t.Helper()
	p.do("sending "+text, chromedp.SendKeys(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send")))
}

// newMenu sends /start again and returns the new main menu's id.
func (p *page) newMenu() int64 {
	p.t.Helper()
	last := p.poll("the chat's last message", `Math.max(0, ...[...document.querySelectorAll("#messages .msg")].map((m) => Number(m.dataset.id))) || -1`)
	p.send("/start")
	return p.waitMessage("with a new main menu", hasCallback(cbSub), newerThan(last))
}

// press clicks the button with callback data on message id with the mouse.
func (p *page) press(id int64, data string) {
	p.t.Helper()
	p.click(fmt.Sprintf(`.msg[data-id="%d"] button[data-callback=%q]`, id, data))
}

// click clicks the first element the CSS selector finds with the mouse.
func (p *page) click(css string) {
	p.t.Helper()
	p.do("clicking "+css, chromedp.Click(chromedp.CSS(css)))
}

func (p *page) attr(css, name string) string {
	p.t.Helper()
	return read(p, "reading "+name+" of "+css, chromedp.AttributeValue(chromedp.CSS(css), name)).Value
}

// read runs a reading action within browserTimeout; on failure the test
// stops as do's does.
func read[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail(what, err)
	}
	return v
}

// text is what message id shows.
func (p *page) text(id int64) string {
	p.t.Helper()
	return p.text0(fmt.Sprintf(`.msg[data-id="%d"]`, id))
}

// text0 is the text of the first element the CSS selector finds.
func (p *page) text0(css string) string {
	p.t.Helper()
	return read(p, "reading the text of "+css, chromedp.TextContent(chromedp.CSS(css)))
}

// tab waits for the tab this page opened at url and returns it.
func (p *page) tab(url string) *page {
	p.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(p.ctx)
		require.NoError(p.t, err)
		for _, info := range infos {
			if info.Type == "page" && info.URL == url {
				return p.attach(info.TargetID)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.fail("waiting for a tab at "+url, context.DeadlineExceeded)
	return nil
}

func (p *page) attach(id cdptarget.ID) *page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(id))
	require.NoError(p.t, chromedp.Do(ctx), "attaching to the new tab")
	return &page{t: p.t, ctx: ctx, cancel: cancel, dir: p.dir}
}

// close closes the tab.
func (p *page) close() { p.cancel() }

// screenshot saves the page's viewport as <name>.png in the artefacts.
func (p *page) screenshot(name string) {
	p.t.Helper()
	p.save(name, chromedp.CaptureScreenshot())
}

// screenshotPage saves the whole page, beyond the viewport.
func (p *page) screenshotPage(name string) {
	p.t.Helper()
	p.save(name, chromedp.FullScreenshot(100)) // 100: PNG
}

func (p *page) save(name string, shot chromedp.Action[[]byte]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Errorf("saving screenshot %s: %v", name, err)
	}
}
