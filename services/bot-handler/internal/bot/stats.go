package bot

import (
	"fmt"
	"strings"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// sourceNames name the sources of money in /stats, by ledger kind.
var sourceNames = map[string]map[string]string{
	botui.English: {shop.LedgerPayment: "Payments", shop.LedgerTopUp: "Top-ups", shop.LedgerRefund: "Refunds"},
	botui.Russian: {shop.LedgerPayment: "Платежи", shop.LedgerTopUp: "Пополнения", shop.LedgerRefund: "Возвраты"},
}

// statsGrowth are the lines of auto-renewals, promo codes and referrals.
var statsGrowth = map[string]string{
	botui.English: "\nAuto-renewals on: %d\nPromo code uses: %d\nInvited users: %d (rewards given: %d)",
	botui.Russian: "\nАвтопродлений включено: %d\nИспользований промокодов: %d\nПриглашённых: %d (наград выдано: %d)",
}

// statsMore is what /stats shows beyond its first lines: today's money by
// source, then auto-renewals, promo codes and referrals.
func statsMore(lang string, st shop.Stats) string {
	growth, ok := statsGrowth[lang]
	if !ok {
		growth = statsGrowth[botui.English]
	}
	return statsSources(lang, st.Sources) + fmt.Sprintf(growth, st.AutoRenewals, st.PromoUses, st.Referrals, st.ReferralRewards)
}

// statsSources are the lines of today's money by source: "Top-ups: 3 · 750 ⭐".
func statsSources(lang string, sources []shop.Revenue) string {
	names := sourceNames[botui.English]
	if n, ok := sourceNames[lang]; ok {
		names = n
	}
	var b strings.Builder
	for _, r := range sources {
		fmt.Fprintf(&b, "\n%s: %d · %s", names[r.Kind], r.Count, formatMoney(r.Currency, r.Money))
	}
	return b.String()
}
