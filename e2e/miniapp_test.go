package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// minContrast is WCAG's AA ratio for normal text.
const minContrast = 4.5

// TestMiniAppJourneyInChromium opens the cabinet as a user with a trial
// does under make run, in headless Chromium: the bot's "Open app" button
// opens it in the chat's panel, signed in with the initData the sandbox
// signs; it shows the key and its QR code; a plan bought with Crypto Pay
// from it shows as paid, and the subscription with its new expiry, without
// a reload, and one paid from the balance at once; and its main text is readable in Telegram's light and dark
// themes. Screenshots of each step are kept (see artifactsDir).
func TestMiniAppJourneyInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	s := start(t, options{workers: true})
	sh := shop.New(s.db.Pool, shop.Config{})
	srv := serveConsole(t, s)
	b := openBrowser(t, chromium)
	const user = 4545
	appURL := s.WebAppURL + "/"

	// The trial, in the chat; the menu opens the app.
	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)),
		chromedp.WaitVisible(chromedp.ID("text")))
	b.send("/start")
	menu := b.waitMessage("the main menu", hasCallback(cbTrial))
	b.press(menu, cbTrial)
	b.waitMessage("with the key", `m.textContent.includes("ss://")`)
	trial := waitSubscription(t, sh, user)
	keys := s.Outline.Keys()
	require.Len(t, keys, 1)
	menu = b.newMenu()
	require.Equal(t, appURL, b.attr(fmt.Sprintf(`.msg[data-id="%d"] button[data-webapp]`, menu), "data-webapp"),
		"the menu's first button opens the app")
	b.poll("the bot's menu button", `!document.getElementById("menu-app").hidden`)

	// In the chat's panel, as Telegram's client shows it: the app signs in
	// with the initData in its fragment and reads the user's subscription.
	b.click(fmt.Sprintf(`.msg[data-id="%d"] button[data-webapp]`, menu))
	b.poll("the app's panel", `!document.getElementById("app-panel").hidden`)
	src := b.attr("#app-frame", "src")
	require.True(t, strings.HasPrefix(src, appURL+"#"), "the panel opens the app: %s", src)
	fragment, err := url.ParseQuery(src[strings.Index(src, "#")+1:])
	require.NoError(t, err)
	require.NotEmpty(t, fragment.Get("tgWebAppData"))
	waitWebAppCalls(t, s, `route="POST /api/session"`, `route="GET /api/me"`)
	b.screenshot("01-panel")

	// The same launch as the whole tab, at a phone's size, to read the
	// page: in Telegram's dark theme, then its light one.
	light := b
	light.do("a phone's screen", chromedp.EmulateViewport(420, 800))
	light.open(withTheme(t, src, `{"bg_color":"#17212b","text_color":"#f5f5f5","hint_color":"#708499",`+
		`"link_color":"#6ab3f3","button_color":"#5288c1","button_text_color":"#ffffff","secondary_bg_color":"#232e3c"}`))
	light.do("showing the key", chromedp.WaitVisible(chromedp.ID("key")))
	light.requireReadable("dark")
	light.screenshot("02-key-dark")
	light.open(src)
	light.do("showing the key", chromedp.WaitVisible(chromedp.ID("key")))
	require.Equal(t, keys[0].AccessURL, light.value("#key-text"), "the app shows the panel's key")
	light.poll("the QR code loaded", `(() => { const i = document.getElementById("key-qr"); return i.complete && i.naturalWidth; })()`)
	require.Contains(t, light.text0("#sub-status"), "Trial until")
	light.poll("the countdown", `/\d+d \d+h \d+m \d+s left/.test(document.getElementById("sub-countdown").textContent)`)
	light.poll("the setup guide of an Outline key", `document.querySelectorAll("#setup-platforms button").length === 4 &&
		[...document.querySelectorAll("#setup-steps li")].some((li) => li.textContent.includes("Outline"))`)
	light.requireReadable("light")
	light.screenshot("03-key-light")

	// A plan with Crypto Pay: the app opens the pay page, the user pays,
	// and the app, left open, shows the order paid and the new expiry.
	light.click(`nav button[data-tab="plans"]`)
	light.do("listing the plans", chromedp.WaitVisible(chromedp.CSS("#plan-list button.primary")))
	light.screenshot("04-plans")
	light.click("#plan-list button.primary")
	pay := light.tabAt(s.CryptoPay.URL())
	pay.do("loading the pay page", chromedp.WaitVisible(chromedp.ID("pay")))
	require.Contains(t, pay.text0("body"), planUSD, "the pay page asks for the plan's price")
	pay.do("paying", chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("status")))
	require.Contains(t, pay.text0("#status"), "Paid")
	pay.close()

	light.click(`nav button[data-tab="payments"]`)
	light.poll("the order shown paid", `[...document.querySelectorAll("#order-list > li")].some((li) => li.textContent.includes("· paid"))`)
	light.screenshot("05-paid")
	paid := activeSubscription(t, sh, user)
	require.Equal(t, trial.ExpiresAt.Add(planDays*24*time.Hour), paid.ExpiresAt, "the plan's days are added to the trial's")
	light.click(`nav button[data-tab="sub"]`)
	light.poll("the new expiry", fmt.Sprintf(`document.getElementById("sub-status").textContent.includes(
		new Date(%q).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }))`, paid.ExpiresAt.Format(time.RFC3339)))
	light.screenshot("06-extended")

	// The same plan from the balance the admin gave: the app buys it at
	// once and shows the expiry it set.
	_, err = sh.AdminGrantBalance(t.Context(), shop.Act{OpKey: "miniapp-e2e", AdminID: 1}, user, shop.CurrencyUSD, 1000)
	require.NoError(t, err)
	light.click(`nav button[data-tab="sub"]`)
	light.poll("the balance shown", `document.getElementById("balances").textContent.includes("$10.00")`)
	light.click(`nav button[data-tab="plans"]`)
	light.do("the balance offered", chromedp.WaitVisible(chromedp.CSS("#plan-list button.balance")))
	light.click("#plan-list button.balance")
	light.poll("the purchase shown", `document.getElementById("notice").textContent.includes("Paid from your balance")`)
	bought := activeSubscription(t, sh, user)
	require.Equal(t, paid.ExpiresAt.Add(planDays*24*time.Hour), bought.ExpiresAt, "the plan's days again")
	light.poll("the expiry after the purchase", fmt.Sprintf(`document.getElementById("sub-status").textContent.includes(
		new Date(%q).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }))`, bought.ExpiresAt.Format(time.RFC3339)))
	light.screenshot("07-balance")

	// A phone's width: nothing wider than the screen.
	light.do("a 360 px screen", chromedp.EmulateViewport(360, 740))
	require.EqualValues(t, 1, light.poll("the page within 360 px", `document.documentElement.scrollWidth <= 360`))
	light.screenshot("08-phone")

	// A plan with Stars, in the chat's panel: the app opens the invoice
	// link (openInvoice), Telegram's payment sheet asks the user, the bot
	// takes the payment, and the app, told the invoice was paid, shows the
	// new expiry.
	b.do("a desktop's screen", chromedp.EmulateViewport(1280, 900))
	b.open(fmt.Sprintf("%s/?user=%d", srv.URL, user))
	b.poll("the bot's menu button", `!document.getElementById("menu-app").hidden`)
	b.click("#menu-app")
	app := b.frame("#app-frame", appURL)
	app.click(`nav button[data-tab="plans"]`)
	app.click("#plan-list button.stars")
	b.do("Telegram's payment sheet", chromedp.WaitVisible(chromedp.ID("invoice-sheet")))
	require.Contains(t, b.text0("#invoice-pay"), fmt.Sprintf("⭐ %d", planStars), "the sheet asks for the plan's price in Stars")
	b.screenshot("09-stars-sheet")
	b.click("#invoice-pay")
	app.waitText("#notice", "Paid with Stars")
	want := bought.ExpiresAt.Add(planDays * 24 * time.Hour)
	require.Eventually(t, func() bool { return activeSubscription(t, sh, user).ExpiresAt.Equal(want) }, screenTimeout, 20*time.Millisecond,
		"the plan's days once more")
	app.waitText("#sub-status", read(b, "the expiry as the page writes it", chromedp.Evaluate[string](fmt.Sprintf(
		`new Date(%q).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })`, want.Format(time.RFC3339)))))
	b.screenshot("10-stars-paid")
}

