package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// panelName is the name VPN_PANELS gives the one panel of each test, as an
// operator names a panel: after its place, not its kind.
const panelName = "nl-1"

// panelUnderTest is a sandbox panel the services are configured with, and
// how the test looks at it from outside the system.
type panelUnderTest struct {
	// spec is the panel's entry in VPN_PANELS.
	spec vpn.PanelSpec
	// adapter reads the bot's accounts on the panel, as the services'
	// adapters do.
	adapter vpn.Panel
	// linkPrefix starts every link the panel gives a user: the ss:// scheme
	// of an Outline key, or where the panel serves its subscriptions.
	linkPrefix string
	// linkWorks reports whether a VPN app given the link would connect.
	linkWorks func(link string) bool
	// app is the client the key message tells the user to install.
	app string
	// expires is whether the panel keeps an expiry (all but Outline).
	expires bool
}

// panelKinds are the panels TestPanelLifecycle runs the system against:
// every kind, and each API line of a kind the adapter tells apart.
var panelKinds = []struct {
	name  string
	start func(t *testing.T) panelUnderTest
}{
	{"outline", func(t *testing.T) panelUnderTest {
		srv := vpntest.StartOutline(t)
		return panelUnderTest{
			spec:       vpn.PanelSpec{Kind: vpn.KindOutline, URL: srv.APIURL(), CertSHA256: srv.CertSHA256()},
			adapter:    vpntest.OutlineAdapter(t, srv, ""),
			linkPrefix: "ss://",
			linkWorks:  srv.KeyWorks,
			app:        "Install Outline",
		}
	}},
	{"remnawave-2.x", func(t *testing.T) panelUnderTest { return remnawavePanel(t, remnawave.Version2) }},
	{"remnawave-3.x", func(t *testing.T) panelUnderTest { return remnawavePanel(t, remnawave.Version3) }},
	{"marzban", func(t *testing.T) panelUnderTest {
		srv := vpntest.StartMarzban(t, marzban.Config{})
		return panelUnderTest{
			spec: vpn.PanelSpec{Kind: vpn.KindMarzban, URL: srv.URL(),
				Username: vpntest.MarzbanAdmin, Password: vpntest.MarzbanPassword},
			adapter:    vpntest.MarzbanAdapter(t, srv, "", 0),
			linkPrefix: srv.URL() + "/sub/",
			linkWorks:  func(link string) bool { return vpntest.MarzbanLinkWorks(t, srv, link) },
			app:        "Install Hiddify",
			expires:    true,
		}
	}},
	{"3x-ui-2.9", func(t *testing.T) panelUnderTest { return xuiPanel(t, "2.9") }},
	{"3x-ui-" + xui.DefaultVersion, func(t *testing.T) panelUnderTest { return xuiPanel(t, xui.DefaultVersion) }},
}

func remnawavePanel(t *testing.T, version int) panelUnderTest {
	srv := vpntest.StartRemnawaveServer(t, remnawave.Config{Version: version})
	return panelUnderTest{
		spec:       vpn.PanelSpec{Kind: vpn.KindRemnawave, URL: srv.URL(), Token: vpntest.RemnawaveToken},
		adapter:    vpntest.RemnawaveAdapter(t, srv, ""),
		linkPrefix: srv.URL() + "/api/sub/",
		linkWorks:  func(link string) bool { return vpntest.RemnawaveLinkWorks(t, link) },
		app:        "Install Hiddify",
		expires:    true,
	}
}

func xuiPanel(t *testing.T, version string) panelUnderTest {
	srv := vpntest.StartXUI(t, version)
	return panelUnderTest{
		spec: vpn.PanelSpec{Kind: vpn.KindXUI, URL: srv.URL(), Username: vpntest.XUIUsername,
			Password: vpntest.XUIPassword, InboundID: xui.InboundID, SubscriptionURL: srv.SubscriptionURL()},
		adapter:    vpntest.XUIAdapter(t, srv, "", 0),
		linkPrefix: srv.SubscriptionURL() + "/",
		linkWorks:  func(link string) bool { return vpntest.XUILinkWorks(t, srv, link) },
		app:        "Install Hiddify",
		expires:    true,
	}
}

