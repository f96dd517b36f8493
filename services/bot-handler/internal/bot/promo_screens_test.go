package bot

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The promo code screens, in both languages, pinned in testdata/promo as
// TestScreensMatchGoldenFiles pins the others (-update rewrites them).
func TestPromoScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	expires := now.Add(30 * 24 * time.Hour)
	week := shop.Promo{ID: 1, Code: "WEEK", Kind: shop.PromoDays, Duration: 7 * 24 * time.Hour, Uses: 3, PerUser: 1}
	cash := shop.Promo{ID: 2, Code: "CASH", Kind: shop.PromoCredit, CreditUSD: 500, MaxUses: 100, Uses: 100, PerUser: 2}
	save := shop.Promo{ID: 3, Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20, MaxUses: 10, Uses: 4, PerUser: 1,
		ExpiresAt: &expires, FirstOnly: true}
	fixed := shop.Promo{ID: 4, Code: "OFF-150", Kind: shop.PromoFixed, OffUSD: 150, PerUser: 1, DisabledAt: &now}
	gone := shop.Promo{ID: 5, Code: "XMAS", Kind: shop.PromoPercent, Percent: 50, PerUser: 1, ExpiresAt: &now}
	sub := shop.Subscription{ID: 9, ExpiresAt: now.Add(10 * 24 * time.Hour)}
	plans := []shop.Plan{
		{ID: "m1", TitleEN: "1 month", TitleRU: "1 месяц", Duration: 30 * 24 * time.Hour, PriceUSD: "3.99", PriceStars: 200},
		{ID: "m3", TitleEN: "3 months", TitleRU: "3 месяца", Duration: 90 * 24 * time.Hour, PriceUSD: "10.39", PriceStars: 520},
	}
	percent := &shop.Discount{Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20}
	off := &shop.Discount{Code: "OFF-150", Kind: shop.PromoFixed, OffUSD: 150}

	screens := map[string]func(lang string) Screen{
		"applied_days": func(l string) Screen {
			return PromoAppliedScreen(l, shop.Redemption{Promo: week, N: 1, Sub: sub}, false)
		},
		"applied_days_key": func(l string) Screen {
			return PromoAppliedScreen(l, shop.Redemption{Promo: week, N: 1, Sub: sub}, true)
		},
		"applied_credit": func(l string) Screen {
			return PromoAppliedScreen(l, shop.Redemption{Promo: cash, N: 2, Balance: 1250}, false)
		},
		"applied_percent": func(l string) Screen { return PromoAppliedScreen(l, shop.Redemption{Promo: save, N: 1}, false) },
		"applied_fixed":   func(l string) Screen { return PromoAppliedScreen(l, shop.Redemption{Promo: fixed, N: 1}, false) },
		"plans_discount":  func(l string) Screen { return WithDiscount(l, percent, PlansScreen(l, plans)) },
		"plan_discount":   func(l string) Screen { return WithDiscount(l, off, PlanScreen(l, plans[0], true)) },
		"usage":           func(l string) Screen { return PromoUsageScreen(l, "") },
		"usage_bad":       func(l string) Screen { return PromoUsageScreen(l, "<120>") },
		"created": func(l string) Screen {
			return PromoCreatedScreen(l, save, "https://t.me/vpnbot?start=promo_SAVE20")
		},
		"exists":     func(l string) Screen { return PromoExistsScreen(l, cash) },
		"off":        func(l string) Screen { return PromoOffScreen(l, fixed) },
		"list":       func(l string) Screen { return PromoListScreen(l, []shop.Promo{gone, fixed, save, cash, week}, now) },
		"list_empty": func(l string) Screen { return PromoListScreen(l, nil, now) },
	}
	for name, err := range map[string]error{
		"unknown": shop.ErrUnknownPromo, "off": shop.ErrPromoOff, "expired": shop.ErrPromoExpired,
		"used_up": shop.ErrPromoUsedUp, "used": shop.ErrPromoUsed, "first": shop.ErrPromoFirstPurchase, "held": shop.ErrPromoHeld,
	} {
		wrapped := fmt.Errorf("redeeming promo code SAVE20 for user 1: %w", err)
		screens["refused_"+name] = func(l string) Screen { return PromoRefusedScreen(l, "save20", wrapped) }
	}
	screens["refused_odd"] = func(l string) Screen { return PromoRefusedScreen(l, "<b>&", shop.ErrUnknownPromo) }

	requireGolden(t, filepath.Join("testdata", "promo"), screens)
}

func TestPromoCommandsReadAsWritten(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, time.January, 31, 12, 0, 0, 0, time.UTC)
	for args, want := range map[string]promoCommand{
		"list":       {action: promoList},
		"LIST":       {action: promoList},
		"off summer": {action: promoOff, code: "summer"},
		"new sum-26 percent 20%": {action: promoNew,
			promo: shop.NewPromo{Code: "SUM-26", Kind: shop.PromoPercent, Percent: 20}},
		"new OFF fixed $1.50 limit 100 per_user 3": {action: promoNew,
			promo: shop.NewPromo{Code: "OFF", Kind: shop.PromoFixed, OffUSD: 150, MaxUses: 100, PerUser: 3}},
		"new WEEK Days 7 first expires 2027-01-31": {action: promoNew,
			promo: shop.NewPromo{Code: "WEEK", Kind: shop.PromoDays, Duration: 7 * 24 * time.Hour, FirstOnly: true,
				ExpiresAt: time.Date(2027, time.February, 1, 0, 0, 0, 0, time.UTC)}},
		"new CASH credit 5": {action: promoNew, promo: shop.NewPromo{Code: "CASH", Kind: shop.PromoCredit, CreditUSD: 500}},
	} {
		got, bad, ok := parsePromoCommand(args, now)
		require.True(t, ok, "%q: bad %q", args, bad)
		require.Equal(t, want, got, "%q", args)
	}
	for args, bad := range map[string]string{
		"":                                   "",
		"new":                                "",
		"new CODE percent":                   "",
		"list all":                           "list",
		"off":                                "off",
		"new C percent 10":                   "C",
		"new CODE percent 0":                 "0",
		"new CODE percent 99.5":              "99.5",
		"new CODE fixed 0":                   "0",
		"new CODE fixed 1.505":               "1.505",
		"new CODE days 0":                    "0",
		"new CODE days 3651":                 "3651",
		"new CODE credit -5":                 "-5",
		"new CODE gift 5":                    "gift",
		"new CODE days 7 limit":              "limit",
		"new CODE days 7 per_user none":      "none",
		"new CODE days 7 expires 2027-01-30": "2027-01-30",
		"new CODE days 7 expires 31.01.2027": "31.01.2027",
		"new CODE days 7 first forever":      "forever",
		"rename CODE OTHER":                  "rename",
	} {
		_, got, ok := parsePromoCommand(args, now)
		require.False(t, ok, "%q", args)
		require.Equal(t, bad, got, "%q", args)
	}
}
