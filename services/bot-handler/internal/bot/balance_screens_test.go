package bot

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The balance's screens, in testdata/balance (go test ./internal/bot -update
// rewrites them with the others).
func TestBalanceScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	at := func(h int) time.Time { return expires.Add(-time.Duration(h) * time.Hour) }
	m1 := shop.Plan{ID: "m1", TitleEN: "1 month", TitleRU: "1 месяц", Duration: 30 * 24 * time.Hour, PriceUSD: "4.99", PriceStars: 250}
	odd := shop.Plan{ID: "d1", TitleEN: "1 day <test>", TitleRU: "1 день <тест>", Duration: 24 * time.Hour, PriceUSD: "0.50", PriceStars: 25}
	plans := []shop.Plan{m1, odd}
	limits := BalanceView{CryptoPay: true, USD: shop.DefaultTopUpUSD, XTR: shop.DefaultTopUpXTR}
	held := []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 1749}, {Currency: shop.CurrencyXTR, Amount: 300}}
	withBalances := limits
	withBalances.Balances = held
	starsOnly := BalanceView{Balances: held[1:], USD: shop.DefaultTopUpUSD, XTR: shop.Limits{Min: 300, Max: 800}}
	key := &shop.Access{Panel: "outline", URL: "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1"}
	month := 30 * 24 * time.Hour
	history := []shop.Entry{
		{Kind: shop.LedgerRefund, Currency: shop.CurrencyUSD, Amount: -500, Money: -500, Ref: "topup:21", CreatedAt: at(1)},
		{Kind: shop.LedgerRefund, Currency: shop.CurrencyXTR, Money: -250, Duration: -(month - 90*time.Second), Ref: "payment:20", CreatedAt: at(2)},
		{Kind: shop.LedgerPurchase, Currency: shop.CurrencyUSD, Amount: -499, Duration: month, Ref: "m1", CreatedAt: at(3)},
		{Kind: shop.LedgerTopUp, Currency: shop.CurrencyUSD, Amount: 1000, Money: 1000, CreatedAt: at(4)},
		{Kind: shop.LedgerPayment, Currency: shop.CurrencyXTR, Money: 25, Duration: 24 * time.Hour, Ref: "d1", CreatedAt: at(5)},
		{Kind: shop.LedgerPayment, Currency: shop.CurrencyUSD, Money: 1299, Duration: 3 * month, Ref: "m3-retired", CreatedAt: at(6)},
		{Kind: shop.LedgerRenewal, Currency: shop.CurrencyXTR, Amount: -250, Duration: month, Ref: "m1", CreatedAt: at(7)},
		{Kind: shop.LedgerPromo, Duration: 7 * 24 * time.Hour, Ref: "SPRING<1>", CreatedAt: at(8)},
		{Kind: shop.LedgerReferral, Currency: shop.CurrencyXTR, Amount: 50, CreatedAt: at(9)},
		{Kind: shop.LedgerGrant, Duration: 12 * time.Hour, CreatedAt: at(10)},
		{Kind: shop.LedgerTrial, Duration: 72 * time.Hour, CreatedAt: at(11)},
	}

	ptr := func(t time.Time) *time.Time { return &t }
	orders := []shop.Order{ // at counts hours back
		{Invoice: shop.Invoice{ID: 24, Purpose: shop.PurposePlan, PlanID: "d1", Provider: shop.ProviderStars, PriceStars: 25, Price: 25,
			Status: shop.InvoicePending, CreatedAt: at(1)}},
		{Invoice: shop.Invoice{ID: 23, Purpose: shop.PurposeTopUp, Provider: shop.ProviderCryptoPay, PriceUSD: "5.00", Price: 500,
			Status: shop.InvoiceExpired, CreatedAt: at(2)}},
		{Invoice: shop.Invoice{ID: 22, Purpose: shop.PurposePlan, PlanID: "m1", Provider: shop.ProviderCryptoPay, PriceUSD: "4.99", Price: 499,
			Status: shop.InvoicePaid, CreatedAt: at(5), PaidAt: ptr(at(4))}, ToldAt: ptr(at(4)), KeyAt: ptr(at(3))},
		{Invoice: shop.Invoice{ID: 21, Purpose: shop.PurposePlan, PlanID: "m3-retired", Provider: shop.ProviderStars, PriceStars: 650, Price: 650,
			Status: shop.InvoicePaid, CreatedAt: at(7), PaidAt: ptr(at(6))}, KeyAt: ptr(at(9))},
	}

	screens := map[string]func(lang string) Screen{
		"balance_empty":      func(l string) Screen { return BalanceScreen(l, limits) },
		"balance":            func(l string) Screen { return BalanceScreen(l, withBalances) },
		"balance_stars_only": func(l string) Screen { return BalanceScreen(l, starsOnly) },
		"topup_usage":        func(l string) Screen { return TopUpUsageScreen(l, limits) },
		"topup_usage_stars":  func(l string) Screen { return TopUpUsageScreen(l, starsOnly) },
		"topup_out_of_range": func(l string) Screen {
			return TopUpOutOfRangeScreen(l, shop.CurrencyUSD, 150_000, shop.DefaultTopUpUSD)
		},
		"topup_too_few_stars":  func(l string) Screen { return TopUpOutOfRangeScreen(l, shop.CurrencyXTR, 10, shop.DefaultTopUpXTR) },
		"topup_crypto_off":     func(l string) Screen { return TopUpCryptoOffScreen(l, shop.DefaultTopUpXTR) },
		"topup_down":           TopUpDownScreen,
		"topup_stars_sent":     TopUpStarsSentScreen,
		"topup_stars_invoice":  func(l string) Screen { ti, d := StarsTopUpInvoice(l, 300); return Screen{Text: ti + "\n" + d} },
		"topup_received_stars": func(l string) Screen { return TopUpReceivedScreen(l, shop.CurrencyXTR, 300, 550) },
		"topup_crypto": func(l string) Screen {
			return TopUpCryptoScreen(l, shop.Invoice{ID: 21, Purpose: shop.PurposeTopUp, Provider: shop.ProviderCryptoPay,
				PriceUSD: "12.50", Price: 1250, PayURL: "https://t.me/CryptoBot?start=IVtop"})
		},
		"plan_from_balance": func(l string) Screen { return PlanWithBalanceScreen(l, m1, true, held) },
		"plan_from_balance_stars": func(l string) Screen {
			return PlanWithBalanceScreen(l, m1, false, []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 498}, {Currency: shop.CurrencyXTR, Amount: 250}})
		},
		"plan_balance_short": func(l string) Screen {
			return PlanWithBalanceScreen(l, m1, true, []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 249}})
		},
		"paid_from_balance": func(l string) Screen {
			return PaidFromBalanceScreen(l, odd, shop.Purchase{
				Entry: shop.Entry{Kind: shop.LedgerPurchase, Currency: shop.CurrencyUSD, Amount: -50},
				Sub:   shop.Subscription{ID: 5, ExpiresAt: expires}}, held)
		},
		"paid_from_balance_key": func(l string) Screen {
			return PaidFromBalanceScreen(l, m1, shop.Purchase{
				Entry: shop.Entry{Kind: shop.LedgerPurchase, Currency: shop.CurrencyXTR, Amount: -250},
				Sub:   shop.Subscription{ID: 5, ExpiresAt: expires, Access: key}}, nil)
		},
		"insufficient":  func(l string) Screen { return InsufficientBalanceScreen(l, odd, shop.CurrencyUSD, 50, 12) },
		"history":       func(l string) Screen { return HistoryScreen(l, history, orders, plans) },
		"history_empty": func(l string) Screen { return HistoryScreen(l, nil, nil, plans) },
		"sub_balance": func(l string) Screen {
			return SubscriptionScreen(l, SubscriptionView{Now: at(48), Balances: held,
				Sub: &shop.Subscription{ID: 5, Kind: shop.KindPaid, Status: shop.StatusActive, ExpiresAt: expires, Access: key}})
		},
	}

	requireGolden(t, filepath.Join("testdata", "balance"), screens)
}