// TestPanelLifecycle walks a user through a subscription's life on each
// kind of panel, the five workers running (at a one-second interval) and
// the panel configured by VPN_PANELS, judging each step by what the user
// sees in the chat and what the panel holds: the trial's key arrives with a
// link of the panel's format that works; a plan paid with Stars extends the
// account on the panel to the new expiry and keeps the link; once the period
// is past its expiry and the grace, the account is disabled on the panel,
// the link stops working, and the user is told.
func TestPanelLifecycle(t *testing.T) {
	t.Parallel()
	for _, kind := range panelKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			p := kind.start(t)
			p.spec.Name = panelName
			panels, err := json.Marshal([]vpn.PanelSpec{p.spec})
			require.NoError(t, err)
			s := start(t, options{
				workers:  true,
				env:      []string{"WORKER_INTERVAL=1s"},
				panelEnv: []string{"VPN_PANELS=" + string(panels)},
			})
			began := time.Now()
			s.panelLifecycle(p)
			t.Logf("%s: trial, payment and revocation in %s", kind.name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// panelLifecycle is TestPanelLifecycle's walk on one panel.
func (s *system) panelLifecycle(p panelUnderTest) {
	t := s.t
	const user = 6161
	name := vpn.AccountName(vpn.DefaultNamePrefix, user)
	// onPanel is the expiry a panel that keeps one should hold for a
	// period ending at expires, to the second every panel keeps.
	onPanel := func(expires time.Time) time.Time {
		if !p.expires {
			return time.Time{}
		}
		return expires.UTC().Truncate(time.Second)
	}
	account := func() vpn.Account {
		t.Helper()
		a, err := p.adapter.Account(t.Context(), vpn.Ref{Name: name})
		require.NoError(t, err, "reading the user's account on the panel")
		return a
	}
	// extendedTo reports whether the account works until expires on the
	// panel; require.Eventually asks it from a goroutine of its own.
	extendedTo := func(expires time.Time) bool {
		a, err := p.adapter.Account(t.Context(), vpn.Ref{Name: name})
		return err == nil && a.Enabled && a.ExpiresAt.UTC().Truncate(time.Second).Equal(onPanel(expires))
	}

	// The trial: its key, a link of the panel's format that works.
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)
	key := s.waitScreen(user, "with the key", func(m sandboxtg.Message) bool {
		return len(m.Photo) > 0 && shownKey(m) != ""
	})
	link := shownKey(key)
	require.True(t, strings.HasPrefix(link, p.linkPrefix), "the key %q is not a link of the panel (%s…)", link, p.linkPrefix)
	require.True(t, p.linkWorks(link), "the trial's link %s does not work", link)
	require.Contains(t, key.Plain, p.app, "the key message names the app for this kind of key")
	trialEnds := s.activeExpiry(user)
	acc := account()
	require.True(t, acc.Enabled, "the trial's account is not enabled on the panel")
	require.Equal(t, onPanel(trialEnds), acc.ExpiresAt.UTC().Truncate(time.Second), "the account's expiry on the panel")

	// A plan paid with Stars: 30 days more, on the panel too.
	s.payWithStars(user, s.newMenu(user))
	paidUntil := trialEnds.Add(planDays * 24 * time.Hour)
	s.waitScreen(user, "confirming the payment until "+shownDate(paidUntil), withText(shownDate(paidUntil)))
	require.Equal(t, paidUntil, s.activeExpiry(user), "the plan's days are added to the trial's")
	require.Eventually(t, func() bool { return extendedTo(paidUntil) }, screenTimeout, 50*time.Millisecond,
		"the account on the panel is not extended to %s", paidUntil)

	// My subscription: the later expiry, the same link, still working; no
	// message ever showed another.
	menu = s.newMenu(user)
	s.press(user, menu, cbSub)
	sub := s.waitScreen(user, "showing the subscription until "+shownDate(paidUntil), func(m sandboxtg.Message) bool {
		return m.HasButton(cbPlans) && shownKey(m) != "" && strings.Contains(m.Plain, shownDate(paidUntil))
	})
	require.Equal(t, link, shownKey(sub), "the paid period's link")
	require.True(t, p.linkWorks(link), "the link stopped working after the payment")
	for _, m := range s.Sandbox.Messages(user) {
		if k := shownKey(m); k != "" {
			require.Equal(t, link, k, "message %d shows another link:\n%s", m.ID, describeChat(s.Sandbox.Messages(user)))
		}
	}

	// Past the expiry and the one-hour grace: the account is disabled on
	// the panel, the link no longer works, and the user is told.
	_, err := s.db.Pool.Exec(t.Context(),
		`UPDATE subscriptions SET expires_at = now() - interval '2 hours', starts_at = now() - interval '33 days'
		 WHERE user_id = $1 AND status = 'active'`, user)
	require.NoError(t, err)
	s.waitScreen(user, "saying the key no longer works", withText("no longer works: your subscription ended on"))
	require.False(t, account().Enabled, "the account still works on the panel")
	require.False(t, p.linkWorks(link), "the link still works after the revocation")
	var status string
	require.NoError(t, s.db.Pool.QueryRow(t.Context(),
		`SELECT status FROM subscriptions WHERE user_id = $1`, user).Scan(&status))
	require.Equal(t, "revoked", status)
	require.Empty(t, s.dlq(), "nothing went to the DLQ")
}

// activeExpiry is when the user's active period ends, as recorded.
func (s *system) activeExpiry(user int64) time.Time {
	s.t.Helper()
	var expires time.Time
	require.NoError(s.t, s.db.Pool.QueryRow(s.t.Context(),
		`SELECT expires_at FROM subscriptions WHERE user_id = $1 AND status = 'active'`, user).Scan(&expires))
	return expires
}

// keyIntro is what the bot writes before a key, in the key message and on
// the subscription screen, as the user reads it.
var keyIntro, _, _ = strings.Cut(botui.TextsIn(botui.English).KeyIntro, "<code>")

// shownKey is the key a message shows the user, "" when it shows none.
func shownKey(m sandboxtg.Message) string {
	_, rest, ok := strings.Cut(m.Plain, keyIntro)
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "\n")
	return key
}
