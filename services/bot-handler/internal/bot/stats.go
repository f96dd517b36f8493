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
