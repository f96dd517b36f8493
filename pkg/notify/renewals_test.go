package notify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

var m1 = shop.Plan{ID: "m1", TitleEN: "1 month <&>", TitleRU: "1 месяц <&>", Duration: 30 * 24 * time.Hour,
	PriceUSD: "4.99", PriceStars: 250}

func TestRenewalMessagesMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	cycle := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	usd := shop.Renewal{
		Entry:     shop.Entry{Currency: shop.CurrencyUSD, Amount: -499, Duration: m1.Duration},
		ExpiresAt: cycle.Add(m1.Duration), Balance: 1, Plan: m1,
	}
	stars := shop.Renewal{
		Entry:     shop.Entry{Currency: shop.CurrencyXTR, Amount: -1, Duration: 20 * time.Minute},
		ExpiresAt: cycle.Add(20 * time.Minute), Balance: 1249,
	}
	for _, lang := range []string{botui.English, botui.Russian} {
		requireGolden(t, "renewal_receipt_usd."+lang, notify.RenewalReceipt(lang, 1004, 42, cycle, usd))
		requireGolden(t, "renewal_receipt_stars."+lang, notify.RenewalReceipt(lang, 1004, 42, cycle, stars))
		requireGolden(t, "renew_short."+lang, notify.RenewShort(lang, 1004, 42, m1, cycle))
	}
}

func TestRenewalMessagesAreOnePerCycle(t *testing.T) {
	t.Parallel()
	cycle := time.Date(2027, time.March, 10, 12, 0, 0, 0, time.UTC)
	r := shop.Renewal{Entry: shop.Entry{Currency: shop.CurrencyUSD, Amount: -499, Duration: m1.Duration}}
	receipt := notify.RenewalReceipt(botui.English, 1001, 7, cycle, r)
	require.Equal(t, shop.RenewalKey(7, cycle), receipt.GetDedupId(), "the receipt is named after the renewal")
	require.Equal(t, "renewal:7:1804680000", receipt.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, receipt.GetPriority())
	requireOpens(t, receipt, botui.ActionSubscription)

	short := notify.RenewShort(botui.Russian, 1001, 7, m1, cycle)
	require.Equal(t, "renew_short:7:1804680000", short.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, short.GetPriority())
	requireOpens(t, short, botui.ActionAutoRenewTopUp)
	require.NotEqual(t, short.GetDedupId(), notify.RenewShort(botui.Russian, 1001, 7, m1, cycle.Add(m1.Duration)).GetDedupId(),
		"the next cycle is warned again")
}
