package notify

import (
	"fmt"
	"strconv"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// TopUpReceived confirms a top-up of the balance applied by a worker: the
// amount (in minor units of currency, as botui.Amount writes them) and the
// balance after it, with the Balance and menu buttons. It is PaymentReceived
// for a top-up, whose invoice buys no period: its dedup id is the same,
// "payment:<invoiceID>", and its priority transactional.
func TopUpReceived(lang string, chatID, invoiceID int64, currency string, amount, balance int64) *vpnbotv1.SendMessage {
	ui, bt := botui.TextsIn(lang), botui.BalanceTextsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId:   "payment:" + strconv.FormatInt(invoiceID, 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(bt.TopUpReceived, botui.Amount(currency, amount), botui.Amount(currency, balance)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows: []*vpnbotv1.ButtonRow{
			{Buttons: []*vpnbotv1.Button{{Text: bt.BtnBalance, CallbackData: botui.NoticeCallback(botui.ActionBalance, "")}}},
			menuRow(ui),
		},
	}
}
