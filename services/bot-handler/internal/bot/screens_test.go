package bot

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the screens as they are now")

// render writes a screen as a person reads it: the text, then one line per
// keyboard row, each button with what it sends or opens.
func render(s Screen) string {
	var b strings.Builder
	b.WriteString(s.Text)
	b.WriteString("\n---\n")
	for _, row := range s.Buttons {
		for i, btn := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			switch {
			case btn.URL != "":
				fmt.Fprintf(&b, "[%s → %s]", btn.Text, btn.URL)
			case btn.WebApp != "":
				fmt.Fprintf(&b, "[%s → app %s]", btn.Text, btn.WebApp)
			default:
				fmt.Fprintf(&b, "[%s → %s]", btn.Text, btn.Data)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	now := expires.Add(-48 * time.Hour)
	plans := []shop.Plan{
		{ID: "m1", TitleEN: "1 month", TitleRU: "1 месяц", Duration: 30 * 24 * time.Hour, PriceUSD: "4.99", PriceStars: 250},
		{ID: "m3", TitleEN: "3 months", TitleRU: "3 месяца", Duration: 90 * 24 * time.Hour, PriceUSD: "12.99", PriceStars: 650},
		{ID: "d1", TitleEN: "1 day <test>", TitleRU: "1 день <тест>", Duration: 24 * time.Hour, PriceUSD: "0.50", PriceStars: 25},
	}
	demo := shop.Plan{ID: "demo", TitleEN: "Demo", TitleRU: "Демо", Duration: 20 * time.Minute, PriceUSD: "0.50", PriceStars: 1}
	order := shop.Invoice{ID: 17, PlanID: "m1", PriceUSD: "4.99", PriceStars: 250}
	outline := &shop.Subscription{ID: 5, Kind: shop.KindPaid, Status: shop.StatusActive, StartsAt: now, ExpiresAt: expires,
		Access: &shop.Access{Panel: "outline", ExternalID: "17", URL: "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1"}}
	remnawave := &shop.Subscription{ID: 6, Kind: shop.KindTrial, Status: shop.StatusActive, ExpiresAt: expires,
		Access: &shop.Access{Panel: "remnawave", URL: "https://panel.example.com/api/sub/abc&def"}}
	pending := &shop.Subscription{ID: 7, Kind: shop.KindTrial, Status: shop.StatusActive, ExpiresAt: expires}
	ended := &shop.Subscription{ID: 8, Kind: shop.KindPaid, Status: shop.StatusActive, ExpiresAt: now.Add(-time.Hour)}
	offered := []string{"Amsterdam", "Frankfurt", "Tokyo <1>"}

	screens := map[string]func(lang string) Screen{
		"welcome":            func(l string) Screen { return WelcomeScreen(l, "Alice <&>", "") },
		"welcome_no_name":    func(l string) Screen { return WelcomeScreen(l, "", "") },
		"menu":               func(l string) Screen { return MenuScreen(l, "") },
		"menu_app":           func(l string) Screen { return MenuScreen(l, "https://app.example.com/") },
		"help":               func(l string) Screen { return HelpScreen(l, "@vpnbot_support") },
		"help_email":         func(l string) Screen { return HelpScreen(l, "support@example.com") },
		"fallback":           FallbackScreen,
		"need_start":         NeedStartScreen,
		"trial_started":      func(l string) Screen { return TrialStartedScreen(l, expires, false) },
		"trial_started_key":  func(l string) Screen { return TrialStartedScreen(l, expires, true) },
		"trial_used":         TrialUsedScreen,
		"already_subscribed": AlreadySubscribedScreen,
		"plans":              func(l string) Screen { return PlansScreen(l, plans) },
		"plan":               func(l string) Screen { return PlanScreen(l, plans[0], true) },
		"plan_stars_only":    func(l string) Screen { return PlanScreen(l, plans[1], false) },
		"plan_minutes":       func(l string) Screen { return PlanScreen(l, demo, true) },
		"crypto_invoice": func(l string) Screen {
			return CryptoInvoiceScreen(l, order, textsIn(l).planTitle(plans[0]), "https://t.me/CryptoBot?start=IVabc")
		},
		"payments_down":         func(l string) Screen { return PaymentsDownScreen(l, "m1") },
		"paid_check_paid":       func(l string) Screen { return PaidCheckScreen(l, order, events.CheckPaid) },
		"paid_check_pending":    func(l string) Screen { return PaidCheckScreen(l, order, events.CheckPending) },
		"paid_check_expired":    func(l string) Screen { return PaidCheckScreen(l, order, events.CheckExpired) },
		"paid_check_failed":     func(l string) Screen { return PaidCheckScreen(l, order, "") },
		"stars_sent":            StarsSentScreen,
		"stars_invoice":         func(l string) Screen { ti, d := StarsInvoice(l, plans[2]); return Screen{Text: ti + "\n" + d} },
		"stars_invoice_minutes": func(l string) Screen { ti, d := StarsInvoice(l, demo); return Screen{Text: ti + "\n" + d} },
		"checkout_refused":      func(l string) Screen { return Screen{Text: CheckoutRefusal(l, false)} },
		"checkout_problem":      func(l string) Screen { return Screen{Text: CheckoutRefusal(l, true)} },
		"payment_received":      func(l string) Screen { return PaymentReceivedScreen(l, expires, false) },
		"payment_received_key":  func(l string) Screen { return PaymentReceivedScreen(l, expires, true) },
		"payment_conflict":      func(l string) Screen { return PaymentConflictScreen(l, "@vpnbot_support") },
		"pay_support":           func(l string) Screen { return PaySupportScreen(l, "@vpnbot_support") },
		"refund_notice": func(l string) Screen {
			return Screen{Text: RefundNotice(l, shop.Entry{Currency: shop.CurrencyUSD, Money: -1299, Amount: -1299})}
		},
		"refund_notice_days": func(l string) Screen {
			return Screen{Text: RefundNotice(l, shop.Entry{Currency: shop.CurrencyXTR, Money: -250, Duration: -30 * 24 * time.Hour})}
		},
		"sub_none":            func(l string) Screen { return SubscriptionScreen(l, SubscriptionView{Now: now}) },
		"sub_ended":           func(l string) Screen { return SubscriptionScreen(l, SubscriptionView{Sub: ended, Now: now}) },
		"sub_pending":         func(l string) Screen { return SubscriptionScreen(l, SubscriptionView{Sub: pending, Now: now}) },
		"sub_outline":         func(l string) Screen { return SubscriptionScreen(l, SubscriptionView{Sub: outline, Now: now}) },
		"sub_remnawave":       func(l string) Screen { return SubscriptionScreen(l, SubscriptionView{Sub: remnawave, Now: now}) },
		"relink_confirm":      func(l string) Screen { return RelinkConfirmScreen(l, "") },
		"relink_confirm_move": func(l string) Screen { return RelinkConfirmScreen(l, "Frankfurt") },
		"sub_location": func(l string) Screen {
			return SubscriptionScreen(l, SubscriptionView{Sub: remnawave, Now: now, Locations: store.Locations{Offered: offered, Chosen: "Amsterdam", Key: "Amsterdam"}})
		},
		"sub_location_move": func(l string) Screen {
			return SubscriptionScreen(l, SubscriptionView{Sub: remnawave, Now: now, Locations: store.Locations{Offered: offered, Chosen: "Tokyo <1>", Key: "Amsterdam"}})
		},
		"sub_none_location": func(l string) Screen {
			return SubscriptionScreen(l, SubscriptionView{Now: now, Locations: store.Locations{Offered: offered, Chosen: "Frankfurt"}})
		},
		"sub_auto_renew": func(l string) Screen {
			return SubscriptionScreen(l, SubscriptionView{Sub: outline, Now: now, AutoRenew: shop.AutoRenewal{On: true, Plan: plans[2]}})
		},
		"auto_renew_plans": func(l string) Screen {
			return AutoRenewPlansScreen(l, plans, shop.AutoRenewal{On: true, PlanID: "m3", Plan: plans[1]})
		},
		"auto_renew_top_up_sent": func(l string) Screen { return AutoRenewTopUpSentScreen(l, 150) },
		"locations": func(l string) Screen {
			return LocationsScreen(l, store.Locations{Offered: offered, Chosen: "Frankfurt", Key: "Amsterdam"})
		},
		"locations_no_key": func(l string) Screen { return LocationsScreen(l, store.Locations{Offered: offered}) },
		"relink_requested": RelinkRequestedScreen,
		"qr_caption":       func(l string) Screen { return Screen{Text: QRCaption(l)} },
		"language":         LanguageScreen,
		"language_changed": func(l string) Screen { return LanguageChangedScreen(l, "") },
		"stats": func(l string) Screen {
			return StatsScreen(l, shop.Stats{Users: 120, ActiveSubscriptions: 40, Trials: 75, PaymentsToday: 3, RevenueTodayUSD: "17.98", StarsToday: 250,
				Sources: []shop.Revenue{
					{Kind: shop.LedgerPayment, Currency: shop.CurrencyUSD, Count: 2, Money: 1798},
					{Kind: shop.LedgerTopUp, Currency: shop.CurrencyXTR, Count: 1, Money: 500},
					{Kind: shop.LedgerRefund, Currency: shop.CurrencyXTR, Count: 1, Money: -250},
				},
				AutoRenewals: 7, PromoUses: 12, Referrals: 9, ReferralRewards: 4})
		},
	}
	for _, p := range botui.Platforms {
		screens["setup_outline_"+p] = func(l string) Screen { return SetupScreen(l, p, outline.Access.URL) }
		screens["setup_remnawave_"+p] = func(l string) Screen { return SetupScreen(l, p, remnawave.Access.URL) }
	}
	dir := filepath.Join("testdata", "golden")
	if *update {
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	check := func(name, got string) {
		path := filepath.Join(dir, name+".txt")
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			return
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "no golden file for %s: run go test ./internal/bot -update", name)
		require.Equal(t, string(want), got, "screen %s differs from %s (go test ./internal/bot -update rewrites it)", name, path)
	}
	for name, screen := range screens {
		for _, lang := range languages {
			s := screen(lang)
			requireValidScreen(t, name, s)
			check(name+"."+lang, render(s))
		}
	}
	if !*update {
		files, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, files, len(screens)*len(languages), "golden files of screens that no longer exist")
	}
}

// requireValidScreen checks what Telegram would refuse: a button without
// text, or with no action or callback data over 64 bytes.
func requireValidScreen(t *testing.T, name string, s Screen) {
	t.Helper()
	require.NotEmpty(t, s.Text, name)
	for _, row := range s.Buttons {
		for _, btn := range row {
			require.NotEmpty(t, btn.Text, name)
			actions := 0
			for _, a := range []string{btn.Data, btn.URL, btn.WebApp} {
				if a != "" {
					actions++
				}
			}
			require.Equal(t, 1, actions, "%s: button %q needs exactly one action", name, btn.Text)
			require.LessOrEqual(t, len(btn.Data), 64, name)
		}
	}
}

// Dates are botui's: botui_test.go pins them.
func TestDurationsReadNaturally(t *testing.T) {
	t.Parallel()
	for days, want := range map[int]string{1: "1 день", 2: "2 дня", 5: "5 дней", 11: "11 дней", 21: "21 день", 30: "30 дней", 90: "90 дней", 365: "365 дней", 22: "22 дня"} {
		require.Equal(t, want, textsIn(botui.Russian).Duration(time.Duration(days)*24*time.Hour))
	}
	require.Equal(t, "1 day", textsIn(botui.English).Duration(24*time.Hour))
	require.Equal(t, "30 days", textsIn(botui.English).Duration(30*24*time.Hour))

	// Shorter plans, or plans of days and hours, in the largest whole unit.
	for d, want := range map[time.Duration][2]string{
		20 * time.Minute:                {"20 minutes", "20 минут"},
		time.Minute:                     {"1 minute", "1 минута"},
		21 * time.Minute:                {"21 minutes", "21 минута"},
		3 * time.Minute:                 {"3 minutes", "3 минуты"},
		90 * time.Minute:                {"90 minutes", "90 минут"},
		time.Hour:                       {"1 hour", "1 час"},
		2 * time.Hour:                   {"2 hours", "2 часа"},
		12 * time.Hour:                  {"12 hours", "12 часов"},
		26 * time.Hour:                  {"26 hours", "26 часов"},
		24*time.Hour + 30*time.Minute:   {"1470 minutes", "1470 минут"},
		10*time.Minute + 40*time.Second: {"11 minutes", "11 минут"},
		20 * time.Second:                {"1 minute", "1 минута"},
	} {
		require.Equal(t, want[0], textsIn(botui.English).Duration(d), d)
		require.Equal(t, want[1], textsIn(botui.Russian).Duration(d), d)
	}
}

// requireGolden checks each screen, in every language, against its golden
// file in dir (name.lang.txt), and that dir holds no other; with -update
// it writes them afresh instead.
func requireGolden(t *testing.T, dir string, screens map[string]func(lang string) Screen) {
	t.Helper()
	if *update {
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for name, screen := range screens {
		for _, lang := range languages {
			s := screen(lang)
			requireValidScreen(t, name, s)
			path := filepath.Join(dir, name+"."+lang+".txt")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(render(s)), 0o644))
				continue
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file for %s: run go test ./internal/bot -update", name)
			require.Equal(t, string(want), render(s), "screen %s differs from %s (go test ./internal/bot -update rewrites it)", name, path)
		}
	}
	if !*update {
		files, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, files, len(screens)*len(languages), "golden files of screens that no longer exist")
	}
}
