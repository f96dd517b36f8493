package bot

import (
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// ordersLimit is how many of a user's latest orders "My payments" shows.
const ordersLimit = 5

// orderTexts are what "My payments" says of each order's steps.
type orderTexts struct {
	title   string
	row     string // takes the order's number, what it is, its price and its steps
	made    string // takes the date
	paid    string // takes the time
	told    string // takes the time
	key     string // takes the time
	pending string
	expired string
	topUp   string
}

var ordersEN = orderTexts{
	title:   "<b>Orders</b>",
	row:     "• №%d %s, %s: %s",
	made:    "ordered %s",
	paid:    " → paid %s",
	told:    " → receipt %s",
	key:     " → key %s",
	pending: " → not paid yet",
	expired: " → expired unpaid",
	topUp:   "top-up",
}

var ordersRU = orderTexts{
	title:   "<b>Заказы</b>",
	row:     "• №%d %s, %s: %s",
	made:    "заказ %s",
	paid:    " → оплата %s",
	told:    " → квитанция %s",
	key:     " → ключ %s",
	pending: " → ещё не оплачен",
	expired: " → истёк без оплаты",
	topUp:   "пополнение",
}

func orderTextsIn(lang string) *orderTexts { return botui.Pick(lang, &ordersEN, &ordersRU) }

// orderLines are the lines of the orders, newest first: each its steps with
// their times (created → paid and applied → receipt → key delivered), the
// key's time being when the period's key first reached the user, which is
// before the payment for a period it extended.
func orderLines(lang string, orders []shop.Order, titles map[string]string) []string {
	if len(orders) == 0 {
		return nil
	}
	ot := orderTextsIn(lang)
	ui := botui.TextsIn(lang)
	clock := func(t time.Time) string { return t.UTC().Format("15:04") }
	lines := []string{"", ot.title}
	for _, o := range orders {
		inv := o.Invoice
		what := ot.topUp
		if inv.Purpose == shop.PurposePlan {
			what = titles[inv.PlanID]
			if what == "" {
				what = inv.PlanID
			}
		}
		steps := fmt.Sprintf(ot.made, ui.Date(inv.CreatedAt))
		switch {
		case inv.PaidAt != nil:
			steps += fmt.Sprintf(ot.paid, clock(*inv.PaidAt))
			if o.ToldAt != nil {
				steps += fmt.Sprintf(ot.told, clock(*o.ToldAt))
			}
			if o.KeyAt != nil {
				steps += fmt.Sprintf(ot.key, clock(*o.KeyAt))
			}
		case inv.Status == shop.InvoiceExpired:
			steps += ot.expired
		default:
			steps += ot.pending
		}
		lines = append(lines, fmt.Sprintf(ot.row, inv.ID, botui.Escape(what), botui.Amount(inv.Currency(), inv.Price), steps))
	}
	return lines
}