// framePage is an iframe of a page, found by its element; queries run in
// its document.
type framePage struct {
	p  *page
	in chromedp.QueryOption
}

// frame waits until the iframe css shows a document at a URL starting with
// prefix.
func (p *page) frame(css, prefix string) framePage {
	p.t.Helper()
	var node *chromedp.Node
	require.Eventually(p.t, func() bool {
		nodes, err := chromedp.Run(p.ctx, chromedp.Nodes(chromedp.CSS(css)))
		if err != nil || len(nodes) == 0 || nodes[0].ContentDocument == nil {
			return false
		}
		node = nodes[0]
		return strings.HasPrefix(node.ContentDocument.DocumentURL, prefix)
	}, browserTimeout, 100*time.Millisecond, "the frame %s never showed %s", css, prefix)
	return framePage{p: p, in: chromedp.FromNode(node)}
}

func (f framePage) click(css string) {
	f.p.t.Helper()
	f.p.do("clicking "+css+" in the frame", chromedp.WaitVisible(chromedp.CSS(css), f.in), chromedp.Click(chromedp.CSS(css), f.in))
}

// waitText waits until the element css of the frame shows want.
func (f framePage) waitText(css, want string) {
	f.p.t.Helper()
	var got string
	deadline := time.Now().Add(browserTimeout)
	for time.Now().Before(deadline) {
		got = read(f.p, "reading "+css+" in the frame", chromedp.TextContent(chromedp.CSS(css), f.in))
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.p.fail(fmt.Sprintf("waiting for %q in %s of the frame", want, css), fmt.Errorf("it shows %q", got))
}

// waitWebAppCalls waits until the webapp answered 200 to each route (a
// label matcher of vpnbot_webapp_requests_total).
func waitWebAppCalls(t *testing.T, s *system, routes ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		m, err := s.Metrics(t.Context(), localstack.WebApp, 0)
		if err != nil {
			return false
		}
		for _, route := range routes {
			if m[fmt.Sprintf(`vpnbot_webapp_requests_total{code="200",%s}`, route)] < 1 {
				return false
			}
		}
		return true
	}, browserTimeout, 200*time.Millisecond, "the app in the panel made none of %v", routes)
}

