package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestTheMiniAppIsForTheRequiredChannelsMembers opens the app, from the
// chat's menu button, as a user who has not joined the channel a seller
// requires for every use (scope all): the app shows the channel's gate
// instead of the cabinet, as the bot does, and once the user has joined,
// Check again opens the cabinet.
func TestTheMiniAppIsForTheRequiredChannelsMembers(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	s := start(t, options{env: []string{"REQUIRED_CHANNEL=" + requiredChannel, "REQUIRED_CHANNEL_SCOPE=all"}})
	srv := serveConsole(t, s)
	b := openBrowser(t, chromium)
	const user = 4848
	require.NoError(t, s.Sandbox.SetChatMember(requiredChannel, user, sandboxtg.ChatMember{Status: sandboxtg.StatusLeft}))

	b.do("opening the chat", chromedp.Navigate(fmt.Sprintf("%s/?user=%d", srv.URL, user)),
		chromedp.WaitVisible(chromedp.ID("text")))
	b.send("/start")
	b.waitMessage("the bot's answer", "true")
	b.poll("the bot's menu button", `!document.getElementById("menu-app").hidden`)
	b.click("#menu-app")
	app := b.frame("#app-frame", s.WebAppURL+"/")
	b.do("the channel's gate", chromedp.WaitVisible(chromedp.ID("gate"), app.in),
		chromedp.WaitNotVisible(chromedp.CSS("nav"), app.in))
	b.screenshot("01-gate")

	app.click("#gate-check")
	app.waitText("#notice", "You have not joined the channel yet")

	require.NoError(t, s.Sandbox.SetChatMember(requiredChannel, user, sandboxtg.ChatMember{Status: sandboxtg.StatusMember}))
	app.click("#gate-check")
	b.do("the cabinet", chromedp.WaitVisible(chromedp.ID("sub"), app.in), chromedp.WaitNotVisible(chromedp.ID("gate"), app.in))
	app.waitText("#sub-status", "You have no subscription")
	b.screenshot("02-cabinet")
}