// What /topup reads, and what it does not.
func TestTopUpAmountsAreReadAsTyped(t *testing.T) {
	t.Parallel()
	type read struct {
		currency string
		amount   int64
	}
	for payload, want := range map[string]read{
		"12.50":           {shop.CurrencyUSD, 1250},
		" 12,5 ":          {shop.CurrencyUSD, 1250},
		"$5":              {shop.CurrencyUSD, 500},
		"5$":              {shop.CurrencyUSD, 500},
		"7 USD":           {shop.CurrencyUSD, 700},
		"10 долларов":     {shop.CurrencyUSD, 1000},
		"0":               {shop.CurrencyUSD, 0},
		"300 stars":       {shop.CurrencyXTR, 300},
		"300 Stars":       {shop.CurrencyXTR, 300},
		"300⭐":            {shop.CurrencyXTR, 300},
		"⭐️ 300":          {shop.CurrencyXTR, 300},
		"1000 звёзд":      {shop.CurrencyXTR, 1000},
		"25 xtr":          {shop.CurrencyXTR, 25},
		"10 star":         {shop.CurrencyXTR, 10},
		"999999999999":    {shop.CurrencyUSD, 99999999999900},
		"-300 stars":      {shop.CurrencyXTR, -300},
		"stars 300":       {shop.CurrencyXTR, 300},
		"1000000000 star": {shop.CurrencyXTR, 1_000_000_000},
	} {
		currency, amount, ok := parseTopUp(payload)
		require.True(t, ok, "payload %q", payload)
		require.Equal(t, want, read{currency, amount}, "payload %q", payload)
	}
	for _, payload := range []string{"", "   ", "stars", "$", "12.505", "12.50 stars", "5 $ stars", "5 5", "five",
		"-5", "1,000.00", "184467440737095518", "12.50 euro", "⭐ $ 5"} {
		_, _, ok := parseTopUp(payload)
		require.False(t, ok, "payload %q", payload)
	}
}