// withTheme is the launch src with Telegram's theme parameters theme.
func withTheme(t *testing.T, src, theme string) string {
	t.Helper()
	base, frag, _ := strings.Cut(src, "#")
	q, err := url.ParseQuery(frag)
	require.NoError(t, err)
	q.Set("tgWebAppThemeParams", theme)
	return base + "#" + q.Encode()
}

// open loads url in the tab. A URL that differs from the tab's only in
// its fragment would not load the page again: the tab goes blank first.
func (p *page) open(url string) {
	p.t.Helper()
	p.do("opening "+url, chromedp.Navigate("about:blank"), chromedp.Navigate(url))
}

// tabAt waits for a tab this page opened at a URL starting with prefix.
func (p *page) tabAt(prefix string) *page {
	p.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(p.ctx)
		require.NoError(p.t, err)
		for _, info := range infos {
			if info.Type == "page" && strings.HasPrefix(info.URL, prefix) {
				return p.attach(info.TargetID)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.fail("waiting for a tab at "+prefix, context.DeadlineExceeded)
	return nil
}

// value is the value of the first input or textarea the CSS selector finds.
func (p *page) value(css string) string {
	p.t.Helper()
	return read(p, "reading the value of "+css, chromedp.Value(chromedp.CSS(css)))
}

// requireReadable checks the contrast of the page's main text (the
// subscription's status and countdown) against the background it is drawn
// on, as WCAG computes it.
func (p *page) requireReadable(theme string) {
	p.t.Helper()
	for _, id := range []string{"sub-status", "sub-countdown", "key-text"} {
		ratio := read(p, "measuring the contrast of #"+id, chromedp.Evaluate[float64](fmt.Sprintf(`(() => {
			const rgb = (c) => c.match(/[\d.]+/g).map(Number);
			const lum = ([r, g, b]) => {
				const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
				return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
			};
			const el = document.getElementById(%q);
			let bg = el;
			while (bg && rgb(getComputedStyle(bg).backgroundColor).length === 4 && rgb(getComputedStyle(bg).backgroundColor)[3] === 0) bg = bg.parentElement;
			const back = bg ? getComputedStyle(bg).backgroundColor : "rgb(255, 255, 255)";
			const a = lum(rgb(getComputedStyle(el).color)), b = lum(rgb(back));
			return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
		})()`, id)))
		require.GreaterOrEqual(p.t, ratio, minContrast, "%s theme: #%s's text against its background", theme, id)
	}
}
