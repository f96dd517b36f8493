package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// narrowWidth is a small phone's width, in CSS pixels.
const narrowWidth = 360

// noSidewaysScroll is true when the page is no wider than the window.
const noSidewaysScroll = `document.documentElement.scrollWidth <= window.innerWidth`

// TestWebChatShowsTelegramFormattingInChromium plays the bot through the
// sandbox Telegram alone (no services) and looks at the chat in headless
// Chromium: the bot's HTML formatting is drawn as Telegram draws it, a tap
// on the key in code copies it, hostile text shows as text and runs nothing,
// a message stays as it was when the next arrives or another is edited, the
// emoji are in colour, and the chat fits a 360 px screen.
func TestWebChatShowsTelegramFormattingInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	tg := sandboxtg.New(sandboxtg.Config{Token: localstack.DefaultToken, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, tg.Start("127.0.0.1:0"))
	bot, err := telegram.New(telegram.Config{APIURL: tg.URL(), Token: localstack.DefaultToken})
	require.NoError(t, err)
	app, err := console.New(console.Config{Telegram: tg})
	require.NoError(t, err)
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() {
		srv.Close()
		app.Close()
		bot.Close()
		tg.Close()
	})
	const user = 4747
	send := func(text, parseMode string) int64 {
		t.Helper()
		var m struct {
			MessageID int64 `json:"message_id"`
		}
		require.NoError(t, bot.Call(t.Context(), "sendMessage",
			map[string]any{"chat_id": user, "text": text, "parse_mode": parseMode}, &m))
		return m.MessageID
	}
	edit := func(id int64, text string) {
		t.Helper()
		require.NoError(t, bot.Call(t.Context(), "editMessageText",
			map[string]any{"chat_id": user, "message_id": id, "text": text, "parse_mode": "HTML"}, nil))
	}

	const key = "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@127.0.0.1:8388/?outline=1"
	paid := send(`<b>Payment received</b> ⭐ — see <a href="https://example.org/help">the help</a>.`+
		"\nYour key (tap to copy):\n<code>"+key+"</code>", "HTML")
	b := openBrowser(t, chromium)
	origin := srv.URL
	b.do("letting the page use the clipboard", chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, target, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin,
			}); err != nil {
				return fmt.Errorf("granting %s: %w", name, err)
			}
		}
		return nil
	}))
	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)))
	msg := fmt.Sprintf(`.msg[data-id="%d"]`, paid)
	b.poll("the formatted message", fmt.Sprintf(`document.querySelector('%s .text')`, msg))

	// Bold, the link and the key in code are elements, around the text
	// the user reads.
	require.Equal(t, "Payment received ⭐ — see the help.\nYour key (tap to copy):\n"+key, b.text0(msg+" .text"))
	require.Equal(t, "Payment received", b.text0(msg+" .text strong"))
	require.Equal(t, "the help", b.text0(msg+" .text a"))
	require.Equal(t, "https://example.org/help", b.attr(msg+" .text a", "href"))
	require.Equal(t, "_blank", b.attr(msg+" .text a", "target"))
	require.Equal(t, key, b.text0(msg+" .text code"))
	require.Equal(t, "monospace", evaluate[string](b, fmt.Sprintf(
		`getComputedStyle(document.querySelector('%s .text code')).fontFamily.includes("monospace") ? "monospace" : "proportional"`, msg)))
	require.True(t, evaluate[bool](b, emojiInColour), "the emoji are drawn in colour: install a colour emoji font "+
		"(Debian: fonts-noto-color-emoji, which scripts/ensure-chromium.sh installs with the browser)")
	b.screenshot("01-formatted")

	// A tap on the key copies it, as Telegram does, and says so.
	b.click(msg + " .text code")
	b.poll("the copied hint", `document.getElementById("toast").classList.contains("show") &&
		document.getElementById("toast").textContent === "Copied to clipboard"`)
	require.Equal(t, key, evaluate[string](b, `navigator.clipboard.readText()`, chromedp.EvalAwaitPromise), "the clipboard holds the key")
	b.screenshot("02-copied")

	// Hostile text: as plain text it is shown as it was written; as HTML,
	// Telegram refuses what it cannot parse, and a script link loses its
	// link.
	const plainAttack = `<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> <b>not bold`
	plain := send(plainAttack, "")
	escaped := send(`<b>&lt;img src=x onerror="window.pwned = 3"&gt;</b>`, "HTML")
	scriptLink := send(`<a href="javascript:window.pwned = 4">tap me</a>`, "HTML")
	var refused *telegram.Error
	err = bot.Call(t.Context(), "sendMessage", map[string]any{"chat_id": user, "text": `<b>unclosed <i>tags`, "parse_mode": "HTML"}, nil)
	require.ErrorAs(t, err, &refused, "Telegram refuses an unclosed tag")
	err = bot.Call(t.Context(), "sendMessage", map[string]any{"chat_id": user, "text": `<img src=x onerror="window.pwned = 5">`, "parse_mode": "HTML"}, nil)
	require.ErrorAs(t, err, &refused, "Telegram refuses a tag outside its subset")
	b.poll("the hostile messages", fmt.Sprintf(`document.querySelector('.msg[data-id="%d"] .text')`, scriptLink))
	require.Equal(t, plainAttack, b.text0(fmt.Sprintf(`.msg[data-id="%d"] .text`, plain)), "a plain text is shown as written")
	require.Equal(t, `<img src=x onerror="window.pwned = 3">`, b.text0(fmt.Sprintf(`.msg[data-id="%d"] .text strong`, escaped)))
	b.click(fmt.Sprintf(`.msg[data-id="%d"] .text`, scriptLink))
	require.Equal(t, "none", evaluate[string](b, `(() => {
		const m = document.getElementById("messages");
		const found = [...m.querySelectorAll("script, img:not(.photo), [onerror], a[href^='javascript']")].map((e) => e.outerHTML);
		return window.pwned !== undefined ? "window.pwned = " + window.pwned : found.join(" ") || "none";
	})()`), "nothing the bot wrote ran or became an element")

	// A new message leaves the ones before it as they were; an edit
	// changes its own message only.
	before := b.text(paid)
	next := send("<i>My subscription</i>: active", "HTML")
	b.poll("the next message", fmt.Sprintf(`document.querySelector('.msg[data-id="%d"] em')`, next))
	require.Equal(t, before, b.text(paid), "the earlier message stays as it was")
	edit(next, "<i>My subscription</i>: active until tomorrow")
	b.poll("the edit", fmt.Sprintf(`document.querySelector('.msg[data-id="%d"]').textContent.includes("until tomorrow")`, next))
	require.Contains(t, b.text(next), "edited")
	require.Equal(t, before, b.text(paid), "an edit of another message leaves this one as it was")
	edit(paid, "<b>Payment received</b>, edited by the bot")
	b.poll("the bot's edit of its own message", fmt.Sprintf(`document.querySelector('%s').textContent.includes("edited by the bot")`, msg))
	require.Equal(t, 1, evaluate[int](b, fmt.Sprintf(`document.querySelectorAll('%s').length`, msg)), "an edit replaces its message in place")

	// A phone's width: the chat fits without sideways scrolling, the
	// header included (TestWebChatJourneyInChromium looks at the status
	// page, which needs the services).
	send("<pre>"+key+key+"</pre>\n"+"https://example.org/a/very/long/path/that/does/not/break/anywhere/"+key, "HTML")
	b.do("narrowing the window", chromedp.EmulateViewport(narrowWidth, 740))
	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)))
	b.poll("the chat's messages", `document.querySelectorAll("#messages .msg").length >= 6`)
	b.screenshot("03-chat-360")
	require.True(t, evaluate[bool](b, noSidewaysScroll), "the chat at %d px scrolls sideways: %s", narrowWidth, evaluate[string](b, widths))
	require.True(t, evaluate[bool](b, `document.getElementById("compose").getBoundingClientRect().bottom <= window.innerHeight`),
		"the compose box is on screen under the wrapped header")
}

// emojiInColour draws an emoji with the page's font on a canvas and
// reports whether any pixel has a colour: without a colour emoji font it
// is a black outline or an empty box.
const emojiInColour = `(() => {
	const c = document.createElement("canvas");
	c.width = c.height = 48;
	const g = c.getContext("2d");
	g.font = "32px " + getComputedStyle(document.body).fontFamily;
	g.textBaseline = "top";
	g.fillText("⭐", 4, 4);
	const d = g.getImageData(0, 0, 48, 48).data;
	for (let i = 0; i < d.length; i += 4) {
		if (d[i + 3] > 0 && Math.max(Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2])) > 60) return true;
	}
	return false;
})()`

// widths names the elements wider than the window, for a failure message.
const widths = `(() => [...document.querySelectorAll("body *")]
	.filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
	.slice(0, 8).map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))
	.join(", ") + " wider than " + window.innerWidth)()`

// evaluate returns the value of a JavaScript expression on the page.
func evaluate[T any](p *page, expr string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		p.fail("evaluating "+expr, err)
	}
	return v
}
